import { hashString } from './key-hash';

/** Default number of shards: 4096 small Maps hold 10 million keys at about 2,400 each. */
export const DEFAULT_SHARD_BITS = 12;

/**
 * A string-keyed map spread over many small V8 `Map`s, chosen by a hash of the key.
 *
 * Why: one V8 `Map` holds at most 2^24 entries, and it rehashes all of them at once when it
 * grows (hundreds of milliseconds at a few million entries, during which the process answers
 * nothing). With 2^bits shards, the capacity is 2^(24+bits) and each rehash touches only one
 * small shard.
 */
export class ShardedMap<V> {
  private readonly shards: Map<string, V>[];
  private readonly mask: number;
  private count = 0;

  /** @param shardBits log2 of the number of shards, from 0 (one Map) to 20. */
  constructor(shardBits: number = DEFAULT_SHARD_BITS) {
    if (!Number.isInteger(shardBits) || shardBits < 0 || shardBits > 20) {
      throw new RangeError(
        `shardBits must be an integer from 0 to 20, got ${shardBits}`,
      );
    }
    this.shards = Array.from(
      { length: 1 << shardBits },
      () => new Map<string, V>(),
    );
    this.mask = (1 << shardBits) - 1;
  }

  /** Number of entries in all shards. */
  get size(): number {
    return this.count;
  }

  /** Number of shards; {@link shardEntries} takes an index below it. */
  get shardCount(): number {
    return this.shards.length;
  }

  /** The most entries this map can hold: 2^24 per shard, V8's limit for one `Map`. */
  get capacity(): number {
    return this.shards.length * 2 ** 24;
  }

  get(key: string): V | undefined {
    return this.shardOf(key).get(key);
  }

  /** Sets `key` to `value`; returns true when the key was not there before. */
  set(key: string, value: V): boolean {
    const shard = this.shardOf(key);
    const before = shard.size;
    shard.set(key, value);
    if (shard.size === before) return false;
    this.count++;
    return true;
  }

  /** Removes `key`; returns true when it was there. */
  delete(key: string): boolean {
    if (!this.shardOf(key).delete(key)) return false;
    this.count--;
    return true;
  }

  clear(): void {
    for (const shard of this.shards) shard.clear();
    this.count = 0;
  }

  /** The entries of one shard, for work that must be split into small steps (snapshots). */
  shardEntries(index: number): IterableIterator<[string, V]> {
    const shard = this.shards[index];
    if (shard === undefined) throw new RangeError(`no shard ${index}`);
    return shard.entries();
  }

  /** Every entry, shard by shard. Do not modify the map while iterating. */
  *entries(): IterableIterator<[string, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  private shardOf(key: string): Map<string, V> {
    // The mask keeps the index inside the array, so the lookup cannot miss.
    return this.shards[hashString(key) & this.mask]!;
  }
}
