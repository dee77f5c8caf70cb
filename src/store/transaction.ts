import { Milliseconds, Revision } from './types';
import { Precondition, WriteStatus } from './write-command';

/**
 * What one operation of a transaction does. Create, Put and Delete have the numbers of their
 * `WriteOp`s and mean the same.
 */
export const TxnOpKind = {
  /** The key must be absent; it is created. */
  Create: 0,
  /** Create or replace. */
  Put: 1,
  /** The key must be present; it is deleted. */
  Delete: 2,
  /** Writes nothing: only its conditions are tested. */
  Check: 3,
} as const;
export type TxnOpKind = (typeof TxnOpKind)[keyof typeof TxnOpKind];

/** One operation of a transaction, already validated by the worker. */
export interface TxnOperation {
  readonly kind: TxnOpKind;
  readonly key: string;
  /** The JSON text to store; ignored (empty) for Delete and Check. */
  readonly value: string;
  /** Time-to-live in ms from when the primary commits; 0 for none (a Put then removes any TTL). */
  readonly ttl: Milliseconds;
  readonly ifMatch?: Precondition;
  readonly ifNoneMatch?: Precondition;
}

/**
 * Why one operation's condition did not hold: the status a single write would have got.
 * PreconditionFailed for `ifMatch` / `ifNoneMatch`, Exists for a Create of a present key,
 * NotFound for a Delete of an absent one. The conditions are tested in that order.
 */
export type TxnFailureReason =
  | typeof WriteStatus.PreconditionFailed
  | typeof WriteStatus.Exists
  | typeof WriteStatus.NotFound;

/** One operation whose condition did not hold. */
export interface TxnFailure {
  /** The operation's position in the transaction, from 0. */
  readonly index: number;
  readonly key: string;
  readonly reason: TxnFailureReason;
  /** The key's current revision (its ETag), or null when it is absent. */
  readonly revision: Revision | null;
}

/** How a transaction ended. */
export const TxnStatus = {
  /** Every condition held and every write was applied. */
  Committed: 0,
  /** At least one condition did not hold; nothing was applied. */
  Failed: 1,
  /** The transaction would leave more than the maximum number of keys; nothing was applied. */
  Full: 2,
} as const;
export type TxnStatus = (typeof TxnStatus)[keyof typeof TxnStatus];

/**
 * The primary's decision on one transaction. `revision`: the one revision every write of a
 * committed transaction took; for one that writes nothing (checks only) the store's revision
 * when it was decided; 0 unless Committed. `failures`: in operation order, empty unless Failed.
 */
export interface TxnOutcome {
  readonly status: TxnStatus;
  readonly revision: Revision;
  readonly failures: readonly TxnFailure[];
}
