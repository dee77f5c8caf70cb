import {
  HttpResponse,
  json,
  KvCluster,
  suiteCluster,
  waitFor,
} from './support/cluster';
import { expectAck, expectError } from './support/expectations';
import {
  pinConnection,
  signal,
  waitForReplacement,
  type KeepAliveConnection,
} from './support/faults';
import {
  openWatch,
  SseStream,
  watch,
  WatchData,
  WatchRefusal,
} from './support/sse';

/**
 * `GET /_/watch` end to end against the built cluster: the event text byte for byte, prefix
 * and values filters, expiries, resuming from `from` or Last-Event-ID on every worker
 * (a worker forked after a SIGKILL included), 410 past the history window, 400s, pings, the
 * slow-reader cut-off, and streams ended by a graceful shutdown.
 */

const enc = encodeURIComponent;
const TOKEN = 'watch-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const BUFFER_BYTES = 64 * 1024;

/** Streams opened by a test, closed after it. */
const opened: SseStream[] = [];

afterEach(() => {
  for (const stream of opened.splice(0)) stream.close();
});

async function watchOn(
  kv: KvCluster,
  path: string,
  headers: Record<string, string> = {},
  worker?: (pid: number) => boolean,
): Promise<SseStream> {
  const stream = await watch(kv, path, {
    headers: { ...auth, ...headers },
    worker,
  });
  opened.push(stream);
  return stream;
}

async function refusalOn(
  kv: KvCluster,
  path: string,
  headers: Record<string, string> = {},
  worker?: (pid: number) => boolean,
): Promise<WatchRefusal> {
  const answer = await openWatch(kv, path, {
    headers: { ...auth, ...headers },
    worker,
  });
  if (answer instanceof SseStream) {
    opened.push(answer);
    throw new Error(`expected a refusal of ${path}, got a stream`);
  }
  return answer;
}

/** PUTs `value` (with a TTL in ms when given) and returns the write's revision. */
async function put(
  kv: KvCluster,
  key: string,
  value: string,
  ttl?: number,
  query = '',
): Promise<number> {
  const path = `/${enc(key)}${ttl === undefined ? '' : `/${ttl}`}${query}`;
  return expectAck(await kv.write('PUT', path, value, auth), key);
}

async function remove(kv: KvCluster, key: string): Promise<number> {
  return expectAck(await kv.delete(`/${enc(key)}`, auth), key);
}

/** A metric without labels of the whole cluster, from /_/metrics. */
async function metric(kv: KvCluster, name: string): Promise<number> {
  const metrics = await kv.get('/_/metrics', auth);
  const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics.body);
  if (match === null) throw new Error(`no ${name} in /_/metrics`);
  return Number(match[1]);
}

/** The open watch streams of the whole cluster. */
const openStreams = (kv: KvCluster): Promise<number> =>
  metric(kv, 'kv_watch_streams');

/** A refusal as the shape {@link expectError} checks. */
function asRefusal(answer: WatchRefusal): HttpResponse {
  return {
    status: answer.status,
    headers: answer.headers,
    body: answer.body,
    raw: Buffer.from(answer.body, 'utf8'),
  };
}

describe('watch', () => {
  let kv: KvCluster;
  let pids: number[];

  suiteCluster(
    {
      env: {
        KV_AUTH_TOKEN: TOKEN,
        KV_WATCH_PING_MS: '200',
        KV_WATCH_BUFFER_BYTES: String(BUFFER_BYTES),
        KV_TTL_INTERVAL_MS: '20',
      },
    },
    async (started) => {
      kv = started;
      pids = (await kv.stats(auth)).workers.map((w) => w.pid);
    },
  );

  it('streams each revision as one event: id, event and data lines, byte for byte', async () => {
    await put(kv, 'fmt-before', '0');
    const stream = await watchOn(kv, '/_/watch?prefix=fmt-');
    expect(stream.headers['content-type']).toBe('text/event-stream');
    expect(stream.headers['cache-control']).toBe('no-cache');
    expect(stream.headers.connection).toBe('keep-alive');

    const r1 = await put(kv, 'fmt-a', '{"n": 1}');
    await put(kv, 'other-a', '1');
    const before = Date.now();
    const r2 = await put(kv, 'fmt-b', '{\r\n  "x" : [1, 2]\r\n}', 60_000);
    const after = Date.now();
    const r3 = await remove(kv, 'fmt-a');
    await stream.until((s) => s.events.length >= 3, 10_000, '3 events');

    expect(stream.revisions).toEqual([r1, r2, r3]);
    expect(stream.events[0]!.raw).toBe(
      `id: ${r1}\nevent: change\n` +
        `data: {"revision":${r1},"changes":[{"key":"fmt-a","type":"put","value":{"n": 1},"expiresAt":null}]}\n\n`,
    );
    // The value's CRLFs end data lines, each CR sent as a line feed.
    const second = new RegExp(
      `^id: ${r2}\nevent: change\n` +
        `data: \\{"revision":${r2},"changes":\\[\\{"key":"fmt-b","type":"put","value":\\{\n` +
        `data: \n` +
        `data:   "x" : \\[1, 2\\]\n` +
        `data: \n` +
        `data: \\},"expiresAt":(\\d+)\\}\\]\\}\n\n$`,
    );
    const match = second.exec(stream.events[1]!.raw);
    expect(match).not.toBeNull();
    const expiresAt = Number(match![1]);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(expiresAt).toBeLessThanOrEqual(after + 60_000);
    expect(stream.changes[1]!.changes[0]!.value).toEqual({ x: [1, 2] });
    expect(stream.events[2]!.raw).toBe(
      `id: ${r3}\nevent: change\n` +
        `data: {"revision":${r3},"changes":[{"key":"fmt-a","type":"delete"}]}\n\n`,
    );
    expect(stream.text).not.toContain('\r');
    expect(stream.ended).toBeUndefined();
  });

  it('sends only keys under the prefix, and no values with values=false', async () => {
    await waitFor(async () => (await openStreams(kv)) === 0, 10_000, 'none');
    const sent = await metric(kv, 'kv_watch_events_sent_total');
    const bare = await watchOn(
      kv,
      `/_/watch?prefix=${enc('pf-é/')}&values=false`,
    );
    const full = await watchOn(kv, `/_/watch?prefix=${enc('pf-')}`);
    const r1 = await put(kv, 'pf-é/1', '{"a":1}');
    const r2 = await put(kv, 'pf-x', '2');
    const r3 = await put(kv, 'pf-é', '3');
    const r4 = await remove(kv, 'pf-é/1');
    await full.until((s) => s.events.length >= 4, 10_000, '4 events');
    await bare.until((s) => s.events.length >= 2, 10_000, '2 events');

    expect(full.revisions).toEqual([r1, r2, r3, r4]);
    expect(full.changes[0]!.changes).toEqual([
      { key: 'pf-é/1', type: 'put', value: { a: 1 }, expiresAt: null },
    ]);
    expect(bare.revisions).toEqual([r1, r4]);
    expect(bare.changes.map((d) => d.changes)).toEqual([
      [{ key: 'pf-é/1', type: 'put', expiresAt: null }],
      [{ key: 'pf-é/1', type: 'delete' }],
    ]);
    expect(await openStreams(kv)).toBe(2);
    expect((await metric(kv, 'kv_watch_events_sent_total')) - sent).toBe(6);
  });

  it('sends an expire event when a deadline passes', async () => {
    const stream = await watchOn(kv, '/_/watch?prefix=exp-');
    const written = await put(kv, 'exp-a', '"soon"', 200);
    await stream.until((s) => s.events.length >= 2, 10_000, '2 events');
    const [set, expired] = stream.changes as [WatchData, WatchData];
    expect(set.revision).toBe(written);
    expect(set.changes[0]).toMatchObject({ key: 'exp-a', type: 'put' });
    expect(expired.revision).toBeGreaterThan(written);
    expect(expired.changes).toEqual([{ key: 'exp-a', type: 'expire' }]);
  });

  it('resumes from `from` or Last-Event-ID on every worker, then goes on live', async () => {
    const revisions: number[] = [];
    for (let i = 0; i < 20; i++)
      revisions.push(await put(kv, `res-${i}`, `{"i":${i}}`));
    const start = revisions[4]!;
    const streams: SseStream[] = [];
    for (const pid of pids) {
      streams.push(
        await watchOn(
          kv,
          `/_/watch?prefix=res-&from=${start}`,
          {},
          (p) => p === pid,
        ),
        // Last-Event-ID wins over from.
        await watchOn(
          kv,
          '/_/watch?prefix=res-&from=0',
          { 'last-event-id': String(start) },
          (p) => p === pid,
        ),
      );
    }
    expect(new Set(streams.map((s) => s.pid))).toEqual(new Set(pids));
    for (let i = 20; i < 25; i++)
      revisions.push(await put(kv, `res-${i}`, `{"i":${i}}`));
    for (const stream of streams) {
      await stream.until((s) => s.events.length >= 20, 10_000, '20 events');
      expect(stream.revisions).toEqual(revisions.slice(5));
      expect(stream.changes.map((d) => d.changes[0]!.value)).toEqual(
        revisions.slice(5).map((_, i) => ({ i: i + 5 })),
      );
    }
  });

  it('resumes with no gap and no duplicate on the worker forked after a SIGKILL', async () => {
    const [victim, survivor] = pids as [number, number];
    const stream = await watchOn(
      kv,
      '/_/watch?prefix=kill-',
      {},
      (p) => p === victim,
    );
    const writer: KeepAliveConnection = await pinConnection(
      kv,
      (p) => p === survivor,
      { headers: auth },
    );
    const acked: number[] = [];
    const write = async (pad = ''): Promise<void> => {
      const i = acked.length;
      const response = await writer.request('PUT', `/kill-${i}`, {
        body: `{"i":${i},"pad":"${pad}"}`,
        headers: { ...auth, 'content-type': 'application/json' },
      });
      acked.push(expectAck(response, `kill-${i}`));
    };
    try {
      // Large enough that the primary sends its history over in more than one answer.
      for (let i = 0; i < 3; i++) await write('x'.repeat(600_000));
      for (let i = 3; i < 10; i++) await write();
      await stream.until((s) => s.events.length >= 10, 10_000, '10 events');
      expect(signal(victim, 'SIGKILL')).toBe(true);
      await stream.until((s) => s.ended !== undefined, 10_000, 'the cut');
      expect(stream.ended).toBe('aborted');
      // Written while the replacement forks and loads its snapshot: its own history starts
      // after some of these at least, so they can only come from the primary's.
      for (let i = 0; i < 20; i++) await write();
      const fresh = await waitForReplacement(
        kv,
        victim,
        survivor,
        30_000,
        'a replacement worker',
        auth,
      );
      pids = [fresh, survivor];
      const resumed = await watchOn(
        kv,
        '/_/watch?prefix=kill-',
        { 'last-event-id': stream.lastId! },
        (p) => p === fresh,
      );
      for (let i = 0; i < 10; i++) await write();
      await resumed.until(
        (s) => s.revisions.includes(acked[acked.length - 1]!),
        10_000,
        'the last write',
      );
      expect([...stream.revisions, ...resumed.revisions]).toEqual(acked);
      // From the very start, on the new worker: all of it before its snapshot is the primary's.
      const everything = await watchOn(
        kv,
        '/_/watch?prefix=kill-&from=0',
        {},
        (p) => p === fresh,
      );
      await everything.until((s) => s.events.length >= 40, 10_000, '40');
      expect(everything.revisions).toEqual(acked);
      expect(everything.changes.map((d) => d.changes[0]!.value)).toEqual(
        acked.map((_, i) => ({ i, pad: i < 3 ? 'x'.repeat(600_000) : '' })),
      );
    } finally {
      writer.close();
    }
  });

  it('answers 400 for a from ahead of the store and for malformed queries, 401 without the token', async () => {
    const revision = (await kv.stats(auth)).revision;
    for (const pid of pids) {
      const ahead = asRefusal(
        await refusalOn(
          kv,
          `/_/watch?from=${revision + 1000}`,
          {},
          (p) => p === pid,
        ),
      );
      expect(expectError(ahead, 400).error).toBe('from_ahead');
    }
    const cases: [string, Record<string, string>, number, string][] = [
      ['/_/watch?from=abc', {}, 400, 'invalid_from'],
      ['/_/watch?from=-1', {}, 400, 'invalid_from'],
      ['/_/watch?from=9007199254740992', {}, 400, 'invalid_from'],
      ['/_/watch', { 'last-event-id': 'x1' }, 400, 'invalid_from'],
      ['/_/watch?values=yes', {}, 400, 'invalid_values'],
      ['/_/watch?prefix=%zz', {}, 400, 'bad_url'],
      ['/_/watch?prefix=a&prefix=b', {}, 400, 'repeated_parameter'],
      ['/_/watch?consistency=weak', {}, 400, 'invalid_consistency'],
      [`/_/watch?prefix=${'a'.repeat(513)}`, {}, 414, 'key_too_long'],
    ];
    for (const [path, headers, status, code] of cases) {
      const answer = asRefusal(await refusalOn(kv, path, headers));
      expect([path, expectError(answer, status).error]).toEqual([path, code]);
    }
    const open = await kv.get('/_/watch');
    expect(expectError(open, 401).error).toBe('unauthorized');
    expect(open.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('pings an idle stream every KV_WATCH_PING_MS', async () => {
    const stream = await watchOn(kv, '/_/watch?prefix=nothing-ever-');
    await stream.until((s) => s.pings >= 3, 5_000, '3 pings');
    expect(stream.text).toMatch(/^(: ping\n\n)+$/);
    expect(stream.events).toEqual([]);
  });

  it('cuts a reader that stops reading; its resume replays the rest whole', async () => {
    await waitFor(
      async () => (await openStreams(kv)) === 0,
      10_000,
      'no streams',
    );
    const stream = await watchOn(kv, '/_/watch?prefix=slow-');
    stream.pause();
    // Each event is larger than KV_WATCH_BUFFER_BYTES; all of them far more than the socket
    // buffers hold.
    const pad = 'x'.repeat(256 * 1024);
    const acked: number[] = [];
    for (let i = 0; i < 80; i++)
      acked.push(await put(kv, `slow-${i}`, `{"i":${i},"pad":"${pad}"}`));
    await waitFor(async () => (await openStreams(kv)) === 0, 20_000, 'the cut');
    stream.resume();
    await stream.until((s) => s.ended !== undefined, 20_000, 'the end');
    expect(stream.ended).toBe('aborted');
    const received = stream.revisions.length;
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(acked.length);
    expect(stream.revisions).toEqual(acked.slice(0, received));

    const resumed = await watchOn(kv, '/_/watch?prefix=slow-', {
      'last-event-id': stream.lastId!,
    });
    await resumed.until(
      (s) => s.events.length >= acked.length - received,
      30_000,
      'the rest',
    );
    expect([...stream.revisions, ...resumed.revisions]).toEqual(acked);
    const values = [...stream.changes, ...resumed.changes].map(
      (d) => d.changes[0]!.value as { i: number; pad: string },
    );
    values.forEach((value, i) => {
      expect(value.i).toBe(i);
      expect(value.pad).toBe(pad);
    });
    expect(resumed.ended).toBeUndefined();
  });
});

describe('watch with a history of 10 revisions', () => {
  let kv: KvCluster;

  suiteCluster(
    {
      env: {
        KV_AUTH_TOKEN: TOKEN,
        KV_WATCH_HISTORY: '10',
        // A shutdown that waits for streams would take this long.
        KV_SHUTDOWN_TIMEOUT_MS: '20000',
      },
    },
    (started) => (kv = started),
  );

  async function expectCompacted(
    path: string,
    oldest: number,
    worker: (pid: number) => boolean,
  ): Promise<void> {
    const answer = await refusalOn(kv, path, {}, worker);
    expect(answer.status).toBe(410);
    expect(answer.headers['content-type']).toBe('application/json');
    const body = json(asRefusal(answer));
    expect(body).toEqual({
      error: 'history_compacted',
      message: expect.any(String) as string,
      oldest,
    });
  }

  it('answers 410 with the oldest revision past the window, the same on a worker forked a moment ago', async () => {
    const revisions: number[] = [];
    for (let i = 0; i < 29; i++)
      revisions.push(await put(kv, `h-${i}`, `${i}`));
    // Strong: every replica holds the last write when it is acknowledged.
    revisions.push(
      await put(kv, 'h-29', '29', undefined, '?consistency=strong'),
    );
    const last = revisions[29]!;
    const oldest = last - 9;
    const check = async (pid: number): Promise<void> => {
      const on = (p: number): boolean => p === pid;
      await expectCompacted('/_/watch?from=0', oldest, on);
      await expectCompacted(`/_/watch?from=${oldest - 2}`, oldest, on);
      const stream = await watchOn(
        kv,
        `/_/watch?prefix=h-&from=${oldest - 1}`,
        {},
        on,
      );
      await stream.until((s) => s.events.length >= 10, 10_000, '10 events');
      expect(stream.revisions).toEqual(revisions.slice(20));
    };
    const pids = (await kv.stats(auth)).workers.map((w) => w.pid);
    for (const pid of pids) await check(pid);

    const [victim, survivor] = pids as [number, number];
    expect(signal(victim, 'SIGKILL')).toBe(true);
    await check(
      await waitForReplacement(
        kv,
        victim,
        survivor,
        30_000,
        'a replacement worker',
        auth,
      ),
    );
  });

  it('ends every stream on SIGTERM and exits without waiting for them', async () => {
    const streams = [
      await watchOn(kv, '/_/watch'),
      await watchOn(kv, '/_/watch'),
    ];
    const exit = await kv.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect(exit.elapsedMs).toBeLessThan(10_000);
    for (const stream of streams)
      await stream.until((s) => s.ended !== undefined, 5_000, 'the end');
    expect(streams.map((s) => s.ended)).toEqual(['end', 'end']);
  });
});
