import { Milliseconds, Revision } from './types';

/**
 * One committed change, as the primary publishes it. Each change carries its revision; the
 * changes of one transaction share theirs, every other change has one of its own.
 */
export interface Change {
  readonly key: string;
  /** The new JSON text, or null when the key was deleted (by a client or by expiry). */
  readonly value: string | null;
  /** The new deadline in ms since the epoch, or NO_DEADLINE (0); 0 for a delete. */
  readonly deadline: Milliseconds;
  /** The revision the change was committed at. */
  readonly revision: Revision;
  /** True when the key's deadline passed and the primary reaped it (value null); else false. */
  readonly expired: boolean;
}

/**
 * Changes with contiguous revisions from `from` on: revisions never decrease from one change to
 * the next, and each grows by one except within a transaction, whose changes share one. A
 * replica applies a batch only when `from` is its own revision + 1, so a lost or repeated batch
 * is detected, and applies it whole in one step, so no reader sees part of a transaction.
 */
export interface ChangeBatch {
  readonly from: Revision;
  readonly changes: readonly Change[];
}

/** The revision of the last change of `batch` (from - 1 for an empty batch). */
export function batchEnd(batch: ChangeBatch): Revision {
  const last = batch.changes[batch.changes.length - 1];
  return last === undefined ? batch.from - 1 : last.revision;
}

/**
 * The wire form of a change's revision and kind, for the codecs that flatten batches: bit 0 set
 * when the change shares the previous change's revision (a transaction), bit 1 when it is an
 * expiry. The first change of a batch has revision `from`.
 */
export const ChangeFlags = {
  SameRevision: 1,
  Expired: 2,
} as const;

/** The {@link ChangeFlags} of `changes[i]`. */
function changeFlags(changes: readonly Change[], i: number): number {
  const change = changes[i]!;
  const previous = changes[i - 1];
  return (
    (previous !== undefined && previous.revision === change.revision
      ? ChangeFlags.SameRevision
      : 0) | (change.expired ? ChangeFlags.Expired : 0)
  );
}

/** Fields {@link flattenChanges} writes per change. */
export const CHANGE_WIRE_FIELDS = 4;

/**
 * Appends `changes` to `wire` flattened, {@link CHANGE_WIRE_FIELDS} a change: key, value (null
 * for a delete), deadline, its {@link ChangeFlags}. Returns `wire`.
 */
export function flattenChanges(
  wire: unknown[],
  changes: readonly Change[],
): unknown[] {
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!;
    wire.push(c.key, c.value, c.deadline, changeFlags(changes, i));
  }
  return wire;
}

/**
 * The revision of a change read back from the wire: `from` for the first, else the previous
 * change's revision, plus one unless `flags` says it shares it.
 */
export function revisionFromFlags(
  previous: Revision | undefined,
  from: Revision,
  flags: number,
): Revision {
  if (previous === undefined) return from;
  return (flags & ChangeFlags.SameRevision) !== 0 ? previous : previous + 1;
}
