import { Change, ChangeBatch } from './change';
import { Entry } from './entry';
import { ExpiryQueue } from './expiry-queue';
import { KvTable } from './kv-table';
import { DEFAULT_SHARD_BITS, ListPage } from './entry-table';
import {
  TxnFailure,
  TxnFailureReason,
  TxnOperation,
  TxnOpKind,
  TxnOutcome,
  TxnStatus,
} from './transaction';
import { Clock, Milliseconds, NO_DEADLINE, Revision } from './types';
import { ownedCopy } from './utf8';
import {
  Precondition,
  WriteCommand,
  WriteOp,
  WriteOutcome,
  WriteStatus,
} from './write-command';

/** Options of an {@link AuthoritativeStore}. */
export interface AuthoritativeStoreOptions {
  readonly clock: Clock;
  /** Most live keys; a write that would add one more fails with Full. Undefined: no limit. */
  readonly maxKeys?: number;
  /** log2 of the shard count of the key table. */
  readonly shardBits?: number;
}

const REJECTED = (status: WriteStatus): WriteOutcome => ({
  status,
  revision: 0,
});
// Stale heap pairs are dropped once they outnumber the keys with a deadline by this much.
const EXPIRY_SLACK = 1024;

const TXN_FULL: TxnOutcome = {
  status: TxnStatus.Full,
  revision: 0,
  failures: [],
};

/**
 * The one store that decides: it applies writes and transactions one at a time in the order
 * given, numbers them with revisions, reaps expired keys, and queues every change for
 * publication to the replicas.
 */
export class AuthoritativeStore {
  readonly table: KvTable;
  private readonly clock: Clock;
  private readonly maxKeys: number;
  private readonly expiry = new ExpiryQueue();
  private keysWithDeadline = 0;
  private currentRevision: Revision = 0;
  private pending: Change[] = [];
  private published: Revision = 0;
  private expiredTotal = 0;

  constructor(options: AuthoritativeStoreOptions) {
    this.clock = options.clock;
    this.maxKeys = options.maxKeys ?? Infinity;
    this.table = new KvTable(options.shardBits ?? DEFAULT_SHARD_BITS);
  }

  /** The revision of the last applied change. */
  get revision(): Revision {
    return this.currentRevision;
  }

  /** The revision of the last change handed out by {@link takeBatch}. */
  get publishedRevision(): Revision {
    return this.published;
  }

  /** Keys deleted by {@link reapExpired} since the store was made. */
  get expiredCount(): number {
    return this.expiredTotal;
  }

  /** Whether changes are waiting for {@link takeBatch}. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Number of live keys. Reaps expired keys first, so the count is exact. */
  liveCount(): number {
    this.reapExpired();
    return this.table.size;
  }

  /** The live entry of `key` now, or undefined. */
  get(key: string): Entry | undefined {
    return this.table.read(key, this.clock());
  }

  /**
   * A page of the keys live now that start with `prefix`, strictly after `after`, at most
   * `limit`, in ascending UTF-8 byte order: {@link KvTable.list} at the store's clock. A
   * transaction is applied in one call, so a page never holds part of one.
   */
  list(prefix: string, after: string | undefined, limit: number): ListPage {
    return this.table.list(prefix, after, limit, this.clock());
  }

  /** Applies `command` if its conditions hold, and says what happened. */
  execute(command: WriteCommand): WriteOutcome {
    const now = this.clock();
    const current = this.table.read(command.key, now);
    const refusal = refusalOf(command.op, command, current);
    if (refusal !== undefined) return REJECTED(refusal);
    if (command.op === WriteOp.Delete) {
      const revision = ++this.currentRevision;
      this.remove(command.key, current!, revision, false);
      return { status: WriteStatus.Ok, revision };
    }
    if (command.op === WriteOp.Touch) {
      if (current === undefined) return REJECTED(WriteStatus.NotFound);
      const revision = ++this.currentRevision;
      this.set(
        command.key,
        current.value,
        deadlineOf(command.ttl, now),
        revision,
        current.bytes,
      );
      return { status: WriteStatus.Ok, revision };
    }
    if (current === undefined && this.isFullFor(1))
      return REJECTED(WriteStatus.Full);
    const revision = ++this.currentRevision;
    this.set(
      command.key,
      command.value,
      deadlineOf(command.ttl, now),
      revision,
    );
    return { status: WriteStatus.Ok, revision };
  }

  /**
   * Applies a transaction all or nothing. Every condition is tested against the state at one
   * moment (`now`, before any of its writes), each as a single write would test it: `ifMatch`,
   * then `ifNoneMatch`, then Create needs the key absent and Delete present; Check tests only
   * its conditions. If any fails, nothing is applied and every failure is reported. If the
   * writes would leave more live keys than `maxKeys` (after reaping expired ones; deletes in
   * the same transaction make room), nothing is applied: Full. Otherwise every Put, Create and
   * Delete is applied at one new revision, and their changes are queued together, in operation
   * order, so {@link takeBatch} hands them out in one batch. A transaction that writes nothing
   * (checks only) commits at the current revision and takes no new one.
   *
   * The keys of `ops` must be distinct (the worker refuses a body that repeats one).
   */
  transact(ops: readonly TxnOperation[]): TxnOutcome {
    const now = this.clock();
    const currents: (Entry | undefined)[] = new Array<Entry | undefined>(
      ops.length,
    );
    let failures: TxnFailure[] | undefined;
    let added = 0;
    let removed = 0;
    let writes = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const current = this.table.read(op.key, now);
      const refusal = refusalOf(op.kind, op, current);
      if (refusal !== undefined) {
        (failures ??= []).push({
          index: i,
          key: op.key,
          reason: refusal,
          revision: current?.revision ?? null,
        });
        continue;
      }
      currents[i] = current;
      if (op.kind === TxnOpKind.Check) continue;
      writes++;
      if (op.kind === TxnOpKind.Delete) removed++;
      else if (current === undefined) added++;
    }
    if (failures !== undefined)
      return { status: TxnStatus.Failed, revision: 0, failures };
    if (added > removed && this.isFullFor(added - removed)) return TXN_FULL;
    if (writes === 0)
      return {
        status: TxnStatus.Committed,
        revision: this.currentRevision,
        failures: [],
      };
    const revision = ++this.currentRevision;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      switch (op.kind) {
        case TxnOpKind.Create:
        case TxnOpKind.Put:
          this.set(op.key, op.value, deadlineOf(op.ttl, now), revision);
          break;
        case TxnOpKind.Delete:
          this.remove(op.key, currents[i]!, revision, false);
          break;
      }
    }
    return { status: TxnStatus.Committed, revision, failures: [] };
  }

  /**
   * Deletes up to `limit` keys whose deadline has passed, each as a change of its own, and
   * returns how many it deleted.
   */
  reapExpired(limit: number = Infinity): number {
    const now = this.clock();
    let reaped = 0;
    while (reaped < limit) {
      const deadline = this.expiry.peekDeadline();
      const key = this.expiry.popExpired(now);
      if (key === undefined) break;
      const entry = this.table.entries.get(key);
      // A pair is stale when the key was deleted or its deadline moved since it was queued. The
      // check is exact (not just "has the key's deadline passed"): a stale pair must not reap a
      // key whose current, later deadline has passed too, ahead of keys that expired before it.
      if (entry === undefined || entry.deadline !== deadline) continue;
      this.remove(key, entry, ++this.currentRevision, true);
      reaped++;
    }
    this.expiredTotal += reaped;
    return reaped;
  }

  /**
   * Restoring from disk, step 1: adds one entry of a snapshot as it was stored. Only for a fresh
   * store, before {@link restored}. The ordered index waits for {@link restored}, which sorts
   * every key at once.
   */
  loadEntry(
    key: string,
    value: string | Uint8Array,
    revision: Revision,
    deadline: Milliseconds,
  ): void {
    this.assertRestoring();
    this.table.entries.deferOrdering();
    this.table.entries.set(key, value, revision, deadline);
  }

  /**
   * Restoring from disk, step 2: replays a logged batch with the table's revision guard, so a
   * log that overlaps a snapshot written while writes went on never takes an entry back.
   */
  replayBatch(batch: ChangeBatch): void {
    this.assertRestoring();
    for (const change of batch.changes) this.table.applyChange(change);
  }

  /**
   * Restoring from disk, step 3: the store continues from `revision` (or from the newest entry,
   * if one is newer, so a revision is never handed out twice) as if it had published everything
   * up to it. Rebuilds the deadline queue and the ordered index; expired keys are left for
   * {@link reapExpired}.
   */
  restored(revision: Revision): void {
    this.assertRestoring();
    this.table.entries.ensureOrdered();
    let newest = revision;
    for (const [key, entry] of this.table.entries.entries()) {
      if (entry.revision > newest) newest = entry.revision;
      if (entry.deadline === NO_DEADLINE) continue;
      this.keysWithDeadline++;
      this.expiry.push(entry.deadline, key);
    }
    this.currentRevision = newest;
    this.published = newest;
  }

  /** Hands out every change applied since the last call, or undefined when there is none. */
  takeBatch(): ChangeBatch | undefined {
    if (this.pending.length === 0) return undefined;
    const batch: ChangeBatch = {
      from: this.published + 1,
      changes: this.pending,
    };
    this.pending = [];
    this.published = this.currentRevision;
    return batch;
  }

  private assertRestoring(): void {
    if (this.currentRevision !== 0 || this.pending.length > 0) {
      throw new Error('a store can be restored only before its first write');
    }
  }

  /** Whether `newKeys` more keys would pass `maxKeys`; reaps expired keys before saying yes. */
  private isFullFor(newKeys: number): boolean {
    if (this.table.size + newKeys <= this.maxKeys) return false;
    // Expired entries still in the table (an expired entry of a key being written included)
    // are about to go: once reaped, the table holds live keys only.
    this.reapExpired();
    return this.table.size + newKeys > this.maxKeys;
  }

  /**
   * Stores `value` under `key` at `revision` and queues the change. `stored` is what the table
   * copies: the text itself, or, for a touch, the entry's own bytes, so the value is kept byte
   * for byte rather than encoded again.
   */
  private set(
    key: string,
    value: string,
    deadline: Milliseconds,
    revision: Revision,
    stored: string | Uint8Array = value,
  ): void {
    const entry = this.table.entries.get(key);
    const before = entry === undefined ? NO_DEADLINE : entry.deadline;
    if (before === NO_DEADLINE && deadline !== NO_DEADLINE)
      this.keysWithDeadline++;
    if (before !== NO_DEADLINE && deadline === NO_DEADLINE)
      this.keysWithDeadline--;
    this.table.entries.set(key, stored, revision, deadline);
    if (deadline !== NO_DEADLINE) this.queueDeadline(deadline, key);
    this.pending.push({ key, value, deadline, revision, expired: false });
  }

  private remove(
    key: string,
    entry: Entry,
    revision: Revision,
    expired: boolean,
  ): void {
    this.table.entries.delete(key);
    if (entry.deadline !== NO_DEADLINE) this.keysWithDeadline--;
    this.pending.push({
      key,
      value: null,
      deadline: NO_DEADLINE,
      revision,
      expired,
    });
  }

  private queueDeadline(deadline: Milliseconds, key: string): void {
    this.expiry.push(deadline, ownedCopy(key));
    if (this.expiry.size > 2 * this.keysWithDeadline + EXPIRY_SLACK) {
      this.expiry.compact((d, k) => this.table.entries.get(k)?.deadline === d);
    }
  }
}

function deadlineOf(ttl: Milliseconds, now: Milliseconds): Milliseconds {
  return ttl > 0 ? now + ttl : NO_DEADLINE;
}

/**
 * Why a write or transaction operation of `kind` (a WriteOp or TxnOpKind: the numbers of
 * Create, Put and Delete agree) may not be applied to a key whose live entry is `current`, or
 * undefined when it may. A Touch shares Check's number and is tested only on its conditions
 * here; {@link AuthoritativeStore.execute} refuses a touch of an absent key itself.
 */
function refusalOf(
  kind: WriteOp | TxnOpKind,
  conditions: {
    readonly ifMatch?: Precondition;
    readonly ifNoneMatch?: Precondition;
  },
  current: Entry | undefined,
): TxnFailureReason | undefined {
  if (conditions.ifMatch !== undefined && !matches(conditions.ifMatch, current))
    return WriteStatus.PreconditionFailed;
  if (
    conditions.ifNoneMatch !== undefined &&
    matches(conditions.ifNoneMatch, current)
  )
    return WriteStatus.PreconditionFailed;
  if (kind === TxnOpKind.Create && current !== undefined)
    return WriteStatus.Exists;
  if (kind === TxnOpKind.Delete && current === undefined)
    return WriteStatus.NotFound;
  return undefined;
}

function matches(condition: Precondition, current: Entry | undefined): boolean {
  if (current === undefined) return false;
  return condition === '*' || condition.includes(current.revision);
}
