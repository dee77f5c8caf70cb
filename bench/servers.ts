/**
 * Starting and stopping the servers a benchmark measures, on free loopback ports: fanout-kv
 * through the tests' launcher (test/support/launcher.ts), the peers here with its helpers.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { waitFor } from '../test/support/http';
import {
  freePort,
  REPO_ROOT,
  startCluster,
  stopChild,
} from '../test/support/launcher';
import type { PacedRequest } from './paced-load';
import { withChildren } from './proc-cpu';

/** A request of fanout-kv's API, as the workloads build them. */
export type BenchRequest = PacedRequest;

export interface RunningServer {
  readonly name: string;
  readonly origin: string;
  readonly child: ChildProcess;
  /** Every process whose CPU time is this server's. */
  pids(): number[];
  /** The request this server takes for `request` (peers with another API translate it). */
  translate(request: BenchRequest): BenchRequest;
  stop(): Promise<void>;
}

const asIs = (request: BenchRequest): BenchRequest => request;

function wrap(
  name: string,
  origin: string,
  child: ChildProcess,
): RunningServer {
  return {
    name,
    origin,
    child,
    pids: () => withChildren(child.pid!),
    translate: asIs,
    stop: () => stopChild(child),
  };
}

/** Starts the built cluster (test/support/launcher.ts) and waits for every worker. */
export async function startFanoutKv(
  workers: number,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<RunningServer> {
  const cluster = await startCluster({
    workers,
    env,
    nodeArgs,
    logLevel: 'warn',
    output: 'inherit',
    passRunnerSettings: true,
    startTimeoutMs: 120_000,
  });
  return {
    ...wrap('fanout-kv', cluster.origin, cluster.child),
    stop: async () => {
      await cluster.stop('SIGTERM', 15_000).catch(() => undefined);
    },
  };
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
      cwd: REPO_ROOT,
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

/**
 * Starts the peer users would run instead: webdis (HTTP) in front of redis-server, Debian's
 * packages with their default settings (webdis's two threads), persistence off as fanout-kv's
 * default is. Resolves to why not when either is missing (`bench/setup-peers.sh` installs
 * them).
 *
 * The workloads' requests map to Redis commands: GET /k -> GET /GET/k, POST /k (create) -> PUT
 * /SETNX/k, PUT /k -> PUT /SET/k, the value as the body.
 */
export async function startWebdis(): Promise<RunningServer | string> {
  for (const binary of ['redis-server', 'webdis']) {
    if (spawnSync('sh', ['-c', `command -v ${binary}`]).status !== 0)
      return `${binary} is not installed (bench/setup-peers.sh installs it)`;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fanout-kv-webdis-'));
  const redisPort = await freePort();
  const redis = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  const httpPort = await freePort();
  const config = join(dir, 'webdis.json');
  writeFileSync(
    config,
    JSON.stringify({
      redis_host: '127.0.0.1',
      redis_port: redisPort,
      http_host: '127.0.0.1',
      http_port: httpPort,
      threads: 2,
      daemonize: false,
      database: 0,
      verbosity: 0,
      logfile: join(dir, 'webdis.log'),
    }),
  );
  const webdis = spawn('webdis', [config], { stdio: 'ignore' });
  const origin = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    async () => (await fetch(`${origin}/PING`)).status === 200,
    20_000,
    'webdis + Redis',
    100,
  );
  const command = { GET: 'GET', POST: 'SETNX', PUT: 'SET', DELETE: 'DEL' };
  return {
    name: 'webdis + Redis',
    origin,
    child: webdis,
    pids: () => [webdis.pid!, redis.pid!],
    translate: ({ method, path, body }) => ({
      method: method === 'GET' ? 'GET' : 'PUT',
      path: `/${command[method]}${path}`,
      body,
    }),
    stop: async () => {
      await stopChild(webdis);
      await stopChild(redis);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PUTs `count` keys named `${prefix}${i}` with `value`, `concurrency` at a time. */
export async function preload(
  server: RunningServer,
  prefix: string,
  count: number,
  value: string,
  concurrency = 64,
): Promise<void> {
  const pool = new Pool(server.origin, { connections: concurrency });
  let next = 0;
  const workerLoop = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const { method, path, body } = server.translate({
        method: 'PUT',
        path: `/${prefix}${i}`,
        body: value,
      });
      const response = await pool.request({
        method,
        path,
        body,
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
