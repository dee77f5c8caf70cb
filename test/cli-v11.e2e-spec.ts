import { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvClient, KvError, WatchEvent } from '../src/client';
import { CliResult, expectExit, runCli, startCli } from './support/cli';
import { KvCluster, waitFor } from './support/cluster';

/**
 * The v1.1 side of the client and the CLI (listing, transactions, watch, TTL read-back)
 * against the built cluster, as cli.e2e-spec.ts does for v1. Runs once the v1.1 routes exist.
 */

const TOKEN = 'cli-v11-token';
const WATCH_HISTORY = 100;

let kv: KvCluster;
let url: string;
let client: KvClient;

beforeAll(async () => {
  kv = await KvCluster.start({
    workers: 2,
    env: { KV_AUTH_TOKEN: TOKEN, KV_WATCH_HISTORY: String(WATCH_HISTORY) },
  });
  url = `http://127.0.0.1:${kv.port}`;
  client = new KvClient({ url, token: TOKEN });
}, 40_000);

afterAll(() => client?.close());

const env = (): Record<string, string> => ({
  KV_URL: url,
  KV_AUTH_TOKEN: TOKEN,
});
const cli = (args: string[], stdin?: string): Promise<CliResult> =>
  runCli(args, { env: env(), stdin });

/** The lines of NDJSON output, parsed. */
function lines<T = Record<string, unknown>>(stdout: string): T[] {
  expect(stdout === '' || stdout.endsWith('\n')).toBe(true);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

/** SIGKILLs every worker and waits for their replacements to serve. */
async function killEveryWorker(): Promise<void> {
  const before = (await kv.stats()).workers.map((w) => w.pid);
  for (const pid of before) process.kill(pid, 'SIGKILL');
  await waitFor(
    async () => {
      const { workers } = await kv.stats();
      return (
        workers.length === before.length &&
        workers.every((w) => w.live && !before.includes(w.pid))
      );
    },
    30_000,
    'new workers in place of the killed ones',
    100,
  );
}

/** A CLI left running (watch), with its stdout lines as they come. */
function follow(args: string[]): {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  exit: Promise<number | null>;
} {
  const child = startCli(args, { env: env() });
  const out: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    out.push(...parts);
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', resolve),
  );
  return { child, lines: out, stderr: () => stderr, exit };
}

describe('the client, v1.1', () => {
  it('reads back the deadline of a TTL, sets and removes it with patchTtl', async () => {
    const before = Date.now();
    await client.put('deadline', '1', { ttl: 60_000, consistency: 'strong' });
    const entry = await client.get('deadline');
    expect(entry.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(entry.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
    const patched = await client.patchTtl('deadline', null, {
      consistency: 'strong',
    });
    expect(patched.revision).toBeGreaterThan(entry.revision);
    expect(await client.get('deadline')).toMatchObject({
      value: '1',
      revision: patched.revision,
      expiresAt: null,
    });
    await client.patchTtl('deadline', 120_000, { ifMatch: patched.revision });
    await expect(
      client.patchTtl('deadline', 1000, { ifMatch: patched.revision }),
    ).rejects.toMatchObject({
      status: 412,
      code: 'precondition_failed',
    });
    await expect(client.patchTtl('no-such-key', 1000)).rejects.toMatchObject({
      status: 404,
      code: 'key_not_found',
    });
  });

  it('lists in byte order with the values as sent, following cursors', async () => {
    const values = [
      '1.0',
      '12345678901234567890',
      '"caf\\u00e9"',
      '{"a": [ ]}',
    ];
    const keys = ['list/b', 'list/a', 'list/é', 'list/Z'];
    for (const [i, key] of keys.entries())
      await client.put(key, values[i]!, { consistency: 'strong' });
    const listed = [];
    for await (const entry of client.listAll({
      prefix: 'list/',
      limit: 3,
      values: true,
    }))
      listed.push(entry);
    // UTF-8 byte order: 'Z' < 'a' < 'b' < 'é'.
    expect(listed.map((k) => [k.key, k.value])).toEqual([
      ['list/Z', '{"a": [ ]}'],
      ['list/a', '12345678901234567890'],
      ['list/b', '1.0'],
      ['list/é', '"caf\\u00e9"'],
    ]);
    const page = await client.list({ prefix: 'list/', limit: 2 });
    expect(page.keys.map((k) => k.key)).toEqual(['list/Z', 'list/a']);
    expect(page.keys[0]!.value).toBeUndefined();
    expect(typeof page.cursor).toBe('string');
    await expect(client.list({ cursor: 'garbage!' })).rejects.toMatchObject({
      status: 400,
      code: 'invalid_cursor',
    });
  });

  it('applies a transaction at one revision, or throws txn_failed with the failures', async () => {
    const result = await client.txn(
      [
        { op: 'put', key: 'tx/a', value: '{"n": 1.0}' },
        { op: 'create', key: 'tx/b', value: '2', ttl: 60_000 },
      ],
      { consistency: 'strong' },
    );
    expect(result.results).toEqual([
      { key: 'tx/a', revision: result.revision },
      { key: 'tx/b', revision: result.revision },
    ]);
    expect(await client.get('tx/a')).toMatchObject({
      value: '{"n": 1.0}',
      revision: result.revision,
    });
    const error = (await client
      .txn([
        { op: 'check', key: 'tx/a', ifMatch: result.revision + 1 },
        { op: 'put', key: 'tx/c', value: '3' },
      ])
      .catch((e: unknown) => e)) as KvError;
    expect(error).toBeInstanceOf(KvError);
    expect([error.status, error.code]).toEqual([409, 'txn_failed']);
    expect(error.failures).toEqual([
      {
        index: 0,
        key: 'tx/a',
        reason: 'precondition_failed',
        revision: result.revision,
      },
    ]);
    await expect(
      client.get('tx/c', { consistency: 'strong' }),
    ).rejects.toMatchObject({
      code: 'key_not_found',
    });
  });

  it('watches every change in order, across the death of every worker, with no gap and no repeat', async () => {
    const stop = new AbortController();
    const events: WatchEvent[] = [];
    const reconnects: number[] = [];
    const from = (await client.stats()).revision;
    const watching = (async () => {
      for await (const event of client.watch({
        prefix: 'cw/',
        from,
        signal: stop.signal,
        onReconnect: (attempt) => reconnects.push(attempt),
      }))
        events.push(event);
    })();
    const written: number[] = [];
    for (let i = 0; i < 5; i++)
      written.push((await client.put(`cw/${i}`, `{"i": ${i}.0}`)).revision);
    await waitFor(() => events.length === 5, 10_000, 'five events');
    await killEveryWorker();
    for (let i = 5; i < 10; i++)
      written.push((await client.put(`cw/${i}`, `{"i": ${i}.0}`)).revision);
    written.push((await client.delete('cw/0')).revision);
    await waitFor(() => events.length >= 11, 20_000, 'eleven events');
    stop.abort();
    await watching;
    expect(events.map((e) => e.revision)).toEqual(written);
    expect(events[3]!.changes).toEqual([
      { key: 'cw/3', type: 'put', value: '{"i": 3.0}', expiresAt: null },
    ]);
    expect(events[10]!.changes).toEqual([{ key: 'cw/0', type: 'delete' }]);
    expect(reconnects.length).toBeGreaterThan(0);
  });
});

describe('the fanout-kv CLI, v1.1', () => {
  it('ls follows the cursors over every page: each key once, in order, one JSON line each', async () => {
    const keys = Array.from(
      { length: 25 },
      (_, i) => `ls/${String(i).padStart(2, '0')}`,
    );
    await client.txn(
      keys.map((key, i) => ({
        op: 'put' as const,
        key,
        value: `{"i": ${i}.0}`,
      })),
      { consistency: 'strong' },
    );
    const listed = lines<{ key: string; revision: number; expiresAt: null }>(
      expectExit(await cli(['ls', 'ls/', '--page-size', '10', '--strong']), 0)
        .stdout,
    );
    expect(listed.map((k) => k.key)).toEqual(keys);
    expect(Object.keys(listed[0]!)).toEqual(['key', 'revision', 'expiresAt']);
    const withValues = expectExit(
      await cli(['ls', 'ls/', '--values', '--page-size', '7']),
      0,
    );
    expect(withValues.stdout.split('\n')[3]).toBe(
      `{"key":"ls/03","revision":${listed[3]!.revision},"expiresAt":null,"value":{"i": 3.0}}`,
    );
    expect(
      lines(
        expectExit(
          await cli(['ls', 'ls/', '--limit', '5', '--page-size', '2']),
          0,
        ).stdout,
      ),
    ).toHaveLength(5);
    const text = expectExit(await cli(['ls', 'ls/1', '-o', 'text']), 0);
    expect(text.stdout).toBe(
      Array.from({ length: 10 }, (_, i) => `ls/1${i}\n`).join(''),
    );
    expect(expectExit(await cli(['ls', 'no-such-prefix/']), 0).stdout).toBe('');
  });

  it('txn from a file or stdin: exit 0, or 1 with the failures, or 2 for a bad transaction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-kv-txn-'));
    const file = join(dir, 'txn.json');
    writeFileSync(
      file,
      '{"ops": [{"op": "put", "key": "ctx/a", "value": {"n": 1.0}}, {"op": "create", "key": "ctx/b", "value": 2}]}',
    );
    const done = JSON.parse(
      expectExit(await cli(['txn', file, '--strong']), 0).stdout,
    ) as {
      revision: number;
    };
    expect((await client.get('ctx/a')).value).toBe('{"n": 1.0}');

    const failed = expectExit(
      await cli(
        ['txn'],
        '{"ops": [{"op": "create", "key": "ctx/b", "value": 3}]}',
      ),
      1,
    );
    expect(failed.stdout).toBe('');
    expect(JSON.parse(failed.stderr)).toMatchObject({
      status: 409,
      error: 'txn_failed',
      failures: [
        {
          index: 0,
          key: 'ctx/b',
          reason: 'key_exists',
          revision: done.revision,
        },
      ],
    });
    const text = expectExit(
      await runCli(['txn', '-', '-o', 'text'], {
        env: env(),
        stdin: '{"ops": [{"op": "delete", "key": "ctx/none"}]}',
      }),
      1,
    );
    expect(text.stderr).toMatch(
      /txn_failed \(409\).*\n {2}op 0 \(ctx\/none\): key_not_found, current revision none/,
    );

    expect(expectExit(await cli(['txn'], '{"ops": ['), 2).stderr).toMatch(
      /not JSON/,
    );
    expect(
      JSON.parse(
        expectExit(
          await cli(['txn'], '{"ops": [{"op": "frob", "key": "a"}]}'),
          2,
        ).stderr,
      ),
    ).toMatchObject({ status: 400 });
    expect(
      expectExit(await cli(['txn', join(dir, 'missing.json')]), 2).stderr,
    ).toMatch(/ENOENT/);
  });

  it('watch streams one JSON line per revision, resumes after every worker dies, and ends on SIGINT with 0', async () => {
    const from = (await client.stats()).revision;
    const watch = follow(['watch', 'cliw/', '--from', String(from)]);
    const plain = follow([
      'watch',
      'cliw/',
      '--from',
      String(from),
      '--no-values',
      '-o',
      'text',
    ]);
    const written: number[] = [];
    written.push((await client.put('cliw/a', '{"v": 1.0}')).revision);
    written.push((await client.put('other', '0')).revision);
    written.push((await client.delete('cliw/a')).revision);
    await waitFor(
      () => watch.lines.length >= 2 && plain.lines.length >= 2,
      10_000,
      'two events',
    );
    await killEveryWorker();
    written.push(
      (
        await client.txn([
          { op: 'put', key: 'cliw/b', value: '[1,\n2]' },
          { op: 'put', key: 'cliw/c', value: 'true' },
        ])
      ).revision,
    );
    await waitFor(
      () => watch.lines.length >= 3 && plain.lines.length >= 4,
      20_000,
      'the events after the restart',
    );
    watch.child.kill('SIGINT');
    plain.child.kill('SIGINT');
    expect(await watch.exit).toBe(0);
    expect(await plain.exit).toBe(0);
    expect(watch.lines).toEqual([
      `{"revision":${written[0]},"changes":[{"key":"cliw/a","type":"put","value":{"v": 1.0},"expiresAt":null}]}`,
      `{"revision":${written[2]},"changes":[{"key":"cliw/a","type":"delete"}]}`,
      `{"revision":${written[3]},"changes":[{"key":"cliw/b","type":"put","value":[1, 2],"expiresAt":null},` +
        `{"key":"cliw/c","type":"put","value":true,"expiresAt":null}]}`,
    ]);
    expect(watch.stderr()).toMatch(/resuming after revision/);
    expect(plain.lines).toEqual([
      `${written[0]}  put    cliw/a`,
      `${written[2]}  delete cliw/a`,
      `${written[3]}  put    cliw/b`,
      `${written[3]}  put    cliw/c`,
    ]);
  });

  it('watch from a revision older than the history ends with exit 2 and history_compacted', async () => {
    for (let i = 0; (await client.stats()).revision < WATCH_HISTORY + 20; i++)
      await client.put(`fill/${i % 10}`, String(i));
    const result = expectExit(await cli(['watch', '--from', '1']), 2);
    const error = JSON.parse(result.stderr) as Record<string, unknown>;
    expect(error).toMatchObject({ status: 410, error: 'history_compacted' });
    expect(typeof error.oldest).toBe('number');
  });
});
