import type { Config } from '../config/config';
import { MessageType, ReplyStatus } from '../protocol';
import { TxnStatus, WriteStatus } from '../store';
import { ReplicaSet } from './replica-set';
import { addLiveReplica, quietReplicaSet } from './replica-set.spec-support';
import { StrongWriteWaiters } from './strong-write-waiters';

const TIMEOUT_MS = 1000;
const config = {
  strongWriteTimeoutMs: TIMEOUT_MS,
  maxReplicaBacklogBytes: 1 << 20,
} as Config;

function write(id: number, revision: number) {
  return { id, status: WriteStatus.Ok, revision };
}

describe('StrongWriteWaiters', () => {
  let replicas: ReplicaSet;
  let waiters: StrongWriteWaiters;

  beforeEach(() => {
    jest.useFakeTimers();
    replicas = quietReplicaSet(config);
    waiters = new StrongWriteWaiters(replicas, config);
  });

  afterEach(() => {
    waiters.onModuleDestroy();
    jest.useRealTimers();
  });

  it('answers a write once every live replica has applied it, and no sooner', () => {
    const a = addLiveReplica(replicas, 1);
    const b = addLiveReplica(replicas, 2);
    waiters.add(a.link, write(7, 5));
    waiters.add(a.link, write(8, 6));
    expect(waiters.waiting).toBe(true);

    a.link.applied = 6;
    b.link.applied = 4;
    waiters.release();
    expect(a.received).toEqual([]);

    b.link.applied = 5;
    waiters.release();
    expect(a.received).toEqual([
      { type: MessageType.WriteResults, results: [write(7, 5)] },
    ]);
    expect(b.received).toEqual([]);

    b.link.applied = 6;
    waiters.release();
    expect(a.received.at(-1)).toEqual({
      type: MessageType.WriteResults,
      results: [write(8, 6)],
    });
    expect(waiters.waiting).toBe(false);
  });

  it('is not held back by a replica that is not live yet', () => {
    const a = addLiveReplica(replicas, 1);
    const loading = addLiveReplica(replicas, 2);
    loading.link.live = false;
    waiters.add(a.link, write(1, 3));
    a.link.applied = 3;
    waiters.release();
    expect(a.received).toEqual([
      { type: MessageType.WriteResults, results: [write(1, 3)] },
    ]);
  });

  it('answers once the replica that held it back dies', () => {
    const a = addLiveReplica(replicas, 1);
    const dying = addLiveReplica(replicas, 2);
    waiters.add(a.link, write(1, 3));
    a.link.applied = 3;
    waiters.release();
    expect(a.received).toEqual([]);

    replicas.remove(dying.worker);
    waiters.release();
    expect(a.received).toEqual([
      { type: MessageType.WriteResults, results: [write(1, 3)] },
    ]);
  });

  it('answers Unconfirmed once the timeout has passed, each to its own worker', () => {
    const a = addLiveReplica(replicas, 1);
    const b = addLiveReplica(replicas, 2);
    waiters.add(a.link, write(1, 1));
    jest.advanceTimersByTime(TIMEOUT_MS / 2);
    waiters.add(b.link, write(2, 2));
    waiters.add(b.link, write(3, 3));

    jest.advanceTimersByTime(TIMEOUT_MS / 2);
    const unconfirmed = { status: ReplyStatus.Unconfirmed };
    expect(a.received).toEqual([
      {
        type: MessageType.WriteResults,
        results: [{ ...write(1, 1), ...unconfirmed }],
      },
    ]);
    expect(b.received).toEqual([]);

    jest.advanceTimersByTime(TIMEOUT_MS / 2);
    expect(b.received).toEqual([
      {
        type: MessageType.WriteResults,
        results: [
          { ...write(2, 2), ...unconfirmed },
          { ...write(3, 3), ...unconfirmed },
        ],
      },
    ]);
    expect(waiters.waiting).toBe(false);
  });

  it('answers a transaction with its own TxnResult, applied or timed out', () => {
    const a = addLiveReplica(replicas, 1);
    const txn = (id: number, revision: number) => ({
      type: MessageType.TxnResult,
      id,
      status: TxnStatus.Committed,
      revision,
      failures: [],
    });
    waiters.add(a.link, txn(1, 1));
    waiters.add(a.link, txn(2, 2));
    a.link.applied = 1;
    waiters.release();
    expect(a.received).toEqual([txn(1, 1)]);

    jest.advanceTimersByTime(TIMEOUT_MS);
    expect(a.received).toEqual([
      txn(1, 1),
      { ...txn(2, 2), status: ReplyStatus.Unconfirmed },
    ]);
  });
});
