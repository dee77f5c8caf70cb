import { isAlive, KvCluster, waitFor } from '../support/cluster';
import {
  expectAck,
  expectError,
  expectValue,
  JSON_TYPE,
} from '../support/expectations';
import {
  closeAll,
  delay,
  logLines,
  openSlowClients,
  parseResponses,
  percentile,
  pinOnePerWorker,
  rawExchange,
  scenarioCluster,
  socketCount,
  summary,
} from '../support/faults';

/** Hostile input: bad encodings, request smuggling, oversized and slow requests. */

describe('hostile input (KV_HEADERS_TIMEOUT_MS=1000, KV_REQUEST_TIMEOUT_MS=2000)', () => {
  let kv: KvCluster;
  let pids: number[];
  let rejected = 0;

  scenarioCluster(
    {
      workers: 2,
      env: { KV_HEADERS_TIMEOUT_MS: '1000', KV_REQUEST_TIMEOUT_MS: '2000' },
    },
    async (started) => {
      kv = started;
      pids = await kv.waitAllLive();
    },
  );

  afterAll(() =>
    summary('hostile-input', { rejectedRequests: rejected, stored: 0 }),
  );

  /** The primary's revision: unchanged means nothing was stored anywhere. */
  async function revision(): Promise<number> {
    return (await kv.stats()).revision;
  }

  async function expectAbsent(key: string): Promise<void> {
    expectError(
      await kv.get(`/${encodeURIComponent(key)}?consistency=strong`),
      404,
    );
  }

  it('bad percent-encoding is 400 with a JSON error and stores nothing', async () => {
    const before = await revision();
    for (const path of [
      '/%zz',
      '/%',
      '/abc%2',
      '/%E0%A4%A',
      '/%C3%28',
      '/%FF',
      '/k/%zz',
    ]) {
      for (const method of ['GET', 'PUT', 'POST', 'DELETE']) {
        const response = await kv.request(method, path, {
          body: method === 'PUT' || method === 'POST' ? '1' : undefined,
          headers: JSON_TYPE,
        });
        expectError(response, 400);
        rejected++;
      }
    }
    expect(await revision()).toBe(before);
    for (const key of ['%zz', 'zz', '%', 'abc%2', 'abc'])
      await expectAbsent(key);
  });

  it('an empty key is 400 or 404 with a JSON error and stores nothing', async () => {
    const before = await revision();
    for (const [method, path] of [
      ['GET', '/'],
      ['HEAD', '/'],
      ['PUT', '/'],
      ['POST', '/'],
      ['DELETE', '/'],
      ['PUT', '//100'],
      ['POST', '//100'],
      ['PUT', '/?consistency=strong'],
    ] as const) {
      const response = await kv.request(method, path, {
        body: method === 'PUT' || method === 'POST' ? '1' : undefined,
        headers: JSON_TYPE,
      });
      expect([400, 404]).toContain(response.status);
      if (method !== 'HEAD') expectError(response, response.status);
      rejected++;
    }
    expect(await revision()).toBe(before);
  });

  it('NUL and other odd characters are ordinary keys that round-trip on every worker', async () => {
    const keys = [
      '\0',
      'a\0b',
      'nul-end\0',
      '\t',
      '\r\n',
      ' ',
      '%',
      '%00',
      '?',
      '#',
      '/',
      '\\',
      '"',
      "'",
      '<script>',
      '.',
      '..',
      '\u00e9',
      '\u{1F600}',
      '\uFEFF',
      '\u202E',
      '__proto__',
      'constructor',
      'prototype',
    ];
    const pinned = await pinOnePerWorker(kv, pids);
    try {
      for (const [n, key] of keys.entries()) {
        // Every byte percent-encoded, so `.`/`..` are not taken as path segments by anyone.
        const path = `/${[...Buffer.from(key, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
        const value = JSON.stringify({ n, key });
        const revision = expectAck(
          await kv.write('PUT', `${path}?consistency=strong`, value),
          key,
        );
        expectValue(
          await kv.get(`${path}?consistency=strong`),
          value,
          revision,
        );
        for (const connection of pinned.values())
          expectValue(await connection.get(path), value, revision);
      }
      const stats = await kv.stats();
      expect(stats.keys).toBeGreaterThanOrEqual(keys.length);
    } finally {
      closeAll(pinned.values());
    }
  });

  it('JSON values with __proto__ and constructor keys are stored and served byte for byte', async () => {
    const values = [
      '{"__proto__":{"polluted":true}}',
      '{ "constructor" : { "prototype" : { "polluted" : 1 } } }',
      '{"__proto__":null,"__proto__":[1,2]}',
      '[{"__proto__":{}},{"constructor":"x"}]',
      '\t{"a":{"__proto__":{"toString":"no"}}}\n',
    ];
    const pinned = await pinOnePerWorker(kv, pids);
    try {
      for (const [i, value] of values.entries()) {
        for (const key of [`proto-value-${i}`, '__proto__', 'constructor']) {
          const revision = expectAck(
            await kv.write('PUT', `/${key}?consistency=strong`, value),
            key,
          );
          expectValue(
            await kv.get(`/${key}?consistency=strong`),
            value,
            revision,
          );
          for (const connection of pinned.values())
            expectValue(await connection.get(`/${key}`), value, revision);
        }
      }
      // Nothing leaked into other objects: an unrelated absent key is still a plain 404.
      await expectAbsent('polluted');
      expectError(await kv.get('/toString'), 404);
    } finally {
      closeAll(pinned.values());
    }
  });

  describe('request smuggling shapes (raw sockets)', () => {
    const H = 'Host: 127.0.0.1\r\nContent-Type: application/json\r\n';
    const smuggled = (key: string): string =>
      `PUT /${key} HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\n9`;
    const cases: [string, string, string[]][] = [
      [
        'duplicate Content-Length (same value)',
        `PUT /sm-dupcl HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\n1`,
        ['sm-dupcl'],
      ],
      [
        'duplicate Content-Length (different values) hiding a request',
        `PUT /sm-dupcl2 HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 72\r\n\r\n1${smuggled('sm-dupcl2-smuggled')}`,
        ['sm-dupcl2', 'sm-dupcl2-smuggled'],
      ],
      [
        'Content-Length with Transfer-Encoding: chunked (CL.TE), a request after the last chunk',
        `PUT /sm-clte HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n0\r\n\r\n${smuggled('sm-clte-smuggled')}`,
        ['sm-clte', 'sm-clte-smuggled'],
      ],
      [
        'Transfer-Encoding: chunked with Content-Length (TE.CL), a request inside the chunk',
        `PUT /sm-tecl HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n4e\r\n${smuggled('sm-tecl-smuggled')}\r\n0\r\n\r\n`,
        ['sm-tecl', 'sm-tecl-smuggled'],
      ],
      [
        'an invalid chunk size',
        `PUT /sm-chunk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n1\r\n0\r\n\r\n${smuggled('sm-chunk-smuggled')}`,
        ['sm-chunk', 'sm-chunk-smuggled'],
      ],
      [
        'an overflowing chunk size',
        `PUT /sm-overflow HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n1\r\n0\r\n\r\n`,
        ['sm-overflow'],
      ],
      [
        'an obfuscated Transfer-Encoding with Content-Length',
        `PUT /sm-xchunked HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\nContent-Length: 1\r\n\r\n1${smuggled('sm-xchunked-smuggled')}`,
        ['sm-xchunked', 'sm-xchunked-smuggled'],
      ],
      [
        'Transfer-Encoding: chunked, identity',
        `PUT /sm-identity HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n1\r\n1\r\n0\r\n\r\n`,
        ['sm-identity'],
      ],
      [
        'a space before the colon of Content-Length',
        `PUT /sm-space HTTP/1.1\r\n${H}Content-Length : 1\r\n\r\n1${smuggled('sm-space-smuggled')}`,
        ['sm-space', 'sm-space-smuggled'],
      ],
      [
        'a folded (obs-fold) Content-Length',
        `PUT /sm-fold HTTP/1.1\r\n${H}Content-Length: 1\r\n 2\r\n\r\n12`,
        ['sm-fold'],
      ],
      [
        'a signed Content-Length',
        `PUT /sm-plus HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\n1`,
        ['sm-plus'],
      ],
      [
        'bare LF line endings',
        `PUT /sm-lf HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 1\n\n1`,
        ['sm-lf'],
      ],
      [
        'a NUL in a header value',
        `PUT /sm-nul HTTP/1.1\r\n${H}X-A: a\0b\r\nContent-Length: 1\r\n\r\n1`,
        ['sm-nul'],
      ],
    ];

    it.each(cases)(
      '%s: 400 JSON, the connection closes, nothing is written',
      async (_name, bytes, keys) => {
        const before = await revision();
        const exchange = await rawExchange(kv.port, bytes, 5_000);
        expect(exchange.closedByServer).toBe(true);
        expect(exchange.elapsedMs).toBeLessThan(2_000);
        const responses = parseResponses(exchange.bytes);
        expect(responses).toHaveLength(1);
        const [response] = responses;
        expect(response!.status).toBe(400);
        expect(response!.headers['content-type']).toBe('application/json');
        expect(
          Object.keys(JSON.parse(response!.body) as object).sort(),
        ).toEqual(['error', 'message']);
        rejected++;
        for (const key of keys) await expectAbsent(key);
        expect(await revision()).toBe(before);
      },
    );

    it('control: correctly framed pipelined PUTs on one connection are both applied', async () => {
      const bytes =
        `PUT /sm-pipelined-1 HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\n1` +
        `PUT /sm-pipelined-2 HTTP/1.1\r\n${H}Content-Length: 1\r\nConnection: close\r\n\r\n2`;
      const exchange = await rawExchange(kv.port, bytes, 5_000);
      const responses = parseResponses(exchange.bytes);
      expect(responses.map((r) => r.status)).toEqual([200, 200]);
      expectValue(await kv.get('/sm-pipelined-1?consistency=strong'), '1');
      expectValue(await kv.get('/sm-pipelined-2?consistency=strong'), '2');
    });
  });

  // The parser's limit on the request line plus headers: the worker raises Node's 16 KiB default
  // to 64 KiB (its maxHeaderSize) so that over-long keys reach the router and get 414. Node
  // cannot limit the URL and the headers separately.
  const HEADER_LIMIT = 65_536;

  it('header blocks and URLs over the parser limit are 431 or 414 with a JSON error, never a crash; same workers after', async () => {
    const before = await revision();
    const over = HEADER_LIMIT + 1_000;
    const refused: [string, string, number[]][] = [
      [
        'one huge header',
        `GET /k HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(over)}\r\n\r\n`,
        [431],
      ],
      [
        'many headers',
        `GET /k HTTP/1.1\r\nHost: x\r\n${Array.from({ length: Math.ceil(over / 60) }, (_, i) => `X-H${i}: ${'b'.repeat(60)}\r\n`).join('')}\r\n`,
        [431],
      ],
      [
        'a PUT with a huge header',
        `PUT /hdr-put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Big: ${'a'.repeat(over)}\r\nContent-Length: 1\r\n\r\n1`,
        [431],
      ],
      [
        'a GET URL over the limit',
        `GET /${'u'.repeat(over)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        [414, 431],
      ],
      [
        'a PUT URL over the limit',
        `PUT /${'u'.repeat(over)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n1`,
        [414, 431],
      ],
      [
        'a key of 4000 bytes, percent-encoded',
        `GET /${'%41'.repeat(4_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        [414, 431],
      ],
      [
        'a PUT of a 20000-byte key',
        `PUT /${'w'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1`,
        [414, 431],
      ],
    ];
    for (const [name, bytes, statuses] of refused) {
      const exchange = await rawExchange(kv.port, bytes, 5_000);
      const responses = parseResponses(exchange.bytes);
      // The name rides along so a failure says which case it was.
      const status = responses.length === 1 ? responses[0]!.status : 0;
      expect({
        name,
        responses: responses.length,
        allowed: statuses.includes(status),
        closed: exchange.closedByServer,
      }).toEqual({ name, responses: 1, allowed: true, closed: true });
      expect(responses[0]!.headers['content-type']).toBe('application/json');
      expect(
        Object.keys(JSON.parse(responses[0]!.body) as object).sort(),
      ).toEqual(['error', 'message']);
      rejected++;
    }
    // Between Node's default and the raised limit: refused, or served like any request.
    const midsize = await rawExchange(
      kv.port,
      `GET /hdr-absent HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\nConnection: close\r\n\r\n`,
      5_000,
    );
    expect([404, 431]).toContain(parseResponses(midsize.bytes)[0]!.status);
    // Through node:http as well (it sends the oversized header as is).
    const viaClient = await kv.get('/k', { 'x-big': 'c'.repeat(over) });
    expectError(viaClient, 431);
    rejected++;
    await expectAbsent('hdr-put');
    expect(await revision()).toBe(before);
    expect((await kv.waitAllLive()).sort()).toEqual([...pids].sort());
    expect(isAlive(kv.pid)).toBe(true);
    expect((await kv.get('/_/health')).status).toBe(200);
  });

  /**
   * Opens slow connections, measures normal requests meanwhile, and waits for the server to
   * end every slow one. Returns the figures.
   */
  async function slowClientRun(
    count: number,
    prefix: string,
    trickle: string,
    halfOpen: boolean,
    limitMs: number,
  ): Promise<{
    latencies: number[];
    maxEndedMs: number;
    statuses: Map<string, number>;
    destroy: () => void;
    baseline: number[];
  }> {
    const baseline = pids.map(socketCount);
    const slow = await openSlowClients(
      kv.port,
      count,
      prefix,
      trickle,
      200,
      halfOpen,
    );
    const latencies: number[] = [];
    try {
      // Normal traffic on fresh connections while the slow ones hang on.
      const until = Date.now() + limitMs;
      for (let i = 0; i < 300 || Date.now() < until; i++) {
        if (i >= 2_000) break;
        const started = Date.now();
        const response = await kv.get(
          i % 2 === 0 ? '/_/health' : '/slow-probe',
        );
        latencies.push(Date.now() - started);
        expect([200, 404]).toContain(response.status);
      }
      await waitFor(
        () => slow.clients.every((c) => c.endedAfterMs !== undefined),
        limitMs + 5_000,
        'the server to end every slow connection',
        20,
      );
    } catch (error) {
      slow.destroy();
      throw error;
    }
    const statuses = new Map<string, number>();
    for (const client of slow.clients) {
      const line = client.firstLine ?? '(nothing)';
      statuses.set(line, (statuses.get(line) ?? 0) + 1);
    }
    return {
      latencies,
      maxEndedMs: Math.max(...slow.clients.map((c) => c.endedAfterMs!)),
      statuses,
      destroy: slow.destroy,
      baseline,
    };
  }

  it('500 clients dribbling header bytes: normal requests stay fast; each slow one gets 408 and is closed within headersTimeout + margin', async () => {
    const run = await slowClientRun(
      500,
      'G',
      `ET /slow-headers HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`,
      false,
      1_000 + 1_000 + 4_000,
    );
    try {
      const p99 = percentile(run.latencies, 99);
      summary('slow-headers', {
        slowConnections: 500,
        normalRequests: run.latencies.length,
        p50Ms: percentile(run.latencies, 50),
        p99Ms: p99,
        maxSlowClosedAfterMs: run.maxEndedMs,
        responses: JSON.stringify(Object.fromEntries(run.statuses)),
      });
      // Held up by the slow clients, a request would wait for their 1 s timeout; a busy
      // machine alone does not come near that.
      expect(p99).toBeLessThan(500);
      // KV_HEADERS_TIMEOUT_MS=1000, checked every second by Node: 2 s, plus a margin for a busy
      // machine.
      expect(run.maxEndedMs).toBeLessThan(1_000 + 1_000 + 4_000);
      expect([...run.statuses.keys()]).toEqual([
        'HTTP/1.1 408 Request Timeout',
      ]);
      // The workers hold no socket for them any more.
      await waitFor(
        () => pids.every((pid, i) => socketCount(pid) <= run.baseline[i]! + 2),
        5_000,
        'the workers to release the slow sockets',
      );
    } finally {
      run.destroy();
    }
    rejected += 500;
  }, 60_000);

  it('200 clients dribbling a PUT body: each is closed within requestTimeout + margin and nothing is stored', async () => {
    const before = await revision();
    const run = await slowClientRun(
      200,
      `PUT /slow-body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"`,
      `${'b'.repeat(398)}"`,
      false,
      2_000 + 1_000 + 4_000,
    );
    try {
      summary('slow-body', {
        slowConnections: 200,
        normalRequests: run.latencies.length,
        p99Ms: percentile(run.latencies, 99),
        maxSlowClosedAfterMs: run.maxEndedMs,
        responses: JSON.stringify(Object.fromEntries(run.statuses)),
      });
      expect(percentile(run.latencies, 99)).toBeLessThan(500);
      expect(run.maxEndedMs).toBeLessThan(2_000 + 1_000 + 4_000);
      expect([...run.statuses.keys()]).toEqual([
        'HTTP/1.1 408 Request Timeout',
      ]);
    } finally {
      run.destroy();
    }
    await expectAbsent('slow-body');
    expect(await revision()).toBe(before);
    rejected += 200;
  }, 60_000);

  // Node's HTTP server sockets are allowHalfOpen: a worker that only ended its side after the 408
  // would let a client that keeps its own side open hold the socket forever.
  it('half-open slow clients: the worker releases their sockets after the 408', async () => {
    const run = await slowClientRun(
      100,
      'G',
      `ET /slow-half HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`,
      true,
      1_000 + 1_000 + 4_000,
    );
    try {
      expect([...run.statuses.keys()]).toEqual([
        'HTTP/1.1 408 Request Timeout',
      ]);
      await waitFor(
        () => pids.every((pid, i) => socketCount(pid) <= run.baseline[i]! + 2),
        5_000,
        'the workers to release the half-open slow sockets',
      );
    } finally {
      run.destroy();
    }
  }, 60_000);

  // Fastify rejects a body cut short with "aborted" (ECONNRESET): were that logged as an unhandled
  // error, any client could fill the error log.
  it('a client aborting mid-body is not logged as an unhandled error', async () => {
    const before = logLines(kv, 'unhandled error').length;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        rawExchange(
          kv.port,
          `PUT /aborted HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"abc`,
          200,
        ),
      ),
    );
    await expectAbsent('aborted');
    // Give the workers' logs a moment to arrive, then count.
    await delay(500);
    expect(logLines(kv, 'unhandled error').length - before).toBe(0);
  }, 15_000);

  it('the cluster survived all of it: same workers, same primary, no restarts, no crash logged', async () => {
    expect((await kv.waitAllLive()).sort()).toEqual([...pids].sort());
    expect(kv.exit).toBeUndefined();
    expect(isAlive(kv.pid)).toBe(true);
    const metrics = await kv.get('/_/metrics');
    expect(/^kv_worker_restarts_total (\d+)$/m.exec(metrics.body)?.[1]).toBe(
      '0',
    );
    expect(logLines(kv, 'worker died; forking a new one')).toEqual([]);
  });
});
