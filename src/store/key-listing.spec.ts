import { Change } from './change';
import { EntryTable, ListPage } from './entry-table';
import { exportAll } from './entry-table.spec-support';
import { plain, PlainEntry } from './entry.spec-support';
import { KvTable } from './kv-table';
import { OrderedIndex, OrderedIndexOptions } from './ordered-index';
import { prng, randomString } from './seeded-random.spec-support';
import { NO_DEADLINE } from './types';

/** Byte order of the UTF-8 forms of two strings: the order listings promise. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A page as plain data: keys with plain entries, and `more`. */
function plainPage(page: ListPage): {
  entries: [string, PlainEntry][];
  more: boolean;
} {
  return {
    entries: page.entries.map(({ key, entry }) => [key, plain(entry)!]),
    more: page.more,
  };
}

/** What {@link EntryTable.list} must answer, computed from a plain model by sorting. */
function expectedPage(
  model: Map<string, PlainEntry>,
  prefix: string,
  after: string | undefined,
  limit: number,
  now: number,
): { entries: [string, PlainEntry][]; more: boolean } {
  const matching = [...model]
    .filter(
      ([key, entry]) =>
        (entry.deadline === NO_DEADLINE || entry.deadline > now) &&
        key.startsWith(prefix) &&
        (after === undefined || byteOrder(key, after) > 0),
    )
    .sort(([a], [b]) => byteOrder(a, b));
  return {
    entries: matching.slice(0, limit),
    more: matching.length > limit,
  };
}

/**
 * Runs the index's own consistency check (order, separators, fill, hints, links). The index is
 * private to the table; a spec reaches in for it rather than widen the table's API.
 */
function checkIndex(table: EntryTable): void {
  (table as unknown as { order: OrderedIndex }).order.check();
}

/**
 * Pieces that keys are made of: multi-byte and astral characters, U+E000 and U+FFFF (which
 * sort below astral ones in UTF-16 but above them in UTF-8), NUL, and pieces that are prefixes
 * of one another.
 */
const PIECES = [
  'a',
  'b',
  'ab',
  '/',
  'z',
  '0',
  '9',
  'key-',
  '\u00e9',
  '\u20ac',
  '\u{1f600}',
  '\u{10000}',
  '\ue000',
  '\uffff',
  '\u0000',
];

function randomKey(random: () => number): string {
  return randomString(random, PIECES, 5);
}

describe('EntryTable.list', () => {
  it('orders keys by UTF-8 bytes, not by UTF-16 units', () => {
    const table = new EntryTable(2);
    const keys = [
      '\u{10000}',
      '\uffff',
      '\ue000',
      'a',
      '',
      '\u00e9',
      '\u{1f600}',
    ];
    keys.forEach((key, i) => table.set(key, '1', i + 1, NO_DEADLINE));
    const listed = table.list('', undefined, 100, 0).entries.map((e) => e.key);
    // UTF-8: '' < 61 < C3A9 < EE8080 < EFBFBF < F0908080 < F09F9880.
    expect(listed).toEqual([
      '',
      'a',
      '\u00e9',
      '\ue000',
      '\uffff',
      '\u{10000}',
      '\u{1f600}',
    ]);
    // JS string order would put the astral ones before U+E000.
    expect([...keys].sort()).not.toEqual(listed);
  });

  it('lists keys that are prefixes of one another, by prefix and after a key', () => {
    const table = new EntryTable(3);
    const keys = ['b', 'abc', 'a', 'ab', 'a\u0000', 'a\u{1f600}', 'aa'];
    keys.forEach((key, i) => table.set(key, `${i}`, i + 1, NO_DEADLINE));
    const list = (prefix: string, after?: string, limit = 100): string[] =>
      table.list(prefix, after, limit, 0).entries.map((e) => e.key);
    expect(list('')).toEqual([
      'a',
      'a\u0000',
      'aa',
      'ab',
      'abc',
      'a\u{1f600}',
      'b',
    ]);
    expect(list('a')).toEqual([
      'a',
      'a\u0000',
      'aa',
      'ab',
      'abc',
      'a\u{1f600}',
    ]);
    expect(list('ab')).toEqual(['ab', 'abc']);
    expect(list('abc')).toEqual(['abc']);
    expect(list('abcd')).toEqual([]);
    expect(list('a', 'a')).toEqual([
      'a\u0000',
      'aa',
      'ab',
      'abc',
      'a\u{1f600}',
    ]);
    expect(list('a', 'ab')).toEqual(['abc', 'a\u{1f600}']);
    // `after` not held: the next key above it.
    expect(list('a', 'aaa')).toEqual(['ab', 'abc', 'a\u{1f600}']);
    expect(list('a', 'a\uffff')).toEqual(['a\u{1f600}']);
    // `after` below the prefix: the whole prefix; above all of it: nothing.
    expect(list('ab', '')).toEqual(['ab', 'abc']);
    expect(list('ab', 'a\u0000')).toEqual(['ab', 'abc']);
    expect(list('a', 'b')).toEqual([]);
    expect(list('a', '\u{1f600}')).toEqual([]);
    expect(list('', undefined, 3)).toEqual(['a', 'a\u0000', 'aa']);
  });

  it('lists long keys that share thousands of bytes', () => {
    const table = new EntryTable(2, { leafCapacity: 4, branchCapacity: 4 });
    const stem = '\u00e9'.repeat(3000);
    const keys = Array.from({ length: 60 }, (_, i) => `${stem}${(i * 7) % 60}`);
    keys.forEach((key, i) => table.set(key, '1', i + 1, NO_DEADLINE));
    checkIndex(table);
    expect(
      table.list(stem, undefined, 100, 0).entries.map((e) => e.key),
    ).toEqual([...keys].sort(byteOrder));
    expect(
      table.list(`${stem}5`, `${stem}5`, 100, 0).entries.map((e) => e.key),
    ).toEqual(Array.from({ length: 10 }, (_, i) => `${stem}5${i}`));
  });

  it('skips expired keys, and says whether a live key follows the page', () => {
    const table = new EntryTable(2);
    table.set('k1', '1', 1, NO_DEADLINE);
    table.set('k2', '2', 2, 1000);
    table.set('k3', '3', 3, NO_DEADLINE);
    table.set('k4', '4', 4, 500);
    table.set('l1', '5', 5, NO_DEADLINE);
    expect(plainPage(table.list('k', undefined, 2, 999))).toEqual({
      entries: [
        ['k1', { value: '1', revision: 1, deadline: NO_DEADLINE }],
        ['k2', { value: '2', revision: 2, deadline: 1000 }],
      ],
      more: true,
    });
    // At 1000, k2 is gone (a deadline equal to now is past) and k4 too: k3 is the last.
    const page = table.list('k', undefined, 2, 1000);
    expect(page.entries.map((e) => e.key)).toEqual(['k1', 'k3']);
    expect(page.more).toBe(false);
    // A full last page: nothing live follows (k4 expired, l1 outside the prefix).
    expect(table.list('k', 'k1', 1, 1000).more).toBe(false);
    expect(table.list('k', 'k1', 1, 499).more).toBe(true);
    // A limit of 0 only says whether anything is there.
    expect(table.list('k', undefined, 0, 1000)).toEqual({
      entries: [],
      more: true,
    });
    expect(table.list('k', 'k3', 0, 1000)).toEqual({
      entries: [],
      more: false,
    });
    expect(table.list('m', undefined, 0, 0)).toEqual({
      entries: [],
      more: false,
    });
  });

  it('refuses a negative or fractional limit', () => {
    const table = new EntryTable(0);
    expect(() => table.list('', undefined, -1, 0)).toThrow(RangeError);
    expect(() => table.list('', undefined, 1.5, 0)).toThrow(RangeError);
    expect(() => table.list('', undefined, NaN, 0)).toThrow(RangeError);
  });

  it('pages through every key that lives throughout exactly once, in order, while keys come and go', () => {
    const random = prng(42);
    const table = new EntryTable(2, { leafCapacity: 4, branchCapacity: 4 });
    const stable = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const key = `s${String(i).padStart(4, '0')}`;
      stable.add(key);
      table.set(key, '1', i + 1, NO_DEADLINE);
    }
    let revision = 1000;
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = table.list('s', after, 7, 0);
      seen.push(...page.entries.map((e) => e.key));
      if (page.entries.length > 0) after = page.entries.at(-1)!.key;
      if (!page.more) break;
      // Between pages, keys appear and vanish on both sides of the cursor.
      for (let i = 0; i < 20; i++) {
        const key = `s${String(Math.floor(random() * 600)).padStart(4, '0')}x`;
        if (random() < 0.5) table.set(key, '2', ++revision, NO_DEADLINE);
        else table.delete(key);
      }
    }
    const stableSeen = seen.filter((key) => stable.has(key));
    expect(stableSeen).toEqual([...stable].sort(byteOrder));
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort(byteOrder)).toEqual(seen);
    checkIndex(table);
  });

  it('moves locators when a shard index grows and shrinks, and not when its arena is rebuilt', () => {
    // One shard: every key moves at each resize of the shard's index.
    const table = new EntryTable(0, { leafCapacity: 8, branchCapacity: 4 });
    const keys: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const key = `k${(i * 7919) % 5000}`;
      keys.push(key);
      table.set(key, '"v"', i + 1, NO_DEADLINE);
    }
    checkIndex(table);
    // Overwrites with large values: the arena is rebuilt many times, slots stay.
    for (let round = 0; round < 5; round++)
      for (let i = 0; i < 5000; i += 7)
        table.set(
          `k${i}`,
          `"${'x'.repeat(200)}${round}"`,
          10000 + round,
          NO_DEADLINE,
        );
    checkIndex(table);
    const all = table.list('', undefined, 10000, 0).entries.map((e) => e.key);
    expect(all).toEqual([...keys].sort(byteOrder));
    expect(table.list('k4998', undefined, 5, 0).entries[0]!.entry.value).toBe(
      `"${'x'.repeat(200)}4"`,
    );
    // Down to a few keys: the shard's index shrinks step by step.
    for (let i = 0; i < 4990; i++) table.delete(`k${i}`);
    checkIndex(table);
    expect(table.list('', undefined, 100, 0).entries.map((e) => e.key)).toEqual(
      [
        'k4990',
        'k4991',
        'k4992',
        'k4993',
        'k4994',
        'k4995',
        'k4996',
        'k4997',
        'k4998',
        'k4999',
      ],
    );
  });

  it('rebuilds the index from an imported snapshot, and takes a small shard one key at a time', () => {
    const source = new EntryTable(4);
    const keys: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const key = `user/${i}/\u00e9${i % 7}`;
      keys.push(key);
      source.set(key, `${i}`, i + 1, i % 10 === 0 ? 50 : NO_DEADLINE);
    }
    const images = exportAll(source, 100);
    const replica = new EntryTable(4, { leafCapacity: 8, branchCapacity: 4 });
    const last = images.pop()!;
    for (const image of images) replica.importShard(image);
    expect(replica.ordered).toBe(false);
    replica.ensureOrdered();
    expect(replica.ordered).toBe(true);
    checkIndex(replica);
    // The last shard is small beside the rest: its keys go in one by one.
    replica.importShard(last);
    expect(replica.ordered).toBe(true);
    checkIndex(replica);
    const live = keys.filter((_, i) => i % 10 !== 0).sort(byteOrder);
    expect(
      replica.list('', undefined, 5000, 100).entries.map((e) => e.key),
    ).toEqual(live);
    expect(
      replica.list('user/12', undefined, 3, 100).entries.map((e) => e.key),
    ).toEqual(live.filter((key) => key.startsWith('user/12')).slice(0, 3));
  });

  it('lists after deferOrdering, rebuilding on demand, and after clear', () => {
    const table = new EntryTable(3, { leafCapacity: 4, branchCapacity: 4 });
    for (let i = 0; i < 100; i++) table.set(`a${i}`, '1', i + 1, NO_DEADLINE);
    table.deferOrdering();
    for (let i = 0; i < 50; i++) table.delete(`a${i * 2}`);
    table.set('b', '2', 200, NO_DEADLINE);
    expect(table.ordered).toBe(false);
    expect(
      table.list('', undefined, 1000, 0).entries.map((e) => e.key),
    ).toEqual(
      [...Array.from({ length: 50 }, (_, i) => `a${i * 2 + 1}`), 'b'].sort(
        byteOrder,
      ),
    );
    checkIndex(table);
    table.clear();
    expect(table.list('', undefined, 10, 0)).toEqual({
      entries: [],
      more: false,
    });
    table.set('c', '3', 300, NO_DEADLINE);
    expect(table.list('', undefined, 10, 0).entries.map((e) => e.key)).toEqual([
      'c',
    ]);
    checkIndex(table);
  });

  it('accounts for the memory of its index', () => {
    const table = new EntryTable(4);
    const empty = table.orderedIndexBytes;
    expect(empty).toBeGreaterThan(0);
    for (let i = 0; i < 20000; i++)
      table.set(`key-${i}`, '1', i + 1, NO_DEADLINE);
    expect(table.orderedIndexBytes).toBeGreaterThan(empty + 20000 * 8);
    table.clear();
    expect(table.orderedIndexBytes).toBe(empty);
  });

  const configurations: [string, number, OrderedIndexOptions][] = [
    ['one shard, tiny nodes', 0, { leafCapacity: 4, branchCapacity: 4 }],
    ['8 shards, small nodes', 3, { leafCapacity: 6, branchCapacity: 5 }],
    ['16 shards, default nodes', 4, {}],
  ];

  it.each(configurations)(
    'matches a sorted array over seeded random writes, deletes, expiry, imports and clears (%s)',
    (_, shardBits, options) => {
      const random = prng(shardBits + 1);
      let table = new EntryTable(shardBits, options);
      const model = new Map<string, PlainEntry>();
      const pool = Array.from({ length: 400 }, () => randomKey(random));
      const pick = (): string => pool[Math.floor(random() * pool.length)]!;
      let now = 1_000_000;
      let revision = 0;
      let lists = 0;
      for (let step = 0; step < 5000; step++) {
        const roll = random();
        if (roll < 0.45) {
          const key = pick();
          // Now and then a large value, so arenas rebuild.
          const value = random() < 0.1 ? `"${'v'.repeat(300)}"` : `${step}`;
          const deadline =
            random() < 0.2 ? now + 1 + Math.floor(random() * 100) : NO_DEADLINE;
          table.set(key, value, ++revision, deadline);
          model.set(key, { value, revision, deadline });
        } else if (roll < 0.7) {
          const key = pick();
          expect(table.delete(key)).toBe(model.delete(key));
        } else if (roll < 0.75) {
          now += Math.floor(random() * 50);
        } else if (roll < 0.96) {
          const prefixRoll = random();
          const prefix =
            prefixRoll < 0.2
              ? ''
              : prefixRoll < 0.5
                ? PIECES[Math.floor(random() * PIECES.length)]!
                : [...pick()].slice(0, 1 + Math.floor(random() * 3)).join('');
          const afterRoll = random();
          const after =
            afterRoll < 0.4
              ? undefined
              : afterRoll < 0.7
                ? pick()
                : `${pick()}\u0001`;
          const limit = Math.floor(random() * 12);
          expect(plainPage(table.list(prefix, after, limit, now))).toEqual(
            expectedPage(model, prefix, after, limit, now),
          );
          lists++;
        } else if (roll < 0.98) {
          // A snapshot into a fresh table, as a new replica loads one.
          const replica = new EntryTable(shardBits, options);
          for (const image of exportAll(table, now)) replica.importShard(image);
          for (const [key, entry] of model)
            if (entry.deadline !== NO_DEADLINE && entry.deadline <= now)
              model.delete(key);
          table = replica;
        } else if (roll < 0.99) {
          table.deferOrdering();
        } else if (roll < 0.995) {
          table.clear();
          model.clear();
        }
        if (step % 500 === 0) {
          expect(plainPage(table.list('', undefined, 10000, now))).toEqual(
            expectedPage(model, '', undefined, 10000, now),
          );
          checkIndex(table);
        }
      }
      checkIndex(table);
      expect(lists).toBeGreaterThan(800);
    },
  );
});

describe('KvTable.list', () => {
  /** A change that is not an expiry, committed at `revision`. */
  const change = (
    key: string,
    value: string | null,
    deadline: number,
    revision: number,
  ): Change => ({ key, value, deadline, revision, expired: false });

  it('pages the live keys of the table by prefix', () => {
    const table = new KvTable(2);
    table.applyChange(change('cfg/b', '2', NO_DEADLINE, 1));
    table.applyChange(change('cfg/a', '{"x":1}', NO_DEADLINE, 2));
    table.applyChange(change('cfg/c', '3', 10, 3));
    table.applyChange(change('other', '4', NO_DEADLINE, 4));
    expect(plainPage(table.list('cfg/', undefined, 2, 5))).toEqual({
      entries: [
        ['cfg/a', { value: '{"x":1}', revision: 2, deadline: NO_DEADLINE }],
        ['cfg/b', { value: '2', revision: 1, deadline: NO_DEADLINE }],
      ],
      more: true,
    });
    expect(plainPage(table.list('cfg/', 'cfg/b', 2, 10))).toEqual({
      entries: [],
      more: false,
    });
    table.applyChange(change('cfg/a', null, NO_DEADLINE, 5));
    expect(
      table.list('cfg/', undefined, 5, 5).entries.map((e) => e.key),
    ).toEqual(['cfg/b', 'cfg/c']);
  });
});
