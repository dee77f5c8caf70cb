import { AuthoritativeStore } from './authoritative-store';
import { batchEnd, Change, ChangeBatch } from './change';
import { isLive } from './entry';
import { MULTI, MULTI_BYTES, plain } from './entry.spec-support';
import { EntryTable } from './entry-table';
import { KvTable } from './kv-table';
import { ApplyResult, ReplicaStore } from './replica-store';
import { NO_DEADLINE } from './types';
import { WriteCommand, WriteOp } from './write-command';
import { prng } from './seeded-random.spec-support';

let now = 1_000_000;
const clock = () => now;

beforeEach(() => {
  now = 1_000_000;
});

type Draft = Pick<Change, 'key' | 'value' | 'deadline'>;
const set = (key: string, value: string, deadline = NO_DEADLINE): Draft => ({
  key,
  value,
  deadline,
});
const remove = (key: string): Draft => ({
  key,
  value: null,
  deadline: NO_DEADLINE,
});
/** A batch whose i-th change has revision `from + i`. */
const batch = (from: number, ...changes: Draft[]): ChangeBatch => ({
  from,
  changes: changes.map((c, i) => ({
    ...c,
    revision: from + i,
    expired: false,
  })),
});

/**
 * Every stored entry of a table as plain data sorted by key: expired ones included, or only those
 * live at `liveAt` when it is given.
 */
function contents(
  table: KvTable,
  liveAt?: number,
): [string, { value: string; revision: number; deadline: number }][] {
  return [...table.entries.entries()]
    .filter(([, entry]) => liveAt === undefined || isLive(entry, liveAt))
    .map(
      ([key, entry]): [
        string,
        { value: string; revision: number; deadline: number },
      ] => [
        key,
        {
          value: entry.value,
          revision: entry.revision,
          deadline: entry.deadline,
        },
      ],
    )
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

type SnapshotRow = [
  key: string,
  value: string,
  revision: number,
  deadline: number,
];

/**
 * Adds `rows` to `replica`'s snapshot as the primary sends them: as one {@link ShardImage} per
 * shard of a table with `shardBits` (the replica's own) that holds them.
 */
function addSnapshotRows(
  replica: ReplicaStore,
  shardBits: number,
  ...rows: SnapshotRow[]
): void {
  const source = new EntryTable(shardBits);
  for (const [key, value, revision, deadline] of rows)
    source.set(key, value, revision, deadline);
  for (let shard = 0; shard < source.shardCount; shard++) {
    // At time 0 no entry has expired: every row goes.
    const image = source.exportShard(shard, 0);
    if (image !== undefined) replica.addSnapshotShard(image);
  }
}

/** Sends every shard of `primary`'s table live at `now` to `replica`, as the streamer does. */
function addSnapshotOf(primary: AuthoritativeStore, replica: ReplicaStore) {
  for (let shard = 0; shard < primary.table.entries.shardCount; shard++) {
    const image = primary.table.entries.exportShard(shard, now);
    if (image !== undefined) replica.addSnapshotShard(image);
  }
}

describe('ReplicaStore', () => {
  describe('applyBatch', () => {
    it('starts empty at revision 0', () => {
      const replica = new ReplicaStore(2);
      expect(replica.revision).toBe(0);
      expect(replica.bootstrapping).toBe(false);
      expect(replica.read('k', now)).toBeUndefined();
    });

    it("applies a transaction's changes, which share one revision, in one step", () => {
      const replica = new ReplicaStore(2);
      replica.applyBatch(batch(1, set('a', '1'), set('gone', '1')));
      const txn: ChangeBatch = {
        from: 3,
        changes: [
          { ...set('a', '2'), revision: 3, expired: false },
          { ...remove('gone'), revision: 3, expired: false },
          { ...set('b', '3'), revision: 3, expired: false },
          { ...set('c', '4'), revision: 4, expired: false },
        ],
      };
      expect(replica.applyBatch(txn)).toBe(ApplyResult.Applied);
      expect(replica.revision).toBe(4);
      expect(plain(replica.read('a', now))?.revision).toBe(3);
      expect(plain(replica.read('b', now))?.revision).toBe(3);
      expect(replica.read('gone', now)).toBeUndefined();
      expect(replica.applyBatch(txn)).toBe(ApplyResult.Duplicate);
      expect(replica.applyBatch(batch(6, set('x', '1')))).toBe(ApplyResult.Gap);
    });

    it('applies batches in order, numbering changes from `from`', () => {
      const replica = new ReplicaStore(2);
      expect(
        replica.applyBatch(batch(1, set('a', '1'), set('b', '2', now + 10))),
      ).toBe(ApplyResult.Applied);
      expect(replica.revision).toBe(2);
      expect(plain(replica.read('a', now))).toEqual({
        value: '1',
        revision: 1,
        deadline: NO_DEADLINE,
      });
      expect(plain(replica.read('b', now))).toEqual({
        value: '2',
        revision: 2,
        deadline: 1_000_010,
      });

      expect(replica.applyBatch(batch(3, remove('a'), set('b', '3')))).toBe(
        ApplyResult.Applied,
      );
      expect(replica.revision).toBe(4);
      expect(replica.read('a', now)).toBeUndefined();
      expect(plain(replica.read('b', now))).toEqual({
        value: '3',
        revision: 4,
        deadline: NO_DEADLINE,
      });
    });

    it('hides an entry from its deadline on, before any delete arrives', () => {
      const replica = new ReplicaStore(2);
      replica.applyBatch(batch(1, set('k', '1', now + 10)));
      expect(replica.read('k', now + 9)).toBeDefined();
      expect(replica.read('k', now + 10)).toBeUndefined();
      expect(replica.table.size).toBe(1);
      replica.applyBatch(batch(2, remove('k')));
      expect(replica.table.size).toBe(0);
    });

    it('reports a batch applied before as Duplicate and does nothing', () => {
      const replica = new ReplicaStore(2);
      replica.applyBatch(batch(1, set('a', '1'), set('b', '1')));
      replica.applyBatch(batch(3, set('c', '1')));
      const before = contents(replica.table);
      // Same revisions, other content: must not be applied again.
      expect(replica.applyBatch(batch(1, set('a', 'X'), remove('b')))).toBe(
        ApplyResult.Duplicate,
      );
      expect(replica.applyBatch(batch(3, set('c', 'X')))).toBe(
        ApplyResult.Duplicate,
      );
      expect(replica.applyBatch(batch(2, remove('b')))).toBe(
        ApplyResult.Duplicate,
      );
      // An empty batch has nothing new either.
      expect(replica.applyBatch(batch(4))).toBe(ApplyResult.Duplicate);
      expect(replica.revision).toBe(3);
      expect(contents(replica.table)).toEqual(before);
    });

    it('applies only the new part of a partially overlapping batch', () => {
      const replica = new ReplicaStore(2);
      replica.applyBatch(batch(1, set('a', '1'), set('b', '1'), set('c', '1')));
      // Revisions 2..5; 2 and 3 are already applied. Their content differs on purpose, and
      // revision 2 names a key the replica does not hold (so no revision guard can hide a
      // re-application): only 4 and 5 may be applied.
      const result = replica.applyBatch(
        batch(2, set('e', 'X'), remove('c'), set('d', '4'), set('a', '5')),
      );
      expect(result).toBe(ApplyResult.Applied);
      expect(replica.revision).toBe(5);
      expect(contents(replica.table)).toEqual([
        ['a', { value: '5', revision: 5, deadline: 0 }],
        ['b', { value: '1', revision: 2, deadline: 0 }],
        ['c', { value: '1', revision: 3, deadline: 0 }],
        ['d', { value: '4', revision: 4, deadline: 0 }],
      ]);
    });

    it('refuses a batch that starts past the next revision as a Gap', () => {
      const replica = new ReplicaStore(2);
      replica.applyBatch(batch(1, set('a', '1')));
      expect(replica.applyBatch(batch(3, set('b', '1')))).toBe(ApplyResult.Gap);
      expect(replica.applyBatch(batch(10))).toBe(ApplyResult.Gap);
      expect(replica.revision).toBe(1);
      expect(replica.read('b', now)).toBeUndefined();
      // The missing batch then the refused one apply fine.
      expect(replica.applyBatch(batch(2, set('x', '1')))).toBe(
        ApplyResult.Applied,
      );
      expect(replica.applyBatch(batch(3, set('b', '1')))).toBe(
        ApplyResult.Applied,
      );
      expect(replica.revision).toBe(3);
    });

    it('reports a Gap for a fresh replica whose first batch does not start at 1', () => {
      const replica = new ReplicaStore(2);
      expect(replica.applyBatch(batch(2, set('a', '1')))).toBe(ApplyResult.Gap);
      expect(replica.revision).toBe(0);
    });
  });

  describe('snapshot bootstrap', () => {
    it('replaces whatever the replica held and starts at the snapshot revision', () => {
      const replica = new ReplicaStore(2);
      replica.applyBatch(batch(1, set('old', '1'), set('both', 'old')));
      replica.beginSnapshot(10);
      expect(replica.bootstrapping).toBe(true);
      expect(replica.revision).toBe(10);
      expect(replica.read('old', now)).toBeUndefined();
      addSnapshotRows(
        replica,
        2,
        ['both', 'new', 9, NO_DEADLINE],
        ['ttl', '1', 4, now + 5],
      );
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(replica.bootstrapping).toBe(false);
      expect(replica.revision).toBe(10);
      expect(contents(replica.table)).toEqual([
        ['both', { value: 'new', revision: 9, deadline: 0 }],
        ['ttl', { value: '1', revision: 4, deadline: now + 5 }],
      ]);
      expect(replica.read('ttl', now + 5)).toBeUndefined();
      // Batches go on from the snapshot revision.
      expect(replica.applyBatch(batch(12, set('x', '1')))).toBe(
        ApplyResult.Gap,
      );
      expect(replica.applyBatch(batch(11, set('x', '1')))).toBe(
        ApplyResult.Applied,
      );
    });

    it('builds the ordered index once the snapshot ends, over the snapshot and the replayed batches', () => {
      const replica = new ReplicaStore(3);
      replica.beginSnapshot(5);
      replica.applyBatch(batch(6, set('k0500x', '6'), remove('k0007')));
      const rows: SnapshotRow[] = Array.from({ length: 2000 }, (_, i) => [
        `k${String(i).padStart(4, '0')}`,
        `${i}`,
        1,
        NO_DEADLINE,
      ]);
      addSnapshotRows(replica, 3, ...rows);
      // The images went in without the index, which is sorted once at the end.
      expect(replica.table.entries.ordered).toBe(false);
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(replica.table.entries.ordered).toBe(true);
      const page = replica.table.list('k000', 'k0005', 3, now);
      expect(page.entries.map((e) => e.key)).toEqual([
        'k0006',
        'k0008',
        'k0009',
      ]);
      expect(
        replica.table
          .list('k0500', undefined, 5, now)
          .entries.map((e) => e.key),
      ).toEqual(['k0500', 'k0500x']);
    });

    it('buffers batches during the snapshot and replays them at the end', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      expect(replica.applyBatch(batch(6, set('a', '6')))).toBe(
        ApplyResult.Applied,
      );
      expect(replica.applyBatch(batch(7, set('b', '7')))).toBe(
        ApplyResult.Applied,
      );
      // Nothing applied yet.
      expect(replica.revision).toBe(5);
      expect(replica.read('a', now)).toBeUndefined();
      addSnapshotRows(replica, 2, ['c', '3', 3, NO_DEADLINE]);

      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(replica.revision).toBe(7);
      expect(contents(replica.table)).toEqual([
        ['a', { value: '6', revision: 6, deadline: 0 }],
        ['b', { value: '7', revision: 7, deadline: 0 }],
        ['c', { value: '3', revision: 3, deadline: 0 }],
      ]);
      // After the snapshot, batches apply at once again.
      expect(replica.applyBatch(batch(8, remove('c')))).toBe(
        ApplyResult.Applied,
      );
      expect(replica.read('c', now)).toBeUndefined();
    });

    it('skips buffered batches the snapshot already covers, and applies a partial one in part', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      replica.applyBatch(batch(2, set('x', 'dup')));
      replica.applyBatch(
        batch(4, set('y', 'dup'), set('z', 'dup'), set('w', '6')),
      );
      addSnapshotRows(
        replica,
        2,
        ['y', 'snap', 4, NO_DEADLINE],
        ['z', 'snap', 5, NO_DEADLINE],
      );
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(replica.revision).toBe(6);
      expect(contents(replica.table)).toEqual([
        ['w', { value: '6', revision: 6, deadline: 0 }],
        ['y', { value: 'snap', revision: 4, deadline: 0 }],
        ['z', { value: 'snap', revision: 5, deadline: 0 }],
      ]);
    });

    it('does not take back a snapshot entry newer than a buffered change', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      // The primary wrote k at 6 and again at 8; the snapshot read k after revision 8.
      replica.applyBatch(batch(6, set('k', 'v6'), set('other', 'v7')));
      addSnapshotRows(replica, 2, ['k', 'v8', 8, NO_DEADLINE]);
      replica.applyBatch(batch(8, set('k', 'v8')));
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(plain(replica.read('k', now))).toEqual({
        value: 'v8',
        revision: 8,
        deadline: NO_DEADLINE,
      });
      expect(plain(replica.read('other', now))).toEqual({
        value: 'v7',
        revision: 7,
        deadline: NO_DEADLINE,
      });
      expect(replica.revision).toBe(8);
    });

    it('keeps a key the snapshot caught after it was deleted and created again', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      replica.applyBatch(batch(6, remove('k'), set('k', 'again')));
      addSnapshotRows(replica, 2, ['k', 'again', 7, NO_DEADLINE]);
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(plain(replica.read('k', now))).toEqual({
        value: 'again',
        revision: 7,
        deadline: NO_DEADLINE,
      });
    });

    it('lets a delete in a buffered batch remove a key the snapshot holds', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      addSnapshotRows(
        replica,
        2,
        ['k', '1', 3, NO_DEADLINE],
        ['ttl', '1', 4, now + 1],
      );
      replica.applyBatch(batch(6, remove('k'), remove('ttl')));
      expect(replica.read('k', now)).toBeDefined(); // not yet: still bootstrapping
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(replica.read('k', now)).toBeUndefined();
      expect(replica.table.size).toBe(0);
      expect(replica.revision).toBe(7);
    });

    it('creates a key written during the snapshot in a shard already read', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      addSnapshotRows(replica, 2, ['a', '1', 2, NO_DEADLINE]);
      replica.applyBatch(batch(6, set('late', '1', now + 100)));
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(plain(replica.read('late', now))).toEqual({
        value: '1',
        revision: 6,
        deadline: 1_000_100,
      });
    });

    it('reports a Gap in the buffered batches', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      replica.applyBatch(batch(6, set('a', '1')));
      replica.applyBatch(batch(8, set('b', '1')));
      replica.applyBatch(batch(9, set('c', '1')));
      expect(replica.endSnapshot()).toBe(ApplyResult.Gap);
      expect(replica.bootstrapping).toBe(false);
      expect(replica.revision).toBe(6);
      expect(replica.read('a', now)).toBeDefined();
      expect(replica.read('b', now)).toBeUndefined();
      expect(replica.read('c', now)).toBeUndefined();
    });

    it('reports a Gap when the first buffered batch starts past the snapshot', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(5);
      replica.applyBatch(batch(7, set('a', '1')));
      expect(replica.endSnapshot()).toBe(ApplyResult.Gap);
      expect(replica.revision).toBe(5);
    });

    it('keeps snapshot values byte for byte, multi-byte UTF-8 included', () => {
      const replica = new ReplicaStore(2);
      replica.beginSnapshot(3);
      addSnapshotRows(
        replica,
        2,
        ['ключ', MULTI, 1, NO_DEADLINE],
        ['empty', '', 2, NO_DEADLINE],
        ['ttl', '[1,2]', 3, now + 1],
      );
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(replica.table.size).toBe(3);
      expect(replica.read('ключ', now)?.bytes).toEqual(MULTI_BYTES);
      expect(contents(replica.table)).toEqual([
        ['empty', { value: '', revision: 2, deadline: 0 }],
        ['ttl', { value: '[1,2]', revision: 3, deadline: 1_000_001 }],
        ['ключ', { value: MULTI, revision: 1, deadline: 0 }],
      ]);
    });

    it('refuses a shard sent twice, keeping what the first one brought', () => {
      const replica = new ReplicaStore(0);
      replica.beginSnapshot(5);
      addSnapshotRows(replica, 0, ['a', '1', 1, NO_DEADLINE]);
      expect(() =>
        addSnapshotRows(replica, 0, ['b', '2', 2, NO_DEADLINE]),
      ).toThrow(RangeError);
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expect(contents(replica.table)).toEqual([
        ['a', { value: '1', revision: 1, deadline: 0 }],
      ]);
    });

    it('refuses the shards of a table with another shard count', () => {
      const replica = new ReplicaStore(3);
      replica.beginSnapshot(5);
      const rows: SnapshotRow[] = [];
      for (let i = 0; i < 50; i++) rows.push([`k${i}`, '1', 1, NO_DEADLINE]);
      // With one shard instead of 8, the image holds keys of every shard but shard 0.
      expect(() => addSnapshotRows(replica, 0, ...rows)).toThrow(RangeError);
      expect(replica.table.size).toBe(0);
    });
  });

  describe('fed by an AuthoritativeStore', () => {
    const KEYS = 60;

    /** One random step on the primary: move time, reap, or a write of any kind. */
    function randomStep(
      primary: AuthoritativeStore,
      random: () => number,
      serial: number,
    ): void {
      const pick = (n: number) => Math.floor(random() * n);
      const roll = random();
      if (roll < 0.1) {
        now += 1 + pick(20);
        return;
      }
      if (roll < 0.14) {
        primary.reapExpired(1 + pick(5));
        return;
      }
      if (roll < 0.15) {
        primary.liveCount(); // reaps everything expired
        return;
      }
      const key = `key:${pick(KEYS)}`;
      const kind = random();
      const op =
        kind < 0.2
          ? WriteOp.Create
          : kind < 0.75
            ? WriteOp.Put
            : WriteOp.Delete;
      const ttlRoll = random();
      // Mostly short TTLs that expire during the run, a few that never do within it.
      const ttl =
        ttlRoll < 0.45
          ? 0
          : ttlRoll < 0.95
            ? 1 + pick(60)
            : 2 ** 31 + pick(1000);
      const current = primary.get(key);
      const command: WriteCommand = {
        op,
        key,
        value: JSON.stringify({ serial, text: 'x'.repeat(pick(5)) }),
        ttl,
        ...(random() < 0.2 && current !== undefined
          ? { ifMatch: [current.revision] }
          : {}),
        ...(random() < 0.1 ? { ifNoneMatch: '*' as const } : {}),
      };
      primary.execute(command);
    }

    /**
     * Checks the replica holds what the primary holds: every entry, expired ones included, or
     * with `liveOnly` the entries live now (a snapshot leaves out entries expired when read).
     */
    function expectSame(
      primary: AuthoritativeStore,
      replica: ReplicaStore,
      liveOnly = false,
    ): void {
      const at = liveOnly ? now : undefined;
      expect(replica.revision).toBe(primary.revision);
      expect(replica.table.digest(now)).toBe(primary.table.digest(now));
      expect(contents(replica.table, at)).toEqual(contents(primary.table, at));
      for (let i = 0; i < KEYS; i++) {
        expect(plain(replica.read(`key:${i}`, now))).toEqual(
          plain(primary.get(`key:${i}`)),
        );
      }
    }

    it.each([
      [11, 4, 4],
      [12, 12, 6],
      [13, 0, 12],
    ])(
      'ends with the same data as the primary (seed %d, shard bits %d / %d)',
      (seed, a, b) => {
        const random = prng(seed);
        const primary = new AuthoritativeStore({
          clock,
          shardBits: a,
          maxKeys: 45,
        });
        const replica = new ReplicaStore(b);
        const delivered: ChangeBatch[] = [];
        let digestsChecked = 0;
        for (let step = 0; step < 4000; step++) {
          randomStep(primary, random, step);
          if (random() < 0.2) {
            const next = primary.takeBatch();
            if (next !== undefined) {
              expect(replica.applyBatch(next)).toBe(ApplyResult.Applied);
              delivered.push(next);
            }
            // A repeated delivery of an old batch is recognized and ignored.
            if (delivered.length > 1 && random() < 0.1) {
              const old =
                delivered[Math.floor(random() * (delivered.length - 1))]!;
              expect(replica.applyBatch(old)).toBe(ApplyResult.Duplicate);
            }
          }
          if (step % 500 === 499) {
            const next = primary.takeBatch();
            if (next !== undefined) replica.applyBatch(next);
            expectSame(primary, replica);
            digestsChecked++;
          }
        }
        const last = primary.takeBatch();
        if (last !== undefined)
          expect(replica.applyBatch(last)).toBe(ApplyResult.Applied);
        expectSame(primary, replica);
        expect(digestsChecked).toBe(8);
        // The run really exercised expiry and kept a mix of live data.
        expect(primary.revision).toBeGreaterThan(2000);
        expect(
          delivered.some((b) => b.changes.some((c) => c.value === null)),
        ).toBe(true);
        expect(primary.table.digest(now)).not.toBe('0000000000000000');

        // Time moves on, everything but the long TTLs expires; the replica hides it at once.
        now += 1000;
        expect(replica.table.digest(now)).toBe(primary.table.digest(now));
        primary.liveCount();
        const reaped = primary.takeBatch();
        if (reaped !== undefined)
          expect(replica.applyBatch(reaped)).toBe(ApplyResult.Applied);
        expectSame(primary, replica);
      },
    );

    it('drops back on a lost batch with a Gap and recovers from a later snapshot', () => {
      const random = prng(99);
      const primary = new AuthoritativeStore({ clock, shardBits: 3 });
      const replica = new ReplicaStore(3);
      for (let step = 0; step < 300; step++) randomStep(primary, random, step);
      replica.applyBatch(primary.takeBatch()!);
      for (let step = 0; step < 50; step++) randomStep(primary, random, step);
      primary.takeBatch(); // lost
      for (let step = 0; step < 50; step++) randomStep(primary, random, step);
      primary.execute({ op: WriteOp.Put, key: 'k', value: '1', ttl: 0 });
      expect(replica.applyBatch(primary.takeBatch()!)).toBe(ApplyResult.Gap);

      replica.beginSnapshot(primary.publishedRevision);
      addSnapshotOf(primary, replica);
      expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
      expectSame(primary, replica, true);
      // The primary still holds entries that expired before the snapshot; reaping them sends
      // deletes the replica takes as no-ops, and then both hold exactly the same entries.
      expect(contents(primary.table)).not.toEqual(contents(replica.table));
      primary.liveCount();
      const reaped = primary.takeBatch();
      if (reaped !== undefined)
        expect(replica.applyBatch(reaped)).toBe(ApplyResult.Applied);
      expectSame(primary, replica);
    });

    /**
     * A replica that joins mid-stream: the primary publishes revision R, the replica begins a
     * snapshot at R, and the primary's table is streamed one shard at a time while writes go on.
     * Before each shard chunk the primary's pending changes are taken and sent (they are
     * buffered); with `writesAfterTake`, more writes also happen between the take and the read
     * of the shard, so the chunk holds entries newer than anything sent so far.
     */
    it.each([
      [21, 5, false],
      [22, 5, true],
      [23, 3, true],
      [24, 7, false],
    ])(
      'bootstraps from a snapshot taken while writes go on (seed %d, shard bits %d, writes after take %p)',
      (seed, shardBits, writesAfterTake) => {
        const random = prng(seed);
        const pick = (n: number) => Math.floor(random() * n);
        const primary = new AuthoritativeStore({
          clock,
          shardBits,
          maxKeys: 50,
        });
        let serial = 0;
        for (let step = 0; step < 1500; step++)
          randomStep(primary, random, serial++);
        primary.takeBatch(); // what earlier replicas got; this one joins after it

        const replica = new ReplicaStore(shardBits);
        const snapshotRevision = primary.publishedRevision;
        replica.beginSnapshot(snapshotRevision);
        let newerThanSent = 0;
        let buffered = 0;
        for (let shard = 0; shard < primary.table.entries.shardCount; shard++) {
          for (let i = pick(12); i > 0; i--)
            randomStep(primary, random, serial++);
          const next = primary.takeBatch();
          if (next !== undefined) {
            expect(replica.applyBatch(next)).toBe(ApplyResult.Applied);
            buffered++;
          }
          if (writesAfterTake) {
            for (let i = pick(6); i > 0; i--)
              randomStep(primary, random, serial++);
            // Rewrite a key of this very shard, so that the chunk surely holds an entry newer
            // than every batch sent so far (which comes later, buffered, and must not undo it).
            const inShard = [...primary.table.entries.shardEntries(shard)];
            if (inShard.length > 0) {
              const [key] = inShard[pick(inShard.length)]!;
              primary.execute({
                op: WriteOp.Put,
                key,
                value: `"rewritten ${serial++}"`,
                ttl: random() < 0.5 ? 0 : 1 + pick(60),
              });
            }
          }
          for (const [, entry] of primary.table.entries.shardEntries(shard)) {
            if (entry.revision > primary.publishedRevision) newerThanSent++;
          }
          const image = primary.table.entries.exportShard(shard, now);
          if (image !== undefined) replica.addSnapshotShard(image);
          expect(replica.revision).toBe(snapshotRevision);
        }
        expect(buffered).toBeGreaterThan(0);
        if (writesAfterTake) expect(newerThanSent).toBeGreaterThan(0);

        expect(replica.endSnapshot()).toBe(ApplyResult.Applied);
        expect(replica.bootstrapping).toBe(false);

        for (let step = 0; step < 1500; step++) {
          randomStep(primary, random, serial++);
          if (random() < 0.1) {
            const next = primary.takeBatch();
            if (next !== undefined)
              expect(replica.applyBatch(next)).toBe(ApplyResult.Applied);
          }
        }
        const last = primary.takeBatch();
        if (last !== undefined)
          expect(replica.applyBatch(last)).toBe(ApplyResult.Applied);

        expect(replica.revision).toBe(primary.revision);
        expect(replica.table.digest(now)).toBe(primary.table.digest(now));
        expectSame(primary, replica, true);
      },
    );

    it('bootstrap replay gives the same data as a replica that saw every batch', () => {
      const random = prng(31);
      const primary = new AuthoritativeStore({ clock, shardBits: 4 });
      const early = new ReplicaStore(4);
      let serial = 0;
      for (let step = 0; step < 500; step++)
        randomStep(primary, random, serial++);
      early.applyBatch(primary.takeBatch()!);

      // A snapshot ships whole shards: the replica has the primary's shard count.
      const late = new ReplicaStore(4);
      late.beginSnapshot(primary.publishedRevision);
      for (let shard = 0; shard < primary.table.entries.shardCount; shard++) {
        for (let i = 0; i < 5; i++) randomStep(primary, random, serial++);
        const next = primary.takeBatch();
        if (next !== undefined) {
          expect(early.applyBatch(next)).toBe(ApplyResult.Applied);
          late.applyBatch(next);
        }
        const image = primary.table.entries.exportShard(shard, now);
        if (image !== undefined) late.addSnapshotShard(image);
      }
      expect(late.endSnapshot()).toBe(ApplyResult.Applied);
      expect(late.revision).toBe(early.revision);
      expect(contents(late.table, now)).toEqual(contents(early.table, now));
      expect(late.table.digest(now)).toBe(early.table.digest(now));
      expect(batchEnd({ from: 1, changes: [] })).toBe(0);
    });
  });
});
