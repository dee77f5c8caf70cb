import { createHash } from 'node:crypto';
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
  getSequentially,
  JSON_TYPE,
} from './support/expectations';
import { pinOnePerWorker } from './support/faults';

/**
 * `GET /_/keys` (docs/api.md) end to end against the built cluster. Every request goes
 * out on a fresh connection unless pinned, so consecutive requests land on different workers.
 */

const enc = encodeURIComponent;

interface ListedKey {
  key: string;
  revision: number;
  expiresAt: number | null;
  value?: unknown;
}

interface Page {
  keys: ListedKey[];
  cursor: string | null;
  revision: number;
}

/** The order listings promise: of the keys' UTF-8 bytes. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A 200 page: exactly `{keys, cursor, revision}`, each key exactly its members. */
function expectPage(response: HttpResponse, values = false): Page {
  if (response.status !== 200)
    throw new Error(`expected 200, got ${response.status}: ${response.body}`);
  expect(response.headers['content-type']).toBe('application/json');
  expect(Number(response.headers['content-length'])).toBe(response.raw.length);
  const page = json<Page>(response);
  expect(Object.keys(page)).toEqual(['keys', 'cursor', 'revision']);
  expect(Number.isSafeInteger(page.revision)).toBe(true);
  expect(page.cursor === null || typeof page.cursor === 'string').toBe(true);
  const members = values
    ? ['key', 'revision', 'expiresAt', 'value']
    : ['key', 'revision', 'expiresAt'];
  for (const listed of page.keys) {
    expect(Object.keys(listed)).toEqual(members);
    expect(Number.isSafeInteger(listed.revision)).toBe(true);
    expect(listed.revision).toBeLessThanOrEqual(page.revision);
  }
  return page;
}

/** One page of `GET /_/keys?<query>`. */
async function list(
  kv: KvCluster,
  query: string,
  headers?: Record<string, string>,
): Promise<Page> {
  return expectPage(
    await kv.get(`/_/keys?${query}`, headers),
    /(^|&)values=true(&|$)/.test(query),
  );
}

/** Every key with `prefix`, page after page of `limit` (fresh connections: every worker). */
async function listAll(
  kv: KvCluster,
  prefix: string,
  limit: number,
  extra = '',
): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | null = null;
  do {
    const page: Page = await list(
      kv,
      `prefix=${enc(prefix)}&limit=${limit}${extra}` +
        (cursor === null ? '' : `&cursor=${cursor}`),
    );
    expect(page.keys.length).toBeLessThanOrEqual(limit);
    if (page.keys.length < limit) expect(page.cursor).toBeNull();
    // A cursor that does not move the listing forward would loop here for ever.
    const last = keys[keys.length - 1];
    const first = page.keys[0]?.key;
    if (
      last !== undefined &&
      first !== undefined &&
      byteOrder(first, last) <= 0
    )
      throw new Error(
        `a page after ${JSON.stringify(last)} started at ${JSON.stringify(first)}`,
      );
    keys.push(...page.keys.map((k) => k.key));
    cursor = page.cursor;
  } while (cursor !== null);
  return keys;
}

/** Commits a transaction with `consistency=strong`: every worker holds it once this returns. */
async function commit(
  kv: KvCluster,
  ops: object[],
  headers: Record<string, string> = {},
): Promise<number> {
  const response = await kv.request('POST', '/_/txn?consistency=strong', {
    body: JSON.stringify({ ops }),
    headers: { ...JSON_TYPE, ...headers },
  });
  if (response.status !== 200)
    throw new Error(`txn answered ${response.status}: ${response.body}`);
  return json<{ revision: number }>(response).revision;
}

/** Puts `keys` (any number) with value `value`, in strong transactions of up to 128. */
async function putAll(
  kv: KvCluster,
  keys: readonly string[],
  value: unknown = 1,
): Promise<void> {
  for (let at = 0; at < keys.length; at += 128)
    await commit(
      kv,
      keys.slice(at, at + 128).map((key) => ({ op: 'put', key, value })),
    );
}

/**
 * A cursor as this server writes them (README / docs/api.md): base64url of the version byte 1,
 * the key's UTF-8 bytes and the first 4 bytes of the SHA-256 of those bytes.
 */
function cursorFor(keyBytes: Buffer, version = 1): string {
  const signed = Buffer.concat([Buffer.of(version), keyBytes]);
  const check = createHash('sha256').update(signed).digest().subarray(0, 4);
  return Buffer.concat([signed, check]).toString('base64url');
}

describe('GET /_/keys on a default cluster', () => {
  let kv: KvCluster;

  suiteCluster({}, (started) => (kv = started));

  describe('order and prefixes', () => {
    // UTF-16 order differs from UTF-8 order past U+D7FF: '\uffff' sorts after '😀' (a
    // surrogate pair) in JavaScript, before it in UTF-8.
    const inside = [
      'ord/a',
      'ord/B',
      'ord/a b',
      'ord/a+b',
      'ord/ab',
      'ord/é',
      'ord/€',
      'ord/\ud7ff',
      'ord/\ue000',
      'ord/\uffff',
      'ord/😀',
      'ord/😀1',
      'ord/\u{10ffff}',
      'ord/~',
      'ord/\u0080',
      'ord/..',
      'ord/__proto__',
    ];
    const outside = ['ord', 'ord0', 'orc/z', 'ore/a', 'ORD/a', 'or'];
    const sorted = [...inside].sort(byteOrder);

    beforeAll(() => putAll(kv, [...inside, ...outside]));

    it('lists keys in ascending order of their UTF-8 bytes, not of UTF-16 units', async () => {
      expect(sorted).not.toEqual([...inside].sort());
      expect(sorted.indexOf('ord/\uffff')).toBeLessThan(
        sorted.indexOf('ord/😀'),
      );
      for (const response of await getSequentially(
        kv,
        '/_/keys?prefix=ord%2F&limit=1000',
        2 * kv.workers,
      ))
        expect(expectPage(response).keys.map((k) => k.key)).toEqual(sorted);
      expect(
        (await list(kv, 'prefix=ord%2F&consistency=strong')).keys.map(
          (k) => k.key,
        ),
      ).toEqual(sorted);
    });

    it('pages in the same order, a cursor at a time, on every worker', async () => {
      for (const limit of [1, 2, 5])
        expect(await listAll(kv, 'ord/', limit)).toEqual(sorted);
      expect(await listAll(kv, 'ord/', 3, '&consistency=strong')).toEqual(
        sorted,
      );
    });

    it('filters by a prefix of any bytes, percent-decoded like a key', async () => {
      expect(await listAll(kv, 'ord/😀', 10)).toEqual(['ord/😀', 'ord/😀1']);
      expect(await listAll(kv, 'ord/a', 10)).toEqual([
        'ord/a',
        'ord/a b',
        'ord/a+b',
        'ord/ab',
      ]);
      // A plus sign is a plus sign, as in a key; a space is %20.
      const plus = await list(kv, 'prefix=ord/a+');
      expect(plus.keys.map((k) => k.key)).toEqual(['ord/a+b']);
      const space = await list(kv, 'prefix=ord/a%20');
      expect(space.keys.map((k) => k.key)).toEqual(['ord/a b']);
      expect(await listAll(kv, 'or', 100)).toEqual(
        [...inside, ...outside]
          .filter((k) => k.startsWith('or'))
          .sort(byteOrder),
      );
      expect(await listAll(kv, 'ord/nothing', 10)).toEqual([]);
    });

    it('lists every key with an empty or absent prefix, and a full last page has no cursor', async () => {
      const all = await listAll(kv, '', 1000);
      expect(all).toEqual([...all].sort(byteOrder));
      for (const key of [...inside, ...outside]) expect(all).toContain(key);
      const absent = await list(kv, 'limit=1000');
      expect(absent.keys.map((k) => k.key)).toEqual(all);
      // Exactly the keys with the prefix as the limit: nothing follows, so no cursor.
      const exact = await list(kv, `prefix=ord%2F&limit=${inside.length}`);
      expect(exact.keys).toHaveLength(inside.length);
      expect(exact.cursor).toBeNull();
    });
  });

  describe('limit', () => {
    const keys = Array.from(
      { length: 105 },
      (_, i) => `many/${String(i).padStart(3, '0')}`,
    );
    beforeAll(() => putAll(kv, keys));

    it('is 100 by default, 1 to 1000 when given', async () => {
      const first = await list(kv, 'prefix=many%2F');
      expect(first.keys.map((k) => k.key)).toEqual(keys.slice(0, 100));
      expect(first.cursor).not.toBeNull();
      const rest = await list(kv, `prefix=many%2F&cursor=${first.cursor}`);
      expect(rest.keys.map((k) => k.key)).toEqual(keys.slice(100));
      expect(rest.cursor).toBeNull();
      expect(
        (await list(kv, 'prefix=many%2F&limit=1000')).keys.map((k) => k.key),
      ).toEqual(keys);
      const one = await list(kv, 'prefix=many%2F&limit=1');
      expect(one.keys.map((k) => k.key)).toEqual([keys[0]]);
      expect(one.cursor).not.toBeNull();
    });

    it('out of range or not an integer is 400 invalid_limit', async () => {
      for (const limit of ['0', '1001', '-1', '1.5', '1e2', 'abc', '', '%2B5'])
        expect(
          expectError(await kv.get(`/_/keys?limit=${limit}`), 400).error,
        ).toBe('invalid_limit');
    });
  });

  describe('bad queries', () => {
    it.each([
      ['values=yes', 400, 'invalid_values', 'values=yes'],
      ['values=', 400, 'invalid_values', 'values='],
      ['values twice', 400, 'invalid_values', 'values=true&values=false'],
      ['consistency=weak', 400, 'invalid_consistency', 'consistency=weak'],
      ['limit twice', 400, 'invalid_limit', 'limit=5&limit=6'],
      ['prefix twice', 400, 'invalid_prefix', 'prefix=a&prefix=b'],
      ['a truncated UTF-8 escape', 400, 'bad_url', 'prefix=%E2%82'],
      ['a bad escape', 400, 'bad_url', 'prefix=%zz'],
      ['a 513-byte prefix', 414, 'key_too_long', `prefix=${'k'.repeat(513)}`],
      [
        'a 516-byte prefix of emoji',
        414,
        'key_too_long',
        `prefix=${'%F0%9F%98%80'.repeat(129)}`,
      ],
    ])('%s: %d %s', async (_name, status, code, query) => {
      expect(expectError(await kv.get(`/_/keys?${query}`), status).error).toBe(
        code,
      );
    });

    it('ignores parameters it does not know, as every route does', async () => {
      const page = await list(kv, 'prefix=ord%2F&limit=2&foo=bar&Limit=0&x');
      expect(page.keys).toHaveLength(2);
    });

    it('takes a prefix exactly as long as a key can be', async () => {
      const key = 'p'.repeat(512);
      expectAck(await kv.write('PUT', `/${key}?consistency=strong`, '1'), key);
      expect((await list(kv, `prefix=${key}`)).keys.map((k) => k.key)).toEqual([
        key,
      ]);
    });
  });

  describe('cursors', () => {
    const keys = Array.from({ length: 12 }, (_, i) => `cur/${i}-é`);
    beforeAll(() => putAll(kv, keys));

    it('a cursor from one worker is taken by every other', async () => {
      const pids = (await kv.stats()).workers.map((w) => w.pid);
      const pinned = await pinOnePerWorker(kv, pids);
      try {
        const sorted = [...keys].sort(byteOrder);
        for (const [pid, first] of pinned) {
          const response = await first.get('/_/keys?prefix=cur%2F&limit=5');
          const page = expectPage(response);
          expect(page.keys.map((k) => k.key)).toEqual(sorted.slice(0, 5));
          for (const [otherPid, other] of pinned) {
            if (otherPid === pid) continue;
            const next = expectPage(
              await other.get(
                `/_/keys?prefix=cur%2F&limit=5&cursor=${page.cursor}`,
              ),
            );
            expect(next.keys.map((k) => k.key)).toEqual(sorted.slice(5, 10));
          }
        }
      } finally {
        for (const connection of pinned.values()) connection.close();
      }
    });

    it('names a position: the next page starts strictly after that key, held or not', async () => {
      const sorted = [...keys].sort(byteOrder);
      const first = await list(kv, 'prefix=cur%2F&limit=3');
      const last = first.keys[2]!.key;
      expect(first.cursor).toBe(cursorFor(Buffer.from(last, 'utf8')));
      // The key the cursor names is deleted: the listing goes on right after where it was.
      await commit(kv, [{ op: 'delete', key: last }]);
      const next = await list(
        kv,
        `prefix=cur%2F&limit=3&cursor=${first.cursor}`,
      );
      expect(next.keys.map((k) => k.key)).toEqual(sorted.slice(3, 6));
      await commit(kv, [{ op: 'put', key: last, value: 1 }]);
      // Any well-formed cursor goes with any prefix: the listing continues after its key,
      // within the prefix.
      const before = await list(
        kv,
        `prefix=cur%2F&limit=2&cursor=${cursorFor(Buffer.from('a'))}`,
      );
      expect(before.keys.map((k) => k.key)).toEqual(sorted.slice(0, 2));
      const beyond = await list(
        kv,
        `prefix=cur%2F&cursor=${cursorFor(Buffer.from('zzz'))}`,
      );
      expect(beyond.keys).toEqual([]);
      expect(beyond.cursor).toBeNull();
    });

    it('a malformed cursor is 400 invalid_cursor', async () => {
      const valid = cursorFor(Buffer.from('cur/1-é', 'utf8'));
      const bad = [
        'hello',
        'q83vEjRWeJA',
        'AAAAAAAAAAAA',
        Buffer.from('cur/1-é').toString('base64url'),
        valid.slice(0, -1),
        valid.slice(0, -3),
        valid.slice(1),
        `${valid}=`,
        `${valid}A`,
        valid.replace(/[A-Za-z]/, (c) => (c === 'A' ? 'B' : 'A')),
        '!!!!',
        '%2B%2F%2B%2F',
        `${valid.slice(0, 4)}.${valid.slice(5)}`,
        cursorFor(Buffer.from('cur/1-é', 'utf8'), 2),
        cursorFor(Buffer.alloc(0)),
        cursorFor(Buffer.of(0x63, 0xff, 0xfe)),
        cursorFor(Buffer.from('k'.repeat(513))),
        'A'.repeat(20_000),
        '',
      ];
      // A rough random sample too: none of these came from a page.
      for (let i = 0; i < 20; i++)
        bad.push(
          Buffer.from(
            Array.from({ length: 4 + i }, () =>
              Math.floor(Math.random() * 256),
            ),
          ).toString('base64url'),
        );
      for (const cursor of bad) {
        const response = await kv.get(`/_/keys?cursor=${cursor}`);
        if (response.status !== 400)
          throw new Error(`cursor ${cursor} got ${response.status}`);
        expect(expectError(response, 400).error).toBe('invalid_cursor');
      }
      // The hand-made one with a key at the limit is one a page could return.
      const key = 'k'.repeat(512);
      expect(
        (await list(kv, `cursor=${cursorFor(Buffer.from(key))}`)).keys.every(
          (k) => byteOrder(k.key, key) > 0,
        ),
      ).toBe(true);
      expectPage(await kv.get(`/_/keys?cursor=${valid}`));
    });
  });

  describe('values and deadlines', () => {
    const values: [string, string][] = [
      ['val/object', ' {"b" :\t[1 , 2.50e+3 ],\r\n  "a":{}\n} '],
      ['val/escapes', '"\\"q\\" \\\\ \\/ \\u00e9\\ud83d\\ude00"'],
      ['val/unicode', '"é€😀 \u2028\u2029"'],
      ['val/number', '-0.0e-0'],
      ['val/null', 'null'],
      ['val/long', `{"text":"${'é😀x'.repeat(800)}"}`],
      ['val/second-long', `[${'1,'.repeat(3000)}1]`],
    ];

    it('embeds each stored value byte for byte with values=true', async () => {
      const revisions = new Map<string, number>();
      for (const [key, value] of values)
        revisions.set(
          key,
          expectAck(
            await kv.write('PUT', `/${enc(key)}?consistency=strong`, value),
            key,
          ),
        );
      const sorted = [...values].sort(([a], [b]) => byteOrder(a, b));
      for (const query of [
        'prefix=val%2F&values=true',
        'prefix=val%2F&values=true&consistency=strong',
      ]) {
        for (const response of await getSequentially(
          kv,
          `/_/keys?${query}`,
          kv.workers,
        )) {
          const page = expectPage(response, true);
          const expected =
            '{"keys":[' +
            sorted
              .map(
                ([key, value]) =>
                  `{"key":${JSON.stringify(key)},"revision":${revisions.get(key)},"expiresAt":null,"value":${value}}`,
              )
              .join(',') +
            `],"cursor":null,"revision":${page.revision}}`;
          expect(response.raw.equals(Buffer.from(expected, 'utf8'))).toBe(true);
        }
      }
      // Without values=true (or with values=false) there is no value member.
      for (const query of ['prefix=val%2F', 'prefix=val%2F&values=false'])
        expect((await list(kv, query)).keys.map((k) => k.key)).toEqual(
          sorted.map(([k]) => k),
        );
    });

    it('gives each deadline as expiresAt, and never lists a key past it', async () => {
      expectAck(
        await kv.write('PUT', '/exp%2Fa-short/1500?consistency=strong', '1'),
        'exp/a-short',
      );
      expectAck(
        await kv.write(
          'PUT',
          '/exp%2Fb-long?ttl=600000&consistency=strong',
          '2',
        ),
        'exp/b-long',
      );
      expectAck(
        await kv.write('PUT', '/exp%2Fc-none?consistency=strong', '3'),
        'exp/c-none',
      );
      const deadlines = new Map<string, number | null>();
      for (const key of ['exp/a-short', 'exp/b-long', 'exp/c-none']) {
        const header = (await kv.get(`/${enc(key)}?consistency=strong`))
          .headers['x-expires-at'];
        deadlines.set(key, header === undefined ? null : Number(header));
      }
      const page = await list(kv, 'prefix=exp%2F&consistency=strong');
      expect(page.keys.map((k) => [k.key, k.expiresAt])).toEqual([
        ...deadlines,
      ]);
      await waitUntil(deadlines.get('exp/a-short')!);
      // Past its deadline the key is gone from every page, on every worker, even before the
      // primary reaps it, and it takes no room in a page.
      for (const response of await getSequentially(
        kv,
        '/_/keys?prefix=exp%2F&limit=1',
        2 * kv.workers,
      ))
        expect(expectPage(response).keys.map((k) => k.key)).toEqual([
          'exp/b-long',
        ]);
      expect(await listAll(kv, 'exp/', 1, '&consistency=strong')).toEqual([
        'exp/b-long',
        'exp/c-none',
      ]);
    });
  });

  it('with consistency=strong sees a write the moment it is acknowledged', async () => {
    for (let i = 0; i < 20; i++) {
      const key = `strong/${i}`;
      const revision = expectAck(
        await kv.write('PUT', `/${enc(key)}`, `${i}`),
        key,
      );
      const page = await list(
        kv,
        `prefix=${enc(key)}&consistency=strong&values=true`,
      );
      expect(page.keys).toEqual([{ key, revision, expiresAt: null, value: i }]);
      expect(page.revision).toBeGreaterThanOrEqual(revision);
    }
  });

  it('pages under concurrent writes show every lasting key exactly once, and no key twice', async () => {
    // Keys that exist for the whole listing, and keys written and deleted meanwhile among them.
    const stable = Array.from(
      { length: 240 },
      (_, i) => `conc/${['a', 'é', '€', '😀', '\uffff'][i % 5]}${i}`,
    );
    await putAll(kv, stable, { stable: true });
    let writing = true;
    let writes = 0;
    const writer = async (id: number): Promise<void> => {
      const mine: string[] = [];
      for (let n = 0; writing; n++) {
        const roll = Math.random();
        let response: HttpResponse;
        if (roll < 0.4) {
          const key = `conc/${['a', 'é', '😀', 'z'][n % 4]}${Math.floor(Math.random() * 300)}-new-${id}-${n}`;
          mine.push(key);
          response = await kv.write('PUT', `/${enc(key)}`, '1');
        } else if (roll < 0.7 && mine.length > 0) {
          const key = mine.splice(
            Math.floor(Math.random() * mine.length),
            1,
          )[0]!;
          response = await kv.delete(`/${enc(key)}`);
        } else {
          const key = stable[Math.floor(Math.random() * stable.length)]!;
          response = await kv.write('PUT', `/${enc(key)}`, `{"n":${n}}`);
        }
        expect(response.status).toBe(200);
        writes++;
      }
    };
    const writers = Array.from({ length: 3 }, (_, id) => writer(id));
    try {
      for (const extra of ['', '&consistency=strong']) {
        const started = writes;
        const listed = await listAll(kv, 'conc/', 7, extra);
        expect(writes).toBeGreaterThan(started);
        for (let i = 1; i < listed.length; i++)
          if (byteOrder(listed[i - 1]!, listed[i]!) >= 0)
            throw new Error(
              `${JSON.stringify(listed[i])} came after ${JSON.stringify(listed[i - 1])}`,
            );
        const seen = new Set(listed);
        for (const key of stable) expect(seen.has(key)).toBe(true);
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
  });

  it('never shows part of a transaction in a page', async () => {
    // Two sets of keys, interleaved in order. Each transaction puts one set, all at {"n": n},
    // and deletes the other: a page shows exactly one whole set, at one revision and one n.
    const even = Array.from({ length: 5 }, (_, i) => `atom/${2 * i}`);
    const odd = Array.from({ length: 5 }, (_, i) => `atom/${2 * i + 1}`);
    await commit(
      kv,
      even.map((key) => ({ op: 'put', key, value: { n: 0 } })),
    );
    let writing = true;
    let pages = 0;
    const writer = (async () => {
      try {
        // Until the readers have read enough pages, whatever the machine's speed.
        for (let n = 1; n <= 50 || pages < 60; n++) {
          const [put, gone] = n % 2 === 0 ? [even, odd] : [odd, even];
          const response = await kv.request('POST', '/_/txn', {
            body: JSON.stringify({
              ops: [
                ...put.map((key) => ({ op: 'put', key, value: { n } })),
                ...gone.map((key) => ({ op: 'delete', key })),
              ],
            }),
            headers: JSON_TYPE,
          });
          expect(response.status).toBe(200);
        }
      } finally {
        writing = false;
      }
    })();
    const seen = new Set<number>();
    const reader = async (strong: boolean): Promise<void> => {
      while (writing) {
        const page = await list(
          kv,
          `prefix=atom%2F&values=true${strong ? '&consistency=strong' : ''}`,
        );
        const keys = page.keys.map((k) => k.key);
        const n = (page.keys[0]?.value as { n: number } | undefined)?.n;
        if (
          n === undefined ||
          keys.join() !== (n % 2 === 0 ? even : odd).join() ||
          page.keys.some(
            (k) =>
              (k.value as { n: number }).n !== n ||
              k.revision !== page.keys[0]!.revision,
          )
        )
          throw new Error(
            `a page showed part of a transaction: ${JSON.stringify(page)}`,
          );
        seen.add(n);
        pages++;
      }
    };
    await Promise.all([writer, reader(false), reader(false), reader(true)]);
    expect(pages).toBeGreaterThanOrEqual(60);
    expect(seen.size).toBeGreaterThan(2);
  });

  it('counts the pages it serves in /_/metrics, by consistency', async () => {
    const count = async (consistency: string): Promise<number> => {
      const text = (await kv.get('/_/metrics')).body;
      const match = new RegExp(
        `^kv_list_pages_total\\{consistency="${consistency}"\\} (\\d+)$`,
        'm',
      ).exec(text);
      return Number(match?.[1] ?? 0);
    };
    const eventual = await count('eventual');
    const strong = await count('strong');
    await list(kv, 'prefix=ord%2F');
    await list(kv, 'prefix=ord%2F');
    await list(kv, 'prefix=ord%2F&consistency=strong');
    expect(await count('eventual')).toBe(eventual + 2);
    expect(await count('strong')).toBe(strong + 1);
    const text = (await kv.get('/_/metrics')).body;
    expect(text).toMatch(/^kv_list_keys_total\{consistency="eventual"\} \d+$/m);
    // The ordered index's size, from the primary and from every worker.
    const stats = await kv.stats();
    for (const [role, pid] of [
      ['primary', stats.primaryPid],
      ...stats.workers.map((w) => ['worker', w.pid] as const),
    ])
      expect(
        Number(
          new RegExp(
            `^kv_ordered_index_bytes\\{role="${role}",pid="${pid}"\\} (\\d+)$`,
            'm',
          ).exec(text)?.[1],
        ),
      ).toBeGreaterThan(0);
  });
});

describe('GET /_/keys with KV_AUTH_TOKEN', () => {
  const token = 'list-token';
  const auth = { authorization: `Bearer ${token}` };
  let kv: KvCluster;

  suiteCluster({ env: { KV_AUTH_TOKEN: token } }, (started) => (kv = started));

  it('needs the bearer token', async () => {
    const unauthorized: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
    ];
    for (const headers of unauthorized) {
      for (const query of ['', '?consistency=strong', '?cursor=garbage']) {
        const response = await kv.get(`/_/keys${query}`, headers);
        expect(expectError(response, 401).error).toBe('unauthorized');
        expect(response.headers['www-authenticate']).toBe(
          'Bearer realm="fanout-kv"',
        );
      }
    }
    await commit(kv, [{ op: 'put', key: 'secret', value: 1 }], auth);
    expect((await list(kv, '', auth)).keys.map((k) => k.key)).toEqual([
      'secret',
    ]);
  });

  it('takes a cursor another cluster wrote: a cursor holds a position, no state', async () => {
    await commit(
      kv,
      ['x/1', 'x/2', 'x/3'].map((key) => ({ op: 'put', key, value: 1 })),
      auth,
    );
    const page = await list(
      kv,
      `prefix=x%2F&cursor=${cursorFor(Buffer.from('x/1'))}`,
      auth,
    );
    expect(page.keys.map((k) => k.key)).toEqual(['x/2', 'x/3']);
  });
});
