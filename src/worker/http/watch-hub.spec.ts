import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { loadConfig } from '../../config/config';
import { HistoryChanges, MessageType } from '../../protocol';
import { Change, ChangeHistory, NO_DEADLINE, Revision } from '../../store';
import type { PrimaryLink } from '../primary-link';
import type { ReplicaListener, ReplicaService } from '../replica-service';
import type { WorkerMetrics } from '../worker-metrics';
import { WatchHub } from './watch-hub';

/** A response that keeps what is written and backs up on demand, as a socket would. */
class FakeResponse extends EventEmitter {
  readonly written: string[] = [];
  /** Bytes not yet taken by the client. */
  writableLength = 0;
  /** Writes the client takes at once; past them write() asks to wait for 'drain'. */
  budget = Infinity;
  destroyed = false;
  ended = false;

  write(chunk: string | Buffer): boolean {
    this.written.push(chunk.toString());
    if (--this.budget >= 0) return true;
    this.writableLength += chunk.length;
    return false;
  }

  /** The client reads what waits, and takes `budget` more writes at once. */
  drain(budget = Infinity): void {
    this.budget = budget;
    this.writableLength = 0;
    this.emit('drain');
  }

  end(): void {
    this.ended = true;
    this.emit('close');
  }

  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }

  /** The revisions of the events written, in order. */
  get revisions(): number[] {
    return [...this.written.join('').matchAll(/^id: (\d+)$/gm)].map((m) =>
      Number(m[1]),
    );
  }

  get text(): string {
    return this.written.join('');
  }
}

const LIMITS = { maxRevisions: 1000, maxBytes: 2 ** 40 };

/** The primary: every change, answering history requests as WatchHistory does. */
class FakePrimary {
  readonly history = new ChangeHistory(LIMITS);
  requests: [Revision, Revision][] = [];

  /** Answers in a later microtask, as a message would, a few changes at a time. */
  answer(after: Revision, upTo: Revision): Promise<HistoryChanges> {
    this.requests.push([after, upTo]);
    return Promise.resolve().then(() => ({
      type: MessageType.HistoryChanges,
      id: 0,
      revision: this.history.newest,
      oldest: this.history.oldest,
      changes:
        upTo > after && this.history.covers(after)
          ? this.history.slice(after, upTo, 1000)
          : [],
    }));
  }
}

/** This worker's replica: its history, and the listener the hub registers. */
class FakeReplica {
  readonly history = new ChangeHistory(LIMITS);
  listener: ReplicaListener | undefined;

  listen(listener: ReplicaListener): void {
    this.listener = listener;
  }

  apply(changes: Change[]): void {
    const after = this.history.newest;
    this.history.append(changes);
    this.listener!.applied(changes, after);
  }
}

let revision = 0;
const put = (key: string, value = '1'): Change => ({
  key,
  value,
  deadline: NO_DEADLINE,
  revision: ++revision,
  expired: false,
});

let primary: FakePrimary;
let replica: FakeReplica;
let hub: WatchHub;
let eventsSent = 0;

function makeHub(env: Record<string, string> = {}): WatchHub {
  const metrics = {
    watchStreams: { inc: () => undefined, dec: () => undefined },
    watchEvents: { inc: (n = 1) => (eventsSent += n) },
  };
  hub = new WatchHub(
    replica as unknown as ReplicaService,
    {
      history: (a: Revision, u: Revision) => primary.answer(a, u),
    } as PrimaryLink,
    metrics as unknown as WorkerMetrics,
    loadConfig({
      KV_WATCH_BUFFER_BYTES: '1000',
      KV_WATCH_PING_MS: '100',
      ...env,
    }),
  );
  return hub;
}

/** Writes `changes` at the primary and applies them on the replica, as one batch. */
function commit(...changes: Change[]): void {
  primary.history.append(changes);
  replica.apply(changes);
}

function open(
  from: Revision,
  prefix = '',
  values = true,
  res = new FakeResponse(),
): FakeResponse {
  hub.open(res as unknown as ServerResponse, { prefix, from, values }, from);
  return res;
}

/** Lets the primary's answers and the flushes due now run; the clock stands still. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
    jest.advanceTimersByTime(0);
  }
}

beforeEach(() => {
  jest.useFakeTimers();
  revision = 0;
  eventsSent = 0;
  primary = new FakePrimary();
  replica = new FakeReplica();
  makeHub();
});

afterEach(() => {
  hub.onModuleDestroy();
  jest.useRealTimers();
});

describe('WatchHub', () => {
  it('writes the events of one turn in one write to each live stream of a group', async () => {
    const a = open(0, 'a');
    const b = open(0, 'a');
    const all = open(0, '', false);
    commit(put('a1', '{"x":1}'), put('b1'));
    commit(put('a2'));
    expect(a.written).toEqual([]);
    await settle();
    expect(a.written).toHaveLength(1);
    expect(a.text).toBe(b.text);
    expect(a.revisions).toEqual([1, 3]);
    expect(a.text).toContain('"value":{"x":1}');
    expect(all.revisions).toEqual([1, 2, 3]);
    expect(all.text).not.toContain('"value"');
    expect(eventsSent).toBe(2 + 2 + 3);
  });

  it('puts the matching changes of one revision in one event', async () => {
    const stream = open(0, 't-');
    revision++;
    const txn: Change[] = ['t-a', 'x', 't-b'].map((key) => ({
      key,
      value: '1',
      deadline: NO_DEADLINE,
      revision,
      expired: false,
    }));
    commit(...txn);
    await settle();
    expect(stream.revisions).toEqual([1]);
    expect(stream.text).toContain(
      '"changes":[{"key":"t-a","type":"put","value":1,"expiresAt":null},{"key":"t-b","type":"put","value":1,"expiresAt":null}]',
    );
  });

  it('replays the history paced by drain while batches keep coming, then goes live: each revision once', async () => {
    hub.onModuleDestroy();
    makeHub({ KV_WATCH_BUFFER_BYTES: String(2 ** 30) });
    const big = `"${'x'.repeat(20_000)}"`;
    for (let i = 0; i < 40; i++) commit(put(`k${i}`, big));
    const stream = new FakeResponse();
    stream.budget = 0;
    open(0, '', true, stream);
    // Backed up after its first write: it waits, and the rest stays in the history.
    expect(stream.written).toHaveLength(1);
    for (let i = 40; i < 50; i++) commit(put(`k${i}`));
    await settle();
    expect(stream.written).toHaveLength(1);
    for (let round = 0; round < 100 && stream.revisions.length < 50; round++) {
      stream.drain(0);
      commit(put('k-live'));
      await settle();
    }
    expect(stream.written.length).toBeGreaterThan(10);
    stream.drain();
    commit(put('k-last'));
    await settle();
    expect(stream.revisions).toEqual(
      Array.from({ length: revision }, (_, i) => i + 1),
    );
    expect(stream.destroyed).toBe(false);
  });

  it('does not write again what a stream replayed just before it joined a pending flush', async () => {
    const live = open(0);
    commit(put('a'), put('b'));
    const late = open(1);
    commit(put('c'));
    await settle();
    expect(live.revisions).toEqual([1, 2, 3]);
    expect(late.revisions).toEqual([2, 3]);
  });

  it('skips what came before a from ahead of the replica', async () => {
    commit(put('a'));
    const stream = open(3);
    commit(put('b'), put('c'));
    commit(put('d'), put('e'));
    await settle();
    expect(stream.revisions).toEqual([4, 5]);
  });

  it('takes what the local history no longer or never held from the primary', async () => {
    for (let i = 0; i < 30; i++) primary.history.append([put(`p${i}`)]);
    // A worker forked at revision 30: its history starts there.
    replica.history.reset(30);
    commit(put('after-fork'));
    const stream = open(5);
    await settle();
    commit(put('live'));
    await settle();
    expect(stream.revisions).toEqual(
      Array.from({ length: 27 }, (_, i) => i + 6),
    );
    // A few changes per answer: it asked again from where each answer ended.
    expect(primary.requests.length).toBeGreaterThan(2);
    expect(primary.requests[0]).toEqual([5, 30]);
    expect(primary.requests.every(([, upTo]) => upTo === 30)).toBe(true);
  });

  it('ends a replay when the primary has dropped what it still needed', async () => {
    for (let i = 0; i < 30; i++) primary.history.append([put(`p${i}`)]);
    replica.history.reset(30);
    const stream = open(5);
    primary.history.reset(20);
    await settle();
    expect(stream.ended).toBe(true);
    expect(stream.revisions).toEqual([]);
  });

  it('cuts a live stream once more than KV_WATCH_BUFFER_BYTES wait, after writing a larger event whole', async () => {
    const stream = open(0);
    stream.budget = 0;
    commit(put('k', `"${'x'.repeat(5000)}"`));
    await settle();
    expect(stream.revisions).toEqual([1]);
    expect(stream.writableLength).toBeGreaterThan(1000);
    expect(stream.destroyed).toBe(false);
    commit(put('k'));
    await settle();
    expect(stream.destroyed).toBe(true);
    expect(stream.revisions).toEqual([1]);
  });

  it('replays the gap after the replica was replaced by a later snapshot', async () => {
    const stream = open(0);
    commit(put('a'));
    await settle();
    // Lost batches: the primary went on to 5, the new snapshot holds it all.
    for (let i = 0; i < 4; i++) primary.history.append([put(`lost${i}`)]);
    replica.history.reset(5);
    replica.listener!.replaced();
    await settle();
    commit(put('b'));
    await settle();
    expect(stream.revisions).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('pings every stream, and ends them all on shutdown, cutting one with output waiting', () => {
    const idle = open(0);
    const stuck = open(0);
    jest.advanceTimersByTime(250);
    expect(idle.text).toBe(': ping\n\n: ping\n\n');
    stuck.writableLength = 10;
    hub.onModuleDestroy();
    expect(idle.ended).toBe(true);
    expect(stuck.destroyed).toBe(true);
  });
});
