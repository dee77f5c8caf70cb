/** Starting and stopping the servers a benchmark measures, on free loopback ports. */
import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Pool } from 'undici';

export const ROOT = join(__dirname, '..');

export interface RunningServer {
  readonly name: string;
  readonly origin: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === 'object' && address ? address.port : 0),
      );
    });
  });
}

async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function wrap(
  name: string,
  origin: string,
  child: ChildProcess,
): RunningServer {
  return {
    name,
    origin,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null)
          return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }),
  };
}

/** Starts the built cluster (`dist/main.js`, as `npm start` runs it) and waits for every worker. */
export async function startCluster(
  workers: number,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...nodeArgs, join(ROOT, 'dist/main.js')],
    {
      env: {
        ...process.env,
        PORT: String(port),
        KV_WORKERS: String(workers),
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const origin = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      const response = await fetch(`${origin}/_/stats`);
      const stats = (await response.json()) as { workers: { live: boolean }[] };
      return stats.workers.filter((w) => w.live).length === workers;
    },
    120_000,
    'the cluster',
  );
  return wrap('fanout-kv', origin, child);
}

/** Starts the baseline: one process, one Map, the same routes (`baseline-server.ts`). */
export function startBaseline(): Promise<RunningServer> {
  return startScript('baseline', 'baseline-server.ts');
}

/** Starts the floor of the seed profile: a server that stores nothing (`floor-server.ts`). */
export function startFloor(): Promise<RunningServer> {
  return startScript('floor', 'floor-server.ts');
}

async function startScript(name: string, file: string): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join(__dirname, file)],
    {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) =>
      reject(new Error(`${name} exited with ${code}`)),
    );
  });
  return wrap(name, `http://127.0.0.1:${port}`, child);
}

/** PUTs `count` keys named `${prefix}${i}` with `value`, `concurrency` at a time. */
export async function preload(
  origin: string,
  prefix: string,
  count: number,
  value: string,
  concurrency = 64,
): Promise<void> {
  const pool = new Pool(origin, { connections: concurrency });
  let next = 0;
  const workerLoop = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const response = await pool.request({
        method: 'PUT',
        path: `/${prefix}${i}`,
        body: value,
        headers: { 'content-type': 'application/json' },
      });
      await response.body.dump();
      if (response.statusCode !== 200)
        throw new Error(`preload PUT answered ${response.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, workerLoop));
  await pool.close();
}
