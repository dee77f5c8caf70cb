import type { Config } from '../config/config';
import { Message, MessageType, ReplyStatus, WriteResult } from '../protocol';
import { TxnStatus, WriteStatus } from '../store';
import { ReplicaSet } from './replica-set';
import {
  addLiveReplica,
  FakeReplica,
  quietReplicaSet,
} from './replica-set.spec-support';
import { StrongWriteWaiters } from './strong-write-waiters';

const TIMEOUT_MS = 1000;
const config = {
  strongWriteTimeoutMs: TIMEOUT_MS,
  maxReplicaBacklogBytes: 1 << 20,
} as Config;

function write(id: number, revision: number): WriteResult {
  return { id, status: WriteStatus.Ok, revision };
}

function unconfirmed(result: WriteResult): WriteResult {
  return { ...result, status: ReplyStatus.Unconfirmed };
}

/** The message that answers `results` to one worker. */
function answer(...results: WriteResult[]): Message {
  return { type: MessageType.WriteResults, results };
}

describe('StrongWriteWaiters', () => {
  let replicas: ReplicaSet;
  let waiters: StrongWriteWaiters;
  // Two live replicas; the strong writes of each test come from their workers.
  let a: FakeReplica;
  let b: FakeReplica;

  beforeEach(() => {
    jest.useFakeTimers();
    replicas = quietReplicaSet(config);
    waiters = new StrongWriteWaiters(replicas, config);
    a = addLiveReplica(replicas, 1);
    b = addLiveReplica(replicas, 2);
  });

  afterEach(() => {
    waiters.onModuleDestroy();
    jest.useRealTimers();
  });

  it('answers a write once every live replica has applied it, and no sooner', () => {
    waiters.add(a.link, write(7, 5));
    waiters.add(a.link, write(8, 6));
    expect(waiters.waiting).toBe(true);

    a.link.applied = 6;
    b.link.applied = 4;
    waiters.release();
    expect(a.received).toEqual([]);

    b.link.applied = 5;
    waiters.release();
    expect(a.received).toEqual([answer(write(7, 5))]);
    expect(b.received).toEqual([]);

    b.link.applied = 6;
    waiters.release();
    expect(a.received).toEqual([answer(write(7, 5)), answer(write(8, 6))]);
    expect(waiters.waiting).toBe(false);
  });

  it('waits for a replica only from when it is live', () => {
    b.link.live = false;
    a.link.applied = 4;
    waiters.add(a.link, write(1, 3));
    waiters.release();
    expect(a.received).toEqual([answer(write(1, 3))]);

    b.link.live = true;
    b.link.applied = 3;
    waiters.add(a.link, write(2, 4));
    waiters.release();
    expect(a.received).toEqual([answer(write(1, 3))]);
  });

  it('answers once the replica that held it back dies', () => {
    waiters.add(a.link, write(1, 3));
    a.link.applied = 3;
    waiters.release();
    expect(a.received).toEqual([]);

    replicas.remove(b.worker);
    waiters.release();
    expect(a.received).toEqual([answer(write(1, 3))]);
  });

  it('answers Unconfirmed once the timeout has passed, each to its own worker', () => {
    waiters.add(a.link, write(1, 1));
    jest.advanceTimersByTime(TIMEOUT_MS / 2);
    waiters.add(b.link, write(2, 2));
    waiters.add(b.link, write(3, 3));

    jest.advanceTimersByTime(TIMEOUT_MS / 2);
    expect(a.received).toEqual([answer(unconfirmed(write(1, 1)))]);
    expect(b.received).toEqual([]);

    jest.advanceTimersByTime(TIMEOUT_MS / 2);
    expect(b.received).toEqual([
      answer(unconfirmed(write(2, 2)), unconfirmed(write(3, 3))),
    ]);
    expect(waiters.waiting).toBe(false);
  });

  it('answers a transaction with its own TxnResult, applied or timed out', () => {
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
    b.link.applied = 1;
    waiters.release();
    expect(a.received).toEqual([txn(1, 1)]);

    jest.advanceTimersByTime(TIMEOUT_MS);
    expect(a.received).toEqual([
      txn(1, 1),
      { ...txn(2, 2), status: ReplyStatus.Unconfirmed },
    ]);
  });
});
