import {
  AuthoritativeStore,
  AuthoritativeStoreOptions,
} from './authoritative-store';
import { Change } from './change';
import { plain, PlainEntry } from './entry.spec-support';
import { ReplicaStore } from './replica-store';
import { TxnOperation, TxnOpKind, TxnOutcome, TxnStatus } from './transaction';
import { NO_DEADLINE } from './types';
import { Precondition, WriteOp, WriteStatus } from './write-command';

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
): TxnOperation => ({ kind: TxnOpKind.Put, key, value, ttl, ...conditions });
const create = (
  key: string,
  value: string,
  ttl = 0,
  conditions: Conditions = {},
): TxnOperation => ({
  kind: TxnOpKind.Create,
  key,
  value,
  ttl,
  ...conditions,
});
const del = (key: string, conditions: Conditions = {}): TxnOperation => ({
  kind: TxnOpKind.Delete,
  key,
  value: '',
  ttl: 0,
  ...conditions,
});
const check = (key: string, conditions: Conditions): TxnOperation => ({
  kind: TxnOpKind.Check,
  key,
  value: '',
  ttl: 0,
  ...conditions,
});

const committed = (revision: number): TxnOutcome => ({
  status: TxnStatus.Committed,
  revision,
  failures: [],
});

/** Writes `key` = `value` with a single write; returns its revision. */
function seed(store: AuthoritativeStore, key: string, value = '1', ttl = 0) {
  const outcome = store.execute({ op: WriteOp.Put, key, value, ttl });
  expect(outcome.status).toBe(WriteStatus.Ok);
  return outcome.revision;
}

/** Every live key of `store` and its entry, for comparing whole states. */
function contents(store: AuthoritativeStore): Record<string, PlainEntry> {
  const out: Record<string, PlainEntry> = {};
  for (const [key, entry] of store.table.entries.entries())
    out[key] = plain(entry)!;
  return out;
}

/**
 * Runs `ops` and asserts they were refused with `outcome`, leaving the store exactly as it was:
 * the same entries, the same revision, nothing more to publish.
 */
function expectRefused(
  store: AuthoritativeStore,
  ops: TxnOperation[],
  outcome: TxnOutcome,
): void {
  const before = contents(store);
  const revision = store.revision;
  const pending = store.hasPending;
  expect(store.transact(ops)).toEqual(outcome);
  expect(contents(store)).toEqual(before);
  expect(store.revision).toBe(revision);
  expect(store.hasPending).toBe(pending);
}

describe('AuthoritativeStore.transact', () => {
  describe('a committed transaction', () => {
    it('applies every write at one new revision, queued together in operation order', () => {
      const store = newStore();
      seed(store, 'gone', '0'); // 1
      seed(store, 'kept', '0'); // 2
      store.takeBatch();
      const outcome = store.transact([
        put('a', '{"n": 1}'),
        create('b', '[1, 2]'),
        del('gone'),
        check('kept', { ifMatch: [2] }),
      ]);
      expect(outcome).toEqual(committed(3));
      expect(store.revision).toBe(3);
      expect(plain(store.get('a'))).toEqual({
        value: '{"n": 1}',
        revision: 3,
        deadline: NO_DEADLINE,
      });
      expect(store.get('b')?.revision).toBe(3);
      expect(store.get('gone')).toBeUndefined();
      expect(store.get('kept')?.revision).toBe(2);
      const changes: Change[] = [
        {
          key: 'a',
          value: '{"n": 1}',
          deadline: NO_DEADLINE,
          revision: 3,
          expired: false,
        },
        {
          key: 'b',
          value: '[1, 2]',
          deadline: NO_DEADLINE,
          revision: 3,
          expired: false,
        },
        {
          key: 'gone',
          value: null,
          deadline: NO_DEADLINE,
          revision: 3,
          expired: false,
        },
      ];
      expect(store.takeBatch()).toEqual({ from: 3, changes });
    });

    it('takes the next revision after it for the next write, and shares none with it', () => {
      const store = newStore();
      expect(store.transact([put('a', '1'), put('b', '2')])).toEqual(
        committed(1),
      );
      expect(seed(store, 'c')).toBe(2);
      expect(store.transact([put('d', '1'), put('e', '2')])).toEqual(
        committed(3),
      );
      const batch = store.takeBatch()!;
      expect(batch.from).toBe(1);
      expect(batch.changes.map((c) => [c.key, c.revision])).toEqual([
        ['a', 1],
        ['b', 1],
        ['c', 2],
        ['d', 3],
        ['e', 3],
      ]);
    });

    it('is applied by a replica to the same state, in one batch', () => {
      const store = newStore();
      const replica = new ReplicaStore(4);
      replica.beginSnapshot(0);
      replica.endSnapshot();
      seed(store, 'x');
      store.transact([put('a', '"A"', 500), del('x'), create('b', 'null')]);
      store.transact([put('a', '"A2"'), check('b', { ifMatch: '*' })]);
      replica.applyBatch(store.takeBatch()!);
      expect(replica.revision).toBe(store.revision);
      expect(replica.table.digest(now)).toBe(store.table.digest(now));
      expect(plain(replica.read('a', now))).toEqual({
        value: '"A2"',
        revision: 3,
        deadline: NO_DEADLINE,
      });
    });

    it('of checks only commits at the current revision and takes no new one', () => {
      const store = newStore();
      seed(store, 'a'); // 1
      store.takeBatch();
      expect(
        store.transact([
          check('a', { ifMatch: [1] }),
          check('b', { ifNoneMatch: '*' }),
        ]),
      ).toEqual(committed(1));
      expect(store.revision).toBe(1);
      expect(store.hasPending).toBe(false);
      expect(newStore().transact([check('a', { ifNoneMatch: '*' })])).toEqual(
        committed(0),
      );
    });
  });

  describe('conditions', () => {
    it("holds ifMatch for the key's revision or '*' when present, ifNoneMatch '*' when absent", () => {
      const store = newStore();
      seed(store, 'a'); // 1
      seed(store, 'b'); // 2
      expect(
        store.transact([
          put('a', '10', 0, { ifMatch: [1] }),
          del('b', { ifMatch: '*' }),
          create('c', '30', 0, { ifNoneMatch: '*' }),
          put('d', '40', 0, { ifNoneMatch: '*' }),
          check('e', { ifNoneMatch: '*' }),
        ]),
      ).toEqual(committed(3));
      expect(store.get('a')?.value).toBe('10');
      expect(store.get('b')).toBeUndefined();
      expect(store.get('c')?.value).toBe('30');
      expect(store.get('d')?.value).toBe('40');
    });

    it('reports every failing operation with its reason and current revision, and applies nothing', () => {
      const store = newStore();
      seed(store, 'a'); // 1
      seed(store, 'b'); // 2
      seed(store, 'c'); // 3
      store.takeBatch();
      expectRefused(
        store,
        [
          put('ok', '1'),
          put('a', '2', 0, { ifMatch: [7] }),
          create('b', '2'),
          del('missing'),
          check('c', { ifNoneMatch: '*' }),
          check('absent', { ifMatch: '*' }),
          del('c', { ifMatch: [3] }),
          put('new', '1', 0, { ifMatch: '*' }),
        ],
        {
          status: TxnStatus.Failed,
          revision: 0,
          failures: [
            {
              index: 1,
              key: 'a',
              reason: WriteStatus.PreconditionFailed,
              revision: 1,
            },
            { index: 2, key: 'b', reason: WriteStatus.Exists, revision: 2 },
            {
              index: 3,
              key: 'missing',
              reason: WriteStatus.NotFound,
              revision: null,
            },
            {
              index: 4,
              key: 'c',
              reason: WriteStatus.PreconditionFailed,
              revision: 3,
            },
            {
              index: 5,
              key: 'absent',
              reason: WriteStatus.PreconditionFailed,
              revision: null,
            },
            {
              index: 7,
              key: 'new',
              reason: WriteStatus.PreconditionFailed,
              revision: null,
            },
          ],
        },
      );
      expect(store.get('ok')).toBeUndefined();
    });

    it('tests the conditions before Exists and NotFound, as a single write does', () => {
      const store = newStore();
      seed(store, 'a'); // 1
      expectRefused(
        store,
        [create('a', '2', 0, { ifMatch: [9] }), del('b', { ifMatch: '*' })],
        {
          status: TxnStatus.Failed,
          revision: 0,
          failures: [
            {
              index: 0,
              key: 'a',
              reason: WriteStatus.PreconditionFailed,
              revision: 1,
            },
            {
              index: 1,
              key: 'b',
              reason: WriteStatus.PreconditionFailed,
              revision: null,
            },
          ],
        },
      );
    });

    it('sees a key past its deadline as absent, before any reaping', () => {
      const store = newStore();
      seed(store, 'short', '1', 10); // 1
      now += 10;
      expectRefused(store, [check('short', { ifMatch: '*' })], {
        status: TxnStatus.Failed,
        revision: 0,
        failures: [
          {
            index: 0,
            key: 'short',
            reason: WriteStatus.PreconditionFailed,
            revision: null,
          },
        ],
      });
      expect(store.transact([create('short', '2')])).toEqual(committed(2));
      expect(store.get('short')?.value).toBe('2');
    });
  });

  describe('TTL', () => {
    it('sets each deadline to now + ttl, removes it on a put without one, and reaps on time', () => {
      const store = newStore();
      seed(store, 'was-short', '1', 50); // 1
      expect(
        store.transact([
          put('a', '1', 100),
          create('b', '1', 200),
          put('was-short', '2'),
        ]),
      ).toEqual(committed(2));
      expect(store.get('a')?.deadline).toBe(now + 100);
      expect(store.get('b')?.deadline).toBe(now + 200);
      expect(store.get('was-short')?.deadline).toBe(NO_DEADLINE);
      store.takeBatch();
      now += 100;
      expect(store.reapExpired()).toBe(1);
      expect(store.get('a')).toBeUndefined();
      now += 100;
      expect(store.reapExpired()).toBe(1);
      expect(store.get('b')).toBeUndefined();
      expect(store.get('was-short')?.value).toBe('2');
      // Each expiry is a change of its own, flagged as one.
      expect(
        store.takeBatch()?.changes.map((c) => [c.key, c.revision, c.expired]),
      ).toEqual([
        ['a', 3, true],
        ['b', 4, true],
      ]);
    });

    it('leaves a deleted key with a deadline nothing to reap', () => {
      const store = newStore();
      seed(store, 'a', '1', 100); // 1
      store.transact([del('a'), put('b', '1')]); // 2
      now += 100;
      expect(store.reapExpired()).toBe(0);
      expect(store.revision).toBe(2);
    });
  });

  describe('maxKeys', () => {
    const full: TxnOutcome = {
      status: TxnStatus.Full,
      revision: 0,
      failures: [],
    };

    it('refuses a transaction whose new keys pass the limit, applying nothing', () => {
      const store = newStore({ maxKeys: 3 });
      seed(store, 'a'); // 1
      store.takeBatch();
      expectRefused(
        store,
        [put('a', '2'), put('b', '1'), put('c', '1'), put('d', '1')],
        full,
      );
      expect(
        store.transact([put('a', '2'), put('b', '1'), put('c', '1')]),
      ).toEqual(committed(2));
      expectRefused(store, [create('d', '1')], full);
    });

    it('counts the keys its deletes free, and allows updates at the limit', () => {
      const store = newStore({ maxKeys: 2 });
      seed(store, 'a'); // 1
      seed(store, 'b'); // 2
      expect(store.transact([put('a', '2'), put('b', '2')])).toEqual(
        committed(3),
      );
      expect(store.transact([del('a'), create('c', '1')])).toEqual(
        committed(4),
      );
      expectRefused(store, [del('b'), put('d', '1'), put('e', '1')], full);
      expect(store.liveCount()).toBe(2);
    });

    it('reaps expired keys first to make room', () => {
      const store = newStore({ maxKeys: 2 });
      seed(store, 'short', '1', 10); // 1
      seed(store, 'b'); // 2
      store.takeBatch();
      expectRefused(store, [put('c', '1')], full);
      now += 10;
      expect(store.transact([put('c', '1'), put('b', '2')])).toEqual(
        committed(4),
      );
      // The expiry delete took revision 3, before the transaction.
      expect(
        store.takeBatch()?.changes.map((c) => [c.key, c.revision, c.expired]),
      ).toEqual([
        ['short', 3, true],
        ['c', 4, false],
        ['b', 4, false],
      ]);
    });

    it('reports failed conditions ahead of Full', () => {
      const store = newStore({ maxKeys: 1 });
      seed(store, 'a'); // 1
      expect(store.transact([put('b', '1'), del('c')]).status).toBe(
        TxnStatus.Failed,
      );
    });
  });
});
