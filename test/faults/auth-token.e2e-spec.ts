import { KvCluster } from '../support/cluster';
import {
  expectAck,
  expectError,
  expectValue,
  getSequentially,
  JSON_TYPE,
} from '../support/expectations';
import {
  bearer,
  KeepAliveConnection,
  scenarioCluster,
  summary,
} from '../support/faults';

/** KV_AUTH_TOKEN: which routes the bearer token guards. */

describe('KV_AUTH_TOKEN set', () => {
  const TOKEN = 'faults-secret-token';
  let kv: KvCluster;

  scenarioCluster(
    { workers: 2, env: { KV_AUTH_TOKEN: TOKEN } },
    (started) => (kv = started),
  );

  const routes: [string, string, string | undefined][] = [
    ['GET', '/auth-key', undefined],
    ['HEAD', '/auth-key', undefined],
    ['GET', '/auth-key?consistency=strong', undefined],
    ['PUT', '/auth-key', '1'],
    ['PUT', '/auth-key/60000', '1'],
    ['POST', '/auth-key', '1'],
    ['POST', '/auth-key/60000', '1'],
    ['DELETE', '/auth-key', undefined],
    ['GET', '/_/stats', undefined],
    ['GET', '/_/digest', undefined],
    ['GET', '/_/metrics', undefined],
    ['GET', '/no/such/route/here', undefined],
    ['GET', '/_/health/', undefined],
    ['GET', '/_/health?x=1', undefined],
    ['GET', '//_/health', undefined],
  ];
  const badHeaders: [string, Record<string, string>][] = [
    ['no Authorization', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token' }],
    ['a token prefix', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['the token plus a byte', { authorization: `Bearer ${TOKEN}x` }],
    ['the Basic scheme', { authorization: `Basic ${TOKEN}` }],
    ['the bare token', { authorization: TOKEN }],
    ['an empty Bearer', { authorization: 'Bearer ' }],
  ];

  it('every route but /_/health answers 401 with WWW-Authenticate without the right token, and nothing is stored', async () => {
    let refused = 0;
    const before = (await kv.stats(bearer(TOKEN))).revision;
    for (const [method, path, body] of routes) {
      for (const [, headers] of badHeaders) {
        const response = await kv.request(method, path, {
          body,
          headers: { ...headers, ...(body === undefined ? {} : JSON_TYPE) },
        });
        expect(response.status).toBe(401);
        expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
        if (method !== 'HEAD')
          expect(expectError(response, 401).error).toBe('unauthorized');
        refused++;
      }
    }
    expect((await kv.stats(bearer(TOKEN))).revision).toBe(before);
    expectError(
      await kv.get('/auth-key?consistency=strong', bearer(TOKEN)),
      404,
    );
    summary('auth', { refused401: refused, stored: 0, writesLost: 0 });
  });

  it('/_/health is open; the right token opens every route', async () => {
    for (const health of await getSequentially(kv, '/_/health', 4))
      expect(health.status).toBe(200);
    const auth = bearer(TOKEN);
    const revision = expectAck(
      await kv.write('PUT', '/auth-key?consistency=strong', '{"ok":1}', auth),
      'auth-key',
    );
    for (const get of await getSequentially(kv, '/auth-key', 4, auth))
      expectValue(get, '{"ok":1}', revision);
    expect(
      (await kv.request('HEAD', '/auth-key', { headers: auth })).status,
    ).toBe(200);
    for (const path of ['/_/stats', '/_/digest', '/_/metrics'])
      expect((await kv.get(path, auth)).status).toBe(200);
    expectError(await kv.write('POST', '/auth-key', '1', auth), 409);
    expectAck(await kv.delete('/auth-key', auth), 'auth-key');
    expectError(await kv.get('/auth-key?consistency=strong', auth), 404);
    // The 401 is a clean answer on a keep-alive connection: the next request on it works.
    const connection = new KeepAliveConnection(kv.port);
    try {
      expect((await connection.get('/_/stats')).status).toBe(401);
      expect(
        (await connection.request('GET', '/_/stats', { headers: auth })).status,
      ).toBe(200);
      expect(connection.socketsOpened).toBe(1);
    } finally {
      connection.close();
    }
  });
});
