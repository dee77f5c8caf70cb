import {
  HttpResponse,
  json,
  KvCluster,
  suiteCluster,
  waitUntil,
} from './support/cluster';
import {
  expectAck,
  expectError,
  expectValue,
  getSequentially,
  JSON_TYPE,
} from './support/expectations';

/**
 * TTL read-back and the `?ttl=` form (docs/api.md), end to end against the built cluster with
 * two workers. Every request goes out on a fresh connection, so consecutive requests land on
 * different workers (cluster round-robin). Writes here are `consistency=strong`: once
 * acknowledged, every worker has applied them, so reads need no polling.
 */

const TEN_MINUTES = 600_000;
const STRONG = 'consistency=strong';

/** The `X-Expires-At` of `response` as a number, or undefined when it has none. */
function expiresAt(response: HttpResponse): number | undefined {
  const header = response.headers['x-expires-at'];
  if (header === undefined) return undefined;
  expect(header).toMatch(/^[0-9]+$/);
  return Number(header);
}

/**
 * GET and HEAD of `path` on every worker (four of each, one after another) and from the
 * primary (`consistency=strong`): every answer is 200 and they all give the same
 * `X-Expires-At`, which is returned (undefined when none has it). GETs must serve `value`.
 */
async function readEverywhere(
  kv: KvCluster,
  path: string,
  value: string,
  revision?: number,
): Promise<number | undefined> {
  const separator = path.includes('?') ? '&' : '?';
  const gets = await getSequentially(kv, path, 4);
  const heads: HttpResponse[] = [];
  for (let i = 0; i < 4; i++) heads.push(await kv.request('HEAD', path));
  for (let i = 0; i < 2; i++) {
    gets.push(await kv.get(`${path}${separator}${STRONG}`));
    heads.push(await kv.request('HEAD', `${path}${separator}${STRONG}`));
  }
  for (const get of gets) expectValue(get, value, revision);
  for (const head of heads) {
    expect(head.status).toBe(200);
    expect(head.raw.length).toBe(0);
    if (revision !== undefined) expect(head.headers.etag).toBe(`"${revision}"`);
  }
  const first = expiresAt(gets[0]!);
  const all = [...gets, ...heads].map(expiresAt);
  expect(all).toEqual(all.map(() => first));
  return first;
}

/** Every worker and the primary answer 404 for `path`, GET and HEAD alike. */
async function absentEverywhere(kv: KvCluster, path: string): Promise<void> {
  for (const get of await getSequentially(kv, path, 4)) expectError(get, 404);
  for (let i = 0; i < 4; i++) {
    const head = await kv.request('HEAD', path);
    expect(head.status).toBe(404);
  }
  expectError(await kv.get(`${path}?${STRONG}`), 404);
}

/** A timed write: its ack and the window in which the primary applied it. */
interface Timed {
  response: HttpResponse;
  sentAt: number;
  ackedAt: number;
}

async function timed(send: () => Promise<HttpResponse>): Promise<Timed> {
  const sentAt = Date.now();
  const response = await send();
  return { response, sentAt, ackedAt: Date.now() };
}

/** The deadline of a write with `ttl` lies between its send time and its ack, plus `ttl`. */
function expectDeadline(
  deadline: number | undefined,
  write: Timed,
  ttl: number,
): void {
  expect(deadline).toBeDefined();
  expect(deadline!).toBeGreaterThanOrEqual(write.sentAt + ttl);
  expect(deadline!).toBeLessThanOrEqual(write.ackedAt + ttl);
}

function patch(
  kv: KvCluster,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  return kv.request('PATCH', path, { headers });
}

describe('TTL read-back and the ?ttl= form', () => {
  let kv: KvCluster;

  suiteCluster({}, (started) => (kv = started));

  describe('X-Expires-At on GET and HEAD', () => {
    it.each([
      ['the path form', 'expires-path', `/${TEN_MINUTES}?${STRONG}`],
      ['the query form', 'expires-query', `?ttl=${TEN_MINUTES}&${STRONG}`],
    ])(
      'a key written with a TTL in %s has its deadline on every worker and on the primary',
      async (_form, key, suffix) => {
        const put = await timed(() =>
          kv.write('PUT', `/${key}${suffix}`, '{"n": 1}'),
        );
        const revision = expectAck(put.response, key);
        const deadline = await readEverywhere(
          kv,
          `/${key}`,
          '{"n": 1}',
          revision,
        );
        expectDeadline(deadline, put, TEN_MINUTES);
      },
    );

    it('a key without a deadline has no X-Expires-At anywhere', async () => {
      expectAck(
        await kv.write('PUT', `/no-deadline?${STRONG}`, '1'),
        'no-deadline',
      );
      expect(await readEverywhere(kv, '/no-deadline', '1')).toBeUndefined();
    });

    it('comes with a 304 too, beside the ETag', async () => {
      const revision = expectAck(
        await kv.write('PUT', `/cached/${TEN_MINUTES}?${STRONG}`, '1'),
        'cached',
      );
      const deadline = await readEverywhere(kv, '/cached', '1', revision);
      for (let i = 0; i < 2; i++) {
        const response = await kv.get('/cached', {
          'if-none-match': `"${revision}"`,
        });
        expect(response.status).toBe(304);
        expect(expiresAt(response)).toBe(deadline);
      }
    });

    it('PUT without a TTL removes the deadline, and the header with it', async () => {
      expectAck(
        await kv.write('PUT', `/put-clears/${TEN_MINUTES}?${STRONG}`, '1'),
        'put-clears',
      );
      expect(await readEverywhere(kv, '/put-clears', '1')).toBeDefined();
      expectAck(
        await kv.write('PUT', `/put-clears?${STRONG}`, '2'),
        'put-clears',
      );
      expect(await readEverywhere(kv, '/put-clears', '2')).toBeUndefined();
    });
  });

  describe('?ttl= on PUT and POST', () => {
    it('POST ?ttl= creates with a deadline and is 409 on a present key, as the path form is', async () => {
      const post = await timed(() =>
        kv.write('POST', `/post-query?ttl=${TEN_MINUTES}&${STRONG}`, '"a"'),
      );
      const revision = expectAck(post.response, 'post-query');
      expectDeadline(
        await readEverywhere(kv, '/post-query', '"a"', revision),
        post,
        TEN_MINUTES,
      );
      expectError(
        await kv.write('POST', `/post-query?ttl=${TEN_MINUTES}`, '"b"'),
        409,
      );
      expectValue(await kv.get(`/post-query?${STRONG}`), '"a"', revision);
    });

    it('takes the same range as the path form: 1 ms to ten years, leading zeros allowed', async () => {
      for (const ttl of ['1', '000600000', '315360000000']) {
        expectAck(
          await kv.write('PUT', `/query-range?ttl=${ttl}`, '1'),
          'query-range',
        );
      }
      const put = await timed(() =>
        kv.write('PUT', `/query-range?${STRONG}&ttl=315360000000`, '2'),
      );
      expectAck(put.response, 'query-range');
      expectDeadline(
        await readEverywhere(kv, '/query-range', '2'),
        put,
        315_360_000_000,
      );
    });

    it('a key written with ?ttl= is gone from its deadline on, on every worker', async () => {
      const ttl = 400;
      const put = await timed(() =>
        kv.write('PUT', `/query-short?ttl=${ttl}&${STRONG}`, '1'),
      );
      expectAck(put.response, 'query-short');
      const deadline = expiresAt(await kv.get(`/query-short?${STRONG}`));
      // A stalled machine may have let the key expire already; then it is absent, as below.
      if (deadline !== undefined) expectDeadline(deadline, put, ttl);
      await waitUntil(put.ackedAt + ttl);
      await absentEverywhere(kv, '/query-short');
    });

    it.each([
      '0',
      '-1',
      '1.5',
      'abc',
      '',
      'none',
      '315360000001',
      '1e3',
      '0x10',
      '%2B5',
      '%205',
      '5&ttl=5',
    ])('a bad ?ttl=%s is 400 invalid_ttl and stores nothing', async (ttl) => {
      for (const method of ['PUT', 'POST'] as const) {
        const body = expectError(
          await kv.write(method, `/bad-query-ttl?ttl=${ttl}`, '1'),
          400,
        );
        expect(body.error).toBe('invalid_ttl');
      }
      expectError(await kv.get(`/bad-query-ttl?${STRONG}`), 404);
    });

    it('both forms in one request are 400 duplicate_ttl, even when they agree', async () => {
      expectAck(
        await kv.write('PUT', `/both-forms?${STRONG}`, '"kept"'),
        'both-forms',
      );
      for (const [method, key] of [
        ['PUT', 'both-forms'],
        ['POST', 'both-new'],
      ] as const) {
        for (const forms of [
          '1000?ttl=1000',
          '1000?ttl=2000',
          '1000?ttl=abc',
        ]) {
          const body = expectError(
            await kv.write(method, `/${key}/${forms}`, '1'),
            400,
          );
          expect(body.error).toBe('duplicate_ttl');
        }
      }
      expect(await readEverywhere(kv, '/both-forms', '"kept"')).toBeUndefined();
      expectError(await kv.get(`/both-new?${STRONG}`), 404);
    });

    it('DELETE ignores ?ttl=, as any parameter it does not know', async () => {
      expectAck(await kv.write('PUT', '/delete-ttl', '1'), 'delete-ttl');
      expectAck(await kv.delete(`/delete-ttl?ttl=abc&${STRONG}`), 'delete-ttl');
      await absentEverywhere(kv, '/delete-ttl');
    });
  });

  describe('PATCH /:key?ttl=<ms>|none', () => {
    const value = '{ "a" : [1, 2.50, "\u00e9\\u00e9"] ,"b":null }';

    it('sets a deadline at a new revision and ETag, the value bytes unchanged', async () => {
      const before = expectAck(
        await kv.write('PUT', `/patch-set?${STRONG}`, value),
        'patch-set',
      );
      expect(
        await readEverywhere(kv, '/patch-set', value, before),
      ).toBeUndefined();
      const patched = await timed(() =>
        patch(kv, `/patch-set?ttl=${TEN_MINUTES}&${STRONG}`),
      );
      const revision = expectAck(patched.response, 'patch-set');
      expect(revision).toBeGreaterThan(before);
      expect(patched.response.headers.etag).toBe(`"${revision}"`);
      expect(patched.response.raw.toString()).toBe(
        `{"key":"patch-set","revision":${revision}}`,
      );
      expectDeadline(
        await readEverywhere(kv, '/patch-set', value, revision),
        patched,
        TEN_MINUTES,
      );
    });

    it('replaces a deadline, and each PATCH takes a revision of its own', async () => {
      expectAck(
        await kv.write('PUT', `/patch-again/${TEN_MINUTES}?${STRONG}`, value),
        'patch-again',
      );
      const first = expectAck(
        await patch(kv, `/patch-again?ttl=${2 * TEN_MINUTES}&${STRONG}`),
        'patch-again',
      );
      const again = await timed(() =>
        patch(kv, `/patch-again?ttl=${3 * TEN_MINUTES}&${STRONG}`),
      );
      const second = expectAck(again.response, 'patch-again');
      expect(second).toBeGreaterThan(first);
      expectDeadline(
        await readEverywhere(kv, '/patch-again', value, second),
        again,
        3 * TEN_MINUTES,
      );
    });

    it('ttl=none removes the deadline: the key outlives its old one', async () => {
      const ttl = 1500;
      const put = await timed(() =>
        kv.write('PUT', `/patch-none/${ttl}?${STRONG}`, value),
      );
      expectAck(put.response, 'patch-none');
      const response = await patch(kv, `/patch-none?ttl=none&${STRONG}`);
      if (response.status === 404) {
        // The machine stalled past the whole TTL: nothing is left to test.
        expect(Date.now()).toBeGreaterThanOrEqual(put.sentAt + ttl);
        return;
      }
      const revision = expectAck(response, 'patch-none');
      expect(
        await readEverywhere(kv, '/patch-none', value, revision),
      ).toBeUndefined();
      await waitUntil(put.ackedAt + ttl + 50);
      expect(
        await readEverywhere(kv, '/patch-none', value, revision),
      ).toBeUndefined();
    });

    it('a key expires at its new, earlier deadline', async () => {
      expectAck(
        await kv.write('PUT', `/patch-sooner/${TEN_MINUTES}?${STRONG}`, value),
        'patch-sooner',
      );
      const ttl = 400;
      const patched = await timed(() =>
        patch(kv, `/patch-sooner?ttl=${ttl}&${STRONG}`),
      );
      expectAck(patched.response, 'patch-sooner');
      const deadline = expiresAt(await kv.get(`/patch-sooner?${STRONG}`));
      if (deadline !== undefined) expectDeadline(deadline, patched, ttl);
      await waitUntil(patched.ackedAt + ttl);
      await absentEverywhere(kv, '/patch-sooner');
      expectError(await patch(kv, `/patch-sooner?ttl=${TEN_MINUTES}`), 404);
    });

    it('a key outlives its old deadline once PATCH moves it later', async () => {
      const ttl = 1500;
      const put = await timed(() =>
        kv.write('PUT', `/patch-later/${ttl}?${STRONG}`, value),
      );
      expectAck(put.response, 'patch-later');
      const response = await patch(
        kv,
        `/patch-later?ttl=${TEN_MINUTES}&${STRONG}`,
      );
      if (response.status === 404) {
        expect(Date.now()).toBeGreaterThanOrEqual(put.sentAt + ttl);
        return;
      }
      const revision = expectAck(response, 'patch-later');
      await waitUntil(put.ackedAt + ttl + 50);
      expect(
        await readEverywhere(kv, '/patch-later', value, revision),
      ).toBeGreaterThan(put.ackedAt + ttl);
    });

    it('is 404 key_not_found for an absent, a deleted or an expired key, and creates nothing', async () => {
      expectAck(await kv.write('PUT', '/patch-deleted', '1'), 'patch-deleted');
      expectAck(await kv.delete(`/patch-deleted?${STRONG}`), 'patch-deleted');
      const put = await timed(() =>
        kv.write('PUT', `/patch-expired/1?${STRONG}`, '1'),
      );
      expectAck(put.response, 'patch-expired');
      await waitUntil(put.ackedAt + 1);
      for (const key of ['patch-never', 'patch-deleted', 'patch-expired']) {
        for (const query of [
          `ttl=${TEN_MINUTES}`,
          'ttl=none',
          `ttl=1&${STRONG}`,
        ]) {
          const body = expectError(await patch(kv, `/${key}?${query}`), 404);
          expect(body.error).toBe('key_not_found');
        }
        await absentEverywhere(kv, `/${key}`);
      }
    });

    it('applies If-Match as PUT does: 412 leaves the deadline alone', async () => {
      const revision = expectAck(
        await kv.write('PUT', `/patch-if/${TEN_MINUTES}?${STRONG}`, value),
        'patch-if',
      );
      const deadline = await readEverywhere(kv, '/patch-if', value, revision);
      for (const ifMatch of [
        `"${revision + 1000}"`,
        `W/"${revision}"`,
        '"x"',
      ]) {
        const body = expectError(
          await patch(kv, `/patch-if?ttl=none&${STRONG}`, {
            'if-match': ifMatch,
          }),
          412,
        );
        expect(body.error).toBe('precondition_failed');
      }
      expect(await readEverywhere(kv, '/patch-if', value, revision)).toBe(
        deadline,
      );

      const matched = expectAck(
        await patch(kv, `/patch-if?ttl=none&${STRONG}`, {
          'if-match': `"1", "${revision}"`,
        }),
        'patch-if',
      );
      expect(
        await readEverywhere(kv, '/patch-if', value, matched),
      ).toBeUndefined();
      const star = expectAck(
        await patch(kv, `/patch-if?ttl=${TEN_MINUTES}&${STRONG}`, {
          'if-match': '*',
        }),
        'patch-if',
      );
      expect(await readEverywhere(kv, '/patch-if', value, star)).toBeDefined();
      expectError(
        await patch(kv, `/patch-if-absent?ttl=none`, { 'if-match': '*' }),
        412,
      );
    });

    it('without consistency=strong is applied and reaches every worker', async () => {
      expectAck(
        await kv.write('PUT', `/patch-eventual?${STRONG}`, value),
        'patch-eventual',
      );
      const revision = expectAck(
        await patch(kv, `/patch-eventual?ttl=${TEN_MINUTES}`),
        'patch-eventual',
      );
      // The ack means the primary applied it: a strong read sees it at once.
      const strong = await kv.get(`/patch-eventual?${STRONG}`);
      expectValue(strong, value, revision);
      expect(expiresAt(strong)).toBeDefined();
    });

    it('takes no body: any body, of any type or framing, is 400 unexpected_body and changes nothing', async () => {
      const revision = expectAck(
        await kv.write('PUT', `/patch-body/${TEN_MINUTES}?${STRONG}`, value),
        'patch-body',
      );
      const deadline = await readEverywhere(kv, '/patch-body', value, revision);
      const path = `/patch-body?ttl=none&${STRONG}`;
      const attempts: {
        body: string;
        headers: Record<string, string>;
        chunked?: boolean;
      }[] = [
        { body: '1', headers: JSON_TYPE },
        { body: '{"a":1}', headers: JSON_TYPE },
        { body: 'not json', headers: JSON_TYPE },
        { body: 'x', headers: { 'content-type': 'text/plain' } },
        { body: 'x', headers: {} },
        { body: '12', headers: JSON_TYPE, chunked: true },
      ];
      for (const { body, headers, chunked } of attempts) {
        const response = await kv.request('PATCH', path, {
          body,
          headers,
          chunked,
        });
        expect(expectError(response, 400).error).toBe('unexpected_body');
      }
      expect(await readEverywhere(kv, '/patch-body', value, revision)).toBe(
        deadline,
      );
    });

    it('with no body, a Content-Type (even a foreign one) or Content-Length: 0 is fine', async () => {
      expectAck(
        await kv.write('PUT', `/patch-empty?${STRONG}`, value),
        'patch-empty',
      );
      const bodyless: Record<string, string>[] = [
        JSON_TYPE,
        { 'content-type': 'text/plain' },
        { 'content-length': '0' },
        { 'content-type': 'application/json', 'content-length': '0' },
      ];
      for (const headers of bodyless) {
        expectAck(
          await patch(kv, `/patch-empty?ttl=${TEN_MINUTES}&${STRONG}`, headers),
          'patch-empty',
        );
      }
    });

    it.each([
      ['no ttl at all', '', 'missing_ttl'],
      ['another parameter only', '?ttl2=5', 'missing_ttl'],
      ['ttl=0', '?ttl=0', 'invalid_ttl'],
      ['an empty ttl', '?ttl=', 'invalid_ttl'],
      ['ttl=NONE', '?ttl=NONE', 'invalid_ttl'],
      ['ttl=-1', '?ttl=-1', 'invalid_ttl'],
      ['ttl=1.5', '?ttl=1.5', 'invalid_ttl'],
      ['a TTL over ten years', '?ttl=315360000001', 'invalid_ttl'],
      ['ttl twice', '?ttl=5&ttl=none', 'invalid_ttl'],
      ['a bad consistency', '?ttl=5&consistency=STRONG', 'invalid_consistency'],
    ])('%s is 400 and changes nothing', async (_what, query, code) => {
      const revision = expectAck(
        await kv.write('PUT', `/patch-bad/${TEN_MINUTES}?${STRONG}`, value),
        'patch-bad',
      );
      const deadline = expiresAt(await kv.get(`/patch-bad?${STRONG}`));
      const body = expectError(await patch(kv, `/patch-bad${query}`), 400);
      expect(body.error).toBe(code);
      expect(await readEverywhere(kv, '/patch-bad', value, revision)).toBe(
        deadline,
      );
    });

    it('checks the key as every route does', async () => {
      expect(expectError(await patch(kv, '/_?ttl=5'), 400).error).toBe(
        'reserved_key',
      );
      expect(
        expectError(await patch(kv, `/${'k'.repeat(513)}?ttl=5`), 414).error,
      ).toBe('key_too_long');
      expect(expectError(await patch(kv, '/%zz?ttl=5'), 400).error).toBe(
        'bad_url',
      );
    });

    it.each([
      '/patch-route/1000',
      '/patch-route/1000?ttl=1000',
      '/patch-route/none',
      '/',
      '/a/b/c',
    ])('PATCH %s is no route: 404 route_not_found', async (path) => {
      const body = expectError(await patch(kv, path), 404);
      expect(body.error).toBe('route_not_found');
    });
  });
});

describe('PATCH with KV_AUTH_TOKEN set', () => {
  const token = 'ttl-secret';
  const auth = { authorization: `Bearer ${token}` };
  let kv: KvCluster;

  suiteCluster({ env: { KV_AUTH_TOKEN: token } }, (started) => (kv = started));

  it('needs the bearer token, and X-Expires-At comes with the authorized reads', async () => {
    expectAck(
      await kv.write('PUT', `/guarded?${STRONG}`, '1', auth),
      'guarded',
    );
    const unauthorized: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
    ];
    for (const headers of unauthorized) {
      const response = await patch(kv, `/guarded?ttl=${TEN_MINUTES}`, headers);
      expect(expectError(response, 401).error).toBe('unauthorized');
      expect(response.headers['www-authenticate']).toBe(
        'Bearer realm="fanout-kv"',
      );
    }
    expect(expiresAt(await kv.get(`/guarded?${STRONG}`, auth))).toBeUndefined();
    const revision = expectAck(
      await patch(kv, `/guarded?ttl=${TEN_MINUTES}&${STRONG}`, auth),
      'guarded',
    );
    for (let i = 0; i < 2; i++) {
      const response = await kv.get('/guarded', auth);
      expectValue(response, '1', revision);
      expect(expiresAt(response)).toBeGreaterThan(Date.now());
    }
    const denied = await kv.get('/guarded');
    expect(denied.status).toBe(401);
    expect(denied.headers['x-expires-at']).toBeUndefined();
    expect(json(denied).error).toBe('unauthorized');
  });
});
