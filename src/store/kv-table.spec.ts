import { Digest } from './digest';
import { plain } from './entry.spec-support';
import { KvTable } from './kv-table';
import { NO_DEADLINE } from './types';

const utf8 = new TextDecoder();

describe('KvTable', () => {
  it('reads only live entries', () => {
    const table = new KvTable(2);
    table.applyChange({
      key: 'forever',
      value: '1',
      deadline: NO_DEADLINE,
      revision: 1,
      expired: false,
    });
    table.applyChange({
      key: 'ttl',
      value: '2',
      deadline: 1000,
      revision: 2,
      expired: false,
    });
    expect(plain(table.read('forever', 5000))).toEqual({
      value: '1',
      revision: 1,
      deadline: NO_DEADLINE,
    });
    expect(plain(table.read('ttl', 999))).toEqual({
      value: '2',
      revision: 2,
      deadline: 1000,
    });
    expect(table.read('ttl', 1000)).toBeUndefined();
    expect(table.read('missing', 0)).toBeUndefined();
    // The expired entry is still stored, and counted, until something deletes it.
    expect(table.entries.get('ttl')).toBeDefined();
    expect(table.size).toBe(2);
    table.applyChange({
      key: 'ttl',
      value: null,
      deadline: NO_DEADLINE,
      revision: 3,
      expired: true,
    });
    expect(table.size).toBe(1);
  });

  it('applies sets, updates and deletes', () => {
    const table = new KvTable(2);
    table.applyChange({
      key: 'k',
      value: '"a"',
      deadline: 0,
      revision: 1,
      expired: false,
    });
    const before = table.entries.get('k');
    table.applyChange({
      key: 'k',
      value: '"b"',
      deadline: 500,
      revision: 2,
      expired: false,
    });
    expect(plain(table.entries.get('k'))).toEqual({
      value: '"b"',
      revision: 2,
      deadline: 500,
    });
    expect(table.size).toBe(1);
    // An entry read before the update is a view of the old record: it still reads what it read.
    expect(plain(before)).toEqual({ value: '"a"', revision: 1, deadline: 0 });

    table.applyChange({
      key: 'k',
      value: null,
      deadline: 0,
      revision: 3,
      expired: false,
    });
    expect(table.entries.get('k')).toBeUndefined();
    expect(table.size).toBe(0);

    // Deleting an absent key is a no-op.
    table.applyChange({
      key: 'other',
      value: null,
      deadline: 0,
      revision: 4,
      expired: false,
    });
    expect(table.size).toBe(0);
  });

  it('never takes an entry back to an older or equal revision', () => {
    const table = new KvTable(2);
    table.entries.set('k', '"new"', 10, 0);
    table.applyChange({
      key: 'k',
      value: '"old"',
      deadline: 0,
      revision: 9,
      expired: false,
    });
    table.applyChange({
      key: 'k',
      value: '"same"',
      deadline: 0,
      revision: 10,
      expired: false,
    });
    table.applyChange({
      key: 'k',
      value: null,
      deadline: 0,
      revision: 7,
      expired: false,
    });
    expect(plain(table.entries.get('k'))).toEqual({
      value: '"new"',
      revision: 10,
      deadline: 0,
    });

    table.applyChange({
      key: 'k',
      value: null,
      deadline: 0,
      revision: 11,
      expired: false,
    });
    expect(table.entries.get('k')).toBeUndefined();
  });

  it('digests only the entries live at the given time', () => {
    const table = new KvTable(3);
    table.applyChange({
      key: 'a',
      value: '1',
      deadline: 0,
      revision: 1,
      expired: false,
    });
    table.applyChange({
      key: 'b',
      value: '2',
      deadline: 100,
      revision: 2,
      expired: false,
    });

    const both = new Digest();
    both.add('a', '1', 0);
    both.add('b', '2', 100);
    const onlyA = new Digest();
    onlyA.add('a', '1', 0);

    expect(table.digest(99)).toBe(both.toString());
    expect(table.digest(100)).toBe(onlyA.toString());
    expect(new KvTable(3).digest(0)).toBe('0000000000000000');
  });

  it('gives the same digest whatever the shard layout and the write order', () => {
    const one = new KvTable(0);
    const other = new KvTable(8);
    for (let i = 0; i < 300; i++) {
      one.applyChange({
        key: `k${i}`,
        value: String(i),
        deadline: i % 2 ? 0 : 5000 + i,
        revision: i + 1,
        expired: false,
      });
    }
    for (let i = 299; i >= 0; i--) {
      // Revisions are not part of the digest.
      other.applyChange({
        key: `k${i}`,
        value: String(i),
        deadline: i % 2 ? 0 : 5000 + i,
        revision: 1000 - i,
        expired: false,
      });
    }
    expect(other.digest(0)).toBe(one.digest(0));
    other.applyChange({
      key: 'k7',
      value: '8',
      deadline: 0,
      revision: 5000,
      expired: false,
    });
    expect(other.digest(0)).not.toBe(one.digest(0));
  });

  describe('readShards', () => {
    it('reads every live entry once, in whole shards, within the chunk budget', () => {
      const table = new KvTable(4);
      for (let i = 0; i < 100; i++) {
        table.entries.set(
          `k${i}`,
          `${i}`,
          i + 1,
          i % 10 === 0 ? 50 : NO_DEADLINE,
        );
      }
      const seen = new Map<unknown, unknown[]>();
      let shard = 0;
      let chunks = 0;
      while (shard < table.entries.shardCount) {
        const out: unknown[] = ['header'];
        const read = table.readShards(shard, 100, out, 20, 1 << 20);
        expect(read.next).toBeGreaterThan(shard);
        expect(out.length).toBe(1 + 4 * read.added);
        for (let at = 1; at < out.length; at += 4)
          seen.set(out[at], out.slice(at + 1, at + 4));
        shard = read.next;
        chunks++;
      }
      expect(chunks).toBeGreaterThan(1);
      // Keys with deadline 50 are past it at 100: left out.
      expect(seen.size).toBe(90);
      // The value slot holds the value's UTF-8 bytes.
      expect(seen.get('k7')).toEqual([Uint8Array.of(0x37), 8, NO_DEADLINE]);
      expect(seen.get('k42')).toEqual([
        Uint8Array.of(0x34, 0x32),
        43,
        NO_DEADLINE,
      ]);
      expect(seen.has('k10')).toBe(false);
    });

    it('stops early on characters too', () => {
      const table = new KvTable(4);
      for (let i = 0; i < 64; i++)
        table.entries.set(`k${i}`, 'x'.repeat(100), 1, 0);
      const read = table.readShards(0, 0, [], 1000, 150);
      expect(read.next).toBeLessThan(16);
      expect(read.added).toBeGreaterThan(0);
      expect(read.added).toBeLessThan(64);
    });

    it('counts bytes of values, not UTF-16 units, against the budget', () => {
      // Two shards, one key in each; the value is 51 UTF-16 units but 100 UTF-8 bytes.
      const table = new KvTable(1);
      const keys = Array.from({ length: 64 }, (_, i) => `k${i}`);
      const shardOf = (key: string): number => {
        const probe = new KvTable(1);
        probe.entries.set(key, '1', 1, 0);
        return [...probe.entries.shardEntries(0)].length === 1 ? 0 : 1;
      };
      const first = keys.find((key) => shardOf(key) === 0)!;
      const second = keys.find((key) => shardOf(key) === 1)!;
      const value = `"${'\u00e9'.repeat(49)}"`;
      table.entries.set(first, value, 1, 0);
      table.entries.set(second, value, 2, 0);

      const out: unknown[] = [];
      // 1 + 100 bytes pass 80 after the first shard (1 + 51 units would not).
      expect(table.readShards(0, 0, out, 1000, 80)).toEqual({
        added: 1,
        next: 1,
      });
      expect(out).toHaveLength(4);
      expect(out[0]).toBe(first);
      expect((out[1] as Uint8Array).length).toBe(100);
      expect(utf8.decode(out[1] as Uint8Array)).toBe(value);
      expect(table.readShards(1, 0, out, 1000, 80)).toEqual({
        added: 1,
        next: 2,
      });
      expect(out[4]).toBe(second);
    });

    it('hands out values that stay as read while the table is written on', () => {
      const table = new KvTable(0);
      for (let i = 0; i < 20; i++) table.entries.set(`k${i}`, `"v${i}"`, 1, 0);
      const out: unknown[] = [];
      expect(table.readShards(0, 0, out, 1000, 1 << 20)).toEqual({
        added: 20,
        next: 1,
      });
      // Overwrites and deletes, enough to rebuild the shard's arena many times.
      for (let round = 0; round < 200; round++) {
        for (let i = 0; i < 20; i++)
          table.entries.set(`k${i}`, `"round ${round}"`, round + 2, 0);
      }
      for (let i = 0; i < 20; i++) table.entries.delete(`k${i}`);
      expect(table.size).toBe(0);
      const values = new Map<unknown, string>();
      for (let at = 0; at < out.length; at += 4)
        values.set(out[at], utf8.decode(out[at + 1] as Uint8Array));
      expect(values.size).toBe(20);
      expect(values.get('k0')).toBe('"v0"');
      expect(values.get('k19')).toBe('"v19"');
    });
  });
});
