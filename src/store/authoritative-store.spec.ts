import {
  AuthoritativeStore,
  AuthoritativeStoreOptions,
} from './authoritative-store';
import { batchEnd, Change, ChangeBatch } from './change';
import { MULTI, MULTI_BYTES, plain } from './entry.spec-support';
import { ExpiryQueue } from './expiry-queue';
import { TxnOpKind } from './transaction';
import { MAX_TTL, NO_DEADLINE } from './types';
import {
  Precondition,
  WriteCommand,
  WriteOp,
  WriteOutcome,
  WriteStatus,
} from './write-command';
import { prng } from './seeded-random.spec-support';

/**
 * `expect(actual).toEqual(expected)`, but cheap when they are equal (JSON text compared first):
 * for hot loops of randomized tests, where thousands of full matcher calls would cost seconds.
 */
function same(actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    expect(actual).toEqual(expected);
}

let now = 1_000_000;
const clock = () => now;

beforeEach(() => {
  now = 1_000_000;
});

function newStore(
  options: Partial<AuthoritativeStoreOptions> = {},
): AuthoritativeStore {
  return new AuthoritativeStore({ clock, shardBits: 4, ...options });
}

interface Conditions {
  ifMatch?: Precondition;
  ifNoneMatch?: Precondition;
}

const put = (
  key: string,
  value: string,
  ttl = 0,
  conditions: Conditions = {},
): WriteCommand => ({
  op: WriteOp.Put,
  key,
  value,
  ttl,
  ...conditions,
});
const create = (
  key: string,
  value: string,
  ttl = 0,
  conditions: Conditions = {},
): WriteCommand => ({
  op: WriteOp.Create,
  key,
  value,
  ttl,
  ...conditions,
});
const del = (key: string, conditions: Conditions = {}): WriteCommand => ({
  op: WriteOp.Delete,
  key,
  value: '',
  ttl: 0,
  ...conditions,
});
const touch = (
  key: string,
  ttl: number,
  conditions: Conditions = {},
): WriteCommand => ({
  op: WriteOp.Touch,
  key,
  value: '',
  ttl,
  ...conditions,
});

const ok = (revision: number): WriteOutcome => ({
  status: WriteStatus.Ok,
  revision,
});
const rejected = (status: WriteStatus): WriteOutcome => ({
  status,
  revision: 0,
});
type Draft = Pick<Change, 'key' | 'value' | 'deadline'>;
const setChange = (
  key: string,
  value: string,
  deadline = NO_DEADLINE,
): Draft => ({
  key,
  value,
  deadline,
});
const deleteChange = (key: string): Draft => ({
  key,
  value: null,
  deadline: NO_DEADLINE,
});
const at = (draft: Draft, revision: number, expired = false): Change => ({
  ...draft,
  revision,
  expired,
});
const draftOf = ({ key, value, deadline }: Change): Draft => ({
  key,
  value,
  deadline,
});

/** Asserts a command is rejected with `status` and changes nothing at all. */
function expectRejected(
  store: AuthoritativeStore,
  command: WriteCommand,
  status: WriteStatus,
) {
  const revision = store.revision;
  const before = plain(store.table.entries.get(command.key));
  const pending = store.hasPending;
  expect(store.execute(command)).toEqual(rejected(status));
  expect(store.revision).toBe(revision);
  expect(store.hasPending).toBe(pending);
  expect(plain(store.table.entries.get(command.key))).toEqual(before);
}

/** The changes pending now, taken out of the store. */
function takenChanges(store: AuthoritativeStore): readonly Change[] {
  return store.takeBatch()?.changes ?? [];
}

/** The changes pending now, taken out of the store, without their revisions. */
function changesOf(store: AuthoritativeStore): readonly Draft[] {
  return (store.takeBatch()?.changes ?? []).map(draftOf);
}

describe('AuthoritativeStore', () => {
  describe('create, replace, delete', () => {
    it('starts empty at revision 0', () => {
      const store = newStore();
      expect(store.revision).toBe(0);
      expect(store.publishedRevision).toBe(0);
      expect(store.hasPending).toBe(false);
      expect(store.liveCount()).toBe(0);
      expect(store.get('k')).toBeUndefined();
    });

    it('creates an absent key and refuses to create it again', () => {
      const store = newStore();
      expect(store.execute(create('k', '"v1"'))).toEqual(ok(1));
      expect(plain(store.get('k'))).toEqual({
        value: '"v1"',
        revision: 1,
        deadline: NO_DEADLINE,
      });
      expectRejected(store, create('k', '"v2"'), WriteStatus.Exists);
      expect(store.get('k')?.value).toBe('"v1"');
    });

    it('puts an absent key and replaces a present one', () => {
      const store = newStore();
      expect(store.execute(put('k', '1'))).toEqual(ok(1));
      expect(store.execute(put('k', '{"a":2}'))).toEqual(ok(2));
      expect(plain(store.get('k'))).toEqual({
        value: '{"a":2}',
        revision: 2,
        deadline: NO_DEADLINE,
      });
      expect(store.liveCount()).toBe(1);
    });

    it('stores the JSON text exactly as given', () => {
      const store = newStore();
      const text = '{ "b" : 1,\n "a": [1.50, "\\u00e9"] }';
      store.execute(put('k', text));
      expect(store.get('k')?.value).toBe(text);
    });

    it('deletes a present key and reports NotFound for an absent one', () => {
      const store = newStore();
      store.execute(put('k', '1'));
      expect(store.execute(del('k'))).toEqual(ok(2));
      expect(store.get('k')).toBeUndefined();
      expect(store.table.size).toBe(0);
      expectRejected(store, del('k'), WriteStatus.NotFound);
      expectRejected(store, del('never'), WriteStatus.NotFound);
    });

    it('grows the revision by exactly 1 per applied write and not on rejected ones', () => {
      const store = newStore();
      const commands: [WriteCommand, WriteStatus][] = [
        [create('a', '1'), WriteStatus.Ok],
        [create('a', '1'), WriteStatus.Exists],
        [put('b', '2'), WriteStatus.Ok],
        [del('c'), WriteStatus.NotFound],
        [put('a', '3', 0, { ifMatch: [99] }), WriteStatus.PreconditionFailed],
        [put('a', '3', 0, { ifMatch: [1] }), WriteStatus.Ok],
        [del('b'), WriteStatus.Ok],
        [put('b', '4', 0, { ifNoneMatch: '*' }), WriteStatus.Ok],
        [
          put('b', '5', 0, { ifNoneMatch: '*' }),
          WriteStatus.PreconditionFailed,
        ],
      ];
      let expected = 0;
      for (const [command, status] of commands) {
        const outcome = store.execute(command);
        expect(outcome.status).toBe(status);
        if (status === WriteStatus.Ok) {
          expected++;
          expect(outcome.revision).toBe(expected);
        } else {
          expect(outcome.revision).toBe(0);
        }
        expect(store.revision).toBe(expected);
      }
      expect(expected).toBe(5);
      const batch = store.takeBatch()!;
      expect(batch.from).toBe(1);
      expect(batch.changes).toEqual([
        at(setChange('a', '1'), 1),
        at(setChange('b', '2'), 2),
        at(setChange('a', '3'), 3),
        at(deleteChange('b'), 4),
        at(setChange('b', '4'), 5),
      ]);
    });

    it("keeps an entry's revision (its ETag) at its own last write", () => {
      const store = newStore();
      store.execute(put('a', '1')); // 1
      store.execute(put('b', '1')); // 2
      store.execute(put('b', '2')); // 3
      store.execute(put('c', '1')); // 4
      expect(store.get('a')?.revision).toBe(1);
      expect(store.get('b')?.revision).toBe(3);
      expect(store.get('c')?.revision).toBe(4);
      // A rejected write leaves the ETag alone.
      store.execute(create('a', '9'));
      expect(store.get('a')?.revision).toBe(1);
    });
  });

  describe('conditional writes', () => {
    let store: AuthoritativeStore;
    beforeEach(() => {
      store = newStore();
      store.execute(put('k', '1')); // revision 1
      store.execute(put('other', '1')); // revision 2
    });

    it("If-Match '*' holds for a present key", () => {
      expect(store.execute(put('k', '2', 0, { ifMatch: '*' }))).toEqual(ok(3));
      expect(store.execute(del('k', { ifMatch: '*' }))).toEqual(ok(4));
    });

    it('If-Match with a list holds when it names the current revision', () => {
      expect(store.execute(put('k', '2', 0, { ifMatch: [1] }))).toEqual(ok(3));
      expectRejected(
        store,
        put('k', '3', 0, { ifMatch: [1] }),
        WriteStatus.PreconditionFailed,
      );
      expect(store.execute(put('k', '3', 0, { ifMatch: [7, 3, 8] }))).toEqual(
        ok(4),
      );
      expectRejected(
        store,
        put('k', '4', 0, { ifMatch: [] }),
        WriteStatus.PreconditionFailed,
      );
      // Another key's revision does not count.
      expectRejected(
        store,
        put('k', '4', 0, { ifMatch: [2] }),
        WriteStatus.PreconditionFailed,
      );
      expect(plain(store.get('k'))).toEqual({
        value: '3',
        revision: 4,
        deadline: NO_DEADLINE,
      });
    });

    it('If-Match on an absent key fails with PreconditionFailed', () => {
      expectRejected(
        store,
        put('absent', '1', 0, { ifMatch: '*' }),
        WriteStatus.PreconditionFailed,
      );
      expectRejected(
        store,
        put('absent', '1', 0, { ifMatch: [1] }),
        WriteStatus.PreconditionFailed,
      );
      expectRejected(
        store,
        create('absent', '1', 0, { ifMatch: '*' }),
        WriteStatus.PreconditionFailed,
      );
      expect(store.get('absent')).toBeUndefined();
    });

    it('DELETE of an absent key: PreconditionFailed with If-Match, NotFound without', () => {
      expectRejected(
        store,
        del('absent', { ifMatch: '*' }),
        WriteStatus.PreconditionFailed,
      );
      expectRejected(
        store,
        del('absent', { ifMatch: [1] }),
        WriteStatus.PreconditionFailed,
      );
      expectRejected(store, del('absent'), WriteStatus.NotFound);
    });

    it('DELETE with a stale If-Match keeps the key', () => {
      store.execute(put('k', '2')); // 3
      expectRejected(
        store,
        del('k', { ifMatch: [1] }),
        WriteStatus.PreconditionFailed,
      );
      expect(store.get('k')?.value).toBe('2');
      expect(store.execute(del('k', { ifMatch: [3] }))).toEqual(ok(4));
    });

    it("If-None-Match '*' holds only for an absent key", () => {
      expectRejected(
        store,
        put('k', '2', 0, { ifNoneMatch: '*' }),
        WriteStatus.PreconditionFailed,
      );
      expectRejected(
        store,
        del('k', { ifNoneMatch: '*' }),
        WriteStatus.PreconditionFailed,
      );
      expect(store.execute(put('new', '1', 0, { ifNoneMatch: '*' }))).toEqual(
        ok(3),
      );
    });

    it('If-None-Match with a list fails only when it names the current revision', () => {
      expectRejected(
        store,
        put('k', '2', 0, { ifNoneMatch: [5, 1] }),
        WriteStatus.PreconditionFailed,
      );
      expect(store.execute(put('k', '2', 0, { ifNoneMatch: [2, 5] }))).toEqual(
        ok(3),
      );
      // On an absent key nothing matches.
      expect(
        store.execute(put('new', '1', 0, { ifNoneMatch: [1, 2, 3] })),
      ).toEqual(ok(4));
    });

    it('checks preconditions before the Exists / NotFound outcomes', () => {
      // Create of a present key with a failing If-None-Match: the precondition speaks first.
      expectRejected(
        store,
        create('k', '2', 0, { ifNoneMatch: '*' }),
        WriteStatus.PreconditionFailed,
      );
      // With a holding If-Match, Create of a present key still fails with Exists.
      expectRejected(
        store,
        create('k', '2', 0, { ifMatch: '*' }),
        WriteStatus.Exists,
      );
      // Delete of an absent key with a holding If-None-Match: NotFound.
      expectRejected(
        store,
        del('absent', { ifNoneMatch: '*' }),
        WriteStatus.NotFound,
      );
    });

    it('needs both conditions to hold when both are given', () => {
      expectRejected(
        store,
        put('k', '2', 0, { ifMatch: '*', ifNoneMatch: [1] }),
        WriteStatus.PreconditionFailed,
      );
      expect(
        store.execute(put('k', '2', 0, { ifMatch: [1], ifNoneMatch: [2] })),
      ).toEqual(ok(3));
    });
  });

  describe('TTL', () => {
    it('sets the deadline to now + ttl, and the key is gone from the deadline on', () => {
      const store = newStore();
      store.execute(put('k', '1', 100));
      expect(plain(store.get('k'))).toEqual({
        value: '1',
        revision: 1,
        deadline: 1_000_100,
      });
      now += 99;
      expect(store.get('k')).toBeDefined();
      now += 1;
      expect(store.get('k')).toBeUndefined();
    });

    it('PUT without ttl removes the TTL', () => {
      const store = newStore();
      store.execute(put('k', '1', 100));
      now += 50;
      expect(store.execute(put('k', '2'))).toEqual(ok(2));
      expect(plain(store.get('k'))).toEqual({
        value: '2',
        revision: 2,
        deadline: NO_DEADLINE,
      });
      now += 1_000_000;
      expect(store.get('k')?.value).toBe('2');
      // The old heap pair is stale: no expiry delete happens.
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(2);
      expect(store.liveCount()).toBe(1);
    });

    it('PUT with a new ttl replaces the deadline', () => {
      const store = newStore();
      store.execute(put('k', '1', 100));
      now += 50;
      store.execute(put('k', '2', 500));
      expect(store.get('k')?.deadline).toBe(1_000_550);
      now = 1_000_200; // past the first deadline, before the second
      expect(store.get('k')?.value).toBe('2');
      expect(store.reapExpired()).toBe(0);
      now = 1_000_550;
      expect(store.get('k')).toBeUndefined();
    });

    describe('an expired key is absent for every purpose before any reaping', () => {
      let store: AuthoritativeStore;
      beforeEach(() => {
        store = newStore();
        store.execute(put('k', '1', 10)); // revision 1, deadline 1_000_010
        store.execute(put('keep', '1')); // revision 2
        store.takeBatch();
        now += 10;
      });

      it('get does not see it', () => {
        expect(store.get('k')).toBeUndefined();
        expect(store.table.read('k', now)).toBeUndefined();
      });

      it('Create of it succeeds as a new key', () => {
        expect(store.execute(create('k', '2'))).toEqual(ok(3));
        expect(plain(store.get('k'))).toEqual({
          value: '2',
          revision: 3,
          deadline: NO_DEADLINE,
        });
        // One change only: the create replaced the expired entry, no expiry delete for it.
        expect(changesOf(store)).toEqual([setChange('k', '2')]);
        now += 1_000_000;
        expect(store.reapExpired()).toBe(0);
        expect(store.get('k')?.value).toBe('2');
      });

      it('Delete of it is NotFound, and If-Match fails', () => {
        expectRejected(store, del('k'), WriteStatus.NotFound);
        expectRejected(
          store,
          del('k', { ifMatch: '*' }),
          WriteStatus.PreconditionFailed,
        );
        expectRejected(
          store,
          del('k', { ifMatch: [1] }),
          WriteStatus.PreconditionFailed,
        );
        expectRejected(
          store,
          put('k', '2', 0, { ifMatch: '*' }),
          WriteStatus.PreconditionFailed,
        );
      });

      it("If-None-Match '*' holds for it", () => {
        expect(store.execute(put('k', '2', 0, { ifNoneMatch: '*' }))).toEqual(
          ok(3),
        );
      });

      it('liveCount does not count it (and reaps it)', () => {
        expect(store.table.size).toBe(2);
        expect(store.liveCount()).toBe(1);
        expect(store.table.size).toBe(1);
        expect(store.revision).toBe(3);
        expect(changesOf(store)).toEqual([deleteChange('k')]);
      });
    });

    it('counts each expiry delete as one change with its own revision', () => {
      const store = newStore();
      store.execute(put('a', '1', 10)); // 1
      store.execute(put('b', '1', 20)); // 2
      store.execute(put('c', '1')); // 3
      store.takeBatch();
      now += 20;
      expect(store.reapExpired()).toBe(2);
      expect(store.revision).toBe(5);
      expect(store.takeBatch()).toEqual({
        from: 4,
        changes: [
          at(deleteChange('a'), 4, true),
          at(deleteChange('b'), 5, true),
        ],
      });
      expect(store.table.size).toBe(1);
      // Nothing more to reap: no revision moves.
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(5);
      expect(store.hasPending).toBe(false);
    });

    it('supports TTLs above 2^31 ms and up to ten years', () => {
      const store = newStore();
      const beyondTimer = 2 ** 31 + 1;
      store.execute(put('long', '1', beyondTimer));
      store.execute(put('max', '1', MAX_TTL));
      expect(store.get('long')?.deadline).toBe(1_000_000 + beyondTimer);
      expect(store.get('max')?.deadline).toBe(1_000_000 + 315_360_000_000);

      now = 1_000_000 + 2 ** 31 - 1; // where a setTimeout would already have fired
      expect(store.reapExpired()).toBe(0);
      expect(store.get('long')).toBeDefined();

      now = 1_000_000 + beyondTimer;
      expect(store.get('long')).toBeUndefined();
      expect(store.get('max')).toBeDefined();
      expect(store.reapExpired()).toBe(1);

      now = 1_000_000 + MAX_TTL - 1;
      expect(store.get('max')).toBeDefined();
      expect(store.reapExpired()).toBe(0);
      now += 1;
      expect(store.get('max')).toBeUndefined();
      expect(store.reapExpired()).toBe(1);
      expect(store.liveCount()).toBe(0);
      expect(store.revision).toBe(4);
    });
  });

  describe('list', () => {
    it('pages the keys live at the clock, a transaction whole or not at all', () => {
      const store = newStore();
      store.execute(put('user/b', '2'));
      store.execute(put('user/a', '1', 100));
      store.execute(put('other', '3'));
      expect(
        store.list('user/', undefined, 10).entries.map((e) => e.key),
      ).toEqual(['user/a', 'user/b']);
      store.transact([
        { kind: TxnOpKind.Put, key: 'user/c', value: '4', ttl: 0 },
        { kind: TxnOpKind.Delete, key: 'user/b', value: '', ttl: 0 },
      ]);
      now += 100; // user/a's deadline: gone before any reaping
      const page = store.list('user/', undefined, 1);
      expect(page.more).toBe(false);
      expect(
        page.entries.map((e) => [e.key, e.entry.value, e.entry.revision]),
      ).toEqual([['user/c', '4', 4]]);
    });
  });

  describe('reapExpired', () => {
    it('deletes keys in deadline order, whatever order they were written in', () => {
      const store = newStore();
      const ttls = [70, 10, 50, 30, 90, 20, 80, 40, 60];
      ttls.forEach((ttl) => store.execute(put(`t${ttl}`, '1', ttl)));
      store.execute(put('forever', '1'));
      store.takeBatch();
      now += 55;
      expect(store.reapExpired()).toBe(5);
      expect(changesOf(store).map((change) => change.key)).toEqual([
        't10',
        't20',
        't30',
        't40',
        't50',
      ]);
      now += 1000;
      expect(store.reapExpired()).toBe(4);
      expect(changesOf(store).map((change) => change.key)).toEqual([
        't60',
        't70',
        't80',
        't90',
      ]);
      expect(store.liveCount()).toBe(1);
    });

    it('respects limit', () => {
      const store = newStore();
      for (let i = 1; i <= 7; i++) store.execute(put(`k${i}`, '1', i * 10));
      store.takeBatch();
      now += 1000;
      expect(store.reapExpired(3)).toBe(3);
      expect(changesOf(store).map((change) => change.key)).toEqual([
        'k1',
        'k2',
        'k3',
      ]);
      expect(store.revision).toBe(10);
      expect(store.reapExpired(0)).toBe(0);
      expect(store.revision).toBe(10);
      expect(store.reapExpired(3)).toBe(3);
      expect(store.reapExpired(3)).toBe(1);
      expect(store.reapExpired(3)).toBe(0);
      expect(changesOf(store).map((change) => change.key)).toEqual([
        'k4',
        'k5',
        'k6',
        'k7',
      ]);
      expect(store.table.size).toBe(0);
    });

    it('does not count skipped stale pairs against the limit', () => {
      const store = newStore();
      store.execute(put('a', '1', 10));
      store.execute(put('b', '1', 20));
      store.execute(del('a')); // (10, a) is now stale
      store.execute(put('c', '1', 30));
      store.takeBatch();
      now += 100;
      expect(store.reapExpired(1)).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('b')]);
    });

    it('skips the stale pair of a key whose TTL moved later', () => {
      const store = newStore();
      store.execute(put('a', '1', 10)); // pair (1_000_010, a)
      store.execute(put('a', '2', 30)); // pair (1_000_030, a); the first one is stale
      store.takeBatch();

      now += 15; // past a's old deadline only
      expect(store.reapExpired()).toBe(0);
      expect(store.get('a')?.value).toBe('2');
      expect(store.revision).toBe(2);

      now += 15; // past the current one
      expect(store.reapExpired()).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('a')]);
    });

    it('keeps deadline order when a stale pair comes out after the current deadline passed too', () => {
      const store = newStore();
      store.execute(put('a', '1', 10)); // pair (1_000_010, a)
      store.execute(put('a', '2', 30)); // pair (1_000_030, a); the first one is stale
      store.execute(put('b', '1', 20)); // pair (1_000_020, b)
      store.takeBatch();

      // No reaping until every deadline has passed: the stale pair of a is still at the top.
      now += 40;
      // b (deadline 20) expired before a (deadline 30), so it goes first.
      expect(store.reapExpired(1)).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('b')]);
      expect(store.get('a')).toBeUndefined(); // expired, just not reaped yet
      expect(store.table.entries.get('a')?.value).toBe('2');
      expect(store.reapExpired(1)).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('a')]);
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(5);
    });

    it('reaps everything in deadline order despite many stale pairs', () => {
      const store = newStore();
      // Each key is written first with a short TTL, then with its real one (a shuffled order).
      const real = [70, 20, 90, 40, 10, 60, 30, 80, 50];
      real.forEach((ttl, i) => store.execute(put(`k${ttl}`, '1', 1 + i)));
      real.forEach((ttl) => store.execute(put(`k${ttl}`, '2', 100 + ttl)));
      store.takeBatch();
      now += 1000;
      const order: string[] = [];
      while (store.reapExpired(1) === 1) order.push(changesOf(store)[0]!.key);
      expect(order).toEqual(
        [...real].sort((x, y) => x - y).map((ttl) => `k${ttl}`),
      );
    });

    it('reaps at the new deadline when a TTL moved earlier, and only once', () => {
      const store = newStore();
      store.execute(put('a', '1', 100));
      store.execute(put('a', '2', 10));
      store.takeBatch();
      now += 10;
      expect(store.reapExpired()).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('a')]);
      now += 1000; // the old pair (100, a) comes out now: stale
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(3);
    });

    it('skips pairs of a key that was deleted, or deleted and recreated', () => {
      const store = newStore();
      store.execute(put('gone', '1', 10));
      store.execute(del('gone'));
      store.execute(put('plain', '1', 10));
      store.execute(del('plain'));
      store.execute(put('plain', '2')); // recreated without TTL
      store.execute(put('later', '1', 10));
      store.execute(del('later'));
      store.execute(put('later', '2', 100)); // recreated with a later TTL
      store.takeBatch();
      expect(store.revision).toBe(8);

      now += 50;
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(8);
      expect(store.get('plain')?.value).toBe('2');
      expect(store.get('later')?.value).toBe('2');

      now += 50;
      expect(store.reapExpired()).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('later')]);
      expect(store.get('plain')?.value).toBe('2');
    });

    it('reaps a key recreated with the same deadline exactly once', () => {
      const store = newStore();
      store.execute(put('k', '1', 10));
      store.execute(del('k'));
      store.execute(put('k', '2', 10)); // same deadline: two equal pairs in the heap
      store.takeBatch();
      now += 10;
      expect(store.reapExpired()).toBe(1);
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(4);
    });

    it.each([
      ['deleted', (key: string) => del(key)],
      ['rewritten without TTL', (key: string) => put(key, '0')],
    ])('keeps the heap bounded when keys with a TTL are %s', (_, undo) => {
      const store = newStore();
      const heap = (store as unknown as { expiry: ExpiryQueue }).expiry;
      let maxHeap = 0;
      let undone = 0;
      for (let i = 0; i < 5000; i++) {
        const key = `k${i % 10}`;
        store.execute(put(key, '1', 1000 + i));
        if (store.execute(undo(key)).status === WriteStatus.Ok) undone++;
        maxHeap = Math.max(maxHeap, heap.size);
      }
      expect(undone).toBe(5000);
      // At most one key holds a deadline at a time: stale pairs are dropped past 2 * 1 + 1024.
      expect(maxHeap).toBeLessThanOrEqual(2 * 1 + 1024);
      expect(maxHeap).toBeGreaterThan(1000); // it did fill up to the slack
      now += 1_000_000;
      expect(store.reapExpired()).toBe(0);
    });

    it('keeps the heap bounded while TTLs are rewritten, and still reaps correctly', () => {
      const store = newStore();
      const heap = (store as unknown as { expiry: ExpiryQueue }).expiry;
      const keys = ['a', 'b', 'c', 'd', 'e'];
      let maxHeap = 0;
      for (let round = 0; round < 1000; round++) {
        for (const key of keys)
          store.execute(put(key, String(round), 1000 + round));
        maxHeap = Math.max(maxHeap, heap.size);
      }
      // Stale pairs are dropped once they outnumber the keys with a deadline by 1024.
      expect(maxHeap).toBeLessThanOrEqual(2 * keys.length + 1024);
      expect(store.revision).toBe(5000);
      store.takeBatch();

      now += 1998;
      expect(store.reapExpired()).toBe(0);
      now += 1;
      expect(store.reapExpired()).toBe(5);
      const reaped = changesOf(store);
      expect(reaped.every((change) => change.value === null)).toBe(true);
      expect(reaped.map((change) => change.key).sort()).toEqual(keys);
      expect(store.revision).toBe(5005);
      expect(store.liveCount()).toBe(0);
    });
  });

  describe('touch (a new deadline, the value untouched)', () => {
    it('gives a live key a new deadline at a new revision, queued as a put of the same value', () => {
      const store = newStore();
      store.execute(put('k', '{"a": 1}', 100));
      store.takeBatch();
      now += 30;
      expect(store.execute(touch('k', 500))).toEqual(ok(2));
      expect(plain(store.get('k'))).toEqual({
        value: '{"a": 1}',
        revision: 2,
        deadline: 1_000_530,
      });
      expect(takenChanges(store)).toEqual([
        at(setChange('k', '{"a": 1}', 1_000_530), 2),
      ]);
      now = 1_000_200; // past the old deadline: the old heap pair is stale
      expect(store.reapExpired()).toBe(0);
      expect(store.get('k')?.value).toBe('{"a": 1}');
      now = 1_000_530;
      expect(store.get('k')).toBeUndefined();
      expect(store.reapExpired()).toBe(1);
      expect(takenChanges(store)).toEqual([at(deleteChange('k'), 3, true)]);
      expect(store.reapExpired()).toBe(0);
    });

    it('with ttl 0 removes the deadline: the key is never reaped', () => {
      const store = newStore();
      store.execute(put('k', '1', 100));
      expect(store.execute(touch('k', 0))).toEqual(ok(2));
      expect(changesOf(store).at(-1)).toEqual(setChange('k', '1'));
      now += 1_000_000;
      expect(store.reapExpired()).toBe(0);
      expect(plain(store.get('k'))).toEqual({
        value: '1',
        revision: 2,
        deadline: NO_DEADLINE,
      });
      expect(store.revision).toBe(2);
    });

    it('gives a key without a deadline one, and can move a deadline earlier', () => {
      const store = newStore();
      store.execute(put('forever', '1'));
      store.execute(put('late', '2', 1000));
      expect(store.execute(touch('forever', 20))).toEqual(ok(3));
      expect(store.execute(touch('late', 10))).toEqual(ok(4));
      store.takeBatch();
      now += 10;
      expect(store.reapExpired()).toBe(1);
      now += 10;
      expect(store.reapExpired()).toBe(1);
      expect(changesOf(store)).toEqual([
        deleteChange('late'),
        deleteChange('forever'),
      ]);
      now += 1000; // the pair of the old deadline of "late" is stale
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(6);
    });

    it('keeps the value byte for byte, multi-byte text and restored bytes alike', () => {
      const store = newStore();
      store.loadEntry('restored', MULTI_BYTES.slice(), 1, NO_DEADLINE);
      store.restored(1);
      store.execute(put('sent', MULTI));
      expect(store.execute(touch('restored', 50))).toEqual(ok(3));
      expect(store.execute(touch('sent', 50))).toEqual(ok(4));
      for (const key of ['restored', 'sent']) {
        expect(store.get(key)?.bytes).toEqual(MULTI_BYTES);
        expect(store.get(key)?.value).toBe(MULTI);
      }
      expect(changesOf(store).map((change) => change.value)).toEqual([
        MULTI,
        MULTI,
        MULTI,
      ]);
    });

    it('is NotFound for an absent key and for an expired one not yet reaped', () => {
      const store = newStore();
      expectRejected(store, touch('never', 100), WriteStatus.NotFound);
      store.execute(put('brief', '1', 10));
      store.execute(del('brief'));
      expectRejected(store, touch('brief', 100), WriteStatus.NotFound);
      store.execute(put('expired', '1', 10));
      now += 10;
      expectRejected(store, touch('expired', 100), WriteStatus.NotFound);
      expectRejected(store, touch('expired', 0), WriteStatus.NotFound);
      expect(store.reapExpired()).toBe(1);
    });

    it('applies If-Match as a put does', () => {
      const store = newStore();
      store.execute(put('k', '1'));
      expectRejected(
        store,
        touch('k', 100, { ifMatch: [7] }),
        WriteStatus.PreconditionFailed,
      );
      expectRejected(
        store,
        touch('absent', 100, { ifMatch: '*' }),
        WriteStatus.PreconditionFailed,
      );
      expect(store.execute(touch('k', 100, { ifMatch: [1] }))).toEqual(ok(2));
      expect(store.execute(touch('k', 100, { ifMatch: '*' }))).toEqual(ok(3));
      expectRejected(
        store,
        touch('k', 100, { ifMatch: [2] }),
        WriteStatus.PreconditionFailed,
      );
    });

    it('is allowed at the maxKeys limit: it adds no key', () => {
      const store = newStore({ maxKeys: 1 });
      store.execute(put('k', '1'));
      expect(store.execute(touch('k', 100))).toEqual(ok(2));
      expect(store.liveCount()).toBe(1);
    });

    it('keeps the heap bounded while deadlines are touched on and off', () => {
      const store = newStore();
      const heap = (store as unknown as { expiry: ExpiryQueue }).expiry;
      const keys = ['a', 'b', 'c'];
      for (const key of keys) store.execute(put(key, key));
      let maxHeap = 0;
      for (let round = 0; round < 2000; round++) {
        for (const key of keys)
          store.execute(touch(key, round % 3 === 0 ? 0 : 1000 + round));
        maxHeap = Math.max(maxHeap, heap.size);
      }
      expect(maxHeap).toBeLessThanOrEqual(2 * keys.length + 1024);
      store.takeBatch();
      now += 2999; // the last round (1999) set 1000 + 1999 = 2999
      expect(store.reapExpired()).toBe(3);
      expect(
        changesOf(store)
          .map((change) => change.key)
          .sort(),
      ).toEqual(keys);
      expect(store.liveCount()).toBe(0);
      now += 1_000_000;
      expect(store.reapExpired()).toBe(0);
    });
  });

  describe('maxKeys', () => {
    it('refuses a new key with Full at the limit, and the store is unchanged', () => {
      const store = newStore({ maxKeys: 3 });
      for (const key of ['a', 'b', 'c'])
        expect(store.execute(put(key, '1')).status).toBe(0);
      expectRejected(store, put('d', '1'), WriteStatus.Full);
      expectRejected(store, create('d', '1'), WriteStatus.Full);
      expect(store.get('d')).toBeUndefined();
      expect(store.liveCount()).toBe(3);
    });

    it('still allows updates and deletes at the limit, and a delete frees a slot', () => {
      const store = newStore({ maxKeys: 2 });
      store.execute(put('a', '1'));
      store.execute(put('b', '1'));
      expect(store.execute(put('a', '2'))).toEqual(ok(3));
      expect(store.execute(put('b', '2', 0, { ifMatch: [2] }))).toEqual(ok(4));
      expectRejected(store, create('a', '3'), WriteStatus.Exists);
      expectRejected(store, put('c', '1'), WriteStatus.Full);
      expect(store.execute(del('a'))).toEqual(ok(5));
      expect(store.execute(create('c', '1'))).toEqual(ok(6));
      expectRejected(store, put('a', '1'), WriteStatus.Full);
    });

    it('lets an expired key free its slot (it is reaped first)', () => {
      const store = newStore({ maxKeys: 2 });
      store.execute(put('short', '1', 10)); // 1
      store.execute(put('b', '1')); // 2
      store.takeBatch();
      expectRejected(store, put('c', '1'), WriteStatus.Full);
      now += 10;
      expect(store.execute(put('c', '1'))).toEqual(ok(4));
      // The expiry delete got revision 3, before the write.
      expect(store.takeBatch()).toEqual({
        from: 3,
        changes: [
          at(deleteChange('short'), 3, true),
          at(setChange('c', '1'), 4),
        ],
      });
      expect(store.liveCount()).toBe(2);
      expectRejected(store, put('d', '1'), WriteStatus.Full);
    });

    it('lets an expired key itself be written again at the limit', () => {
      const store = newStore({ maxKeys: 2 });
      store.execute(put('a', '1', 10));
      store.execute(put('b', '1'));
      now += 10;
      expect(store.execute(create('a', '2')).status).toBe(WriteStatus.Ok);
      expect(store.get('a')?.value).toBe('2');
      expect(store.liveCount()).toBe(2);
    });

    it('with maxKeys 0 refuses every new key', () => {
      const store = newStore({ maxKeys: 0 });
      expectRejected(store, put('a', '1'), WriteStatus.Full);
      expectRejected(store, del('a'), WriteStatus.NotFound);
    });

    it('has no limit when maxKeys is left out', () => {
      const store = newStore();
      for (let i = 0; i < 5000; i++) store.execute(put(`k${i}`, '1'));
      expect(store.liveCount()).toBe(5000);
    });
  });

  describe('restoring from disk', () => {
    it('loads entries, replays batches over them with the revision guard, and continues', () => {
      const store = newStore();
      // A snapshot taken at revision 2 while writes went on: 'b' was caught at revision 4.
      store.loadEntry('a', '1', 1, NO_DEADLINE);
      store.loadEntry('b', 'new', 4, 1_000_500);
      store.replayBatch({
        from: 3,
        changes: [
          at(setChange('b', 'old'), 3),
          at(setChange('b', 'new', 1_000_500), 4),
        ],
      });
      store.replayBatch({ from: 5, changes: [at(deleteChange('a'), 5)] });
      store.restored(5);
      expect(store.revision).toBe(5);
      expect(store.publishedRevision).toBe(5);
      expect(store.hasPending).toBe(false);
      expect(store.get('a')).toBeUndefined();
      expect(plain(store.get('b'))).toEqual({
        value: 'new',
        revision: 4,
        deadline: 1_000_500,
      });
      expect(store.execute(put('c', '1'))).toEqual(ok(6));
      expect(store.takeBatch()?.from).toBe(6);
    });

    it('builds the ordered index once, when restoring ends', () => {
      const store = newStore();
      for (let i = 2000; i > 0; i--)
        store.loadEntry(`k${String(i).padStart(4, '0')}`, '1', i, NO_DEADLINE);
      store.replayBatch({
        from: 2001,
        changes: [at(deleteChange('k0002'), 2001)],
      });
      // Loading left the index empty: one sort at the end costs less than 2000 inserts.
      expect(store.table.entries.ordered).toBe(false);
      store.restored(2001);
      expect(store.table.entries.ordered).toBe(true);
      expect(
        store.table.list('k', undefined, 3, now).entries.map((e) => e.key),
      ).toEqual(['k0001', 'k0003', 'k0004']);
      store.execute(put('k0000', '1'));
      expect(
        store.table.list('k', undefined, 2, now).entries.map((e) => e.key),
      ).toEqual(['k0000', 'k0001']);
    });

    it('loads a value given as its UTF-8 bytes, as if given as text', () => {
      const store = newStore();
      // '"é€"' as UTF-8: a snapshot file hands values over as bytes.
      const bytes = Uint8Array.of(0x22, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0x22);
      store.loadEntry('bytes', bytes, 2, NO_DEADLINE);
      store.loadEntry('text', '"\u00e9\u20ac"', 3, 1_000_010);
      store.loadEntry('empty', new Uint8Array(0), 1, NO_DEADLINE);
      bytes.fill(0); // the store keeps its own copy
      store.restored(3);
      expect(plain(store.get('bytes'))).toEqual({
        value: '"\u00e9\u20ac"',
        revision: 2,
        deadline: NO_DEADLINE,
      });
      expect(store.get('bytes')?.bytes).toEqual(
        Uint8Array.of(0x22, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0x22),
      );
      expect(store.get('text')?.bytes).toEqual(
        Uint8Array.of(0x22, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0x22),
      );
      expect(plain(store.get('empty'))).toEqual({
        value: '',
        revision: 1,
        deadline: NO_DEADLINE,
      });
      now += 10;
      expect(store.reapExpired()).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('text')]);
      expect(store.liveCount()).toBe(2);
    });

    it('reaps restored keys at their deadlines, which stay absolute', () => {
      const store = newStore();
      store.loadEntry('gone', '1', 1, 999_999);
      store.loadEntry('later', '1', 2, 1_000_100);
      store.loadEntry('forever', '1', 3, NO_DEADLINE);
      store.restored(3);
      expect(store.reapExpired()).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('gone')]);
      now += 100;
      expect(store.reapExpired()).toBe(1);
      expect(changesOf(store)).toEqual([deleteChange('later')]);
      expect(store.liveCount()).toBe(1);
    });

    it('never hands out a revision an entry already holds', () => {
      const store = newStore();
      store.loadEntry('a', '1', 9, NO_DEADLINE);
      store.restored(7);
      expect(store.revision).toBe(9);
      expect(store.execute(put('b', '1'))).toEqual(ok(10));
    });

    it('refuses to restore a store that has written', () => {
      const store = newStore();
      store.execute(put('a', '1'));
      expect(() => store.loadEntry('b', '1', 1, NO_DEADLINE)).toThrow(
        /before its first write/,
      );
      expect(() => store.restored(1)).toThrow(/before its first write/);
    });
  });

  describe('takeBatch', () => {
    it('returns undefined when nothing is pending', () => {
      const store = newStore();
      expect(store.takeBatch()).toBeUndefined();
      store.execute(del('absent'));
      store.execute(put('a', '1', 0, { ifMatch: '*' }));
      expect(store.hasPending).toBe(false);
      expect(store.takeBatch()).toBeUndefined();
    });

    it('hands out contiguous revision ranges, each change once', () => {
      const store = newStore();
      store.execute(put('a', '1'));
      store.execute(put('b', '2', 100));
      expect(store.hasPending).toBe(true);
      const first = store.takeBatch()!;
      expect(first).toEqual({
        from: 1,
        changes: [
          at(setChange('a', '1'), 1),
          at(setChange('b', '2', 1_000_100), 2),
        ],
      });
      expect(store.publishedRevision).toBe(2);
      expect(store.hasPending).toBe(false);
      expect(store.takeBatch()).toBeUndefined();

      store.execute(del('a'));
      const second = store.takeBatch()!;
      expect(second).toEqual({
        from: batchEnd(first) + 1,
        changes: [at(deleteChange('a'), 3)],
      });
      expect(second.from).toBe(3);

      now += 100;
      store.reapExpired();
      store.execute(put('c', '3'));
      const third = store.takeBatch()!;
      expect(third).toEqual({
        from: 4,
        changes: [at(deleteChange('b'), 4, true), at(setChange('c', '3'), 5)],
      });
      expect(store.publishedRevision).toBe(5);
      expect(store.revision).toBe(5);
    });

    it('hands out batches that do not change when the store writes on', () => {
      const store = newStore();
      store.execute(put('a', '1'));
      const batch = store.takeBatch()!;
      store.execute(put('b', '1'));
      expect(batch.changes).toHaveLength(1);
    });

    it('covers every revision exactly once over a long run', () => {
      const store = newStore({ maxKeys: 20 });
      const batches: ChangeBatch[] = [];
      for (let i = 0; i < 2000; i++) {
        const key = `k${(i * 7) % 31}`;
        if (i % 5 === 0) store.execute(del(key));
        else store.execute(put(key, String(i), i % 3 === 0 ? 5 : 0));
        now += 1;
        if (i % 13 === 0) store.reapExpired(2);
        if (i % 4 === 0) {
          const batch = store.takeBatch();
          if (batch !== undefined) batches.push(batch);
        }
      }
      const last = store.takeBatch();
      if (last !== undefined) batches.push(last);
      let expected = 1;
      for (const batch of batches) {
        expect(batch.from).toBe(expected);
        expect(batch.changes.length).toBeGreaterThan(0);
        expected = batchEnd(batch) + 1;
      }
      expect(expected - 1).toBe(store.revision);
      expect(store.publishedRevision).toBe(store.revision);
    });
  });

  describe('against a reference model (randomized)', () => {
    interface ModelEntry {
      value: string;
      revision: number;
      deadline: number;
    }

    it.each([
      [1, undefined],
      [2, 18],
      [3, 8],
    ])('seed %d, maxKeys %p', (seed, maxKeys) => {
      const random = prng(seed);
      const pick = (n: number) => Math.floor(random() * n);
      const store = newStore({ maxKeys });
      // Every stored entry, expired ones included until the store reports their expiry delete.
      const model = new Map<string, ModelEntry>();
      const live = (entry: ModelEntry | undefined) =>
        entry !== undefined &&
        (entry.deadline === NO_DEADLINE || entry.deadline > now)
          ? entry
          : undefined;
      const liveCount = () =>
        [...model.values()].filter((entry) => live(entry)).length;
      let revision = 0;
      const seen = new Map<WriteStatus, number>();
      let touched = 0;

      /** Checks `changes` are expiry deletes of expired model keys and drops those keys. */
      const takeExpiryDeletes = (changes: readonly Change[], all = true) => {
        for (const change of changes) {
          same(change, at(deleteChange(change.key), revision + 1, true));
          const entry = model.get(change.key);
          same(
            { stored: entry !== undefined, live: live(entry) !== undefined },
            { stored: true, live: false },
          );
          model.delete(change.key);
          revision++;
        }
        if (all && changes.length > 0) {
          // Reaping without a limit takes every expired key.
          same(
            [...model.values()].filter((entry) => live(entry) === undefined),
            [],
          );
        }
      };

      for (let step = 0; step < 4000; step++) {
        if (random() < 0.15) now += 1 + pick(15);
        if (random() < 0.03) {
          const limit = 1 + pick(4);
          const reaped = store.reapExpired(limit);
          const changes = takenChanges(store);
          same(changes.length, reaped);
          same(reaped <= limit, true);
          takeExpiryDeletes(changes, reaped < limit);
          same(store.revision, revision);
          continue;
        }

        const key = `k${pick(30)}`;
        const current = live(model.get(key));
        const roll = random();
        const op =
          roll < 0.2
            ? WriteOp.Create
            : roll < 0.6
              ? WriteOp.Put
              : roll < 0.8
                ? WriteOp.Delete
                : WriteOp.Touch;
        const ttl = random() < 0.5 ? 0 : 1 + pick(40);
        const conditions: Conditions = {};
        const c = random();
        if (c < 0.1) conditions.ifMatch = '*';
        else if (c < 0.2)
          conditions.ifMatch = [current?.revision ?? 1 + pick(revision + 1)];
        else if (c < 0.25)
          conditions.ifMatch = [1 + pick(revision + 1), 1 + pick(revision + 1)];
        else if (c < 0.35) conditions.ifNoneMatch = '*';
        else if (c < 0.4) conditions.ifNoneMatch = [current?.revision ?? 1];
        const command: WriteCommand = {
          op,
          key,
          value: `"${step}"`,
          ttl,
          ...conditions,
        };

        const holds = (condition: Precondition) =>
          current !== undefined &&
          (condition === '*' || condition.includes(current.revision));
        let expected: WriteStatus = WriteStatus.Ok;
        if (conditions.ifMatch !== undefined && !holds(conditions.ifMatch)) {
          expected = WriteStatus.PreconditionFailed;
        } else if (
          conditions.ifNoneMatch !== undefined &&
          holds(conditions.ifNoneMatch)
        ) {
          expected = WriteStatus.PreconditionFailed;
        } else if (
          (op === WriteOp.Delete || op === WriteOp.Touch) &&
          current === undefined
        ) {
          expected = WriteStatus.NotFound;
        } else if (op === WriteOp.Create && current !== undefined) {
          expected = WriteStatus.Exists;
        } else if (
          op !== WriteOp.Delete &&
          op !== WriteOp.Touch &&
          current === undefined &&
          maxKeys !== undefined &&
          liveCount() >= maxKeys
        ) {
          expected = WriteStatus.Full;
        }

        const outcome = store.execute(command);
        same({ step, status: outcome.status }, { step, status: expected });
        seen.set(expected, (seen.get(expected) ?? 0) + 1);
        const changes = takenChanges(store);
        if (expected === WriteStatus.Ok) {
          takeExpiryDeletes(changes.slice(0, -1));
          revision++;
          same(outcome.revision, revision);
          const last = changes[changes.length - 1];
          if (op === WriteOp.Delete) {
            same(last, at(deleteChange(key), revision));
            model.delete(key);
          } else {
            // A touch keeps the value it found; its command's value is ignored.
            if (op === WriteOp.Touch) touched++;
            const value = op === WriteOp.Touch ? current!.value : command.value;
            const deadline = ttl > 0 ? now + ttl : NO_DEADLINE;
            same(last, at(setChange(key, value, deadline), revision));
            model.set(key, { value, revision, deadline });
          }
        } else {
          same(outcome.revision, 0);
          takeExpiryDeletes(changes);
        }
        same(store.revision, revision);

        if (step % 100 === 0) {
          for (let i = 0; i < 30; i++) {
            const entry = live(model.get(`k${i}`));
            same(plain(store.get(`k${i}`)), entry);
          }
          const count = liveCount();
          expect(store.liveCount()).toBe(count);
          takeExpiryDeletes(takenChanges(store));
          expect(model.size).toBe(count);
        }
      }
      // The run went through every outcome (Full only with a limit).
      expect(seen.get(WriteStatus.Ok)).toBeGreaterThan(1000);
      expect(seen.get(WriteStatus.NotFound)).toBeGreaterThan(10);
      expect(seen.get(WriteStatus.Exists)).toBeGreaterThan(10);
      expect(seen.get(WriteStatus.PreconditionFailed)).toBeGreaterThan(10);
      if (maxKeys !== undefined)
        expect(seen.get(WriteStatus.Full)).toBeGreaterThan(10);
      expect(revision).toBeGreaterThan(1000);
      expect(touched).toBeGreaterThan(100);
    });
  });
});
