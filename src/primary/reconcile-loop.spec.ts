import type { Config } from '../config/config';
import { Message, MessageType, TxnResult, WriteResult } from '../protocol';
import {
  AuthoritativeStore,
  TxnOpKind,
  TxnStatus,
  WriteOp,
  WriteStatus,
} from '../store';
import type { Durability } from './durability';
import type { PrimaryMetrics } from './primary-metrics';
import { ReconcileLoop } from './reconcile-loop';
import { ReplicaLag } from './replica-lag';
import { ReplicaSet } from './replica-set';
import {
  addLiveReplica,
  FakeReplica,
  quietReplicaSet,
} from './replica-set.spec-support';
import { StrongWriteWaiters } from './strong-write-waiters';
import { WatchHistory } from './watch-history';

const config = {
  reconcileIntervalMs: 0,
  strongWriteTimeoutMs: 1000,
  maxReplicaLag: 100_000,
  maxReplicaBacklogBytes: 1 << 20,
  watchHistory: 1000,
  watchHistoryBytes: 1 << 20,
} as Config;

describe('ReconcileLoop with KV_DATA_DIR', () => {
  let store: AuthoritativeStore;
  let replicas: ReplicaSet;
  let waiters: StrongWriteWaiters;
  let loop: ReconcileLoop;
  let worker: FakeReplica;
  // What waits for the log to write the batches appended before it, in order.
  let waitingForLog: (() => void)[];

  beforeEach(() => {
    jest.useFakeTimers();
    store = new AuthoritativeStore({ clock: Date.now, maxKeys: undefined });
    replicas = quietReplicaSet(config);
    waiters = new StrongWriteWaiters(replicas, config);
    waitingForLog = [];
    const log = {
      overloaded: false,
      append: () => undefined,
      afterDurable: (callback: () => void) => waitingForLog.push(callback),
    };
    const metrics = {
      batchChanges: { observe: () => undefined },
      reconcileSeconds: { observe: () => undefined },
    } as unknown as PrimaryMetrics;
    loop = new ReconcileLoop(
      store,
      replicas,
      new ReplicaLag(store, replicas, config),
      waiters,
      metrics,
      { log } as unknown as Durability,
      new WatchHistory(store, config),
      config,
    );
    worker = addLiveReplica(replicas, 1);
  });

  afterEach(() => {
    waiters.onModuleDestroy();
    jest.useRealTimers();
  });

  /** Commits a put of `key` and holds its answer for the next batch, as WorkerMessages does. */
  function put(id: number, key: string): WriteResult {
    const outcome = store.execute({ op: WriteOp.Put, key, value: '1', ttl: 0 });
    expect(outcome.status).toBe(WriteStatus.Ok);
    const result = { id, status: outcome.status, revision: outcome.revision };
    loop.reply(worker.link, result);
    return result;
  }

  /** Commits a transaction putting `key` and holds its answer for the next batch. */
  function transact(id: number, key: string): TxnResult {
    const outcome = store.transact([
      { kind: TxnOpKind.Put, key, value: '2', ttl: 0 },
    ]);
    expect(outcome.status).toBe(TxnStatus.Committed);
    const result = { type: MessageType.TxnResult, id, ...outcome };
    loop.replyTxn(worker.link, result);
    return result;
  }

  /** The types of the messages the worker got, with each answer's revision. */
  function received(): string[] {
    return worker.received.map((m: Message) => {
      switch (m.type) {
        case MessageType.Batch:
          return `batch ${m.from}-${m.from + m.changes.length - 1}`;
        case MessageType.WriteResults:
          return `writes ${m.results.map((r) => r.revision).join(',')}`;
        case MessageType.TxnResult:
          return `txn ${m.revision}`;
        default:
          return String(m.type);
      }
    });
  }

  it('answers a write or a transaction only after the batch that holds it, once the log has it', () => {
    put(1, 'a');
    loop.flush();
    // Committed while the first batch waits for the log: its answers wait for the second.
    transact(2, 'b');
    put(3, 'c');
    waitingForLog.shift()!();
    expect(received()).toEqual(['batch 1-1', 'writes 1']);

    loop.flush();
    waitingForLog.shift()!();
    expect(received()).toEqual([
      'batch 1-1',
      'writes 1',
      'batch 2-3',
      'writes 3',
      'txn 2',
    ]);
  });
});
