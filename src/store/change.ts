import { Milliseconds, Revision } from './types';

/**
 * One committed change, as the primary publishes it. Its revision is not stored: it follows
 * from the change's place in its {@link ChangeBatch}.
 */
export interface Change {
  readonly key: string;
  /** The new JSON text, or null when the key was deleted (by a client or by expiry). */
  readonly value: string | null;
  /** The new deadline in ms since the epoch, or NO_DEADLINE (0); 0 for a delete. */
  readonly deadline: Milliseconds;
}

/**
 * Changes with contiguous revisions: `changes[i]` has revision `from + i`. A replica applies a
 * batch only when `from` is its own revision + 1, so a lost or repeated batch is detected.
 */
export interface ChangeBatch {
  readonly from: Revision;
  readonly changes: readonly Change[];
}

/** The revision of the last change of `batch` (from - 1 for an empty batch). */
export function batchEnd(batch: ChangeBatch): Revision {
  return batch.from + batch.changes.length - 1;
}
