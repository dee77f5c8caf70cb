import {
  HttpResponse,
  json,
  KvCluster,
  suiteCluster,
  waitFor,
  waitUntil,
} from './support/cluster';
import {
  expectAck,
  expectError,
  expectValue,
  getSequentially,
  JSON_TYPE,
  waitAbsentEverywhere,
  waitValueEverywhere,
} from './support/expectations';

/**
 * The HTTP contract of docs/api.md, end to end against the built cluster
 * (`node dist/main.js`, two workers). Every request goes out on a fresh connection, so
 * consecutive requests land on different workers (cluster round-robin).
 */

/** A 512-byte key made of `unit` repeated (plus ASCII padding), percent-encoded. */
function keyOfBytes(unit: string, bytes: number): string {
  const unitBytes = Buffer.byteLength(unit);
  const key =
    unit.repeat(Math.floor(bytes / unitBytes)) + 'a'.repeat(bytes % unitBytes);
  if (Buffer.byteLength(key) !== bytes)
    throw new Error(`not ${bytes} bytes: ${key}`);
  return key;
}

const enc = encodeURIComponent;

/** Every byte of the key's UTF-8 percent-encoded: another spelling of the same key. */
function encodeEveryByte(key: string): string {
  return [...Buffer.from(key, 'utf8')]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}

/**
 * POSTs `key` with a TTL, strongly (every replica has it when the ack arrives), checks it is
 * served until the deadline and that every worker answers 404 right after it. Returns the write's
 * revision, the time the ack arrived and the TTL it used.
 */
async function expectExpiresOnTime(
  kv: KvCluster,
  key: string,
): Promise<{ revision: number; ackedAt: number; ttl: number }> {
  const path = `/${enc(key)}`;
  const value = '{"ephemeral":true}';
  // A machine too busy to answer a GET within the TTL proves nothing about "served before the
  // deadline": such an attempt is repeated with twice the TTL (the key has expired by then, so
  // POST may create it again), until the machine keeps up.
  for (let attempt = 1, ttl = 300; ; attempt++, ttl *= 2) {
    const sentAt = Date.now();
    const revision = expectAck(
      await kv.write('POST', `${path}/${ttl}?consistency=strong`, value),
      key,
    );
    const ackedAt = Date.now();
    // The deadline is the primary's clock when it applied the write, plus ttl: no earlier
    // than sentAt + ttl, no later than ackedAt + ttl. The strong ack means every replica has it.
    let servedInTime = 0;
    for (let i = 0; i < 4; i++) {
      const response = await kv.get(path);
      if (Date.now() < sentAt + ttl) {
        expectValue(response, value, revision);
        servedInTime++;
      }
    }
    const strong = await kv.get(`${path}?consistency=strong`);
    if (Date.now() < sentAt + ttl) expectValue(strong, value, revision);

    await waitUntil(ackedAt + ttl);
    // Past the deadline every worker hides the key at once: no polling here.
    for (const response of await getSequentially(kv, path, 10))
      expectError(response, 404);
    for (let i = 0; i < 4; i++) {
      const head = await kv.request('HEAD', path);
      expect(head.status).toBe(404);
      expect(head.raw.length).toBe(0);
    }
    expectError(await kv.get(`${path}?consistency=strong`), 404);
    if (servedInTime > 0) return { revision, ackedAt, ttl };
    if (attempt === 6) {
      throw new Error(
        `no GET of ${key} was answered within its TTL in 6 attempts (up to ${ttl} ms)`,
      );
    }
  }
}

describe('API contract on a default cluster', () => {
  let kv: KvCluster;

  suiteCluster({}, (started) => (kv = started));

  describe('fresh connections', () => {
    it('are spread over every worker by the cluster', async () => {
      const stats = await kv.stats();
      expect(stats.workers).toHaveLength(2);
      const seen = new Set<number>();
      for (let i = 0; i < 10; i++) seen.add((await kv.stats()).pid);
      expect([...seen].sort()).toEqual(stats.workers.map((w) => w.pid).sort());
      expect(seen.has(stats.primaryPid)).toBe(false);
    });
  });

  describe('absent keys', () => {
    it.each([
      ['plain', '/never-written'],
      ['__proto__', '/__proto__'],
      ['constructor', '/constructor'],
      ['toString', '/toString'],
      ['hasOwnProperty', '/hasOwnProperty'],
      ['..', '/%2E%2E'],
    ])('GET %s is 404 on every worker', async (_name, path) => {
      for (const response of await getSequentially(kv, path, 4))
        expectError(response, 404);
      expectError(await kv.get(`${path}?consistency=strong`), 404);
    });

    it('HEAD of an absent key is 404 with no body', async () => {
      const head = await kv.request('HEAD', '/never-written');
      expect(head.status).toBe(404);
      expect(head.headers['content-type']).toBe('application/json');
      expect(head.raw.length).toBe(0);
    });

    it('DELETE of an absent key is 404', async () => {
      expectError(await kv.delete('/never-written'), 404);
      expectError(await kv.delete('/never-written?consistency=strong'), 404);
    });
  });

  describe('writes and reads', () => {
    it('POST creates; the ack is {"key","revision"} and GET serves it with ETag "<revision>"', async () => {
      const ack = await kv.write('POST', '/created', '{"a":1}');
      const revision = expectAck(ack, 'created');
      expect(ack.raw.toString()).toBe(
        `{"key":"created","revision":${revision}}`,
      );
      await waitValueEverywhere(kv, '/created', '{"a":1}');
      for (const response of await getSequentially(kv, '/created', 4)) {
        expectValue(response, '{"a":1}', revision);
      }
    });

    it('HEAD answers like GET without a body', async () => {
      const revision = expectAck(
        await kv.write('PUT', '/headed', '"twelve chars"'),
        'headed',
      );
      await waitValueEverywhere(kv, '/headed', '"twelve chars"');
      for (let i = 0; i < 4; i++) {
        const head = await kv.request('HEAD', '/headed');
        expect(head.status).toBe(200);
        expect(head.headers['content-type']).toBe('application/json');
        expect(head.headers.etag).toBe(`"${revision}"`);
        expect(head.headers['content-length']).toBe(
          String(Buffer.byteLength('"twelve chars"')),
        );
        expect(head.raw.length).toBe(0);
      }
    });

    it('PUT creates and replaces; the ETag follows the last write', async () => {
      const first = expectAck(
        await kv.write('PUT', '/replaced', '1'),
        'replaced',
      );
      await waitValueEverywhere(kv, '/replaced', '1');
      const second = expectAck(
        await kv.write('PUT', '/replaced', '2'),
        'replaced',
      );
      expect(second).toBeGreaterThan(first);
      await waitValueEverywhere(kv, '/replaced', '2');
      for (const response of await getSequentially(kv, '/replaced', 4)) {
        expectValue(response, '2', second);
      }
    });

    it('DELETE removes the key from every worker; the ack is {"key","revision"}', async () => {
      const created = expectAck(
        await kv.write('PUT', '/deleted', 'true'),
        'deleted',
      );
      await waitValueEverywhere(kv, '/deleted', 'true');
      const removed = expectAck(await kv.delete('/deleted'), 'deleted');
      expect(removed).toBeGreaterThan(created);
      await waitAbsentEverywhere(kv, '/deleted');
      expectError(await kv.get('/deleted?consistency=strong'), 404);
      expectError(await kv.delete('/deleted'), 404);
    });

    it('DELETE sent with Content-Type: application/json and no body deletes', async () => {
      // Many clients send this header on every request; a DELETE has no body to check.
      expectAck(await kv.write('PUT', '/deleted-typed', '1'), 'deleted-typed');
      const response = await kv.request('DELETE', '/deleted-typed', {
        headers: JSON_TYPE,
      });
      expectAck(response, 'deleted-typed');
      expectError(await kv.get('/deleted-typed?consistency=strong'), 404);
    });

    it('POST with a TTL and PUT with a TTL are acknowledged like plain writes', async () => {
      expectAck(await kv.write('POST', '/ttl-post/600000', '1'), 'ttl-post');
      expectAck(await kv.write('PUT', '/ttl-put/600000', '2'), 'ttl-put');
      await waitValueEverywhere(kv, '/ttl-post', '1');
      await waitValueEverywhere(kv, '/ttl-put', '2');
      // The largest TTL allowed: ten years.
      expectAck(await kv.write('PUT', '/ttl-max/315360000000', '3'), 'ttl-max');
      await waitValueEverywhere(kv, '/ttl-max', '3');
    });

    it('every applied write grows the global revision by one', async () => {
      const r1 = expectAck(await kv.write('PUT', '/counter', '1'), 'counter');
      const r2 = expectAck(await kv.write('PUT', '/counter', '2'), 'counter');
      const r3 = expectAck(await kv.delete('/counter'), 'counter');
      const r4 = expectAck(await kv.write('POST', '/counter', '4'), 'counter');
      const r5 = expectAck(
        await kv.write('POST', '/counter-2/600000', '5'),
        'counter-2',
      );
      expect([r2, r3, r4, r5]).toEqual([r1 + 1, r1 + 2, r1 + 3, r1 + 4]);
      // Refused writes are not applied and take no revision.
      expectError(await kv.write('POST', '/counter', '6'), 409);
      expectError(await kv.delete('/absent-counter'), 404);
      const r6 = expectAck(await kv.write('PUT', '/counter', '7'), 'counter');
      expect(r6).toBe(r5 + 1);
      expect((await kv.stats()).revision).toBe(r6);
      await waitValueEverywhere(kv, '/counter', '7');
      for (const response of await getSequentially(kv, '/counter', 4))
        expectValue(response, '7', r6);
    });
  });

  describe('values are stored and served byte for byte', () => {
    const values: [string, string][] = [
      ['integer', '1'],
      ['string', '"x"'],
      ['true', 'true'],
      ['false', 'false'],
      ['null', 'null'],
      ['zero', '0'],
      ['negative zero', '-0'],
      ['empty array', '[]'],
      ['empty object', '{}'],
      ['big integer', '12345678901234567890'],
      ['big integer in an object', '{"id":12345678901234567890,"n":1.0}'],
      ['float forms', '[1.0, 1.50, -1.5E-10, 1e400, 0.1e1]'],
      ['whitespace', ' \t\r\n{ "a" : [ 1 , 2.50 ] ,\n\t"b" : { } }\r\n '],
      ['unicode', '"héllo wörld 😀 中文 \u2028 \u00a0"'],
      ['escapes', String.raw`"\u00e9\ud83d\ude00\n\t\"\\\/\u0000"`],
      ['lone surrogate escape', String.raw`"\ud800"`],
      [
        '__proto__ and constructor keys',
        '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}',
      ],
      ['duplicate member names', '{"a":1,"a":2}'],
      ['deep nesting', `${'['.repeat(200)}${']'.repeat(200)}`],
      ['a large value', JSON.stringify('x'.repeat(100_000))],
      // A worker sends a value of up to 1024 bytes as a string and a longer one as its bytes.
      ['1024 bytes of two-byte characters', `"${'é'.repeat(511)}"`],
      ['1026 bytes of two-byte characters', `"${'é'.repeat(512)}"`],
      ['a large value of emoji', JSON.stringify('😀é'.repeat(20_000))],
    ];

    it.each(values)('%s', async (name, value) => {
      const key = `value-${name.replace(/ /g, '-')}`;
      const revision = expectAck(await kv.write('PUT', `/${key}`, value), key);
      await waitValueEverywhere(kv, `/${key}`, value);
      for (const response of await getSequentially(kv, `/${key}`, 4))
        expectValue(response, value, revision);
      expectValue(await kv.get(`/${key}?consistency=strong`), value, revision);
      expectValue(
        await kv.get(`/${key}?consistency=eventual`),
        value,
        revision,
      );
    });

    it('POST stores the value as sent too', async () => {
      const value = '  [ "posted" ,\t12345678901234567890 ]  ';
      const revision = expectAck(
        await kv.write('POST', '/value-posted', value),
        'value-posted',
      );
      await waitValueEverywhere(kv, '/value-posted', value);
      expectValue(await kv.get('/value-posted'), value, revision);
    });
  });

  describe('the default value limit (1 MiB)', () => {
    it('a value of exactly 1048576 bytes is stored, one more byte is 413', async () => {
      const value = `"${'m'.repeat(1_048_576 - 2)}"`;
      const revision = expectAck(
        await kv.write('PUT', '/mebibyte', value),
        'mebibyte',
      );
      await waitValueEverywhere(kv, '/mebibyte', value);
      expectValue(
        await kv.get('/mebibyte?consistency=strong'),
        value,
        revision,
      );
      expectError(
        await kv.write(
          'PUT',
          '/mebibyte-plus',
          `"${'m'.repeat(1_048_576 - 1)}"`,
        ),
        413,
      );
      expectError(await kv.get('/mebibyte-plus?consistency=strong'), 404);
      expectAck(await kv.delete('/mebibyte'), 'mebibyte');
    });
  });

  describe('odd keys round-trip on every worker', () => {
    const keys: [string, string, string][] = [
      ['__proto__', '/__proto__', '__proto__'],
      ['constructor', '/constructor', 'constructor'],
      ['toString', '/toString', 'toString'],
      ['.. sent as %2E%2E', '/%2E%2E', '..'],
      ['. sent as %2E', '/%2E', '.'],
      ['a/b sent as a%2Fb', '/a%2Fb', 'a/b'],
      ['emoji', '/%F0%9F%98%80', '😀'],
      ['space', '/a%20b', 'a b'],
      ['NUL', '/a%00b', 'a\u0000b'],
      ['?#% characters', '/q%3Fx%23y%25z', 'q?x#y%z'],
      ['+ stays a plus', '/a+b', 'a+b'],
      ['leading underscore', '/_x', '_x'],
      ['two underscores', '/__', '__'],
      ['512 ASCII bytes', `/${'k'.repeat(512)}`, 'k'.repeat(512)],
    ];

    it.each(keys)('%s', async (_name, path, key) => {
      const value = JSON.stringify({ key });
      const revision = expectAck(await kv.write('PUT', path, value), key);
      await waitValueEverywhere(kv, path, value);
      for (const response of await getSequentially(kv, path, 4))
        expectValue(response, value, revision);
      expectValue(await kv.get(`${path}?consistency=strong`), value, revision);
      // Another spelling of the same key names the same entry.
      expectValue(await kv.get(`/${encodeEveryByte(key)}`), value, revision);
    });

    it('distinct keys stay distinct ("a%2Fb" is not the route /a/b; "a b" is not "a+b")', async () => {
      expectError(await kv.get('/a/b'), 404);
      expectValue(await kv.get('/a%2Fb'), JSON.stringify({ key: 'a/b' }));
      expectValue(await kv.get('/a+b'), JSON.stringify({ key: 'a+b' }));
      expectValue(await kv.get('/a%20b'), JSON.stringify({ key: 'a b' }));
      expectError(await kv.get('/ab'), 404);
      expectError(await kv.get('/a'), 404);
    });

    it('__proto__ can be deleted and is then absent everywhere', async () => {
      expectAck(await kv.delete('/__proto__'), '__proto__');
      await waitAbsentEverywhere(kv, '/__proto__');
      expectValue(
        await kv.get('/constructor'),
        JSON.stringify({ key: 'constructor' }),
      );
    });
  });

  describe('key length', () => {
    it.each([
      ['512 ASCII bytes', keyOfBytes('a', 512)],
      ['256 two-byte characters', keyOfBytes('é', 512)],
      ['170 three-byte characters + 2 ASCII', keyOfBytes('€', 512)],
      ['128 four-byte emoji', keyOfBytes('😀', 512)],
    ])('a key of exactly 512 bytes works: %s', async (_name, key) => {
      const path = `/${enc(key)}`;
      const revision = expectAck(await kv.write('PUT', path, '"long"'), key);
      await waitValueEverywhere(kv, path, '"long"');
      expectValue(await kv.get(path), '"long"', revision);
      expectAck(await kv.delete(path), key);
    });

    it.each([
      ['513 ASCII bytes', keyOfBytes('a', 513)],
      ['a + 256 two-byte characters', `a${'é'.repeat(256)}`],
      ['128 emoji + 1 ASCII', `${'😀'.repeat(128)}a`],
      ['4096 bytes', 'z'.repeat(4096)],
      // Percent-encoded, the request target is 18,000 characters: still a key over the limit.
      ['6000 bytes of two-byte characters', 'é'.repeat(3000)],
    ])('a key over 512 bytes is 414 on every route: %s', async (_name, key) => {
      const path = `/${enc(key)}`;
      expectError(await kv.get(path), 414);
      expectError(await kv.get(`${path}?consistency=strong`), 414);
      const head = await kv.request('HEAD', path);
      expect(head.status).toBe(414);
      expectError(await kv.write('POST', path, '1'), 414);
      expectError(await kv.write('POST', `${path}/1000`, '1'), 414);
      expectError(await kv.write('PUT', path, '1'), 414);
      expectError(await kv.write('PUT', `${path}/1000`, '1'), 414);
      expectError(await kv.delete(path), 414);
    });
  });

  describe('400 Bad Request', () => {
    it.each([
      ['not JSON', '{bad'],
      ['truncated', '{"a":1'],
      ['single quotes', "'x'"],
      ['undefined', 'undefined'],
      ['NaN', 'NaN'],
      ['two texts', '1 2'],
      ['trailing comma', '[1,]'],
      ['trailing garbage', '{"a":1}}'],
      ['whitespace only', ' \n\t '],
      ['a bare word', 'hello'],
      ['leading zero', '01'],
    ])('invalid JSON: %s', async (_name, body) => {
      expectError(await kv.write('PUT', '/invalid-json', body), 400);
      expectError(await kv.write('POST', '/invalid-json', body), 400);
      expectError(await kv.write('POST', '/invalid-json/1000', body), 400);
      expectError(await kv.get('/invalid-json?consistency=strong'), 404);
    });

    it('invalid JSON: bytes that are not UTF-8', async () => {
      const body = Buffer.from([0x22, 0xff, 0xfe, 0x22]);
      expectError(await kv.write('PUT', '/invalid-utf8', body), 400);
      expectError(await kv.get('/invalid-utf8?consistency=strong'), 404);
    });

    it('an empty body', async () => {
      expectError(await kv.write('PUT', '/empty-body', ''), 400);
      expectError(await kv.write('POST', '/empty-body', ''), 400);
      expectError(await kv.write('PUT', '/empty-body/1000', ''), 400);
      expectError(await kv.request('PUT', '/empty-body'), 400);
      expectError(await kv.request('POST', '/empty-body'), 400);
      expectError(await kv.get('/empty-body?consistency=strong'), 404);
    });

    it('a TTL with leading zeros is still its integer value', async () => {
      // "decimal digits only: an integer from 1 to 315360000000"
      expectAck(
        await kv.write('PUT', '/ttl-zeros/000600000', '1'),
        'ttl-zeros',
      );
      expectAck(
        await kv.write('PUT', '/ttl-zeros/0000000000600000', '2'),
        'ttl-zeros',
      );
      expectAck(
        await kv.write('PUT', '/ttl-zeros/0315360000000', '3'),
        'ttl-zeros',
      );
    });

    it.each([
      '0',
      '-1',
      '1.5',
      'abc',
      '315360000001',
      '1e3',
      '999999999999999',
      '0x10',
      '%2B5',
      '%205',
    ])('a bad TTL: %s', async (ttl) => {
      expectError(await kv.write('POST', `/bad-ttl/${ttl}`, '1'), 400);
      expectError(await kv.write('PUT', `/bad-ttl/${ttl}`, '1'), 400);
      expectError(await kv.get('/bad-ttl?consistency=strong'), 404);
    });

    it.each(['bogus', 'STRONG', 'Eventual', '', 'strong%20'])(
      'a bad consistency: %p',
      async (value) => {
        expectAck(
          await kv.write('PUT', '/consistency-target', '1'),
          'consistency-target',
        );
        const query = `?consistency=${value}`;
        expectError(await kv.get(`/consistency-target${query}`), 400);
        expect(
          (await kv.request('HEAD', `/consistency-target${query}`)).status,
        ).toBe(400);
        expectError(
          await kv.write('POST', `/consistency-new${query}`, '1'),
          400,
        );
        expectError(
          await kv.write('POST', `/consistency-new/1000${query}`, '1'),
          400,
        );
        expectError(
          await kv.write('PUT', `/consistency-target${query}`, '2'),
          400,
        );
        expectError(
          await kv.write('PUT', `/consistency-target/1000${query}`, '2'),
          400,
        );
        expectError(await kv.delete(`/consistency-target${query}`), 400);
        // Nothing was applied.
        expectValue(
          await kv.get('/consistency-target?consistency=strong'),
          '1',
        );
        expectError(await kv.get('/consistency-new?consistency=strong'), 404);
      },
    );

    it.each(['/_', '/%5F'])('the reserved key: %s', async (path) => {
      expectError(await kv.get(path), 400);
      expect((await kv.request('HEAD', path)).status).toBe(400);
      expectError(await kv.write('POST', path, '1'), 400);
      expectError(await kv.write('POST', `${path}/1000`, '1'), 400);
      expectError(await kv.write('PUT', path, '1'), 400);
      expectError(await kv.write('PUT', `${path}/1000`, '1'), 400);
      expectError(await kv.delete(path), 400);
    });

    it.each(['/%zz', '/%C3%28', '/%', '/a%2', '/%E2%82', '/%ED%A0%80', '/%FF'])(
      'bad percent-encoding: %s',
      async (path) => {
        expectError(await kv.get(path), 400);
        expectError(await kv.write('PUT', path, '1'), 400);
        expectError(await kv.write('POST', `${path}/1000`, '1'), 400);
        expectError(await kv.delete(path), 400);
      },
    );
  });

  describe('404 Not Found', () => {
    it.each([
      ['GET', '/a/b'],
      ['GET', '/a/b/c'],
      ['GET', '/_/nope'],
      ['GET', '/'],
      ['GET', '/some-key/1000'],
      ['DELETE', '/some-key/1000'],
      ['POST', '/a/b/c'],
      ['PATCH', '/some-key/1000'],
      ['POST', '/'],
      ['POST', '/some-key/'],
      ['PUT', '/some-key/'],
      ['DELETE', '/some-key/'],
      ['GET', '/some-key/'],
      ['POST', '//'],
      ['PUT', '//1000'],
      ['DELETE', '//'],
      ['GET', '//'],
    ])('an unknown route: %s %s', async (method, path) => {
      const withBody = method !== 'GET' && method !== 'DELETE';
      const response = await kv.request(method, path, {
        body: withBody ? '1' : undefined,
        headers: withBody ? JSON_TYPE : {},
      });
      expectError(response, 404);
    });
  });

  describe('409 Conflict', () => {
    it('POST on a present key is 409 and leaves the value alone', async () => {
      const revision = expectAck(
        await kv.write('POST', '/taken', '"first"'),
        'taken',
      );
      expectError(await kv.write('POST', '/taken', '"second"'), 409);
      expectError(await kv.write('POST', '/taken/1000', '"third"'), 409);
      await waitValueEverywhere(kv, '/taken', '"first"');
      expectValue(
        await kv.get('/taken?consistency=strong'),
        '"first"',
        revision,
      );
    });

    it('40 concurrent POSTs of one key on fresh connections: exactly one 200, 39 409', async () => {
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          kv.write('POST', '/contended', JSON.stringify({ writer: i })),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(39);
      for (const response of responses) {
        if (response.status === 409) expectError(response, 409);
      }
      const winner = responses.findIndex((r) => r.status === 200);
      const revision = expectAck(responses[winner]!, 'contended');
      const value = JSON.stringify({ writer: winner });
      await waitValueEverywhere(kv, '/contended', value);
      expectValue(
        await kv.get('/contended?consistency=strong'),
        value,
        revision,
      );
    });
  });

  describe('concurrent conditional writes', () => {
    it('40 concurrent PUTs with If-None-Match: * of one key: exactly one 200, 39 412', async () => {
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          kv.write('PUT', '/contended-inm', `${i}`, { 'if-none-match': '*' }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 412)).toHaveLength(39);
      const winner = statuses.indexOf(200);
      await waitValueEverywhere(kv, '/contended-inm', `${winner}`);
    });

    it('If-Match compare-and-set loses no increment among 8 concurrent clients', async () => {
      expectAck(await kv.write('PUT', '/cas-counter', '0'), 'cas-counter');
      const client = async (): Promise<void> => {
        for (let done = 0; done < 5;) {
          const current = await kv.get('/cas-counter?consistency=strong');
          expect(current.status).toBe(200);
          const next = Number(current.body) + 1;
          const response = await kv.write('PUT', '/cas-counter', `${next}`, {
            'if-match': current.headers.etag as string,
          });
          if (response.status === 200) done++;
          else expectError(response, 412);
        }
      };
      await Promise.all(Array.from({ length: 8 }, client));
      await waitValueEverywhere(kv, '/cas-counter', '40');
      expectValue(await kv.get('/cas-counter?consistency=strong'), '40');
    });
  });

  describe('conditional writes (412 Precondition Failed)', () => {
    let revision: number;

    beforeEach(async () => {
      revision = expectAck(await kv.write('PUT', '/cond', '"v1"'), 'cond');
    });

    it('PUT with If-Match of another ETag is 412 and changes nothing', async () => {
      expectError(
        await kv.write('PUT', '/cond', '"v2"', {
          'if-match': `"${revision + 1000}"`,
        }),
        412,
      );
      expectError(
        await kv.write('PUT', '/cond', '"v2"', {
          'if-match': `"${revision - 1}"`,
        }),
        412,
      );
      // A weak tag never matches If-Match (strong comparison).
      expectError(
        await kv.write('PUT', '/cond', '"v2"', {
          'if-match': `W/"${revision}"`,
        }),
        412,
      );
      expectValue(await kv.get('/cond?consistency=strong'), '"v1"', revision);
    });

    it('PUT with If-Match of the current ETag applies', async () => {
      const next = expectAck(
        await kv.write('PUT', '/cond', '"v2"', { 'if-match': `"${revision}"` }),
        'cond',
      );
      expect(next).toBeGreaterThan(revision);
      // The old ETag is stale now.
      expectError(
        await kv.write('PUT', '/cond', '"v3"', { 'if-match': `"${revision}"` }),
        412,
      );
      // A list of tags matches when one of them does.
      expectAck(
        await kv.write('PUT', '/cond', '"v3"', {
          'if-match': `"1", "${next}"`,
        }),
        'cond',
      );
      await waitValueEverywhere(kv, '/cond', '"v3"');
    });

    it('PUT with If-Match: * applies to a present key, 412 on an absent one', async () => {
      expectAck(
        await kv.write('PUT', '/cond', '"star"', { 'if-match': '*' }),
        'cond',
      );
      expectError(
        await kv.write('PUT', '/cond-absent', '1', { 'if-match': '*' }),
        412,
      );
      expectError(
        await kv.write('PUT', '/cond-absent/1000', '1', { 'if-match': '*' }),
        412,
      );
      expectError(await kv.get('/cond-absent?consistency=strong'), 404);
    });

    it('If-Match with an ETag on an absent key is 412 (PUT and DELETE)', async () => {
      expectError(
        await kv.write('PUT', '/cond-absent', '1', {
          'if-match': `"${revision}"`,
        }),
        412,
      );
      expectError(
        await kv.delete('/cond-absent', { 'if-match': `"${revision}"` }),
        412,
      );
      expectError(await kv.delete('/cond-absent', { 'if-match': '*' }), 412);
      expectError(await kv.get('/cond-absent?consistency=strong'), 404);
    });

    it('DELETE with If-Match of another ETag is 412 and keeps the key', async () => {
      expectError(
        await kv.delete('/cond', { 'if-match': `"${revision + 1000}"` }),
        412,
      );
      expectValue(await kv.get('/cond?consistency=strong'), '"v1"', revision);
    });

    it('DELETE with If-Match of the current ETag or * applies', async () => {
      expectAck(
        await kv.delete('/cond', { 'if-match': `"${revision}"` }),
        'cond',
      );
      await waitAbsentEverywhere(kv, '/cond');
      expectAck(await kv.write('PUT', '/cond', '"again"'), 'cond');
      expectAck(await kv.delete('/cond', { 'if-match': '*' }), 'cond');
      await waitAbsentEverywhere(kv, '/cond');
    });

    it('PUT with If-None-Match: * is 412 on a present key and creates an absent one', async () => {
      expectError(
        await kv.write('PUT', '/cond', '"v2"', { 'if-none-match': '*' }),
        412,
      );
      expectValue(await kv.get('/cond?consistency=strong'), '"v1"', revision);
      const created = expectAck(
        await kv.write('PUT', '/cond-new', '"made"', { 'if-none-match': '*' }),
        'cond-new',
      );
      await waitValueEverywhere(kv, '/cond-new', '"made"');
      expectValue(await kv.get('/cond-new'), '"made"', created);
      expectError(
        await kv.write('PUT', '/cond-new', '"again"', { 'if-none-match': '*' }),
        412,
      );
      expectAck(await kv.delete('/cond-new'), 'cond-new');
    });
  });

  describe('415 Unsupported Media Type', () => {
    it.each([
      ['text/plain', { 'content-type': 'text/plain' }],
      [
        'text/plain with charset',
        { 'content-type': 'text/plain; charset=utf-8' },
      ],
      ['a form', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['application/jsonx', { 'content-type': 'application/jsonx' }],
      ['no content type with a body', {}],
    ])('%s', async (_name, headers: Record<string, string>) => {
      for (const [method, path] of [
        ['PUT', '/media'],
        ['POST', '/media'],
        ['PUT', '/media/1000'],
        ['POST', '/media/1000'],
      ]) {
        expectError(
          await kv.request(method!, path!, { body: '{"a":1}', headers }),
          415,
        );
      }
      expectError(await kv.get('/media?consistency=strong'), 404);
    });

    it.each([
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/json; charset="utf-8"',
    ])('a charset parameter is accepted: %s', async (type) => {
      const revision = expectAck(
        await kv.write('PUT', '/charset', '"ü"', { 'content-type': type }),
        'charset',
      );
      expectValue(await kv.get('/charset?consistency=strong'), '"ü"', revision);
    });
  });

  describe('replication', () => {
    it('a write, an update and a delete reach every worker within milliseconds', async () => {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const path = `/fanout-${i}`;
        expectAck(await kv.write('POST', path, `${i}`), `fanout-${i}`);
        times.push(await waitValueEverywhere(kv, path, `${i}`));
        expectAck(await kv.write('PUT', path, `"${i}"`), `fanout-${i}`);
        times.push(await waitValueEverywhere(kv, path, `"${i}"`));
        expectAck(await kv.delete(path), `fanout-${i}`);
        times.push(await waitAbsentEverywhere(kv, path));
      }
      // Each sample includes four HTTP round trips, which a busy machine slows down: the
      // budget only catches replication that waits for something (a timer, a stall). Every
      // sample is already bounded by the 5 s poll.
      times.sort((a, b) => a - b);
      expect(times[Math.floor(times.length / 2)]).toBeLessThan(1_000);
    });
  });

  describe('TTL', () => {
    it('a key POSTed with a TTL is served, then 404 on every worker after the deadline', async () => {
      const { revision } = await expectExpiresOnTime(kv, 'ttl-default-cluster');
      // The primary deletes it (a change of its own), and every replica agrees.
      await waitFor(
        async () => (await kv.digest()).revision > revision,
        5000,
        'the reaper',
      );
      const digest = await kv.waitDigestConverged();
      expect(digest.revision).toBe(revision + 1);
    });
  });

  describe('system endpoints', () => {
    it('GET /_/health is 200 {"status":"ok"} on every worker', async () => {
      for (const response of await getSequentially(kv, '/_/health', 4)) {
        expect(response.status).toBe(200);
        expect(response.headers['content-type']).toBe('application/json');
        expect(response.body).toBe('{"status":"ok"}');
      }
    });

    it('GET /_/stats has keys, revision, pid and one live entry per worker', async () => {
      const response = await kv.get('/_/stats');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/json');
      const stats = json<Record<string, unknown>>(response);
      expect(Number.isSafeInteger(stats.keys)).toBe(true);
      expect(stats.keys as number).toBeGreaterThan(0);
      expect(Number.isSafeInteger(stats.revision)).toBe(true);
      expect(Number.isSafeInteger(stats.pid)).toBe(true);
      expect(Number.isSafeInteger(stats.primaryPid)).toBe(true);
      expect(stats.primaryPid).toBe(kv.pid);
      const workers = stats.workers as Record<string, unknown>[];
      expect(workers).toHaveLength(2);
      for (const worker of workers) {
        expect(Number.isSafeInteger(worker.pid)).toBe(true);
        expect(worker.live).toBe(true);
        expect(Number.isSafeInteger(worker.revision)).toBe(true);
        expect(worker.revision as number).toBeLessThanOrEqual(
          stats.revision as number,
        );
        expect(worker).toHaveProperty('lag');
      }
      expect(workers.map((w) => w.pid)).toContain(stats.pid);
      expect(new Set(workers.map((w) => w.pid)).size).toBe(2);
    });

    it('GET /_/stats counts live keys', async () => {
      const before = (await kv.stats()).keys;
      expectAck(await kv.write('POST', '/counted-1', '1'), 'counted-1');
      expectAck(await kv.write('POST', '/counted-2', '2'), 'counted-2');
      expect((await kv.stats()).keys).toBe(before + 2);
      expectAck(await kv.delete('/counted-1'), 'counted-1');
      expect((await kv.stats()).keys).toBe(before + 1);
    });

    it('GET /_/metrics is Prometheus text with the kv_ metrics', async () => {
      const response = await kv.get('/_/metrics');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      const text = response.body;
      expect(text).toMatch(/^# HELP kv_\w+ .+$/m);
      expect(text).toMatch(
        /^# TYPE kv_\w+ (counter|gauge|histogram|summary)$/m,
      );
      for (const name of [
        'kv_revision',
        'kv_keys',
        'kv_http_request_duration_seconds_bucket',
      ]) {
        expect(text).toMatch(
          new RegExp(`^${name}(\\{[^}]*\\})? [0-9.e+-]+$`, 'm'),
        );
      }
      // Every sample line is well formed.
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        expect(line).toMatch(
          /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)( [0-9]+)?$/,
        );
      }
      const revision = Number(/^kv_revision (\S+)$/m.exec(text)?.[1]);
      expect(revision).toBe((await kv.stats()).revision);
    });

    it('GET /_/digest: every worker converges on the primary once writes stop', async () => {
      for (let i = 0; i < 30; i++)
        expectAck(
          await kv.write('PUT', `/digest-${i % 7}`, `${i}`),
          `digest-${i % 7}`,
        );
      const digest = await kv.waitDigestConverged();
      expect(typeof digest.digest).toBe('string');
      expect(digest.digest.length).toBeGreaterThan(0);
      const stats = await kv.stats();
      expect(digest.revision).toBe(stats.revision);
      expect(digest.workers.map((w) => w.pid).sort()).toEqual(
        stats.workers.map((w) => w.pid).sort(),
      );
      // The digest covers the data: a write changes it, and every worker follows.
      expectAck(await kv.write('PUT', '/digest-0', '"changed"'), 'digest-0');
      const after = await kv.waitDigestConverged();
      expect(after.digest).not.toBe(digest.digest);
      expect(after.revision).toBe(digest.revision + 1);
    });
  });
});

describe('TTL before the primary reaps (KV_TTL_INTERVAL_MS=60000)', () => {
  let kv: KvCluster;

  suiteCluster(
    { env: { KV_TTL_INTERVAL_MS: '60000' } },
    (started) => (kv = started),
  );

  it('replicas hide an expired key by themselves; stats do not count it', async () => {
    expectAck(await kv.write('PUT', '/stays', '1'), 'stays');
    const { revision } = await expectExpiresOnTime(kv, 'expiring');
    // Nothing was reaped (a reap is a write and would move the revision), yet every replica
    // and the primary agree the key is gone.
    const digest = await kv.waitDigestConverged();
    expect(digest.revision).toBe(revision);
    expect((await kv.stats()).keys).toBe(1);
  });

  it('POST recreates an expired key (an expired key is absent)', async () => {
    const { ackedAt, ttl } = await expectExpiresOnTime(kv, 'recreated');
    expect(Date.now()).toBeGreaterThan(ackedAt + ttl);
    const revision = expectAck(
      await kv.write('POST', '/recreated', '"back"'),
      'recreated',
    );
    await waitValueEverywhere(kv, '/recreated', '"back"');
    expectValue(
      await kv.get('/recreated?consistency=strong'),
      '"back"',
      revision,
    );
    expectError(await kv.write('POST', '/recreated', '"twice"'), 409);
  });

  it('an expired key fails If-Match and DELETE like an absent one', async () => {
    const { revision } = await expectExpiresOnTime(kv, 'expired-cond');
    expectError(
      await kv.write('PUT', '/expired-cond', '1', {
        'if-match': `"${revision}"`,
      }),
      412,
    );
    expectError(
      await kv.write('PUT', '/expired-cond', '1', { 'if-match': '*' }),
      412,
    );
    expectError(await kv.delete('/expired-cond'), 404);
    expectAck(
      await kv.write('PUT', '/expired-cond', '"new"', { 'if-none-match': '*' }),
      'expired-cond',
    );
  });

  it('PUT without a TTL removes the TTL', async () => {
    const sentAt = Date.now();
    expectAck(
      await kv.write('PUT', '/kept/300?consistency=strong', '"short"'),
      'kept',
    );
    const revision = expectAck(
      await kv.write('PUT', '/kept?consistency=strong', '"kept"'),
      'kept',
    );
    await waitUntil(Date.now() + 300);
    expect(Date.now()).toBeGreaterThan(sentAt + 300);
    for (const response of await getSequentially(kv, '/kept', 6))
      expectValue(response, '"kept"', revision);
    expectValue(await kv.get('/kept?consistency=strong'), '"kept"', revision);
  });

  it('PUT with a TTL replaces the value and sets a new TTL', async () => {
    expectAck(await kv.write('PUT', '/renewed', '"forever"'), 'renewed');
    const sentAt = Date.now();
    const revision = expectAck(
      await kv.write('PUT', '/renewed/300?consistency=strong', '"brief"'),
      'renewed',
    );
    const ackedAt = Date.now();
    const early = await kv.get('/renewed');
    if (Date.now() < sentAt + 300) expectValue(early, '"brief"', revision);
    await waitUntil(ackedAt + 300);
    for (const response of await getSequentially(kv, '/renewed', 6))
      expectError(response, 404);
    expectError(await kv.get('/renewed?consistency=strong'), 404);
  });

  it('a PUT of a new TTL extends the deadline', async () => {
    expectAck(
      await kv.write('PUT', '/extended/300?consistency=strong', '1'),
      'extended',
    );
    const revision = expectAck(
      await kv.write('PUT', '/extended/60000?consistency=strong', '2'),
      'extended',
    );
    await waitUntil(Date.now() + 300);
    for (const response of await getSequentially(kv, '/extended', 4))
      expectValue(response, '2', revision);
  });
});

describe('strong consistency (KV_RECONCILE_INTERVAL_MS=50)', () => {
  let kv: KvCluster;

  suiteCluster(
    { env: { KV_RECONCILE_INTERVAL_MS: '50' } },
    (started) => (kv = started),
  );

  /** Ten GETs fired at once, each on a fresh connection, right after a strong write. */
  function tenAtOnce(path: string): Promise<HttpResponse[]> {
    return Promise.all(Array.from({ length: 10 }, () => kv.get(path)));
  }

  it('a strong write is visible on every connection as soon as it is acknowledged', async () => {
    for (let i = 0; i < 8; i++) {
      const path = `/strong-${i}`;
      const created = expectAck(
        await kv.write('POST', `${path}?consistency=strong`, `{"v":${i}}`),
        `strong-${i}`,
      );
      for (const response of await tenAtOnce(path))
        expectValue(response, `{"v":${i}}`, created);

      const updated = expectAck(
        await kv.write('PUT', `${path}?consistency=strong`, `[${i}]`),
        `strong-${i}`,
      );
      for (const response of await tenAtOnce(path))
        expectValue(response, `[${i}]`, updated);

      const withTtl = expectAck(
        await kv.write('PUT', `${path}/60000?consistency=strong`, `"${i}"`),
        `strong-${i}`,
      );
      for (const response of await tenAtOnce(path))
        expectValue(response, `"${i}"`, withTtl);

      expectAck(await kv.delete(`${path}?consistency=strong`), `strong-${i}`);
      for (const response of await tenAtOnce(path)) expectError(response, 404);
    }
  });

  it('a conditional strong write is visible at once too', async () => {
    const first = expectAck(
      await kv.write('PUT', '/strong-cond?consistency=strong', '1'),
      'strong-cond',
    );
    const second = expectAck(
      await kv.write('PUT', '/strong-cond?consistency=strong', '2', {
        'if-match': `"${first}"`,
      }),
      'strong-cond',
    );
    for (const response of await tenAtOnce('/strong-cond'))
      expectValue(response, '2', second);
  });

  it('GET ?consistency=strong serves the value byte for byte with its ETag (null included)', async () => {
    for (const [key, value] of [
      ['strong-null', 'null'],
      ['strong-space', ' { "a" : 12345678901234567890 } '],
      ['strong-false', 'false'],
    ]) {
      const revision = expectAck(
        await kv.write('PUT', `/${key}`, value!),
        key!,
      );
      const response = await kv.get(`/${key}?consistency=strong`);
      expectValue(response, value!, revision);
      const head = await kv.request('HEAD', `/${key}?consistency=strong`);
      expect(head.status).toBe(200);
      expect(head.headers.etag).toBe(`"${revision}"`);
    }
    expectError(await kv.get('/strong-never?consistency=strong'), 404);
  });
});

describe('strong reads between reconciles (KV_RECONCILE_INTERVAL_MS=1000)', () => {
  let kv: KvCluster;

  suiteCluster(
    { env: { KV_RECONCILE_INTERVAL_MS: '1000' } },
    (started) => (kv = started),
  );

  it('GET ?consistency=strong answers from the primary while no replica has the write yet', async () => {
    // An eventual write is applied by the primary at once but published to the replicas only at
    // the next reconcile (1 s later). A strong read in that window that sees the new value, with
    // every replica seen still behind it afterwards, can only have come from the primary. The
    // longest interval there is leaves a busy machine time for the reads that prove it.
    expectAck(
      await kv.write('PUT', '/strong-primary', '"v0"'),
      'strong-primary',
    );
    const attempts: string[] = [];
    let proven = false;
    for (let attempt = 1; attempt <= 10 && !proven; attempt++) {
      const value = `"v${attempt}"`;
      const pending = kv.write('PUT', '/strong-primary', value);
      let strong: HttpResponse | undefined;
      await waitFor(
        async () => {
          strong = await kv.get('/strong-primary?consistency=strong');
          return strong.body === value;
        },
        5000,
        'the strong read to see the write',
        0,
      );
      const replicas = new Map<number, number>();
      for (let i = 0; i < 8 && replicas.size < kv.workers; i++) {
        const stats = await kv.stats();
        if (stats.worker === undefined)
          throw new Error('/_/stats has no "worker" entry');
        replicas.set(stats.pid, stats.worker.revision);
      }
      const revision = expectAck(await pending, 'strong-primary');
      expectValue(strong!, value, revision);
      attempts.push(
        `revision ${revision}, replicas ${JSON.stringify([...replicas])}`,
      );
      proven =
        replicas.size === kv.workers &&
        [...replicas.values()].every((r) => r < revision);
    }
    if (!proven)
      throw new Error(`the window was never caught: ${attempts.join('; ')}`);
  });
});

describe('413 Payload Too Large (KV_MAX_VALUE_BYTES=1024)', () => {
  let kv: KvCluster;

  suiteCluster(
    { env: { KV_MAX_VALUE_BYTES: '1024' } },
    (started) => (kv = started),
  );

  const ascii = (bytes: number): string => `"${'a'.repeat(bytes - 2)}"`;

  it('a value of exactly 1024 bytes is stored', async () => {
    const value = ascii(1024);
    const revision = expectAck(
      await kv.write('PUT', '/at-limit', value),
      'at-limit',
    );
    await waitValueEverywhere(kv, '/at-limit', value);
    expectValue(await kv.get('/at-limit'), value, revision);
    // Bytes, not characters: 511 two-byte characters and the quotes make 1024 bytes.
    const wide = `"${'é'.repeat(511)}"`;
    expect(Buffer.byteLength(wide)).toBe(1024);
    expectAck(await kv.write('POST', '/at-limit-wide', wide), 'at-limit-wide');
    expectValue(await kv.get('/at-limit-wide?consistency=strong'), wide);
  });

  it.each([
    ['1025 ASCII bytes', ascii(1025)],
    [
      '513 two-byte characters (1026 bytes, 515 characters)',
      `"${'é'.repeat(513)}"`,
    ],
    ['64 KiB', ascii(65_536)],
  ])('a value over the limit is 413: %s', async (_name, value) => {
    for (const [method, path] of [
      ['PUT', '/too-big'],
      ['POST', '/too-big'],
      ['PUT', '/too-big/1000'],
      ['POST', '/too-big/1000'],
    ] as const) {
      expectError(await kv.write(method, path, value), 413);
    }
    expectError(await kv.get('/too-big?consistency=strong'), 404);
  });

  it('a chunked body over the limit is 413 too', async () => {
    const response = await kv.request('PUT', '/too-big-chunked', {
      body: ascii(1025),
      chunked: true,
      headers: JSON_TYPE,
    });
    expectError(response, 413);
    const small = await kv.request('PUT', '/chunked-ok', {
      body: ascii(1024),
      chunked: true,
      headers: JSON_TYPE,
    });
    expectAck(small, 'chunked-ok');
    expectError(await kv.get('/too-big-chunked?consistency=strong'), 404);
  });
});

describe('507 Insufficient Storage (KV_MAX_KEYS=3)', () => {
  let kv: KvCluster;

  suiteCluster({ env: { KV_MAX_KEYS: '3' } }, (started) => (kv = started));

  it('a new key at the limit is 507 while updates and deletes still work', async () => {
    for (const key of ['k1', 'k2', 'k3'])
      expectAck(await kv.write('POST', `/${key}`, '1'), key);
    expect((await kv.stats()).keys).toBe(3);

    expectError(await kv.write('POST', '/k4', '1'), 507);
    expectError(await kv.write('PUT', '/k4', '1'), 507);
    expectError(await kv.write('POST', '/k4/1000', '1'), 507);
    expectError(await kv.write('PUT', '/k4?consistency=strong', '1'), 507);
    expectError(await kv.get('/k4?consistency=strong'), 404);

    // Updates of present keys, with and without TTL, conditional or not.
    const updated = expectAck(await kv.write('PUT', '/k1', '"updated"'), 'k1');
    expectAck(await kv.write('PUT', '/k2/600000', '"with ttl"'), 'k2');
    expectAck(
      await kv.write('PUT', '/k3', '"cond"', { 'if-match': '*' }),
      'k3',
    );
    await waitValueEverywhere(kv, '/k1', '"updated"');
    expectValue(await kv.get('/k1'), '"updated"', updated);
    expect((await kv.stats()).keys).toBe(3);

    // A delete frees a slot.
    expectAck(await kv.delete('/k3'), 'k3');
    expectAck(await kv.write('POST', '/k4', '"fourth"'), 'k4');
    expectError(await kv.write('POST', '/k5', '1'), 507);
    expect((await kv.stats()).keys).toBe(3);
  });

  it('an expired key frees its slot', async () => {
    expectAck(await kv.delete('/k4'), 'k4');
    const sentAt = Date.now();
    expectAck(await kv.write('POST', '/short/300', '1'), 'short');
    const ackedAt = Date.now();
    const early = await kv.write('POST', '/k5', '1');
    // Before the deadline the TTL key still holds its slot.
    if (Date.now() < sentAt + 300) expectError(early, 507);
    await waitUntil(ackedAt + 300);
    // Past it, the expired key no longer counts (unless a stalled machine already let k5 in).
    if (early.status !== 200) {
      expectAck(await kv.write('POST', '/k5', '"fits"'), 'k5');
    }
    expect((await kv.stats()).keys).toBe(3);
  });
});

describe('401 Unauthorized (KV_AUTH_TOKEN set)', () => {
  const token = 'e2e-token-0123456789';
  const auth = { authorization: `Bearer ${token}` };
  let kv: KvCluster;

  suiteCluster({ env: { KV_AUTH_TOKEN: token } }, (started) => (kv = started));

  function expectUnauthorized(response: HttpResponse): void {
    expectError(response, 401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer\b/);
  }

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token' }],
    ['the token with a suffix', { authorization: `Bearer ${token}x` }],
    ['the token without the scheme', { authorization: token }],
    [
      'Basic credentials',
      {
        authorization: `Basic ${Buffer.from(`u:${token}`).toString('base64')}`,
      },
    ],
    ['an empty header', { authorization: '' }],
  ])(
    '%s: 401 with WWW-Authenticate on every route',
    async (_name, headers: Record<string, string>) => {
      expectUnauthorized(await kv.get('/guarded', headers));
      expectUnauthorized(await kv.get('/guarded?consistency=strong', headers));
      const head = await kv.request('HEAD', '/guarded', { headers });
      expect(head.status).toBe(401);
      expect(head.headers['www-authenticate']).toMatch(/^Bearer\b/);
      expectUnauthorized(await kv.write('POST', '/guarded', '1', headers));
      expectUnauthorized(await kv.write('POST', '/guarded/1000', '1', headers));
      expectUnauthorized(await kv.write('PUT', '/guarded', '1', headers));
      expectUnauthorized(await kv.write('PUT', '/guarded/1000', '1', headers));
      expectUnauthorized(await kv.delete('/guarded', headers));
      expectUnauthorized(await kv.get('/_/stats', headers));
      expectUnauthorized(await kv.get('/_/digest', headers));
      expectUnauthorized(await kv.get('/_/metrics', headers));
      expectUnauthorized(await kv.get('/no/such/route', headers));
      // Nothing was written.
      expectError(await kv.get('/guarded?consistency=strong', auth), 404);
    },
  );

  it('/_/health stays open', async () => {
    for (const response of await getSequentially(kv, '/_/health', 4)) {
      expect(response.status).toBe(200);
      expect(response.body).toBe('{"status":"ok"}');
    }
  });

  it('the right token opens every route', async () => {
    const revision = expectAck(
      await kv.write('POST', '/guarded', '{"ok":true}', auth),
      'guarded',
    );
    await waitFor(
      async () =>
        (await getSequentially(kv, '/guarded', 4, auth)).every(
          (r) => r.status === 200,
        ),
      5000,
      'the value on every worker',
    );
    expectValue(await kv.get('/guarded', auth), '{"ok":true}', revision);
    expectValue(
      await kv.get('/guarded?consistency=strong', auth),
      '{"ok":true}',
      revision,
    );
    expectAck(await kv.write('PUT', '/guarded/60000', '2', auth), 'guarded');
    expectAck(await kv.delete('/guarded', auth), 'guarded');
    expectError(await kv.get('/guarded?consistency=strong', auth), 404);
    expect((await kv.get('/_/stats', auth)).status).toBe(200);
    expect((await kv.get('/_/digest', auth)).status).toBe(200);
    expect((await kv.get('/_/metrics', auth)).status).toBe(200);
    // Errors behind the token are the ordinary ones.
    expectError(await kv.get('/no/such/route', auth), 404);
    expectError(await kv.get('/_', auth), 400);
  });
});
