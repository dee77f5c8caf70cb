import { KvClient, KvConnectionError, KvError, encodeKey } from '../src/client';
import { CliResult, expectExit, runCli } from './support/cli';
import { freePort, KvCluster, waitFor } from './support/cluster';

/**
 * The typed client (src/client/) and the `fanout-kv` CLI built on it (dist/cli/main.js, run as
 * a child process with its output piped), against the built cluster with a bearer token. The
 * v1.1 commands (ls, txn, watch) are in cli-v11.e2e-spec.ts.
 */

const TOKEN = 'cli-token';

/** Keys that a URL layer or a naive client would mangle. */
const AWKWARD_KEYS = [
  '..',
  '.',
  'a/b',
  'with space',
  '?query#hash',
  '%41',
  '__proto__',
  'emoji 🚀',
  'ü+&=;',
];

/** Values whose text a parse and re-serialization would change. */
const EXACT_VALUES = [
  '1.0',
  '12345678901234567890',
  '"caf\\u00e9"',
  '{"b": 1, "a": [1, 2] }',
  '\n  {"pretty": true}\n',
  'null',
];

let kv: KvCluster;
let url: string;
let client: KvClient;

beforeAll(async () => {
  kv = await KvCluster.start({
    workers: 2,
    env: { KV_AUTH_TOKEN: TOKEN },
  });
  url = `http://127.0.0.1:${kv.port}`;
  client = new KvClient({ url, token: TOKEN });
}, 40_000);

afterAll(() => client?.close());

/** The answer of any error the promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function expectKvError(
  promise: Promise<unknown>,
  status: number,
  code: string,
): Promise<KvError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(KvError);
  expect((error as KvError).status).toBe(status);
  expect((error as KvError).code).toBe(code);
  return error as KvError;
}

describe('the client', () => {
  it('reads back every awkward key and every value byte for byte; keys never go through URL folding', async () => {
    for (const [index, key] of AWKWARD_KEYS.entries()) {
      const value = EXACT_VALUES[index % EXACT_VALUES.length]!;
      const written = await client.put(key, value, {
        consistency: 'strong',
      });
      expect(written.key).toBe(key);
      const entry = await client.get(key);
      expect(entry).toEqual({
        key,
        value,
        revision: written.revision,
        expiresAt: null,
      });
      // The same key as the server sees it, asked without the client.
      const raw = await kv.get(`/${encodeKey(key)}`, {
        authorization: `Bearer ${TOKEN}`,
      });
      expect(raw.body).toBe(value);
    }
    expect(encodeKey('..')).toBe('%2E%2E');
    expect(encodeKey('a/b')).toBe('a%2Fb');
  });

  it('creates, replaces on a condition, and deletes, with the revisions the server gives', async () => {
    const created = await client.create('cond', '{"v":1}');
    await expectKvError(client.create('cond', '2'), 409, 'key_exists');
    await expectKvError(
      client.put('cond', '2', { ifMatch: created.revision + 1000 }),
      412,
      'precondition_failed',
    );
    await expectKvError(
      client.put('cond', '2', { ifNoneMatch: '*' }),
      412,
      'precondition_failed',
    );
    const replaced = await client.put('cond', '{"v":2}', {
      ifMatch: created.revision,
    });
    expect(replaced.revision).toBeGreaterThan(created.revision);
    expect((await client.get('cond', { consistency: 'strong' })).value).toBe(
      '{"v":2}',
    );
    await expectKvError(
      client.delete('cond', { ifMatch: created.revision }),
      412,
      'precondition_failed',
    );
    await client.delete('cond', { ifMatch: '*', consistency: 'strong' });
    await expectKvError(client.get('cond'), 404, 'key_not_found');
    await expectKvError(client.delete('cond'), 404, 'key_not_found');
  });

  it('sends a TTL in the path: the key is gone after it', async () => {
    await client.put('short-lived', '1', { ttl: 300, consistency: 'strong' });
    await waitFor(
      async () =>
        (await rejection(client.get('short-lived'))) instanceof KvError,
      5_000,
      'the key to expire',
    );
  });

  it('throws typed errors for bad input, a wrong token, a server that is not there', async () => {
    const invalid = await expectKvError(
      client.put('bad', '{"unclosed":'),
      400,
      'invalid_json',
    );
    expect(invalid.message).toMatch(/JSON/);
    await expectKvError(client.get('_'), 400, 'reserved_key');
    const stranger = new KvClient({ url, token: 'wrong' });
    await expectKvError(stranger.stats(), 401, 'unauthorized');
    // Health and the API description are open.
    expect(await stranger.health()).toEqual({ status: 'ok' });
    expect((await stranger.openapi()).openapi).toMatch(/^3\.1\./);
    stranger.close();
    const nobody = new KvClient({
      url: `http://127.0.0.1:${await freePort()}`,
    });
    expect(await rejection(nobody.health())).toBeInstanceOf(KvConnectionError);
    nobody.close();
  });

  it('reads stats, digest and metrics', async () => {
    const stats = await client.stats();
    expect(stats.workers).toHaveLength(2);
    expect(stats.keys).toBeGreaterThan(0);
    const digest = await client.digest();
    expect(typeof digest.digest).toBe('string');
    expect(await client.metrics()).toMatch(/^# HELP /m);
  });
});

describe('the fanout-kv CLI', () => {
  const env = (): Record<string, string> => ({
    KV_URL: url,
    KV_AUTH_TOKEN: TOKEN,
  });
  const cli = (
    args: string[],
    options: { stdin?: string; env?: Record<string, string> } = {},
  ): Promise<CliResult> =>
    runCli(args, { env: options.env ?? env(), stdin: options.stdin });

  /** The CLI's one JSON document on stdout, after checking it ended with `code`. */
  function output<T = Record<string, unknown>>(result: CliResult, code = 0): T {
    expectExit(result, code);
    expect(result.stdout.endsWith('\n')).toBe(true);
    return JSON.parse(result.stdout) as T;
  }

  /** The JSON error the CLI wrote on stderr, after checking its exit code. */
  function errorOutput(
    result: CliResult,
    code: number,
  ): Record<string, unknown> {
    expectExit(result, code);
    expect(result.stdout).toBe('');
    return JSON.parse(result.stderr) as Record<string, unknown>;
  }

  it('prints its help with exit 0, and refuses a bad command line with exit 2 and nothing sent', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: fanout-kv/);
    for (const command of [
      'get',
      'put',
      'create',
      'del',
      'ls',
      'txn',
      'watch',
      'stats',
      'health',
    ])
      expect(help.stdout).toContain(`\n  ${command} `);
    const before = (await client.stats()).revision;
    for (const args of [
      [],
      ['frobnicate'],
      ['get'],
      ['get', 'a', 'b'],
      ['get', 'k', '--ttl', '5'],
      ['put', 'k', '1', '--ttl', 'soon'],
      ['put', 'k', '1', '--if-match', 'abc'],
      ['put', 'k', '{not json'],
      ['put', 'k', '--output', 'yaml', '1'],
      ['--url', 'ftp://x', 'health'],
    ]) {
      const result = await cli(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^fanout-kv: .+\nRun "fanout-kv --help"/);
    }
    const put = await cli(['put', 'k'], { stdin: '' });
    expect(put.code).toBe(2);
    expect((await client.stats()).revision).toBe(before);
    await expectKvError(
      client.get('k', { consistency: 'strong' }),
      404,
      'key_not_found',
    );
  });

  it('put, get and del: JSON on a pipe, the value exactly as given', async () => {
    const put = output<{ key: string; revision: number }>(
      await cli(['put', 'cli-key', '{"n": 1.0}', '--strong']),
    );
    expect(Object.keys(put)).toEqual(['key', 'revision']);
    expect(put.key).toBe('cli-key');
    expect((await client.get('cli-key')).value).toBe('{"n": 1.0}');

    const got = output(await cli(['get', 'cli-key']));
    expect(got).toEqual({
      key: 'cli-key',
      revision: put.revision,
      expiresAt: null,
      value: { n: 1 },
    });
    const raw = await cli(['get', 'cli-key', '--raw']);
    expect(raw).toEqual({ code: 0, stdout: '{"n": 1.0}', stderr: '' });

    const deleted = output<{ key: string; revision: number }>(
      await cli(['del', 'cli-key', '--strong']),
    );
    expect(deleted.key).toBe('cli-key');
    expect(deleted.revision).toBeGreaterThan(put.revision);
    expect(
      errorOutput(await cli(['get', 'cli-key', '--strong']), 1),
    ).toMatchObject({ status: 404, error: 'key_not_found' });
    expect(errorOutput(await cli(['del', 'cli-key']), 1)).toMatchObject({
      error: 'key_not_found',
    });
  });

  it('put reads the value from stdin, and sends it as it is', async () => {
    const value = '{\n  "from": "stdin",\n  "big": 12345678901234567890\n}\n';
    output(await cli(['put', 'piped', '--strong'], { stdin: value }));
    expect((await client.get('piped')).value).toBe(value);
    output(await cli(['put', 'piped', '-', '--strong'], { stdin: '[1]' }));
    expect((await client.get('piped')).value).toBe('[1]');
    // On a pipe, get prints one line: the value's line breaks are JSON whitespace.
    const got = await cli(['get', 'piped']);
    expect(got.stdout.split('\n')).toHaveLength(2);
    output(await cli(['put', 'negative', '--strong', '--', '-1']));
    expect((await client.get('negative')).value).toBe('-1');
  });

  it('create and conditional put end with exit 1 when the condition fails', async () => {
    const created = output<{ revision: number }>(
      await cli(['create', 'once', '"first"', '--strong']),
    );
    expect(
      errorOutput(await cli(['create', 'once', '"again"']), 1),
    ).toMatchObject({
      status: 409,
      error: 'key_exists',
    });
    expect(
      errorOutput(
        await cli([
          'put',
          'once',
          '2',
          '--if-match',
          String(created.revision + 1000),
        ]),
        1,
      ),
    ).toMatchObject({ status: 412, error: 'precondition_failed' });
    output(
      await cli(['put', 'once', '2', '--if-match', String(created.revision)]),
    );
    expect(
      errorOutput(await cli(['put', 'absent-key', '2', '--if-match', '*']), 1),
    ).toMatchObject({ error: 'precondition_failed' });
    expect(
      errorOutput(
        await cli(['del', 'once', '--if-match', String(created.revision)]),
        1,
      ),
    ).toMatchObject({ error: 'precondition_failed' });
  });

  it('put --ttl and create --ttl: the key expires', async () => {
    output(await cli(['put', 'ttl-put', '1', '--ttl', '300', '--strong']));
    output(
      await cli(['create', 'ttl-create', '1', '--ttl', '300', '--strong']),
    );
    for (const key of ['ttl-put', 'ttl-create'])
      await waitFor(
        async () => (await cli(['get', key])).code === 1,
        5_000,
        `${key} to expire`,
      );
  });

  it('awkward keys go through the CLI unchanged', async () => {
    for (const key of AWKWARD_KEYS) {
      output(await cli(['put', key, '"v"', '--strong']));
      expect((await client.get(key)).value).toBe('"v"');
      expect(output(await cli(['get', key])).key).toBe(key);
    }
  });

  it('stats and health print the server JSON', async () => {
    const stats = output<{ keys: number; workers: unknown[] }>(
      await cli(['stats']),
    );
    expect(stats.workers).toHaveLength(2);
    expect(stats.keys).toBe((await client.stats()).keys);
    expect(output(await cli(['health']))).toEqual({ status: 'ok' });
  });

  it('--output text prints readable lines', async () => {
    const put = await cli(['put', 'text-key', '{"a": 1}', '-o', 'text']);
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/^put text-key at revision [0-9]+\n$/);
    const get = await cli(['get', 'text-key', '--output', 'text', '--strong']);
    expect(get.stdout).toMatch(
      /^\{"a": 1\}\n\(revision [0-9]+, no deadline\)\n$/,
    );
    const stats = await cli(['stats', '-o', 'text']);
    expect(stats.stdout).toMatch(
      /^[0-9]+ keys? at revision [0-9]+; primary pid/,
    );
    expect(stats.stdout.match(/^ {2}worker [0-9]+: live/gm)).toHaveLength(2);
    expect((await cli(['health', '-o', 'text'])).stdout).toBe('ok\n');
    const missing = await cli(['get', 'no-such-key', '-o', 'text']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^fanout-kv: key_not_found \(404\): /);
  });

  it('takes the URL and token from the environment or the options, the options first', async () => {
    expect(
      errorOutput(await cli(['stats'], { env: { KV_URL: url } }), 2),
    ).toMatchObject({ status: 401, error: 'unauthorized' });
    output(await cli(['stats', '--url', url, '--token', TOKEN], { env: {} }));
    output(
      await cli(['stats', '--token', TOKEN], {
        env: { KV_URL: url, KV_AUTH_TOKEN: 'stale' },
      }),
    );
    const elsewhere = `http://127.0.0.1:${await freePort()}`;
    output(await cli(['health', '--url', url], { env: { KV_URL: elsewhere } }));
    const refused = errorOutput(
      await cli(['health'], { env: { KV_URL: elsewhere } }),
      2,
    );
    expect(refused).toMatchObject({ error: 'connection_failed' });
    expect(refused.message).toMatch(/ECONNREFUSED/);
  });
});
