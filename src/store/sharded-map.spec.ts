import { hashString } from './key-hash';
import { DEFAULT_SHARD_BITS, ShardedMap } from './sharded-map';

const V8_MAP_LIMIT = 2 ** 24; // 16,777,216

describe('ShardedMap', () => {
  it('sets, gets, updates and deletes keys, keeping size exact', () => {
    const map = new ShardedMap<number>();
    expect(map.size).toBe(0);
    expect(map.get('a')).toBeUndefined();

    expect(map.set('a', 1)).toBe(true);
    expect(map.set('b', 2)).toBe(true);
    expect(map.size).toBe(2);
    expect(map.get('a')).toBe(1);
    expect(map.get('b')).toBe(2);

    // Replacing is not adding.
    expect(map.set('a', 10)).toBe(false);
    expect(map.size).toBe(2);
    expect(map.get('a')).toBe(10);

    expect(map.delete('a')).toBe(true);
    expect(map.delete('a')).toBe(false);
    expect(map.delete('never')).toBe(false);
    expect(map.size).toBe(1);
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe(2);
  });

  it('distinguishes keys that differ only slightly, and the empty key', () => {
    const map = new ShardedMap<string>(4);
    const keys = ['', ' ', 'a', 'A', 'a ', 'ab', 'ba', '\u00e9', 'e\u0301'];
    for (const key of keys) expect(map.set(key, `v:${key}`)).toBe(true);
    expect(map.size).toBe(keys.length);
    for (const key of keys) expect(map.get(key)).toBe(`v:${key}`);
  });

  it('lists every entry exactly once, and shardEntries partitions them', () => {
    const map = new ShardedMap<number>(6);
    const expected = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      map.set(`key-${i}`, i);
      expected.set(`key-${i}`, i);
    }
    for (let i = 0; i < 2000; i += 3) {
      map.delete(`key-${i}`);
      expected.delete(`key-${i}`);
    }
    expect(map.size).toBe(expected.size);

    const all = [...map.entries()];
    expect(all).toHaveLength(expected.size);
    expect(new Map(all)).toEqual(expected);

    const fromShards: [string, number][] = [];
    for (let shard = 0; shard < map.shardCount; shard++) {
      for (const [key, value] of map.shardEntries(shard)) {
        // Each key lives in the shard its hash picks.
        expect(hashString(key) & (map.shardCount - 1)).toBe(shard);
        fromShards.push([key, value]);
      }
    }
    expect(fromShards).toEqual(all);
  });

  it('rejects a shard index out of range', () => {
    const map = new ShardedMap<number>(3);
    expect(map.shardCount).toBe(8);
    expect(() => map.shardEntries(-1)).toThrow(RangeError);
    expect(() => map.shardEntries(8)).toThrow(RangeError);
    expect(() => map.shardEntries(1.5)).toThrow(RangeError);
    expect(() => map.shardEntries(7)).not.toThrow();
  });

  it('clear empties every shard', () => {
    const map = new ShardedMap<number>(4);
    for (let i = 0; i < 500; i++) map.set(String(i), i);
    map.clear();
    expect(map.size).toBe(0);
    expect([...map.entries()]).toEqual([]);
    expect(map.get('1')).toBeUndefined();
    expect(map.set('1', 1)).toBe(true);
    expect(map.size).toBe(1);
  });

  it('holds far more than one V8 Map (2^24) with the default shard bits', () => {
    const map = new ShardedMap<number>();
    expect(DEFAULT_SHARD_BITS).toBe(12);
    expect(map.shardCount).toBe(4096);
    expect(map.capacity).toBe(4096 * V8_MAP_LIMIT);
    expect(map.capacity).toBeGreaterThan(V8_MAP_LIMIT);
    // Ten million keys fit with a wide margin.
    expect(map.capacity).toBeGreaterThan(10_000_000 * 1000);
  });

  it('spreads keys over (nearly) all shards, none much fuller than the mean', () => {
    const map = new ShardedMap<number>();
    const count = 40_960; // 10 per shard on average
    for (let i = 0; i < count; i++) map.set(`user:${i}`, i);
    const sizes: number[] = [];
    for (let shard = 0; shard < map.shardCount; shard++) {
      sizes.push([...map.shardEntries(shard)].length);
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(count);
    const used = sizes.filter((size) => size > 0).length;
    expect(used).toBeGreaterThan(map.shardCount * 0.99);
    expect(Math.max(...sizes)).toBeLessThan(40);
  });

  it('with shardBits 0 is a single Map of capacity 2^24', () => {
    const map = new ShardedMap<number>(0);
    expect(map.shardCount).toBe(1);
    expect(map.capacity).toBe(V8_MAP_LIMIT);
    map.set('x', 1);
    map.set('y', 2);
    expect([...map.shardEntries(0)]).toEqual([
      ['x', 1],
      ['y', 2],
    ]);
  });

  it.each([-1, 21, 1.5, NaN, Infinity])(
    'throws RangeError for shardBits %p',
    (bits) => {
      expect(() => new ShardedMap<number>(bits)).toThrow(RangeError);
    },
  );

  it('accepts shardBits 16', () => {
    const map = new ShardedMap<number>(16);
    expect(map.shardCount).toBe(65536);
    expect(map.capacity).toBe(2 ** 40);
  });
});
