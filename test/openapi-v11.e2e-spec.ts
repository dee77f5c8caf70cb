import { request as httpRequest } from 'node:http';
import { SseEvent, SseParser } from '../src/client/sse';
import { HttpResponse, KvCluster, waitFor } from './support/cluster';
import {
  Conformance,
  conformanceCluster,
  LONG_TTL,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  OpenApiDocument,
} from './support/openapi';

/**
 * The v1.1 operations of the OpenAPI document (src/worker/http/openapi.json: listing, transactions,
 * watch, TTL read-back) against real answers of the built cluster, as openapi.e2e-spec.ts does
 * for v1; the route table is checked there, for every operation.
 */

const TOKEN = 'conformance-v11';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MAX_KEYS = 60;
const WATCH_HISTORY = 100;

const document = new OpenApiDocument();
const conformance = new Conformance(document);
const v11Operations = document.operations().filter((op) => op.since === '1.1');

/** A concrete path for each v1.1 operation, valid but for what a test sends wrong. */
const CONCRETE: Record<string, string> = {
  patchKeyTtl: '/probe?ttl=1000',
  listKeys: '/_/keys',
  txn: '/_/txn',
  watch: '/_/watch',
};

/** An open event stream: its head, and the events that arrive. */
interface EventStream {
  readonly response: HttpResponse;
  readonly events: SseEvent[];
  close(): void;
}

/**
 * GETs an event stream. A 200 resolves once the head arrives, and keeps collecting events; any
 * other status resolves with the whole answer.
 */
function openStream(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { ...AUTH, accept: 'text/event-stream', ...headers },
        agent: false,
      },
      (res) => {
        const events: SseEvent[] = [];
        const parser = new SseParser();
        const chunks: Buffer[] = [];
        const head = (raw: Buffer): HttpResponse => ({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: raw.toString('utf8'),
          raw,
        });
        if (res.statusCode !== 200) {
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              response: head(Buffer.concat(chunks)),
              events,
              close: () => req.destroy(),
            }),
          );
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (text: string) => events.push(...parser.push(text)));
        res.on('error', () => undefined);
        resolve({
          response: head(Buffer.alloc(0)),
          events,
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe(`v1.1 answers (KV_AUTH_TOKEN set, KV_WATCH_HISTORY=${WATCH_HISTORY}, KV_MAX_KEYS=${MAX_KEYS})`, () => {
  let kv: KvCluster;

  conformanceCluster(TOKEN, MAX_KEYS, (started) => (kv = started), {
    KV_WATCH_HISTORY: String(WATCH_HISTORY),
  });

  const expectConforms = conformance.expecter(() => kv, AUTH);

  const body = <T>(response: HttpResponse): T => JSON.parse(response.body) as T;
  const errorCode = (response: HttpResponse): string =>
    body<{ error: string }>(response).error;

  it('GET and HEAD /{key}: X-Expires-At on a key with a deadline, none without', async () => {
    // Strong, so that every replica has them: the reads below land on any worker.
    await expectConforms(
      'put',
      '/{key}',
      `/expiring?ttl=${LONG_TTL}&consistency=strong`,
      200,
      { body: '1' },
    );
    await expectConforms('put', '/{key}', '/lasting?consistency=strong', 200, {
      body: '1',
    });
    for (const method of ['get', 'head'] as const) {
      const expiring = await expectConforms(method, '/{key}', '/expiring', 200);
      const deadline = Number(expiring.headers['x-expires-at']);
      expect(deadline).toBeGreaterThan(Date.now());
      expect(deadline).toBeLessThanOrEqual(Date.now() + LONG_TTL);
      const lasting = await expectConforms(method, '/{key}', '/lasting', 200);
      expect(lasting.headers['x-expires-at']).toBeUndefined();
    }
  });

  it('PUT and POST with ?ttl=: 200; both TTL forms, or a bad ttl: 400', async () => {
    await expectConforms('post', '/{key}', `/ttl-query?ttl=${LONG_TTL}`, 200, {
      body: '1',
    });
    await expectConforms('put', '/{key}', `/ttl-query?ttl=${LONG_TTL}`, 200, {
      body: '2',
    });
    for (const method of ['put', 'post'] as const) {
      for (const query of ['ttl=1000', 'ttl=abc'])
        expect(
          errorCode(
            await expectConforms(
              method,
              '/{key}/{ttl}',
              `/ttl-both/1000?${query}`,
              400,
              { body: '1' },
            ),
          ),
        ).toBe('duplicate_ttl');
      for (const query of [
        'ttl=0',
        'ttl=abc',
        'ttl=315360000001',
        'ttl=',
        'ttl=1000&ttl=1000',
      ])
        expect(
          errorCode(
            await expectConforms(method, '/{key}', `/ttl-bad?${query}`, 400, {
              body: '1',
            }),
          ),
        ).toBe('invalid_ttl');
    }
    await expectConforms('get', '/{key}', '/ttl-bad', 404);
  });

  it('PATCH /{key}: 200 with a new ETag, 400, 401, 404, 412, 414; any body is refused unread', async () => {
    const put = await expectConforms('put', '/{key}', '/patch-me', 200, {
      body: '{"v": 1}',
    });
    const patched = await expectConforms(
      'patch',
      '/{key}',
      '/patch-me?ttl=60000',
      200,
      {
        headers: { 'if-match': put.headers.etag! },
      },
    );
    expect(patched.headers.etag).not.toBe(put.headers.etag);
    const read = await expectConforms(
      'get',
      '/{key}',
      '/patch-me?consistency=strong',
      200,
    );
    expect(read.body).toBe('{"v": 1}');
    expect(read.headers['x-expires-at']).toBeDefined();
    await expectConforms(
      'patch',
      '/{key}',
      '/patch-me?ttl=none&consistency=strong',
      200,
    );
    const kept = await expectConforms(
      'get',
      '/{key}',
      '/patch-me?consistency=strong',
      200,
    );
    expect(kept.headers['x-expires-at']).toBeUndefined();
    await expectConforms('patch', '/{key}', '/patch-me?ttl=1000', 412, {
      headers: { 'if-match': put.headers.etag! },
    });
    await expectConforms('patch', '/{key}', '/never-written?ttl=1000', 404);
    for (const [path, code] of [
      ['/patch-me', 'missing_ttl'],
      ['/patch-me?consistency=strong', 'missing_ttl'],
      ['/patch-me?ttl=0', 'invalid_ttl'],
      ['/patch-me?ttl=soon', 'invalid_ttl'],
      ['/patch-me?ttl=NONE', 'invalid_ttl'],
      ['/patch-me?ttl=1000&ttl=none', 'invalid_ttl'],
      ['/patch-me?ttl=1000&consistency=bogus', 'invalid_consistency'],
      ['/_?ttl=1000', 'reserved_key'],
      ['/%ZZ?ttl=1000', 'bad_url'],
    ] as const)
      expect(
        errorCode(await expectConforms('patch', '/{key}', path, 400)),
      ).toBe(code);
    // A body of any size or media type is refused before it is read, and the connection closed.
    for (const send of [
      { body: '1' },
      { body: JSON.stringify('v'.repeat(MAX_VALUE_BYTES)) },
      { body: 'x', headers: { 'content-type': 'text/plain' } },
    ]) {
      const refused = await expectConforms(
        'patch',
        '/{key}',
        '/patch-me?ttl=1000',
        400,
        send,
      );
      expect([errorCode(refused), refused.headers.connection]).toEqual([
        'unexpected_body',
        'close',
      ]);
    }
    expect(
      (
        await expectConforms(
          'get',
          '/{key}',
          '/patch-me?consistency=strong',
          200,
        )
      ).headers['x-expires-at'],
    ).toBeUndefined();
    await expectConforms(
      'patch',
      '/{key}',
      `/${'k'.repeat(MAX_KEY_BYTES + 1)}?ttl=1000`,
      414,
    );
    await expectConforms('patch', '/{key}', '/patch-me?ttl=1000', 401, {
      auth: false,
    });
  });

  it('GET and HEAD /_/keys: pages of 200, 400 for each bad parameter, 401, 414', async () => {
    for (const key of ['list/a', 'list/b', 'list/c', 'list+d'])
      await expectConforms(
        'put',
        '/{key}',
        `/${encodeURIComponent(key)}?consistency=strong`,
        200,
        {
          body: '{"n": 1.0}',
        },
      );
    const first = await expectConforms(
      'get',
      '/_/keys',
      '/_/keys?prefix=list%2F&limit=2',
      200,
    );
    const page = body<{ keys: { key: string }[]; cursor: string }>(first);
    expect(page.keys.map((k) => k.key)).toEqual(['list/a', 'list/b']);
    const second = await expectConforms(
      'get',
      '/_/keys',
      `/_/keys?prefix=list%2F&limit=1&values=true&consistency=strong&cursor=${encodeURIComponent(page.cursor)}`,
      200,
    );
    // A full page with nothing after it has no cursor.
    expect(
      body<{ keys: { key: string }[]; cursor: null }>(second),
    ).toMatchObject({
      keys: [{ key: 'list/c', value: { n: 1 } }],
      cursor: null,
    });
    expect(second.body).toContain('"value":{"n": 1.0}');
    // The prefix is decoded like a key: `+` is a plus sign.
    expect(
      body<{ keys: { key: string }[] }>(
        await expectConforms('get', '/_/keys', '/_/keys?prefix=list+', 200),
      ).keys.map((k) => k.key),
    ).toEqual(['list+d']);
    const head = await kv.request('HEAD', '/_/keys?prefix=list%2F', {
      headers: AUTH,
    });
    expect([
      head.status,
      head.headers['content-type'],
      head.raw.length,
    ]).toEqual([200, 'application/json', 0]);
    for (const [query, code] of [
      ['limit=0', 'invalid_limit'],
      ['limit=1001', 'invalid_limit'],
      ['limit=x', 'invalid_limit'],
      ['limit=1&limit=2', 'invalid_limit'],
      ['values=maybe', 'invalid_values'],
      ['consistency=bogus', 'invalid_consistency'],
      ['cursor=not-a-cursor', 'invalid_cursor'],
      [`cursor=${page.cursor.slice(0, -1)}`, 'invalid_cursor'],
      ['prefix=a&prefix=b', 'invalid_prefix'],
      ['prefix=%ZZ', 'bad_url'],
    ] as const)
      expect(
        errorCode(
          await expectConforms('get', '/_/keys', `/_/keys?${query}`, 400),
        ),
      ).toBe(code);
    // Parameters a listing does not take are ignored.
    await expectConforms('get', '/_/keys', '/_/keys?from=x&ttl=0', 200);
    expect(
      errorCode(
        await expectConforms(
          'get',
          '/_/keys',
          `/_/keys?prefix=${'p'.repeat(MAX_KEY_BYTES + 1)}`,
          414,
        ),
      ),
    ).toBe('key_too_long');
    await expectConforms('get', '/_/keys', '/_/keys', 401, { auth: false });
  });

  it('POST /_/txn: 200, 400, 401, 409 txn_failed, 413, 414, 415', async () => {
    await expectConforms('put', '/{key}', '/txn-present', 200, { body: '0' });
    await expectConforms('put', '/{key}', '/txn-doomed', 200, { body: '0' });
    const ok = await expectConforms('post', '/_/txn', '/_/txn', 200, {
      body:
        '{"ops": [{"op": "put", "key": "txn-a", "value": {"n": 1.0}, "ttl": 600000},' +
        ' {"op": "create", "key": "txn-b", "value": [1, 2]},' +
        ' {"op": "check", "key": "txn-present", "ifMatch": "*"},' +
        ' {"op": "delete", "key": "txn-doomed"}]}',
    });
    const { revision } = body<{ revision: number }>(ok);
    const a = await expectConforms(
      'get',
      '/{key}',
      '/txn-a?consistency=strong',
      200,
    );
    expect([a.body, a.headers.etag]).toEqual(['{"n": 1.0}', `"${revision}"`]);
    await expectConforms(
      'get',
      '/{key}',
      '/txn-doomed?consistency=strong',
      404,
    );
    const failed = await expectConforms('post', '/_/txn', '/_/txn', 409, {
      body: '{"ops": [{"op": "create", "key": "txn-b", "value": 1}, {"op": "delete", "key": "txn-gone"}]}',
    });
    expect(body<{ failures: unknown[] }>(failed).failures).toEqual([
      { index: 0, key: 'txn-b', reason: 'key_exists', revision },
      { index: 1, key: 'txn-gone', reason: 'key_not_found', revision: null },
    ]);
    const checks = (count: number): string =>
      JSON.stringify({
        ops: Array.from({ length: count }, (_, i) => ({
          op: 'check',
          key: `k${i}`,
          ifNoneMatch: '*',
        })),
      });
    await expectConforms('post', '/_/txn', '/_/txn', 200, {
      body: checks(128),
    });
    const tooMany = checks(129);
    for (const [bad, code] of [
      ['{"ops": [{"op": "frob", "key": "a"}]}', 'invalid_txn'],
      [
        '{"ops": [{"op": "check", "key": "a", "ifMatch": "*"}, {"op": "check", "key": "a", "ifMatch": 1}]}',
        'invalid_txn',
      ],
      ['{"ops": [{"op": "check", "key": "a"}]}', 'invalid_txn'],
      ['{"ops": [{"op": "put", "key": "a"}]}', 'invalid_txn'],
      ['{"ops": [{"op": "delete", "key": "a", "value": 1}]}', 'invalid_txn'],
      ['{"ops": []}', 'invalid_txn'],
      ['{"nope": []}', 'invalid_txn'],
      [tooMany, 'invalid_txn'],
      [
        '{"ops": [{"op": "put", "key": "a", "value": 1, "ttl": 0}]}',
        'invalid_ttl',
      ],
      ['{"ops": [{"op": "put", "key": "_", "value": 1}]}', 'reserved_key'],
      ['{"ops": [{"op": "put", "key": "", "value": 1}]}', 'invalid_key'],
      ['{"ops": [', 'invalid_json'],
      ['', 'empty_body'],
    ] as const) {
      const refused = await expectConforms('post', '/_/txn', '/_/txn', 400, {
        body: bad,
      });
      expect(errorCode(refused)).toBe(code);
      if (bad === tooMany)
        expect(body<{ message: string }>(refused).message).toMatch(
          /more than 128/,
        );
    }
    expect(
      errorCode(
        await expectConforms(
          'post',
          '/_/txn',
          '/_/txn?consistency=bogus',
          400,
          {
            body: '{"ops": [{"op": "check", "key": "a", "ifMatch": "*"}]}',
          },
        ),
      ),
    ).toBe('invalid_consistency');
    const tooLarge = await expectConforms('post', '/_/txn', '/_/txn', 413, {
      body: `{"ops": [{"op": "put", "key": "a", "value": ${JSON.stringify('v'.repeat(MAX_VALUE_BYTES))}}]}`,
    });
    expect([
      errorCode(tooLarge),
      body<{ message: string }>(tooLarge).message,
    ]).toEqual(['value_too_large', expect.stringMatching(/^ops\[0\]: /)]);
    // The body limit: 128 ops, each with room for a value, a key written as escapes, and 1 KiB.
    const bodyLimit = 128 * (MAX_VALUE_BYTES + 6 * MAX_KEY_BYTES + 1024) + 1024;
    const oneCheck =
      '{"ops": [{"op": "check", "key": "txn-present", "ifMatch": "*"}]}';
    await expectConforms('post', '/_/txn', '/_/txn', 200, {
      body: oneCheck.padEnd(bodyLimit, ' '),
    });
    expect(
      errorCode(
        await expectConforms('post', '/_/txn', '/_/txn', 413, {
          body: oneCheck.padEnd(bodyLimit + 1, ' '),
        }),
      ),
    ).toBe('body_too_large');
    await expectConforms('post', '/_/txn', '/_/txn', 414, {
      body: `{"ops": [{"op": "check", "key": "${'k'.repeat(MAX_KEY_BYTES + 1)}", "ifMatch": "*"}]}`,
    });
    await expectConforms('post', '/_/txn', '/_/txn', 415, {
      body: '{}',
      headers: { 'content-type': 'text/plain' },
    });
    await expectConforms('post', '/_/txn', '/_/txn', 401, {
      body: '{}',
      auth: false,
    });
  });

  it('GET /_/watch: an event stream of WatchEvents, 400, 401, 410 history_compacted', async () => {
    const start = (await kv.stats()).revision;
    const withValues = await openStream(
      kv.port,
      `/_/watch?prefix=w%2F&from=${start}`,
    );
    const withoutValues = await openStream(
      kv.port,
      `/_/watch?prefix=w%2F&from=${start}&values=false`,
    );
    try {
      for (const stream of [withValues, withoutValues]) {
        expect(stream.response.status).toBe(200);
        conformance.check('get', '/_/watch', stream.response, {
          streaming: true,
        });
      }
      await expectConforms('put', '/{key}', `/w%2Fa?ttl=${LONG_TTL}`, 200, {
        body: '{"n":\n1.0}',
      });
      await expectConforms('delete', '/{key}', '/w%2Fa', 200);
      await expectConforms('post', '/_/txn', '/_/txn', 200, {
        body: '{"ops": [{"op": "put", "key": "w/b", "value": 2}, {"op": "put", "key": "elsewhere", "value": 3}]}',
      });
      for (const stream of [withValues, withoutValues]) {
        await waitFor(() => stream.events.length >= 3, 5_000, 'three events');
        for (const event of stream.events) {
          expect(event.event).toBe('change');
          const data: unknown = JSON.parse(event.data);
          expect(
            document.schemaProblems(
              ['components', 'schemas', 'WatchEvent'],
              data,
            ),
          ).toEqual([]);
          expect(event.id).toBe(
            String((data as { revision: number }).revision),
          );
        }
      }
      const changes = withValues.events.map(
        (e) => (JSON.parse(e.data) as { changes: unknown[] }).changes,
      );
      expect(changes[0]).toMatchObject([
        { key: 'w/a', type: 'put', value: { n: 1 } },
      ]);
      const [put] = changes[0] as { expiresAt: unknown }[];
      expect(typeof put!.expiresAt).toBe('number');
      expect(changes[1]).toEqual([{ key: 'w/a', type: 'delete' }]);
      expect(changes[2]).toEqual([
        { key: 'w/b', type: 'put', value: 2, expiresAt: null },
      ]);
      expect(withoutValues.events.some((e) => e.data.includes('"value"'))).toBe(
        false,
      );
    } finally {
      withValues.close();
      withoutValues.close();
    }

    const now = (await kv.stats()).revision;
    for (const [query, headers, code] of [
      [`from=${now + 1000}`, {}, 'from_ahead'],
      ['', { 'last-event-id': String(now + 1000) }, 'from_ahead'],
      ['from=x', {}, 'invalid_from'],
      ['from=-1', {}, 'invalid_from'],
      ['from=1', { 'last-event-id': 'x' }, 'invalid_from'],
      ['values=maybe', {}, 'invalid_values'],
      ['consistency=bogus', {}, 'invalid_consistency'],
      ['from=1&from=2', {}, 'repeated_parameter'],
      ['prefix=a&prefix=b', {}, 'repeated_parameter'],
      ['prefix=%ZZ', {}, 'bad_url'],
    ] as const) {
      const refused = await openStream(kv.port, `/_/watch?${query}`, headers);
      expect([refused.response.status, errorCode(refused.response)]).toEqual([
        400,
        code,
      ]);
      conformance.check('get', '/_/watch', refused.response);
    }
    const longPrefix = await openStream(
      kv.port,
      `/_/watch?prefix=${'p'.repeat(MAX_KEY_BYTES + 1)}`,
    );
    expect([
      longPrefix.response.status,
      errorCode(longPrefix.response),
    ]).toEqual([414, 'key_too_long']);
    conformance.check('get', '/_/watch', longPrefix.response);
    // Parameters a watch does not take are ignored, and HEAD is no route.
    const ignoring = await openStream(kv.port, '/_/watch?limit=x&cursor=y');
    ignoring.close();
    expect(ignoring.response.status).toBe(200);
    expect(
      (await kv.request('HEAD', '/_/watch', { headers: AUTH })).status,
    ).toBe(404);
    const unauthorized = await openStream(kv.port, '/_/watch', {
      authorization: 'Bearer wrong',
    });
    expect(unauthorized.response.status).toBe(401);
    conformance.check('get', '/_/watch', unauthorized.response);

    // Past the history window: every revision from 1 is no longer kept. Strong, so that every
    // worker's history ends at the same revision and `oldest` below is the same everywhere.
    for (let written = now; written < WATCH_HISTORY + 20; written += 10)
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          expectConforms(
            'put',
            '/{key}',
            `/history-${i}?consistency=strong`,
            200,
            {
              body: String(written),
            },
          ),
        ),
      );
    const compacted = await openStream(kv.port, '/_/watch?from=1');
    expect(compacted.response.status).toBe(410);
    conformance.check('get', '/_/watch', compacted.response);
    const { oldest } = body<{ oldest: number }>(compacted.response);
    expect(oldest).toBeGreaterThan(2);
    const viaHeader = await openStream(kv.port, '/_/watch?from=0', {
      'last-event-id': '1',
    });
    expect(viaHeader.response.status).toBe(410);
    // The oldest revision kept is `oldest`: a watch may start right before it, not earlier.
    const tooOld = await openStream(kv.port, `/_/watch?from=${oldest - 2}`);
    expect(tooOld.response.status).toBe(410);
    const oldestKept = await openStream(kv.port, `/_/watch?from=${oldest - 1}`);
    try {
      expect(oldestKept.response.status).toBe(200);
      await waitFor(
        () => oldestKept.events.length > 0,
        5_000,
        'the oldest event kept',
      );
      expect(oldestKept.events[0]!.id).toBe(String(oldest));
    } finally {
      oldestKept.close();
    }
  });

  it("answers of Node's HTTP parser on every v1.1 operation: 400 bad_request, 408, 431", async () => {
    await conformance.checkParserAnswers(
      kv,
      AUTH,
      v11Operations,
      (op) => CONCRETE[op.operationId]!,
    );
  });

  it(`a new key by PUT or POST ?ttl=, or by a transaction: 507 once ${MAX_KEYS} keys are live`, async () => {
    const { keys } = await kv.stats();
    for (let i = keys; i < MAX_KEYS; i++)
      await expectConforms(
        'post',
        '/{key}',
        `/fill-${i}?consistency=strong`,
        200,
        { body: '0' },
      );
    await expectConforms(
      'put',
      '/{key}',
      `/one-too-many?ttl=${LONG_TTL}`,
      507,
      { body: '1' },
    );
    await expectConforms(
      'post',
      '/{key}',
      `/one-too-many?ttl=${LONG_TTL}`,
      507,
      { body: '1' },
    );
    await expectConforms('post', '/_/txn', '/_/txn', 507, {
      body: '{"ops": [{"op": "put", "key": "one-too-many", "value": 1}]}',
    });
  });

  it('every documented answer of every v1.1 operation was checked, but those no request produces on purpose', () => {
    expect(
      conformance.unchecked(v11Operations, {
        watch: 'only while a worker stops',
      }),
    ).toEqual([]);
  });
});
