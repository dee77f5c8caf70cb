import { Change, ChangeBatch } from './change';
import { Entry, isLive } from './entry';
import { ExpiryQueue } from './expiry-queue';
import { KvTable } from './kv-table';
import { DEFAULT_SHARD_BITS, ownedCopy } from './entry-table';
import { Clock, Milliseconds, NO_DEADLINE, Revision } from './types';
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

/**
 * The one store that decides: it applies writes one at a time in the order given, numbers them
 * with revisions, reaps expired keys, and queues every change for publication to the replicas.
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
    return this.table.entries.size;
  }

  /** The live entry of `key` now, or undefined. */
  get(key: string): Entry | undefined {
    return this.table.read(key, this.clock());
  }

  /** Applies `command` if its conditions hold, and says what happened. */
  execute(command: WriteCommand): WriteOutcome {
    const now = this.clock();
    const stored = this.table.entries.get(command.key);
    const current =
      stored !== undefined && isLive(stored, now) ? stored : undefined;
    if (command.ifMatch !== undefined && !matches(command.ifMatch, current)) {
      return REJECTED(WriteStatus.PreconditionFailed);
    }
    if (
      command.ifNoneMatch !== undefined &&
      matches(command.ifNoneMatch, current)
    ) {
      return REJECTED(WriteStatus.PreconditionFailed);
    }
    switch (command.op) {
      case WriteOp.Delete:
        if (current === undefined) return REJECTED(WriteStatus.NotFound);
        return {
          status: WriteStatus.Ok,
          revision: this.remove(command.key, current),
        };
      case WriteOp.Create:
        if (current !== undefined) return REJECTED(WriteStatus.Exists);
        break;
      case WriteOp.Put:
        break;
    }
    if (current === undefined && this.isFullFor(command.key))
      return REJECTED(WriteStatus.Full);
    const deadline = command.ttl > 0 ? now + command.ttl : NO_DEADLINE;
    return {
      status: WriteStatus.Ok,
      revision: this.set(command.key, command.value, deadline),
    };
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
      this.remove(key, entry);
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
    batch.changes.forEach((change, i) =>
      this.table.applyChange(change, batch.from + i),
    );
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

  private isFullFor(key: string): boolean {
    if (this.table.entries.size < this.maxKeys) return false;
    this.reapExpired();
    // An expired entry of this very key would be replaced, not added.
    const size =
      this.table.entries.size -
      (this.table.entries.get(key) === undefined ? 0 : 1);
    return size >= this.maxKeys;
  }

  private set(key: string, value: string, deadline: Milliseconds): Revision {
    const revision = ++this.currentRevision;
    const entry = this.table.entries.get(key);
    const before = entry === undefined ? NO_DEADLINE : entry.deadline;
    if (before === NO_DEADLINE && deadline !== NO_DEADLINE)
      this.keysWithDeadline++;
    if (before !== NO_DEADLINE && deadline === NO_DEADLINE)
      this.keysWithDeadline--;
    this.table.entries.set(key, value, revision, deadline);
    if (deadline !== NO_DEADLINE) this.queueDeadline(deadline, key);
    this.pending.push({ key, value, deadline });
    return revision;
  }

  private remove(key: string, entry: Entry): Revision {
    const revision = ++this.currentRevision;
    this.table.entries.delete(key);
    if (entry.deadline !== NO_DEADLINE) this.keysWithDeadline--;
    this.pending.push({ key, value: null, deadline: NO_DEADLINE });
    return revision;
  }

  private queueDeadline(deadline: Milliseconds, key: string): void {
    this.expiry.push(deadline, ownedCopy(key));
    if (this.expiry.size > 2 * this.keysWithDeadline + EXPIRY_SLACK) {
      this.expiry.compact((d, k) => this.table.entries.get(k)?.deadline === d);
    }
  }
}

function matches(condition: Precondition, current: Entry | undefined): boolean {
  if (current === undefined) return false;
  return condition === '*' || condition.includes(current.revision);
}
