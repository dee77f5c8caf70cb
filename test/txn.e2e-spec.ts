import { HttpResponse, json, KvCluster, suiteCluster } from './support/cluster';
import {
  expectAck,
  expectError,
  expectValue,
  getSequentially,
  JSON_TYPE,
  waitAbsentEverywhere,
  waitValueEverywhere,
} from './support/expectations';
import { KeepAliveConnection } from './support/faults';

/**
 * `POST /_/txn` (docs/api.md) end to end against the built cluster. Every request
 * goes out on a fresh connection, so consecutive requests land on different workers.
 */

const TXN = '/_/txn';
const enc = encodeURIComponent;

/** Sends a transaction body (a string or bytes as they are, anything else as JSON). */
function txn(
  kv: KvCluster,
  body: string | Buffer | object,
  query = '',
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  return kv.request('POST', TXN + query, {
    body:
      typeof body === 'string' || Buffer.isBuffer(body)
        ? body
        : JSON.stringify(body),
    headers: { ...JSON_TYPE, ...headers },
  });
}

/**
 * A committed transaction's answer: 200 and exactly `{"revision": R, "results": [...]}` with one
 * `{"key", "revision": R}` per op, in op order. Returns R.
 */
function expectCommitted(response: HttpResponse, keys: string[]): number {
  if (response.status !== 200)
    throw new Error(`expected 200, got ${response.status}: ${response.body}`);
  expect(response.headers['content-type']).toBe('application/json');
  const body = json<{ revision: number; results: unknown }>(response);
  expect(Object.keys(body)).toEqual(['revision', 'results']);
  expect(Number.isSafeInteger(body.revision)).toBe(true);
  expect(body.results).toEqual(
    keys.map((key) => ({ key, revision: body.revision })),
  );
  return body.revision;
}

interface Failure {
  index: number;
  key: string;
  reason: 'precondition_failed' | 'key_exists' | 'key_not_found';
  revision: number | null;
}

/** A failed transaction's answer: 409, exactly `{"error": "txn_failed", "message", "failures"}`. */
function expectTxnFailed(response: HttpResponse, failures: Failure[]): void {
  if (response.status !== 409)
    throw new Error(`expected 409, got ${response.status}: ${response.body}`);
  expect(response.headers['content-type']).toBe('application/json');
  const body = json(response);
  expect(Object.keys(body)).toEqual(['error', 'message', 'failures']);
  expect(body.error).toBe('txn_failed');
  expect(typeof body.message).toBe('string');
  expect(body.failures).toEqual(failures);
}

/** Asserts `path` is absent on every worker and on the primary. */
async function expectAbsent(
  kv: KvCluster,
  path: string,
  headers?: Record<string, string>,
): Promise<void> {
  for (const response of await getSequentially(
    kv,
    path,
    2 * kv.workers,
    headers,
  ))
    expectError(response, 404);
  expectError(await kv.get(`${path}?consistency=strong`, headers), 404);
}

/** Asserts every worker and the primary serve exactly `value` at `revision`. */
async function expectEverywhere(
  kv: KvCluster,
  path: string,
  value: string,
  revision: number,
  headers?: Record<string, string>,
): Promise<void> {
  for (const response of await getSequentially(
    kv,
    path,
    2 * kv.workers,
    headers,
  ))
    expectValue(response, value, revision);
  expectValue(
    await kv.get(`${path}?consistency=strong`, headers),
    value,
    revision,
  );
}

/** A single PUT of `key`; returns its revision. */
async function put(
  kv: KvCluster,
  key: string,
  value: string,
  headers?: Record<string, string>,
): Promise<number> {
  return expectAck(
    await kv.write('PUT', `/${enc(key)}?consistency=strong`, value, headers),
    key,
  );
}

describe('POST /_/txn on a default cluster', () => {
  let kv: KvCluster;

  suiteCluster({}, (started) => (kv = started));

  describe('a committed transaction', () => {
    it('stores each value byte for byte as it stands in the body, served by every worker', async () => {
      // Odd whitespace, escapes, raw and escaped non-ASCII, CR LF between tokens: each value is
      // stored from its first character to its last, without the whitespace around it.
      const values: [string, string][] = [
        ['odd-object', '{ "b" :\t[1 , 2.50e+3 ],\r\n  "a":{}\n}'],
        [
          'odd-escapes',
          '"\\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9\\ud83d\\ude00"',
        ],
        ['odd-unicode', '"é€😀 \u2028"'],
        ['odd-number', '-0.0e-0'],
        ['odd-literal', 'null'],
        ['odd-array', '[ ]'],
        ['odd-deep', '[[[[{"x":[[[]]]}]]]]'],
      ];
      // The key "k/é 😀", written with escapes in the body.
      const key = 'k/é 😀';
      const body =
        '{ "ops" : [\n' +
        values
          .map(([k, v]) => `  { "op": "put", "key": "${k}", "value":  ${v}  }`)
          .join(',\n') +
        ',\n {"value":"tail","key":"k\\/\\u00e9 \\ud83d\\ude00","op":"create"}\n] }\r\n';
      const revision = expectCommitted(
        await txn(kv, body, '?consistency=strong'),
        [...values.map(([k]) => k), key],
      );
      for (const [k, v] of values)
        await expectEverywhere(kv, `/${enc(k)}`, v, revision);
      await expectEverywhere(kv, `/${enc(key)}`, '"tail"', revision);
    });

    it('takes one revision for all its writes: the ETag of every key it writes', async () => {
      const before = await put(kv, 'shared-gone', '0');
      const revision = expectCommitted(
        await txn(kv, {
          ops: [
            { op: 'put', key: 'shared-a', value: 1 },
            { op: 'create', key: 'shared-b', value: 2 },
            { op: 'delete', key: 'shared-gone', ifMatch: before },
            { op: 'check', key: 'shared-none', ifNoneMatch: '*' },
          ],
        }),
        ['shared-a', 'shared-b', 'shared-gone', 'shared-none'],
      );
      expect(revision).toBe(before + 1);
      // The worker that took the transaction answered after applying it.
      await waitValueEverywhere(kv, '/shared-b', '2');
      await expectEverywhere(kv, '/shared-a', '1', revision);
      await expectEverywhere(kv, '/shared-b', '2', revision);
      await expectAbsent(kv, '/shared-gone');
      await expectAbsent(kv, '/shared-none');
      // The next write takes the next revision: the transaction took exactly one.
      expect(await put(kv, 'shared-next', '3')).toBe(revision + 1);
    });

    it('of checks only succeeds at the current revision and takes no new one', async () => {
      const revision = await put(kv, 'checked', '"c"');
      expect(
        expectCommitted(
          await txn(kv, {
            ops: [
              { op: 'check', key: 'checked', ifMatch: revision },
              { op: 'check', key: 'checked-absent', ifNoneMatch: '*' },
            ],
          }),
          ['checked', 'checked-absent'],
        ),
      ).toBe(revision);
      expect(await put(kv, 'after-check', '1')).toBe(revision + 1);
    });

    it('with consistency=strong is served by every worker as soon as it is acknowledged', async () => {
      for (let round = 0; round < 5; round++) {
        const value = `{"round":${round}}`;
        const revision = expectCommitted(
          await txn(
            kv,
            `{"ops":[{"op":"put","key":"strong-a","value":${value}},` +
              `{"op":"put","key":"strong-b","value":${value},"ttl":600000}]}`,
            '?consistency=strong',
          ),
          ['strong-a', 'strong-b'],
        );
        // No polling: every replica has it once the answer arrives.
        for (const path of ['/strong-a', '/strong-b']) {
          for (const response of await getSequentially(kv, path, kv.workers))
            expectValue(response, value, revision);
        }
      }
    });

    it('holds 128 ops and a value of exactly the value limit', async () => {
      const ops = Array.from({ length: 128 }, (_, i) => ({
        op: 'put',
        key: `many-${i}`,
        value: i,
      }));
      const revision = expectCommitted(
        await txn(kv, { ops }),
        ops.map((op) => op.key),
      );
      const big = `"${'x'.repeat(1_048_574)}"`;
      expectCommitted(
        await txn(
          kv,
          `{"ops":[{"op":"put","key":"big","value":${big}}]}`,
          '?consistency=strong',
        ),
        ['big'],
      );
      expectValue(await kv.get('/big'), big);
      expectValue(
        await kv.get('/many-127?consistency=strong'),
        '127',
        revision,
      );
    });
  });

  describe('a failed transaction', () => {
    it('is 409 txn_failed listing every failed op, and applies nothing anywhere', async () => {
      const a = await put(kv, 'fail-a', '"a"');
      const b = await put(kv, 'fail-b', '"b"');
      const c = await put(kv, 'fail-c', '"c"');
      const d = await put(kv, 'fail-d', '"d"');
      expectTxnFailed(
        await txn(kv, {
          ops: [
            { op: 'put', key: 'fail-new', value: 1 },
            { op: 'put', key: 'fail-a', value: 2, ifMatch: a + 100 },
            { op: 'create', key: 'fail-b', value: 3 },
            { op: 'delete', key: 'fail-missing' },
            { op: 'check', key: 'fail-c', ifNoneMatch: '*' },
            { op: 'delete', key: 'fail-d', ifMatch: d },
            { op: 'check', key: 'fail-absent', ifMatch: '*' },
          ],
        }),
        [
          {
            index: 1,
            key: 'fail-a',
            reason: 'precondition_failed',
            revision: a,
          },
          { index: 2, key: 'fail-b', reason: 'key_exists', revision: b },
          {
            index: 3,
            key: 'fail-missing',
            reason: 'key_not_found',
            revision: null,
          },
          {
            index: 4,
            key: 'fail-c',
            reason: 'precondition_failed',
            revision: c,
          },
          {
            index: 6,
            key: 'fail-absent',
            reason: 'precondition_failed',
            revision: null,
          },
        ],
      );
      await expectAbsent(kv, '/fail-new');
      await expectEverywhere(kv, '/fail-a', '"a"', a);
      await expectEverywhere(kv, '/fail-b', '"b"', b);
      await expectEverywhere(kv, '/fail-d', '"d"', d);
      // It took no revision either.
      expect(await put(kv, 'fail-after', '1')).toBe(d + 1);
    });

    it('of one failing op among 128 applies none of the other 127', async () => {
      const present = await put(kv, 'one-of-many', '0');
      const ops: object[] = Array.from({ length: 127 }, (_, i) => ({
        op: 'create',
        key: `none-${i}`,
        value: i,
      }));
      ops.push({ op: 'create', key: 'one-of-many', value: 1 });
      expectTxnFailed(await txn(kv, { ops }, '?consistency=strong'), [
        {
          index: 127,
          key: 'one-of-many',
          reason: 'key_exists',
          revision: present,
        },
      ]);
      for (const i of [0, 63, 126]) await expectAbsent(kv, `/none-${i}`);
    });
  });

  describe('bad requests apply nothing', () => {
    const valid = '{"op":"put","key":"bad-never","value":1}';
    const ops = (...list: string[]) => `{"ops":[${list.join(',')}]}`;
    const cases: [string, string | Buffer, number, string][] = [
      ['a body that is not JSON', `{"ops":[${valid}`, 400, 'invalid_json'],
      ['text after the JSON', `${ops(valid)} x`, 400, 'invalid_json'],
      [
        'bytes that are not UTF-8',
        Buffer.concat([Buffer.from(ops(valid)), Buffer.from([0xff])]),
        400,
        'invalid_json',
      ],
      ['an empty body', '', 400, 'empty_body'],
      ['a body that is not an object', `[${valid}]`, 400, 'invalid_txn'],
      ['no ops', '{}', 400, 'invalid_txn'],
      ['empty ops', ops(), 400, 'invalid_txn'],
      [
        'an unknown op',
        ops(valid, '{"op":"patch","key":"k","value":1}'),
        400,
        'invalid_txn',
      ],
      [
        'an unknown member',
        ops('{"op":"put","key":"bad-never","value":1,"why":1}'),
        400,
        'invalid_txn',
      ],
      [
        'a key twice',
        ops(valid, '{"op":"delete","key":"bad-never"}'),
        400,
        'invalid_txn',
      ],
      [
        '129 ops',
        ops(
          ...Array.from(
            { length: 129 },
            (_, i) => `{"op":"put","key":"bad-${i}","value":1}`,
          ),
        ),
        400,
        'invalid_txn',
      ],
      [
        'a put without a value',
        ops('{"op":"put","key":"k"}'),
        400,
        'invalid_txn',
      ],
      [
        'a check without a condition',
        ops('{"op":"check","key":"k"}'),
        400,
        'invalid_txn',
      ],
      [
        'an ifMatch that is no revision',
        ops(valid, '{"op":"check","key":"k","ifMatch":"7"}'),
        400,
        'invalid_txn',
      ],
      [
        'the reserved key',
        ops(valid, '{"op":"delete","key":"_"}'),
        400,
        'reserved_key',
      ],
      [
        'an empty key',
        ops(valid, '{"op":"delete","key":""}'),
        400,
        'invalid_key',
      ],
      [
        'a key with a lone surrogate',
        ops(valid, '{"op":"delete","key":"\\ud800"}'),
        400,
        'invalid_key',
      ],
      ...['0', '-1', '1.5', '1e3', '"100"', '315360000001', 'null'].map(
        (ttl): [string, string, number, string] => [
          `ttl ${ttl}`,
          ops(valid, `{"op":"put","key":"k","value":1,"ttl":${ttl}}`),
          400,
          'invalid_ttl',
        ],
      ),
      [
        'a key of 513 bytes',
        ops(valid, `{"op":"delete","key":"${'é'.repeat(256)}a"}`),
        414,
        'key_too_long',
      ],
      [
        'a value of 1 MiB + 1 byte',
        ops(valid, `{"op":"put","key":"k","value":"${'x'.repeat(1_048_575)}"}`),
        413,
        'value_too_large',
      ],
    ];
    it.each(
      cases.map(
        ([name, body, status, code]): [
          string,
          number,
          string,
          string | Buffer,
        ] => [name, status, code, body],
      ),
    )('%s: %d %s', async (_name, status, code, body) => {
      expect(expectError(await txn(kv, body), status).error).toBe(code);
    });

    it.each([
      ['text/plain', { 'content-type': 'text/plain' }],
      ['application/jsonx', { 'content-type': 'application/jsonx' }],
      ['no content type with a body', { 'content-type': '' }],
    ])('415 for %s', async (_name, headers) => {
      const response = await kv.request('POST', TXN, {
        body: ops(valid),
        headers: headers['content-type'] === '' ? {} : headers,
      });
      expect(expectError(response, 415).error).toBe('unsupported_media_type');
    });

    it('400 for a bad consistency', async () => {
      expect(
        expectError(await txn(kv, ops(valid), '?consistency=x'), 400).error,
      ).toBe('invalid_consistency');
    });

    it('a charset parameter is accepted', async () => {
      expectCommitted(
        await txn(kv, ops('{"op":"put","key":"charset","value":"ü"}'), '', {
          'content-type': 'application/json; charset=utf-8',
        }),
        ['charset'],
      );
    });

    it('and none of them stored anything', async () => {
      await expectAbsent(kv, '/bad-never');
      await expectAbsent(kv, '/bad-0');
      await expectAbsent(kv, '/k');
    });
  });

  it('no reader on any worker sees part of a transaction', async () => {
    // A writer commits transactions that set "atom-a" and "atom-b" to the same {"n": i}. Readers
    // each open a connection (fresh ones spread over the workers), read both keys over it again
    // and again, then close it. On one connection every read is served by one replica, which
    // only moves forward: so every read must show an n at least that of the read before it. A
    // transaction split over two batches would show a reader atom-a at n and atom-b at n - 1.
    const rounds = 150;
    const revisionOf = new Map<number, number>();
    const seen: { key: string; n: number; etag: string | undefined }[] = [];
    const pids = new Set<number>();
    let writing = true;
    const writer = (async () => {
      try {
        for (let i = 0; i < rounds; i++) {
          const value = `{"n":${i}}`;
          revisionOf.set(
            i,
            expectCommitted(
              await txn(
                kv,
                `{"ops":[{"op":"put","key":"atom-a","value":${value}},` +
                  `{"op":"put","key":"atom-b","value":${value}}]}`,
              ),
              ['atom-a', 'atom-b'],
            ),
          );
        }
      } finally {
        writing = false;
      }
    })();
    const reader = async (id: number): Promise<number> => {
      let connections = 0;
      while (writing) {
        const connection = new KeepAliveConnection(kv.port);
        try {
          let last = -1;
          let port: number | undefined;
          for (let read = 0; read < 6; read++) {
            const key = (read + id) % 2 === 0 ? 'atom-a' : 'atom-b';
            const response = await connection.get(`/${key}`);
            port ??= response.localPort;
            expect(response.localPort).toBe(port);
            const n =
              response.status === 404 ? -1 : json<{ n: number }>(response).n;
            if (n < last)
              throw new Error(
                `${key} showed n=${n} after a read of n=${last} on the same worker`,
              );
            last = n;
            if (n >= 0) seen.push({ key, n, etag: response.headers.etag });
          }
          const stats = await connection.get('/_/stats');
          expect(stats.localPort).toBe(port);
          pids.add(json<{ pid: number }>(stats).pid);
        } finally {
          connection.close();
        }
        connections++;
      }
      return connections;
    };
    const [, ...connections] = await Promise.all([
      writer,
      ...Array.from({ length: 6 }, (_, id) => reader(id)),
    ]);
    expect(connections.reduce((a, b) => a + b, 0)).toBeGreaterThan(kv.workers);
    // Every worker served some of the readers.
    const workerPids = (await kv.stats()).workers.map((w) => w.pid);
    expect([...pids].sort()).toEqual([...workerPids].sort());
    // Every value read carried the ETag of the transaction that wrote it.
    for (const { n, etag } of seen) expect(etag).toBe(`"${revisionOf.get(n)}"`);
    expect(seen.length).toBeGreaterThan(0);
  });

  it('a ttl sets a deadline; a put without one removes it', async () => {
    const revision = expectCommitted(
      await txn(
        kv,
        {
          ops: [
            { op: 'put', key: 'ttl-short', value: 1, ttl: 400 },
            { op: 'put', key: 'ttl-long', value: 2, ttl: 400 },
          ],
        },
        '?consistency=strong',
      ),
      ['ttl-short', 'ttl-long'],
    );
    expectCommitted(
      await txn(kv, { ops: [{ op: 'put', key: 'ttl-long', value: 3 }] }),
      ['ttl-long'],
    );
    expectValue(await kv.get('/ttl-short?consistency=strong'), '1', revision);
    await waitAbsentEverywhere(kv, '/ttl-short');
    await waitValueEverywhere(kv, '/ttl-long', '3');
  });
});

describe('POST /_/txn with KV_AUTH_TOKEN, KV_MAX_KEYS and small limits', () => {
  const token = 's3cret-token';
  const auth = { authorization: `Bearer ${token}` };
  // KV_MAX_VALUE_BYTES 100 and KV_MAX_KEY_BYTES 16: a body limit of
  // 128 x (100 + 6 x 16 + 1024) + 1024 = 157184 bytes.
  const bodyLimit = 157_184;
  let kv: KvCluster;

  suiteCluster(
    {
      env: {
        KV_AUTH_TOKEN: token,
        KV_MAX_KEYS: '4',
        KV_MAX_VALUE_BYTES: '100',
        KV_MAX_KEY_BYTES: '16',
      },
    },
    (started) => (kv = started),
  );

  it('needs the bearer token', async () => {
    const body = { ops: [{ op: 'put', key: 'auth', value: 1 }] };
    const unauthorized: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
    ];
    for (const headers of unauthorized) {
      const response = await txn(kv, body, '', headers);
      expect(expectError(response, 401).error).toBe('unauthorized');
      expect(response.headers['www-authenticate']).toBe(
        'Bearer realm="fanout-kv"',
      );
    }
    await expectAbsent(kv, '/auth', auth);
    const revision = expectCommitted(
      await txn(kv, body, '?consistency=strong', auth),
      ['auth'],
    );
    await expectEverywhere(kv, '/auth', '1', revision, auth);
  });

  it('is 507 store_full, applying nothing, when its new keys pass KV_MAX_KEYS', async () => {
    // "auth" and these two: 3 keys of 4.
    const k1 = await put(kv, 'k1', '1', auth);
    const k2 = await put(kv, 'k2', '2', auth);
    const response = await txn(
      kv,
      {
        ops: [
          { op: 'put', key: 'k2', value: 20 },
          { op: 'create', key: 'n1', value: 1 },
          { op: 'create', key: 'n2', value: 2 },
        ],
      },
      '',
      auth,
    );
    expect(expectError(response, 507).error).toBe('store_full');
    await expectEverywhere(kv, '/k2', '2', k2, auth);
    await expectAbsent(kv, '/n1', auth);
    await expectAbsent(kv, '/n2', auth);
    // A delete in the same transaction makes room.
    const revision = expectCommitted(
      await txn(
        kv,
        {
          ops: [
            { op: 'delete', key: 'k1', ifMatch: k1 },
            { op: 'create', key: 'n1', value: 1 },
            { op: 'create', key: 'n2', value: 2 },
          ],
        },
        '?consistency=strong',
        auth,
      ),
      ['k1', 'n1', 'n2'],
    );
    await expectAbsent(kv, '/k1', auth);
    await expectEverywhere(kv, '/n2', '2', revision, auth);
  });

  it('applies the per-op limits: 414 for a long key, 413 for a long value', async () => {
    const key17 = 'k'.repeat(17);
    expect(
      expectError(
        await txn(kv, { ops: [{ op: 'delete', key: key17 }] }, '', auth),
        414,
      ).error,
    ).toBe('key_too_long');
    const value101 = `"${'v'.repeat(99)}"`;
    expect(
      expectError(
        await txn(
          kv,
          `{"ops":[{"op":"put","key":"v","value":${value101}}]}`,
          '',
          auth,
        ),
        413,
      ).error,
    ).toBe('value_too_large');
    await expectAbsent(kv, '/v', auth);
  });

  it('reads a body of exactly the body limit, and refuses one byte more with 413 body_too_large', async () => {
    // 128 ops, every key at 16 bytes with every character escaped, every value at 100 bytes,
    // then whitespace up to the limit.
    const escapedKey = (i: number) =>
      [...`big-${String(i).padStart(12, '0')}`]
        .map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .join('');
    const value = `"${'v'.repeat(98)}"`;
    const ops =
      '{"ops":[' +
      Array.from(
        { length: 128 },
        (_, i) =>
          `{"op":"put","key":"${escapedKey(i)}","value":${value},"ttl":315360000000}`,
      ).join(',') +
      ']';
    const atLimit = ops + ' '.repeat(bodyLimit - ops.length - 1) + '}';
    expect(atLimit.length).toBe(bodyLimit);
    // Read and decided: 128 new keys do not fit in KV_MAX_KEYS.
    expect(expectError(await txn(kv, atLimit, '', auth), 507).error).toBe(
      'store_full',
    );
    const overLimit = ops + ' '.repeat(bodyLimit - ops.length) + '}';
    const response = await txn(kv, overLimit, '', auth);
    expect(expectError(response, 413).error).toBe('body_too_large');
    await expectAbsent(kv, '/big-000000000000', auth);
  });

  it('counts committed and failed transactions in /_/metrics', async () => {
    expectTxnFailed(
      await txn(kv, { ops: [{ op: 'delete', key: 'nope' }] }, '', auth),
      [{ index: 0, key: 'nope', reason: 'key_not_found', revision: null }],
    );
    const text = (await kv.get('/_/metrics', auth)).body;
    const sample = (line: string) =>
      Number(new RegExp(`^${line} (\\S+)$`, 'm').exec(text)?.[1]);
    // Committed here: "auth" and the one with a delete; full: two; conditions: this one.
    expect(sample('kv_txn_committed_total')).toBe(2);
    expect(sample('kv_txn_failed_total\\{reason="full"\\}')).toBe(2);
    expect(sample('kv_txn_failed_total\\{reason="conditions"\\}')).toBe(1);
  });
});
