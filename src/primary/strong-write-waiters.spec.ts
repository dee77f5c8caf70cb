import type { Worker } from 'node:cluster';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Config } from '../config/config';
import {
  CHANNEL_FD,
  decodeFrame,
  FrameReader,
  Message,
  MessageType,
  ReplyStatus,
} from '../protocol';
import { TxnStatus, WriteStatus } from '../store';
import { ReplicaLink, ReplicaSet } from './replica-set';
import { StrongWriteWaiters } from './strong-write-waiters';

const TIMEOUT_MS = 1000;
const config = {
  strongWriteTimeoutMs: TIMEOUT_MS,
  maxReplicaBacklogBytes: 1 << 20,
} as Config;

/** A worker whose channel decodes every frame the primary sends it into `received`. */
function fakeWorker(id: number): { worker: Worker; received: Message[] } {
  const received: Message[] = [];
  const reader = new FrameReader();
  const channel = new Writable({
    write(piece: Buffer, _encoding, done) {
      for (const payload of reader.push(piece))
        received.push(...decodeFrame(payload));
      done();
    },
  });
  const stdio: unknown[] = [];
  stdio[CHANNEL_FD] = channel;
  const worker = {
    id,
    process: { pid: 1000 + id, stdio },
  } as unknown as Worker;
  return { worker, received };
}

function liveReplica(
  replicas: ReplicaSet,
  id: number,
): { link: ReplicaLink; worker: Worker; received: Message[] } {
  const { worker, received } = fakeWorker(id);
  const link = replicas.add(worker, () => {});
  link.live = true;
  return { link, worker, received };
}

function write(id: number, revision: number) {
  return { id, status: WriteStatus.Ok, revision };
}

describe('StrongWriteWaiters', () => {
  let replicas: ReplicaSet;
  let waiters: StrongWriteWaiters;

  beforeEach(() => {
    jest.useFakeTimers();
    replicas = new ReplicaSet(config, pino({ level: 'silent' }));
    waiters = new StrongWriteWaiters(replicas, config);
  });

  afterEach(() => {
    waiters.onModuleDestroy();
    jest.useRealTimers();
  });

  it('answers a write once every live replica has applied it, and no sooner', () => {
    const a = liveReplica(replicas, 1);
    const b = liveReplica(replicas, 2);
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
    const a = liveReplica(replicas, 1);
    const loading = liveReplica(replicas, 2);
    loading.link.live = false;
    waiters.add(a.link, write(1, 3));
    a.link.applied = 3;
    waiters.release();
    expect(a.received).toEqual([
      { type: MessageType.WriteResults, results: [write(1, 3)] },
    ]);
  });

  it('answers once the replica that held it back dies', () => {
    const a = liveReplica(replicas, 1);
    const dying = liveReplica(replicas, 2);
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
    const a = liveReplica(replicas, 1);
    const b = liveReplica(replicas, 2);
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
    const a = liveReplica(replicas, 1);
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
