import { Milliseconds, Revision } from './types';

/** What a write asks for. */
export const WriteOp = {
  /** POST: create; the key must be absent. */
  Create: 0,
  /** PUT: create or replace. */
  Put: 1,
  /** DELETE. */
  Delete: 2,
  /**
   * PATCH `?ttl=`: gives a live key a new deadline (or none) at a new revision, its value bytes
   * unchanged; the key must be present.
   */
  Touch: 3,
} as const;
export type WriteOp = (typeof WriteOp)[keyof typeof WriteOp];

/**
 * An `If-Match` / `If-None-Match` condition: `'*'` (any current entry), or the revisions of the
 * listed entity tags.
 */
export type Precondition = '*' | readonly Revision[];

/** A write as the primary receives it, already validated by the worker. */
export interface WriteCommand {
  readonly op: WriteOp;
  readonly key: string;
  /** The JSON text to store; ignored for deletes and touches. */
  readonly value: string;
  /**
   * Time-to-live in ms from when the primary applies the write; 0 for none (for a touch: the
   * deadline is removed).
   */
  readonly ttl: Milliseconds;
  readonly ifMatch?: Precondition;
  readonly ifNoneMatch?: Precondition;
}

/** How a write ended. */
export const WriteStatus = {
  /** Applied; the outcome carries its revision. */
  Ok: 0,
  /** Delete or touch of an absent key. */
  NotFound: 1,
  /** Create of a present key. */
  Exists: 2,
  /** `If-Match` or `If-None-Match` did not hold. */
  PreconditionFailed: 3,
  /** The key is new and the store already holds its maximum number of keys. */
  Full: 4,
} as const;
export type WriteStatus = (typeof WriteStatus)[keyof typeof WriteStatus];

/** The primary's decision on one write. `revision` is 0 unless the status is Ok. */
export interface WriteOutcome {
  readonly status: WriteStatus;
  readonly revision: Revision;
}
