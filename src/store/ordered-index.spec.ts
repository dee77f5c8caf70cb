import { KeySource, OrderedIndex } from './ordered-index';
import { prng } from './seeded-random.spec-support';

/** Byte order, as the index promises it. */
function byteOrder(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/**
 * Keys held by a test: locator i is key i, stored at an odd offset inside a larger array with
 * junk around it, so an index that ignores keyStart or reads past keyLength goes wrong.
 */
class ArrayKeys implements KeySource {
  keyBytes: Uint8Array = new Uint8Array(0);
  keyStart = 0;
  keyLength = 0;
  private readonly held: {
    bytes: Uint8Array;
    start: number;
    length: number;
  }[] = [];
  /** The leaf each locator was last placed in. */
  readonly leafOf: number[] = [];

  /** Adds `key` and returns its locator. */
  add(key: Uint8Array): number {
    const start = 3 + (this.held.length % 5);
    const bytes = new Uint8Array(start + key.length + 3).fill(0x5a);
    bytes.set(key, start);
    this.held.push({ bytes, start, length: key.length });
    return this.held.length - 1;
  }

  key(locator: number): Uint8Array {
    const held = this.held[locator]!;
    return held.bytes.subarray(held.start, held.start + held.length);
  }

  read(locator: number): void {
    const held = this.held[locator]!;
    this.keyBytes = held.bytes;
    this.keyStart = held.start;
    this.keyLength = held.length;
  }

  placed(locator: number, leaf: number): void {
    this.leafOf[locator] = leaf;
  }
}

/** Every locator of `index` in its order. */
function listAll(index: OrderedIndex): number[] {
  const cursor = index.seek(new Uint8Array(0), 0, 0, false);
  const out: number[] = [];
  for (let at = cursor.next(); at >= 0; at = cursor.next()) out.push(at);
  return out;
}

/** The keys of `locators` as hex, in the order given. */
function keysOf(keys: ArrayKeys, locators: number[]): string[] {
  return locators.map((locator) => hex(keys.key(locator)));
}

/** `locators` sorted by the byte order of their keys, as hex. */
function sortedKeys(keys: ArrayKeys, locators: Iterable<number>): string[] {
  return [...locators]
    .map((locator) => keys.key(locator))
    .sort(byteOrder)
    .map(hex);
}

/** Random keys over a small alphabet (zero bytes, 0xff, letters), many sharing prefixes. */
function randomKey(random: () => number): Uint8Array {
  const alphabet = [0x00, 0x01, 0x61, 0x62, 0x7f, 0xff];
  const length = Math.floor(random() * 10);
  const key = new Uint8Array(length);
  for (let i = 0; i < length; i++)
    key[i] = alphabet[Math.floor(random() * alphabet.length)]!;
  return key;
}

describe('OrderedIndex', () => {
  it.each([
    [4, 4],
    [5, 4],
    [7, 6],
    [16, 4],
    [128, 64],
  ])(
    'matches a sorted array over seeded random inserts and removes (leaves of %i, branches of %i)',
    (leafCapacity, branchCapacity) => {
      const random = prng(leafCapacity * 1000 + branchCapacity);
      const keys = new ArrayKeys();
      const index = new OrderedIndex(keys, { leafCapacity, branchCapacity });
      const byKey = new Map<string, number>();
      const held = new Set<number>();
      for (let step = 0; step < 6000; step++) {
        // Grow for a while, then shrink back down, then grow again.
        const growing = step % 3000 < 2000;
        if (random() < (growing ? 0.7 : 0.3) || held.size === 0) {
          const key = randomKey(random);
          if (byKey.has(hex(key))) continue;
          const locator = keys.add(key);
          byKey.set(hex(key), locator);
          held.add(locator);
          index.insert(locator);
        } else {
          const victims = [...held];
          const locator = victims[Math.floor(random() * victims.length)]!;
          index.remove(locator, keys.leafOf[locator]!);
          held.delete(locator);
          byKey.delete(hex(keys.key(locator)));
        }
        if (step % 250 === 0) {
          index.check();
          expect(keysOf(keys, listAll(index))).toEqual(sortedKeys(keys, held));
        }
      }
      index.check();
      expect(index.size).toBe(held.size);
      expect(keysOf(keys, listAll(index))).toEqual(sortedKeys(keys, held));
      // Down to nothing: the tree shrinks back to one empty leaf.
      for (const locator of held) index.remove(locator, keys.leafOf[locator]!);
      index.check();
      expect(index.size).toBe(0);
      expect(listAll(index)).toEqual([]);
    },
  );

  it.each([
    ['ascending', 1],
    ['descending', -1],
  ])(
    'keeps its shape under keys written in %s order, and fills leaves past half',
    (_, direction) => {
      const keys = new ArrayKeys();
      const index = new OrderedIndex(keys, {
        leafCapacity: 16,
        branchCapacity: 4,
      });
      const all: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const n = direction > 0 ? i : 2000 - i;
        const locator = keys.add(Buffer.from(`k${String(n).padStart(5, '0')}`));
        all.push(locator);
        index.insert(locator);
      }
      index.check();
      expect(keysOf(keys, listAll(index))).toEqual(sortedKeys(keys, all));
      // 16-key leaves split 12 + 4 rather than 8 + 8, then the 4 fill up: 2000 keys take
      // about 2000 / 12 leaves, where halving would take 2000 / 8.
      const leaves = new Set(all.map((locator) => keys.leafOf[locator]));
      expect(leaves.size).toBeLessThan(2000 / 11);
    },
  );

  it('seeks to the first key at or after, or strictly after, any key held or not', () => {
    const random = prng(7);
    const keys = new ArrayKeys();
    const index = new OrderedIndex(keys, {
      leafCapacity: 4,
      branchCapacity: 4,
    });
    const held: number[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const key = randomKey(random);
      if (seen.has(hex(key))) continue;
      seen.add(hex(key));
      const locator = keys.add(key);
      held.push(locator);
      index.insert(locator);
    }
    const sorted = held.map((locator) => keys.key(locator)).sort(byteOrder);
    for (let probe = 0; probe < 500; probe++) {
      const target =
        probe % 2 === 0 ? randomKey(random) : sorted[probe % sorted.length]!;
      for (const strict of [false, true]) {
        const cursor = index.seek(target, 0, target.length, strict);
        const first = cursor.next();
        const expected = sorted.find((key) =>
          strict ? byteOrder(key, target) > 0 : byteOrder(key, target) >= 0,
        );
        expect(first < 0 ? undefined : hex(keys.key(first))).toBe(
          expected === undefined ? undefined : hex(expected),
        );
      }
    }
  });

  describe('load', () => {
    const sets: [string, (random: () => number, i: number) => Uint8Array][] = [
      ['random short keys', (random) => randomKey(random)],
      [
        'keys like key-00000001',
        (_, i) => Buffer.from(`key-${String(i).padStart(8, '0')}`),
      ],
      [
        'keys sharing 30 bytes, then tying on 8 more',
        (random) =>
          Buffer.concat([
            Buffer.alloc(30, 0x41),
            Buffer.from('samebyte'),
            randomKey(random),
          ]),
      ],
      [
        'long keys sharing their first 5,000 bytes',
        (random) =>
          Buffer.concat([Buffer.alloc(5000, 0x61), randomKey(random)]),
      ],
      [
        'keys sharing a prefix but one, which a sample of them misses',
        (_, i) => Buffer.from(i === 5 ? 'other' : `shared/prefix/${i}`),
      ],
      [
        'keys that end in runs of zero bytes, each a prefix of the next',
        (_, i) =>
          Buffer.concat([
            Buffer.from([0x61 + (i % 3)]),
            Buffer.alloc(i >> 2, 0),
          ]),
      ],
      [
        'keys of every length tying on padded windows',
        (random, i) =>
          Buffer.concat([
            Buffer.from('p'),
            Buffer.alloc(i % 40, 0),
            Buffer.from([Math.floor(random() * 3)]),
          ]),
      ],
    ];

    it.each(sets)(
      'sorts %s, and the tree takes inserts and removes after',
      (_, make) => {
        const random = prng(11);
        const keys = new ArrayKeys();
        const index = new OrderedIndex(keys, {
          leafCapacity: 8,
          branchCapacity: 4,
        });
        const seen = new Set<string>();
        const locators: number[] = [];
        for (let i = 0; locators.length < 3000 && i < 100000; i++) {
          const key = make(random, i);
          if (seen.has(hex(key))) continue;
          seen.add(hex(key));
          locators.push(keys.add(key));
        }
        index.load(Uint32Array.from(locators));
        index.check();
        expect(index.size).toBe(locators.length);
        expect(keysOf(keys, listAll(index))).toEqual(
          sortedKeys(keys, locators),
        );
        // Every leaf id told to the source is the one that holds the key.
        const held = new Set(locators);
        for (const locator of locators.slice(0, 1000)) {
          index.remove(locator, keys.leafOf[locator]!);
          held.delete(locator);
        }
        for (let i = 0; i < 500; i++) {
          const key = randomKey(random);
          if (seen.has(hex(key))) continue;
          seen.add(hex(key));
          const locator = keys.add(key);
          held.add(locator);
          index.insert(locator);
        }
        index.check();
        expect(keysOf(keys, listAll(index))).toEqual(sortedKeys(keys, held));
      },
    );

    it('loads nothing, and one key, and replaces what it held', () => {
      const keys = new ArrayKeys();
      const index = new OrderedIndex(keys);
      index.insert(keys.add(Buffer.from('old')));
      index.load(new Uint32Array(0));
      index.check();
      expect(listAll(index)).toEqual([]);
      const only = keys.add(Buffer.from('only'));
      index.load(Uint32Array.of(only));
      index.check();
      expect(listAll(index)).toEqual([only]);
    });
  });

  it('relocates a key to a new locator in place, and finds it there', () => {
    const keys = new ArrayKeys();
    const index = new OrderedIndex(keys, {
      leafCapacity: 4,
      branchCapacity: 4,
    });
    const locators = ['d', 'a', 'c', 'b', 'e', 'f'].map((key) => {
      const locator = keys.add(Buffer.from(key));
      index.insert(locator);
      return locator;
    });
    const c = locators[2]!;
    const moved = keys.add(Buffer.from('c'));
    const leaf = keys.leafOf[c]!;
    index.relocate(leaf, index.positionOf(leaf, c), moved);
    keys.placed(moved, leaf);
    index.check();
    expect(keysOf(keys, listAll(index))).toEqual(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => hex(Buffer.from(k))),
    );
    expect(listAll(index)).toContain(moved);
    expect(listAll(index)).not.toContain(c);
    expect(() => index.positionOf(leaf, c)).toThrow(/does not hold/);
    expect(() => index.remove(c, leaf)).toThrow(/does not hold/);
    expect(() => index.remove(moved, 999)).toThrow(/no leaf/);
  });

  it('refuses node sizes that cannot make a tree', () => {
    const keys = new ArrayKeys();
    expect(() => new OrderedIndex(keys, { leafCapacity: 3 })).toThrow(
      RangeError,
    );
    expect(() => new OrderedIndex(keys, { branchCapacity: 2.5 })).toThrow(
      RangeError,
    );
  });
});
