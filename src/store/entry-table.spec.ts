import { Entry } from './entry';
import { DEFAULT_SHARD_BITS, EntryTable, ShardImage } from './entry-table';
import { exportAll } from './entry-table.spec-support';
import { MULTI, MULTI_BYTES, plain, PlainEntry } from './entry.spec-support';
import { prng } from './seeded-random.spec-support';
import { MAX_TTL, NO_DEADLINE } from './types';

const KIB = 1024;
const MIB = 1024 * 1024;

/** Every entry of `table` as [key, plain entry], sorted by key. */
function contents(table: EntryTable): [string, PlainEntry][] {
  return [...table.entries()]
    .map(([key, entry]): [string, PlainEntry] => [key, plain(entry)!])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The pairs of `model`, sorted by key, in the shape of {@link contents}. */
function sorted(model: Map<string, PlainEntry>): [string, PlainEntry][] {
  return [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * `expect(actual).toEqual(expected)`, but cheap when they are equal (JSON text compared first):
 * for hot loops, where thousands of full matcher calls would cost seconds.
 */
function same(actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    expect(actual).toEqual(expected);
}

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `key`, written here independently of the table: the
 * top shardBits bits of it pick a key's shard.
 */
function fnv1a(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Every key of `table`, mapped to the shard whose shardEntries yields it; fails on a repeat. */
function shardsOfKeys(table: EntryTable): Map<string, number> {
  const shards = new Map<string, number>();
  const repeated: [string, number, number][] = [];
  for (let shard = 0; shard < table.shardCount; shard++) {
    for (const [key] of table.shardEntries(shard)) {
      // No key is yielded twice, by one shard or by two.
      if (shards.has(key)) repeated.push([key, shards.get(key)!, shard]);
      shards.set(key, shard);
    }
  }
  expect(repeated).toEqual([]);
  return shards;
}

/** One record of an image, read by the documented layout. */
interface ImageRecord {
  /** Where the record starts in `records`, and its length in bytes, padding included. */
  offset: number;
  bytes: number;
  key: string;
  value: string;
  revision: number;
  deadline: number;
}

/** The records of `image`, in the order they are laid out. */
function recordsOf(image: ShardImage): ImageRecord[] {
  const { records } = image;
  const view = new DataView(
    records.buffer,
    records.byteOffset,
    records.byteLength,
  );
  const utf8 = new TextDecoder();
  const out: ImageRecord[] = [];
  for (let offset = 0; offset < records.length;) {
    const valueLength = view.getUint32(offset + 16, true);
    const keyLength = view.getUint32(offset + 20, true);
    const keyStart = offset + 24;
    const valueStart = keyStart + keyLength;
    const bytes = Math.ceil((24 + keyLength + valueLength) / 8) * 8;
    out.push({
      offset,
      bytes,
      key: utf8.decode(records.subarray(keyStart, valueStart)),
      value: utf8.decode(
        records.subarray(valueStart, valueStart + valueLength),
      ),
      revision: view.getFloat64(offset, true),
      deadline: view.getFloat64(offset + 8, true),
    });
    offset += bytes;
  }
  return out;
}

/** A copy of the bytes of the record of `key` in `image`. */
function recordBytes(image: ShardImage, key: string): Uint8Array {
  const record = recordsOf(image).find((r) => r.key === key)!;
  expect(record).toBeDefined();
  return image.records.slice(record.offset, record.offset + record.bytes);
}

/** `parts` laid end to end in a new array. */
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Pairs of keys with the same 32-bit FNV-1a hash (so the same shard and the same slot). */
const COLLIDING: [string, string][] = [
  ['costarring', 'liquid'],
  ['declinate', 'macallums'], // of one length: told apart only by their bytes
  ['altarage', 'zinke'],
  ['altarages', 'zinkes'],
];

describe('EntryTable', () => {
  describe('as a map', () => {
    it('sets, gets, updates and deletes keys, keeping size exact', () => {
      const table = new EntryTable();
      expect(table.size).toBe(0);
      expect(table.get('a')).toBeUndefined();

      expect(table.set('a', '1', 1, NO_DEADLINE)).toBe(true);
      expect(table.set('b', '"two"', 2, 5000)).toBe(true);
      expect(table.size).toBe(2);
      expect(plain(table.get('a'))).toEqual({
        value: '1',
        revision: 1,
        deadline: 0,
      });
      expect(plain(table.get('b'))).toEqual({
        value: '"two"',
        revision: 2,
        deadline: 5000,
      });

      // Replacing is not adding; revision and deadline are replaced with the value.
      expect(table.set('a', '10', 3, 7000)).toBe(false);
      expect(table.size).toBe(2);
      expect(plain(table.get('a'))).toEqual({
        value: '10',
        revision: 3,
        deadline: 7000,
      });

      expect(table.delete('a')).toBe(true);
      expect(table.delete('a')).toBe(false);
      expect(table.delete('never')).toBe(false);
      expect(table.size).toBe(1);
      expect(table.get('a')).toBeUndefined();
      expect(table.get('b')?.value).toBe('"two"');

      // A deleted key comes back as a new one.
      expect(table.set('a', '11', 4, NO_DEADLINE)).toBe(true);
      expect(table.size).toBe(2);
    });

    it('distinguishes keys that differ only slightly, and the empty key', () => {
      const table = new EntryTable(4);
      const keys = ['', ' ', 'a', 'A', 'a ', 'ab', 'ba', '\u00e9', 'e\u0301'];
      keys.forEach((key, i) =>
        expect(table.set(key, `"v:${key}"`, i + 1, 0)).toBe(true),
      );
      expect(table.size).toBe(keys.length);
      keys.forEach((key, i) =>
        expect(plain(table.get(key))).toEqual({
          value: `"v:${key}"`,
          revision: i + 1,
          deadline: 0,
        }),
      );
    });

    it('keeps revisions and deadlines exactly, up to ten years ahead', () => {
      const table = new EntryTable(0);
      const deadline = 1_700_000_000_000 + MAX_TTL;
      table.set('k', '1', Number.MAX_SAFE_INTEGER, deadline);
      expect(table.get('k')?.revision).toBe(9_007_199_254_740_991);
      expect(table.get('k')?.deadline).toBe(2_015_360_000_000);
    });

    it('lists every entry exactly once, and shardEntries partitions them', () => {
      const table = new EntryTable(6);
      const expected = new Map<string, PlainEntry>();
      for (let i = 0; i < 2000; i++) {
        table.set(`key-${i}`, `${i}`, i + 1, i % 7 === 0 ? 50_000 + i : 0);
        expected.set(`key-${i}`, {
          value: `${i}`,
          revision: i + 1,
          deadline: i % 7 === 0 ? 50_000 + i : 0,
        });
      }
      for (let i = 0; i < 2000; i += 3) {
        table.delete(`key-${i}`);
        expected.delete(`key-${i}`);
      }
      expect(table.size).toBe(expected.size);

      const all = [...table.entries()].map(
        ([key, entry]): [string, PlainEntry] => [key, plain(entry)!],
      );
      expect(all).toHaveLength(expected.size);
      expect(new Map(all)).toEqual(expected);

      // entries() is shardEntries(0), shardEntries(1), ... in turn.
      const fromShards: [string, PlainEntry][] = [];
      for (let shard = 0; shard < table.shardCount; shard++) {
        for (const [key, entry] of table.shardEntries(shard))
          fromShards.push([key, plain(entry)!]);
      }
      expect(fromShards).toEqual(all);

      // The shards partition the keys: each key is in exactly one shard, and every shard
      // holds some (about 21 each).
      const shardOf = shardsOfKeys(table);
      expect([...shardOf.keys()].sort()).toEqual([...expected.keys()].sort());
      expect(new Set(shardOf.values()).size).toBe(table.shardCount);
      // A key's shard depends on the key alone: another table puts it in the same one.
      const other = new EntryTable(6);
      for (const key of [...expected.keys()].reverse())
        other.set(key, '0', 1, 0);
      expect(shardsOfKeys(other)).toEqual(shardOf);
    });

    it.each([1, 4, 6, 12])(
      "with shardBits %p picks a key's shard by the top bits of FNV-1a over its UTF-8 bytes",
      (bits) => {
        const table = new EntryTable(bits);
        const keys = [
          '',
          'a',
          'user:42',
          '\u00e9',
          'e\u0301',
          '\u{1f511}/\u20ac',
          ...Array.from({ length: 60 }, (_, i) => `k${i}`),
        ];
        for (const key of keys) table.set(key, '1', 1, 0);
        const shardOf = shardsOfKeys(table);
        expect(shardOf.size).toBe(keys.length);
        for (const key of keys)
          expect([key, shardOf.get(key)]).toEqual([
            key,
            fnv1a(key) >>> (32 - bits),
          ]);
      },
    );

    it('tells apart keys whose hashes are equal', () => {
      for (const [a, b] of COLLIDING) expect(fnv1a(a)).toBe(fnv1a(b));
      for (const bits of [0, 4]) {
        const table = new EntryTable(bits);
        const keys = COLLIDING.flat();
        keys.forEach((key, i) =>
          expect(table.set(key, `${i}`, i + 1, 0)).toBe(true),
        );
        expect(table.size).toBe(keys.length);
        keys.forEach((key, i) => expect(table.get(key)?.value).toBe(`${i}`));
        // A rewrite of one does not touch the other.
        expect(table.set('macallums', '"new"', 20, 0)).toBe(false);
        expect(table.get('declinate')?.value).toBe('2');
        expect(table.get('macallums')?.value).toBe('"new"');
        // Nor does a delete, whichever of the pair went in first.
        expect(table.delete('costarring')).toBe(true);
        expect(table.delete('zinke')).toBe(true);
        expect(table.get('costarring')).toBeUndefined();
        expect(table.get('liquid')?.value).toBe('1');
        expect(table.get('altarage')?.value).toBe('4');
        expect(table.get('zinke')).toBeUndefined();
        expect(table.size).toBe(keys.length - 2);
        // And a shard image of them goes back in (the import finds the colliding keys apart).
        const target = new EntryTable(bits);
        for (const image of exportAll(table, 0)) target.importShard(image);
        expect(contents(target)).toEqual(contents(table));
        expect(target.get('declinate')?.value).toBe('2');
      }
    });

    it('rejects a shard index out of range', () => {
      const table = new EntryTable(3);
      expect(table.shardCount).toBe(8);
      // shardEntries is a generator: it checks the index when iterated.
      expect(() => [...table.shardEntries(-1)]).toThrow(RangeError);
      expect(() => [...table.shardEntries(8)]).toThrow(RangeError);
      expect(() => [...table.shardEntries(1.5)]).toThrow(RangeError);
      expect(() => [...table.shardEntries(7)]).not.toThrow();
    });

    it('clear empties every shard and gives back the arenas', () => {
      const table = new EntryTable(4);
      for (let i = 0; i < 500; i++) table.set(String(i), 'x'.repeat(200), 1, 0);
      expect(table.arenaBytes).toBeGreaterThan(500 * 200);
      table.clear();
      expect(table.size).toBe(0);
      expect([...table.entries()]).toEqual([]);
      expect(table.get('1')).toBeUndefined();
      expect(table.arenaBytes).toBeLessThan(16 * KIB);
      expect(table.set('1', '1', 2, 0)).toBe(true);
      expect(table.size).toBe(1);
      expect(table.get('1')?.value).toBe('1');
    });

    it('has no per-shard key limit: keys go in no Map, and one shard grows on and on', () => {
      expect(DEFAULT_SHARD_BITS).toBe(12);
      expect(new EntryTable().shardCount).toBe(4096);
      // A V8 Map holds at most 2^24 keys; the table uses none. (Putting 2^24 keys in one shard
      // would take gigabytes and most of a minute: 200,000 show its index doubling 16 times.)
      const count = 200_000;
      const mapSet = jest.spyOn(Map.prototype, 'set');
      const table = new EntryTable(0);
      let found = 0;
      let mapSets = -1;
      try {
        for (let i = 0; i < count; i++) table.set(`k${i}`, '1', i + 1, 0);
        for (let i = 0; i < count; i++)
          if (table.get(`k${i}`)?.revision === i + 1) found++;
      } finally {
        mapSets = mapSet.mock.calls.length;
        mapSet.mockRestore();
      }
      expect(mapSets).toBe(0);
      expect(table.size).toBe(count);
      expect(found).toBe(count);
      // 32 bytes a record, and at most half again as much free.
      expect(table.arenaBytes).toBeLessThan(count * 32 * 1.5 + KIB);
    });

    it('spreads keys over (nearly) all shards, none much fuller than the mean', () => {
      const table = new EntryTable();
      const count = 40_960; // 10 per shard on average
      for (let i = 0; i < count; i++) table.set(`user:${i}`, `${i}`, i + 1, 0);
      const sizes: number[] = [];
      for (let shard = 0; shard < table.shardCount; shard++) {
        sizes.push([...table.shardEntries(shard)].length);
      }
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(count);
      const used = sizes.filter((size) => size > 0).length;
      expect(used).toBeGreaterThan(table.shardCount * 0.99);
      expect(Math.max(...sizes)).toBeLessThan(40);
    });

    it('with shardBits 0 is a single shard that holds every key', () => {
      const table = new EntryTable(0);
      expect(table.shardCount).toBe(1);
      table.set('x', '1', 1, 0);
      table.set('y', '2', 2, 0);
      table.set('x', '3', 3, 0); // a rewrite replaces the entry, never adds one
      // Listed in index order, not insertion order: compared as a map.
      const listed = [...table.shardEntries(0)].map(
        ([key, entry]): [string, PlainEntry] => [key, plain(entry)!],
      );
      expect(listed).toHaveLength(2);
      expect(new Map(listed)).toEqual(
        new Map([
          ['x', { value: '3', revision: 3, deadline: 0 }],
          ['y', { value: '2', revision: 2, deadline: 0 }],
        ]),
      );
      expect(contents(table)).toEqual(
        listed.sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      expect(() => [...table.shardEntries(1)]).toThrow(RangeError);
    });

    it.each([-1, 21, 1.5, NaN, Infinity])(
      'throws RangeError for shardBits %p',
      (bits) => {
        expect(() => new EntryTable(bits)).toThrow(RangeError);
      },
    );

    it('accepts shardBits 16', () => {
      const table = new EntryTable(16);
      expect(table.shardCount).toBe(65536);
      for (let i = 0; i < 1000; i++) table.set(`k${i}`, `${i}`, i + 1, 0);
      expect(table.size).toBe(1000);
      for (let i = 0; i < 1000; i += 37)
        expect(table.get(`k${i}`)?.value).toBe(`${i}`);
      expect(new Set(shardsOfKeys(table).values()).size).toBeGreaterThan(980);
    });
  });

  describe('values in the arena', () => {
    it('round-trips multi-byte UTF-8 exactly through value and bytes', () => {
      const table = new EntryTable(0);
      table.set('k', MULTI, 1, 0);
      const entry = table.get('k')!;
      expect(entry.value).toBe(MULTI);
      expect(entry.bytes).toEqual(MULTI_BYTES);
      expect(entry.byteLength).toBe(11);
      // Keys too may be any text.
      table.set('\u{1f511}\u00e9', '"\\u00e9"', 2, 0);
      expect(table.get('\u{1f511}\u00e9')?.value).toBe('"\\u00e9"');
      expect(table.get('\u{1f511}e')).toBeUndefined();
    });

    it('stores a Uint8Array value as given, copying it', () => {
      const table = new EntryTable(0);
      const given = Uint8Array.of(0x00, 0xff, 0x22, 0x7f);
      expect(table.set('raw', given, 4, 99)).toBe(true);
      given[0] = 0x41; // the table holds its own copy
      expect(table.get('raw')?.bytes).toEqual(
        Uint8Array.of(0x00, 0xff, 0x22, 0x7f),
      );
      expect(table.get('raw')?.byteLength).toBe(4);

      // Bytes and text are two spellings of one value.
      table.set('b', MULTI_BYTES, 5, 0);
      expect(plain(table.get('b'))).toEqual({
        value: MULTI,
        revision: 5,
        deadline: 0,
      });

      // A view of the middle of a larger buffer stores only what it shows.
      const wide = Uint8Array.of(0x61, 0x22, 0x7a, 0x22, 0x62);
      table.set('view', wide.subarray(1, 4), 6, 0);
      expect(table.get('view')?.value).toBe('"z"');
    });

    it('stores an empty value, as text or as bytes', () => {
      const table = new EntryTable(0);
      table.set('text', '', 1, 0);
      table.set('bytes', new Uint8Array(0), 2, 0);
      for (const key of ['text', 'bytes']) {
        expect(table.get(key)?.value).toBe('');
        expect(table.get(key)?.bytes).toEqual(new Uint8Array(0));
        expect(table.get(key)?.byteLength).toBe(0);
      }
      expect(table.size).toBe(2);
    });

    it('stores a 1 MiB value and gives the memory back once it is deleted', () => {
      const table = new EntryTable(0);
      const big = `"${'x'.repeat(MIB - 2)}"`;
      table.set('small', '1', 1, 0);
      table.set('big', big, 2, 0);
      expect(table.get('big')?.value).toBe(big);
      expect(table.get('big')?.byteLength).toBe(MIB);
      expect(table.get('small')?.value).toBe('1');
      // Multi-byte: 2^18 euro signs are 3 * 2^18 bytes.
      const euros = '\u20ac'.repeat(MIB / 4);
      table.set('euros', euros, 3, 0);
      expect(table.get('euros')?.byteLength).toBe(3 * (MIB / 4));
      expect(table.get('euros')?.value).toBe(euros);
      expect(table.get('big')?.value).toBe(big);

      table.delete('big');
      table.delete('euros');
      expect(table.size).toBe(1);
      expect(table.get('small')?.value).toBe('1');
      expect(table.arenaBytes).toBeLessThan(4 * KIB);
    });

    it('keeps the arena bounded under many overwrites of a fixed key set', () => {
      const table = new EntryTable(0);
      let most = 0;
      for (let i = 0; i < 100_000; i++) {
        table.set(`k${i % 10}`, `"value ${i}"`, i + 1, i % 3 ? 0 : i);
        most = Math.max(most, table.arenaBytes);
      }
      expect(table.size).toBe(10);
      // Ten records of 40 bytes or so are live at any time.
      expect(most).toBeLessThan(2 * KIB);
      expect(plain(table.get('k3'))).toEqual({
        value: '"value 99993"',
        revision: 99_994,
        deadline: 99_993,
      });
      expect(plain(table.get('k9'))).toEqual({
        value: '"value 99999"',
        revision: 100_000,
        deadline: 99_999,
      });
    });

    it('keeps size right over many deletes, and shrinks back once all is deleted', () => {
      const table = new EntryTable(0);
      for (let i = 0; i < 5000; i++) table.set(`k${i}`, `"${i}"`, i + 1, 0);
      expect(table.size).toBe(5000);
      const full = table.arenaBytes;
      expect(full).toBeGreaterThan(5000 * 24);

      for (let i = 0; i < 5000; i += 2)
        expect(table.delete(`k${i}`)).toBe(true);
      expect(table.size).toBe(2500);
      expect(table.arenaBytes).toBeLessThanOrEqual(full);
      for (let i = 0; i < 5000; i += 2)
        expect(table.delete(`k${i}`)).toBe(false);
      expect(table.size).toBe(2500);
      expect(table.get('k4999')?.value).toBe('"4999"');
      expect(table.get('k4998')).toBeUndefined();

      for (let i = 1; i < 5000; i += 2) table.delete(`k${i}`);
      expect(table.size).toBe(0);
      expect([...table.entries()]).toEqual([]);
      expect(table.arenaBytes).toBeLessThan(1 * KIB);
    });

    it('keeps every Entry read earlier as it was, through writes, rebuilds and clear', () => {
      const table = new EntryTable(0);
      table.set('a', '"first a"', 1, 0);
      table.set('b', MULTI, 2, 500);
      const a1 = table.get('a')!;
      const b1 = table.get('b')!;
      const held: [Entry, string][] = [];
      for (let i = 0; i < 3000; i++) {
        table.set('a', `"a${i}"`, 10 + i, 0);
        if (i % 100 === 0) held.push([table.get('a')!, `"a${i}"`]);
        if (i % 7 === 0) table.delete('b');
        else table.set('b', `${i}`, 10 + i, 0);
      }
      // Shrinking rebuilds too.
      table.delete('a');
      table.delete('b');
      table.clear();
      table.set('a', '"after clear"', 9999, 0);

      expect(plain(a1)).toEqual({
        value: '"first a"',
        revision: 1,
        deadline: 0,
      });
      expect(plain(b1)).toEqual({ value: MULTI, revision: 2, deadline: 500 });
      expect(b1.bytes).toEqual(MULTI_BYTES);
      expect(held).toHaveLength(30);
      for (const [entry, value] of held) expect(entry.value).toBe(value);
      expect(held[29]![0].revision).toBe(2910);
      expect(table.get('a')?.value).toBe('"after clear"');
    });

    it('matches a plain Map over a seeded random run in one shard (many rebuilds)', () => {
      const random = prng(7);
      const pick = (n: number) => Math.floor(random() * n);
      const table = new EntryTable(0);
      const model = new Map<string, PlainEntry>();
      const pieces = ['x', '\u00e9', '\u20ac', '\u{1f600}', '"', '\\', ' '];
      const held: [Entry, PlainEntry][] = [];
      let most = 0;
      let sets = 0;
      let deletes = 0;
      for (let step = 0; step < 30_000; step++) {
        const key = `k${pick(16)}`;
        if (random() < 0.3) {
          same(table.delete(key), model.delete(key));
          deletes++;
        } else {
          let value = '';
          // Mostly short values, now and then a long one.
          const length = random() < 0.02 ? 200 + pick(400) : pick(12);
          for (let i = 0; i < length; i++) value += pieces[pick(pieces.length)];
          const expected: PlainEntry = {
            value,
            revision: step + 1,
            deadline: random() < 0.5 ? NO_DEADLINE : 1_000_000 + step,
          };
          // Half the values go in as UTF-8 bytes (encoded by Node, not by the table).
          const given = random() < 0.5 ? value : Buffer.from(value, 'utf8');
          same(
            table.set(key, given, expected.revision, expected.deadline),
            !model.has(key),
          );
          model.set(key, expected);
          sets++;
          if (step % 97 === 0) held.push([table.get(key)!, expected]);
        }
        same(table.size, model.size);
        same(plain(table.get(key)), model.get(key));
        most = Math.max(most, table.arenaBytes);
        if (step % 500 === 0) same(contents(table), sorted(model));
      }
      expect(contents(table)).toEqual(sorted(model));
      expect(sets).toBeGreaterThan(15_000);
      expect(deletes).toBeGreaterThan(5_000);
      // At most 16 live values of at most 600 four-byte characters each.
      expect(most).toBeLessThan(128 * KIB);
      expect(held.length).toBeGreaterThan(100);
      for (const [entry, expected] of held) same(plain(entry), expected);
      for (const key of [...model.keys()]) table.delete(key);
      expect(table.size).toBe(0);
      expect(table.arenaBytes).toBeLessThan(1 * KIB);
    });

    it('matches a plain Map over a seeded random run of thousands of keys in one shard (index grows, shrinks, reuses deleted slots)', () => {
      const random = prng(11);
      const pick = (n: number) => Math.floor(random() * n);
      const table = new EntryTable(0);
      const model = new Map<string, PlainEntry>();
      const check = () => {
        same(table.size, model.size);
        for (const [key, entry] of model) same(plain(table.get(key)), entry);
        same(contents(table), sorted(model));
      };
      let largest = 0;
      let smallest = Infinity;
      for (let step = 0; step < 40_000; step++) {
        // Phases of mostly writes (toward 3,200 keys) and of mostly deletes (toward 600).
        const growing = Math.floor(step / 10_000) % 2 === 0;
        const n = pick(4000);
        const key = n % 5 === 0 ? `\u00e9/${n}` : `key:${n}`;
        if (random() < (growing ? 0.8 : 0.15)) {
          const expected: PlainEntry = {
            value: `"${step}"`,
            revision: step + 1,
            deadline: 0,
          };
          same(table.set(key, expected.value, step + 1, 0), !model.has(key));
          model.set(key, expected);
        } else {
          same(table.delete(key), model.delete(key));
        }
        same(plain(table.get(key)), model.get(key));
        if (step >= 10_000) {
          largest = Math.max(largest, model.size);
          smallest = Math.min(smallest, model.size);
        }
        if (step % 4_000 === 3_999) check();
      }
      expect(largest).toBeGreaterThan(2500);
      expect(smallest).toBeLessThan(1000);
      for (const key of [...model.keys()]) {
        expect(table.delete(key)).toBe(true);
        model.delete(key);
        if (model.size % 500 === 0) check();
      }
      expect(table.size).toBe(0);
      expect(table.arenaBytes).toBeLessThan(1 * KIB);
    });
  });

  describe('shard images', () => {
    it('lays out records byte for byte as documented', () => {
      /** The image of a one-shard table holding only `key`. */
      const only = (
        key: string,
        value: string,
        revision: number,
        deadline: number,
      ): ShardImage => {
        const table = new EntryTable(0);
        table.set(key, value, revision, deadline);
        const image = table.exportShard(0, 0)!;
        expect(image.shard).toBe(0);
        expect(image.count).toBe(1);
        return image;
      };
      // Revision and deadline as little-endian float64, value length then key length as
      // little-endian uint32, the key's UTF-8 bytes, the value's, zeros up to a multiple of 8.
      const k = only('k', '1', 3, 0);
      expect(k.records).toEqual(
        Uint8Array.of(
          ...[0, 0, 0, 0, 0, 0, 0x08, 0x40], // revision 3
          ...[0, 0, 0, 0, 0, 0, 0, 0], // deadline 0 (none)
          ...[1, 0, 0, 0], // value length 1
          ...[1, 0, 0, 0], // key length 1
          0x6b, // 'k'
          0x31, // '1'
          ...[0, 0, 0, 0, 0, 0], // padding to 32
        ),
      );
      const ab = only('ab', '"x"', 5, 1234);
      expect(ab.records).toEqual(
        Uint8Array.of(
          ...[0, 0, 0, 0, 0, 0, 0x14, 0x40], // revision 5
          ...[0, 0, 0, 0, 0, 0x48, 0x93, 0x40], // deadline 1234
          ...[3, 0, 0, 0], // value length 3
          ...[2, 0, 0, 0], // key length 2
          ...[0x61, 0x62], // 'ab'
          ...[0x22, 0x78, 0x22], // '"x"'
          ...[0, 0, 0], // padding to 32
        ),
      );
      // Lengths count UTF-8 bytes, not UTF-16 units.
      const multi = only('\u00e9', MULTI, 7, 0);
      expect(multi.records).toEqual(
        Uint8Array.of(
          ...[0, 0, 0, 0, 0, 0, 0x1c, 0x40], // revision 7
          ...[0, 0, 0, 0, 0, 0, 0, 0], // deadline 0
          ...[11, 0, 0, 0], // value length 11
          ...[2, 0, 0, 0], // key length 2
          ...[0xc3, 0xa9], // '\u00e9'
          ...MULTI_BYTES,
          ...[0, 0, 0], // padding to 40
        ),
      );
      // Record sizes that are already a multiple of 8 get no padding: 24 + 3 + 5 bytes.
      expect(only('abc', '12345', 1, 0).records).toHaveLength(32);

      // An image of several entries is their records laid end to end (in index order).
      const table = new EntryTable(0);
      table.set('ab', '"x"', 5, 1234);
      table.set('k', '1', 3, 0);
      table.set('\u00e9', MULTI, 7, 0);
      const image = table.exportShard(0, 0)!;
      expect(image.count).toBe(3);
      expect(image.records).toHaveLength(32 + 32 + 40);
      const parts = recordsOf(image).map(({ offset, bytes }) =>
        Array.from(image.records.subarray(offset, offset + bytes)),
      );
      expect(parts.sort()).toEqual(
        [k, ab, multi].map((one) => Array.from(one.records)).sort(),
      );
    });

    it('round-trips every live entry into a table of the same shard count', () => {
      const now = 1_000_000;
      const source = new EntryTable(3);
      const expected = new Map<string, PlainEntry>();
      for (let i = 0; i < 300; i++) {
        const key = i % 5 === 0 ? `\u{1f511}${i}` : `k${i}`;
        const value = i % 3 === 0 ? `"${i}${MULTI}"` : `${i}`;
        const deadline = i % 4 === 0 ? now + (i % 8 === 0 ? 1 : 0) : 0;
        source.set(key, value, i + 1, deadline);
        // Deadline `now` is past at `now`: left out; `now + 1` and none are kept.
        if (deadline === 0 || deadline > now)
          expected.set(key, { value, revision: i + 1, deadline });
      }
      for (let i = 1; i < 300; i += 10) {
        source.delete(`k${i}`);
        expected.delete(`k${i}`);
      }

      const images = exportAll(source, now);
      expect(images.reduce((n, image) => n + image.count, 0)).toBe(
        expected.size,
      );
      const target = new EntryTable(3);
      for (const image of images) target.importShard(image);
      expect(target.size).toBe(expected.size);
      expect(contents(target)).toEqual(sorted(expected));
      // Each key landed in its own shard: found by get.
      for (const [key, entry] of expected)
        expect(plain(target.get(key))).toEqual(entry);
    });

    it('leaves out expired entries, and gives nothing for a shard without live ones', () => {
      const table = new EntryTable(0);
      expect(table.exportShard(0, 0)).toBeUndefined();
      table.set('gone', '1', 1, 100);
      expect(table.exportShard(0, 99)?.count).toBe(1);
      expect(table.exportShard(0, 100)).toBeUndefined();
      table.set('forever', '2', 2, NO_DEADLINE);
      const image = table.exportShard(0, 100)!;
      expect(image.count).toBe(1);
      const target = new EntryTable(0);
      target.importShard(image);
      expect(contents(target)).toEqual([
        ['forever', { value: '2', revision: 2, deadline: 0 }],
      ]);
      // Exporting changes nothing in the table.
      expect(table.size).toBe(2);
    });

    it('hands out images that own their bytes', () => {
      const source = new EntryTable(0);
      source.set('a', '"old"', 1, 0);
      source.set('b', MULTI, 2, 0);
      const image = source.exportShard(0, 0)!;
      for (let i = 0; i < 1000; i++) source.set('a', `"new ${i}"`, 3 + i, 0);
      source.clear();
      const target = new EntryTable(0);
      target.importShard(image);
      expect(contents(target)).toEqual([
        ['a', { value: '"old"', revision: 1, deadline: 0 }],
        ['b', { value: MULTI, revision: 2, deadline: 0 }],
      ]);
    });

    it('leaves an imported shard fully writable', () => {
      const source = new EntryTable(0);
      for (let i = 0; i < 50; i++) source.set(`k${i}`, `"${i}"`, i + 1, 0);
      const target = new EntryTable(0);
      target.importShard(source.exportShard(0, 0)!);
      const before = target.get('k7')!;
      for (let round = 0; round < 100; round++) {
        for (let i = 0; i < 50; i++)
          target.set(`k${i}`, `"${round}:${i}"`, 100 + round, 0);
      }
      expect(target.set('new', '1', 999, 0)).toBe(true);
      expect(target.delete('k0')).toBe(true);
      expect(target.size).toBe(50);
      expect(target.get('k49')?.value).toBe('"99:49"');
      expect(plain(before)).toEqual({ value: '"7"', revision: 8, deadline: 0 });
      for (let i = 1; i < 50; i++) target.delete(`k${i}`);
      target.delete('new');
      expect(target.size).toBe(0);
      expect(target.arenaBytes).toBeLessThan(1 * KIB);
    });

    it('imports records from anywhere in a larger buffer, and keeps its own copy', () => {
      const source = new EntryTable(0);
      source.set('a', '"1"', 1, 0);
      source.set('\u{1f511}', MULTI, 2, 77);
      const valid = source.exportShard(0, 0)!;
      // As a decoder hands it out: a view at an odd offset of the message's bytes.
      const message = new Uint8Array(valid.records.length + 10).fill(0xee);
      message.set(valid.records, 3);
      const records = message.subarray(3, 3 + valid.records.length);
      const target = new EntryTable(0);
      target.importShard({ ...valid, records });
      message.fill(0);
      expect(contents(target)).toEqual([
        ['a', { value: '"1"', revision: 1, deadline: 0 }],
        ['\u{1f511}', { value: MULTI, revision: 2, deadline: 77 }],
      ]);
    });

    it('rejects a shard index out of range', () => {
      const table = new EntryTable(2);
      expect(() => table.exportShard(4, 0)).toThrow(RangeError);
      expect(() => table.exportShard(-1, 0)).toThrow(RangeError);
      const image = new EntryTable(0);
      image.set('a', '1', 1, 0);
      const valid = image.exportShard(0, 0)!;
      expect(() => table.importShard({ ...valid, shard: 4 })).toThrow(
        RangeError,
      );
    });

    describe('refuses an image that does not fit, changing nothing', () => {
      /** An image of shard 0 of a one-shard table holding keys a, b and c. */
      function image(): ShardImage {
        const source = new EntryTable(0);
        source.set('a', '"1"', 1, 0);
        source.set('b', '"22"', 2, 0);
        source.set('c', MULTI, 3, 0);
        return source.exportShard(0, 0)!;
      }

      /** What a table holds once `image()` is imported. */
      const ABC: [string, PlainEntry][] = [
        ['a', { value: '"1"', revision: 1, deadline: 0 }],
        ['b', { value: '"22"', revision: 2, deadline: 0 }],
        ['c', { value: MULTI, revision: 3, deadline: 0 }],
      ];

      /** A copy of `valid`'s records with the uint32 at `field` of the record of `key` set. */
      function withField(
        valid: ShardImage,
        key: string,
        field: number,
        to: number,
      ): ShardImage {
        const records = Uint8Array.from(valid.records);
        const { offset } = recordsOf(valid).find((r) => r.key === key)!;
        new DataView(records.buffer).setUint32(offset + field, to, true);
        return { ...valid, records };
      }

      /** Asserts that `table` (one shard) holds nothing and that `valid` still goes in. */
      function stillEmpty(table: EntryTable, arenaBytes: number): void {
        expect(table.size).toBe(0);
        expect(table.get('a')).toBeUndefined();
        expect([...table.entries()]).toEqual([]);
        expect(table.arenaBytes).toBe(arenaBytes);
      }

      it('(the image these spoil: records of 32, 32 and 40 bytes)', () => {
        const valid = image();
        expect(valid.records).toHaveLength(104);
        expect(
          recordsOf(valid)
            .map(({ key, bytes }) => [key, bytes])
            .sort(),
        ).toEqual([
          ['a', 32],
          ['b', 32],
          ['c', 40],
        ]);
      });

      it.each<[string, (valid: ShardImage) => ShardImage]>([
        [
          'records cut short: the last record runs past the end',
          (valid) => ({ ...valid, records: valid.records.subarray(0, 96) }),
        ],
        [
          'records cut inside a header',
          (valid) => {
            const [first] = recordsOf(valid);
            const end = first!.offset + first!.bytes + 16;
            return { ...valid, records: valid.records.subarray(0, end) };
          },
        ],
        [
          'records cut to a length that is not a multiple of 8',
          (valid) => ({ ...valid, records: valid.records.subarray(0, 100) }),
        ],
        [
          'records with 4 bytes left over',
          (valid) => ({
            ...valid,
            records: concat(valid.records, new Uint8Array(4)),
          }),
        ],
        [
          'records with 8 bytes left over, too few for a header',
          (valid) => ({
            ...valid,
            records: concat(valid.records, new Uint8Array(8)),
          }),
        ],
        [
          'no records at all',
          (valid) => ({ ...valid, records: new Uint8Array(0) }),
        ],
        [
          'a value length that runs past the end (first record)',
          (valid) => withField(valid, recordsOf(valid)[0]!.key, 16, 200),
        ],
        [
          'a value length that runs past the end (last record)',
          (valid) => withField(valid, recordsOf(valid)[2]!.key, 16, 50),
        ],
        [
          'a key length that runs past the end',
          (valid) => withField(valid, recordsOf(valid)[1]!.key, 20, 0xffffffff),
        ],
        [
          'both lengths at their largest',
          (valid) => {
            const key = recordsOf(valid)[0]!.key;
            const one = withField(valid, key, 16, 0xffffffff);
            return withField(one, key, 20, 0xffffffff);
          },
        ],
        ['a count too high', (valid) => ({ ...valid, count: 4 })],
        ['a count too low', (valid) => ({ ...valid, count: 2 })],
        ['a count of 0', (valid) => ({ ...valid, count: 0 })],
        ['a negative count', (valid) => ({ ...valid, count: -3 })],
        [
          'an extra record of an empty key (24 zero bytes) not counted',
          (valid) => ({
            ...valid,
            records: concat(valid.records, new Uint8Array(24)),
          }),
        ],
        [
          'a key twice (the same record)',
          (valid) => ({
            ...valid,
            records: concat(
              recordBytes(valid, 'a'),
              recordBytes(valid, 'a'),
              recordBytes(valid, 'c'),
            ),
          }),
        ],
        [
          'a key twice (two values), counted',
          (valid) => {
            const other = new EntryTable(0);
            other.set('b', '"other"', 9, 0);
            return {
              ...valid,
              count: 4,
              records: concat(
                valid.records,
                recordBytes(other.exportShard(0, 0)!, 'b'),
              ),
            };
          },
        ],
      ])('%s', (_, spoil) => {
        const valid = image();
        const table = new EntryTable(0);
        const arenaBytes = table.arenaBytes;
        expect(() => table.importShard(spoil(valid))).toThrow(RangeError);
        stillEmpty(table, arenaBytes);
        // The shard is still empty, so the valid image goes in.
        table.importShard(valid);
        expect(contents(table)).toEqual(ABC);
      });

      it.each([1, -1, 1.5, NaN, 2 ** 32])('a shard index of %p', (shard) => {
        const valid = image();
        const table = new EntryTable(0);
        const arenaBytes = table.arenaBytes;
        expect(() => table.importShard({ ...valid, shard })).toThrow(
          RangeError,
        );
        stillEmpty(table, arenaBytes);
        table.importShard(valid);
        expect(contents(table)).toEqual(ABC);
      });

      it('into a shard that holds entries', () => {
        const table = new EntryTable(0);
        table.set('z', '9', 9, 0);
        expect(() => table.importShard(image())).toThrow(RangeError);
        expect(contents(table)).toEqual([
          ['z', { value: '9', revision: 9, deadline: 0 }],
        ]);
        table.delete('z');
        table.importShard(image());
        expect(table.size).toBe(3);
      });

      it('into a shard already imported', () => {
        const table = new EntryTable(0);
        table.importShard(image());
        expect(() => table.importShard(image())).toThrow(RangeError);
        expect(contents(table)).toEqual(ABC);
      });

      it('with keys of another shard', () => {
        const source = new EntryTable(1);
        for (let i = 0; i < 40; i++) source.set(`k${i}`, `${i}`, i + 1, 0);
        const [zero, one] = [
          source.exportShard(0, 0)!,
          source.exportShard(1, 0)!,
        ];
        expect(zero.count).toBeGreaterThan(0);
        expect(one.count).toBeGreaterThan(0);
        const wrong: [string, ShardImage][] = [
          ['every key', { ...zero, shard: 1 }],
          [
            'only the last key',
            {
              ...zero,
              count: zero.count + 1,
              records: concat(
                zero.records,
                recordBytes(one, recordsOf(one)[0]!.key),
              ),
            },
          ],
        ];
        const table = new EntryTable(1);
        const arenaBytes = table.arenaBytes;
        const outcomes = wrong.map(([what, spoilt]) => {
          try {
            table.importShard(spoilt);
            return [what, 'imported'];
          } catch (error) {
            return [what, error instanceof RangeError ? 'refused' : error];
          }
        });
        expect(outcomes).toEqual(wrong.map(([what]) => [what, 'refused']));
        expect(table.size).toBe(0);
        expect([...table.entries()]).toEqual([]);
        expect(table.arenaBytes).toBe(arenaBytes);
        table.importShard(zero);
        table.importShard(one);
        expect(contents(table)).toEqual(contents(source));
      });

      it('from a table with another shard count', () => {
        const source = new EntryTable(0);
        for (let i = 0; i < 40; i++) source.set(`k${i}`, '1', 1, 0);
        const table = new EntryTable(3);
        expect(() => table.importShard(source.exportShard(0, 0)!)).toThrow(
          RangeError,
        );
        expect(table.size).toBe(0);
        expect([...table.entries()]).toEqual([]);
      });
    });
  });
});
