import { Digest } from './digest';
import { Entry } from './entry';
import { KvTable } from './kv-table';
import { NO_DEADLINE } from './types';

describe('KvTable', () => {
  it('reads only live entries', () => {
    const table = new KvTable(2);
    table.applyChange({ key: 'forever', value: '1', deadline: NO_DEADLINE }, 1);
    table.applyChange({ key: 'ttl', value: '2', deadline: 1000 }, 2);
    expect(table.read('forever', 5000)).toEqual(new Entry('1', 1, NO_DEADLINE));
    expect(table.read('ttl', 999)).toEqual(new Entry('2', 2, 1000));
    expect(table.read('ttl', 1000)).toBeUndefined();
    expect(table.read('missing', 0)).toBeUndefined();
    // The expired entry is still stored until something deletes it.
    expect(table.entries.get('ttl')).toBeDefined();
  });

  it('applies sets, updates in place and deletes', () => {
    const table = new KvTable(2);
    table.applyChange({ key: 'k', value: '"a"', deadline: 0 }, 1);
    const stored = table.entries.get('k');
    table.applyChange({ key: 'k', value: '"b"', deadline: 500 }, 2);
    expect(table.entries.get('k')).toBe(stored); // same object, updated in place
    expect(stored).toEqual(new Entry('"b"', 2, 500));

    table.applyChange({ key: 'k', value: null, deadline: 0 }, 3);
    expect(table.entries.get('k')).toBeUndefined();
    expect(table.entries.size).toBe(0);

    // Deleting an absent key is a no-op.
    table.applyChange({ key: 'other', value: null, deadline: 0 }, 4);
    expect(table.entries.size).toBe(0);
  });

  it('never takes an entry back to an older or equal revision', () => {
    const table = new KvTable(2);
    table.entries.set('k', new Entry('"new"', 10, 0));
    table.applyChange({ key: 'k', value: '"old"', deadline: 0 }, 9);
    table.applyChange({ key: 'k', value: '"same"', deadline: 0 }, 10);
    table.applyChange({ key: 'k', value: null, deadline: 0 }, 7);
    expect(table.entries.get('k')).toEqual(new Entry('"new"', 10, 0));

    table.applyChange({ key: 'k', value: null, deadline: 0 }, 11);
    expect(table.entries.get('k')).toBeUndefined();
  });

  it('digests only the entries live at the given time', () => {
    const table = new KvTable(3);
    table.applyChange({ key: 'a', value: '1', deadline: 0 }, 1);
    table.applyChange({ key: 'b', value: '2', deadline: 100 }, 2);

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
      one.applyChange(
        { key: `k${i}`, value: String(i), deadline: i % 2 ? 0 : 5000 + i },
        i + 1,
      );
    }
    for (let i = 299; i >= 0; i--) {
      // Revisions are not part of the digest.
      other.applyChange(
        { key: `k${i}`, value: String(i), deadline: i % 2 ? 0 : 5000 + i },
        1000 - i,
      );
    }
    expect(other.digest(0)).toBe(one.digest(0));
    other.applyChange({ key: 'k7', value: '8', deadline: 0 }, 5000);
    expect(other.digest(0)).not.toBe(one.digest(0));
  });

  describe('readShards', () => {
    it('reads every live entry once, in whole shards, within the chunk budget', () => {
      const table = new KvTable(4);
      for (let i = 0; i < 100; i++) {
        table.entries.set(
          `k${i}`,
          new Entry(`${i}`, i + 1, i % 10 === 0 ? 50 : NO_DEADLINE),
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
      expect(seen.get('k7')).toEqual(['7', 8, NO_DEADLINE]);
      expect(seen.has('k10')).toBe(false);
    });

    it('stops early on characters too', () => {
      const table = new KvTable(4);
      for (let i = 0; i < 64; i++)
        table.entries.set(`k${i}`, new Entry('x'.repeat(100), 1, 0));
      const read = table.readShards(0, 0, [], 1000, 150);
      expect(read.next).toBeLessThan(16);
      expect(read.added).toBeGreaterThan(0);
      expect(read.added).toBeLessThan(64);
    });
  });
});
