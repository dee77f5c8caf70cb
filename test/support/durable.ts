/**
 * A small harness for the durability e2e tests: starts the built cluster (`node dist/main.js`)
 * as a real process on a free port with a data directory, waits until it serves, and stops or
 * kills it. Needs `npm run build` first.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Pool } from 'undici';

const ROOT = join(__dirname, '..', '..');
const HOST = '127.0.0.1';

/** One running (or finished) primary and its workers. */
export interface Cluster {
  readonly port: number;
  readonly process: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the primary has exited. */
  readonly exited: Promise<number | string>;
  readonly pool: Pool;
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts the cluster with `env` on top of a clean environment; does not wait for it. */
export async function launch(env: Record<string, string>): Promise<Cluster> {
  const port = await freePort();
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^(KV_|PORT$|HOST$|LOG_LEVEL$)/.test(name),
    ),
  );
  const child = spawn(process.execPath, [join('dist', 'main.js')], {
    cwd: ROOT,
    env: { ...clean, PORT: String(port), KV_WORKERS: '2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(
    ([code, signal]) => (code ?? signal) as number | string,
  );
  return {
    port,
    process: child,
    output: () => output,
    exited,
    pool: new Pool(`http://${HOST}:${port}`, { connections: 32 }),
  };
}

/** Starts the cluster and resolves once every worker serves. */
export async function start(env: Record<string, string>): Promise<Cluster> {
  const cluster = await launch(env);
  let done = false;
  void cluster.exited.then(() => (done = true));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (done)
      throw new Error(`the cluster exited at start:\n${cluster.output()}`);
    if (cluster.output().includes('fanout-kv serving on')) return cluster;
    if (Date.now() > deadline)
      throw new Error(`the cluster did not start:\n${cluster.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Sends SIGTERM (a clean stop) or SIGKILL (a crash) and waits for the primary to exit. */
export async function stop(
  cluster: Cluster,
  signal: 'SIGTERM' | 'SIGKILL',
): Promise<void> {
  cluster.process.kill(signal);
  await cluster.exited;
  await cluster.pool.destroy();
}

/** One request; the body as text. */
export async function call(
  cluster: Cluster,
  method: 'GET' | 'PUT' | 'DELETE',
  path: string,
  body?: string,
): Promise<{ status: number; body: string; etag: string | undefined }> {
  const response = await cluster.pool.request({
    method,
    path,
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  const etag = response.headers.etag;
  return {
    status: response.statusCode,
    body: await response.body.text(),
    etag: typeof etag === 'string' ? etag : undefined,
  };
}

/** The primary's `{revision, digest}` from /_/digest. */
export async function digest(
  cluster: Cluster,
): Promise<{ revision: number; digest: string }> {
  const { revision, digest } = JSON.parse(
    (await call(cluster, 'GET', '/_/digest')).body,
  ) as { revision: number; digest: string };
  return { revision, digest };
}
