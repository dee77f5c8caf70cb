import { Change } from './change';
import { Digest } from './digest';
import { Entry, isLive } from './entry';
import { DEFAULT_SHARD_BITS, EntryTable, ListPage } from './entry-table';
import { Milliseconds } from './types';

/**
 * Keys and their entries, shared by the primary's authoritative store and every replica.
 */
export class KvTable {
  /** The entries, expired ones included until something deletes them. */
  readonly entries: EntryTable;

  constructor(shardBits: number = DEFAULT_SHARD_BITS) {
    this.entries = new EntryTable(shardBits);
  }

  /**
   * Number of keys held: the live ones and the expired ones not deleted yet (see
   * {@link EntryTable.size}). An expired key counts until something deletes it: on the primary, the
   * store reaping it; on a replica, the primary's delete of it arriving in a batch. So this can
   * exceed the keys live now, never fall below. O(1).
   */
  get size(): number {
    return this.entries.size;
  }

  /** The entry of `key` if it exists and is live at `now`. */
  read(key: string, now: Milliseconds): Entry | undefined {
    const entry = this.entries.get(key);
    return entry !== undefined && isLive(entry, now) ? entry : undefined;
  }

  /**
   * A page of the keys live at `now` that start with `prefix`, in ascending order of their
   * UTF-8 bytes, strictly after `after` (a key held or not; undefined: from the start of the
   * prefix), at most `limit` of them; `more` says whether a next page would hold any. O(log n
   * + limit), plus a step per expired entry passed over. See {@link EntryTable.list}.
   *
   * @param limit an integer, 0 or more (RangeError otherwise)
   */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
    now: Milliseconds,
  ): ListPage {
    return this.entries.list(prefix, after, limit, now);
  }

  /**
   * Applies `change` at its revision, unless the key already holds a write at least as new.
   * That guard makes replaying changes over a snapshot taken while writes went on correct: an
   * entry the snapshot caught at a later revision is never taken back to an older one.
   */
  applyChange(change: Change): void {
    const revision = change.revision;
    const entry = this.entries.get(change.key);
    if (entry !== undefined && entry.revision >= revision) return;
    if (change.value === null) {
      if (entry !== undefined) this.entries.delete(change.key);
    } else {
      this.entries.set(change.key, change.value, revision, change.deadline);
    }
  }

  /**
   * Reads a snapshot a few shards at a time. Appends the entries of whole shards live at `now`,
   * from shard `from` on, to `out` as flat runs of key, value (its UTF-8 bytes, a view of the
   * arena), revision, deadline, until more than `maxEntries` entries or `maxChars` characters
   * of keys and bytes of values were added, or the
   * shards run out. Returns how many entries it added and the next shard to read (the shard
   * count once all are read). Whole shards, because a shard is read in one go: callers spread
   * a snapshot over event-loop turns while the table keeps changing between calls.
   */
  readShards(
    from: number,
    now: Milliseconds,
    out: unknown[],
    maxEntries: number,
    maxChars: number,
  ): { added: number; next: number } {
    let shard = from;
    let added = 0;
    let chars = 0;
    while (
      shard < this.entries.shardCount &&
      added < maxEntries &&
      chars < maxChars
    ) {
      for (const [key, entry] of this.entries.shardEntries(shard)) {
        if (!isLive(entry, now)) continue;
        out.push(key, entry.bytes, entry.revision, entry.deadline);
        chars += key.length + entry.byteLength;
        added++;
      }
      shard++;
    }
    return { added, next: shard };
  }

  /**
   * Adds the entries live at `now` of whole shards, from shard `from` on, to `digest`, until
   * more than `maxEntries` entries (live or not) were looked at or more than `maxChars`
   * characters of keys and bytes of values were hashed, or the shards run out. Returns the
   * next shard to read (the shard count once all are read). Whole shards, as in
   * {@link readShards}: callers spread a digest over event-loop turns.
   */
  digestShards(
    from: number,
    now: Milliseconds,
    digest: Digest,
    maxEntries: number,
    maxChars: number,
  ): number {
    let shard = from;
    let seen = 0;
    let chars = 0;
    while (
      shard < this.entries.shardCount &&
      seen <= maxEntries &&
      chars <= maxChars
    ) {
      for (const [key, entry] of this.entries.shardEntries(shard)) {
        seen++;
        if (!isLive(entry, now)) continue;
        digest.add(key, entry.value, entry.deadline);
        chars += key.length + entry.byteLength;
      }
      shard++;
    }
    return shard;
  }

  /** The {@link Digest} of the entries live at `now`, in one go. O(n). */
  digest(now: Milliseconds): string {
    const digest = new Digest();
    this.digestShards(0, now, digest, Infinity, Infinity);
    return digest.toString();
  }
}
