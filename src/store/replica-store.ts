import { batchEnd, ChangeBatch } from './change';
import { Entry } from './entry';
import { KvTable } from './kv-table';
import { DEFAULT_SHARD_BITS, ShardImage } from './entry-table';
import { Milliseconds, Revision } from './types';

/** What {@link ReplicaStore.applyBatch} did with a batch. */
export const ApplyResult = {
  /** Its changes are applied (or buffered, during a snapshot). */
  Applied: 0,
  /** Every change in it was applied before: nothing done. */
  Duplicate: 1,
  /** It starts past the next expected revision: changes were lost, the replica must resync. */
  Gap: 2,
} as const;
export type ApplyResult = (typeof ApplyResult)[keyof typeof ApplyResult];

/**
 * A worker's read replica: a {@link KvTable} fed by a snapshot and then by batches, each
 * change applied exactly once and in revision order.
 *
 * Bootstrap: {@link beginSnapshot} at the primary's published revision R, entries in any order,
 * and batches from R+1 on are buffered until {@link endSnapshot} replays them over the entries.
 * The snapshot is read while writes go on, so an entry may already be newer than R; the table's
 * revision guard keeps the replay from taking it back.
 */
export class ReplicaStore {
  readonly table: KvTable;
  private applied: Revision = 0;
  private buffered: ChangeBatch[] | undefined;

  constructor(shardBits: number = DEFAULT_SHARD_BITS) {
    this.table = new KvTable(shardBits);
  }

  /** The revision of the last change applied. */
  get revision(): Revision {
    return this.applied;
  }

  /** True from {@link beginSnapshot} to {@link endSnapshot}. */
  get bootstrapping(): boolean {
    return this.buffered !== undefined;
  }

  /** The entry of `key` live at `now`: an entry past its deadline is hidden at once. */
  read(key: string, now: Milliseconds): Entry | undefined {
    return this.table.read(key, now);
  }

  /** Starts loading a snapshot of the primary taken at revision `revision`. */
  beginSnapshot(revision: Revision): void {
    this.table.entries.clear();
    this.applied = revision;
    this.buffered = [];
  }

  /**
   * Adds the entries of one whole shard of the snapshot. Throws a RangeError when the image
   * does not fit (a shard sent twice, or a malformed image).
   */
  addSnapshotShard(image: ShardImage): void {
    this.table.entries.importShard(image);
  }

  /**
   * Ends the snapshot, applies the batches that came during it, and builds the ordered index
   * (which the shard images left for one sort at the end), so no read pays for it later.
   */
  endSnapshot(): ApplyResult {
    const buffered = this.buffered ?? [];
    this.buffered = undefined;
    for (const batch of buffered) {
      if (this.applyBatch(batch) === ApplyResult.Gap) return ApplyResult.Gap;
    }
    this.table.entries.ensureOrdered();
    return ApplyResult.Applied;
  }

  /**
   * Applies the changes of `batch` that are newer than this replica; buffers it during a
   * snapshot. A batch that starts past the next revision is refused as a Gap.
   */
  applyBatch(batch: ChangeBatch): ApplyResult {
    if (this.buffered !== undefined) {
      this.buffered.push(batch);
      return ApplyResult.Applied;
    }
    const end = batchEnd(batch);
    if (end <= this.applied) return ApplyResult.Duplicate;
    if (batch.from > this.applied + 1) return ApplyResult.Gap;
    for (const change of batch.changes) {
      if (change.revision > this.applied) this.table.applyChange(change);
    }
    this.applied = end;
    return ApplyResult.Applied;
  }
}
