/**
 * The durability e2e tests' view of a cluster (test/support/launcher.ts starts it): the primary
 * process, its output, its exit as one code or signal, and a connection pool. Needs
 * `npm run build` first.
 */
import { ChildProcess } from 'node:child_process';
import { Pool } from 'undici';
import { ClusterProcess, launchCluster, startCluster } from './launcher';

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

function view(cluster: ClusterProcess): Cluster {
  return {
    port: cluster.port,
    process: cluster.child,
    output: () => cluster.output(),
    exited: cluster.exited.then(
      ({ code, signal }) => (code ?? signal) as number | string,
    ),
    pool: new Pool(cluster.origin, { connections: 32 }),
  };
}

/**
 * Starts the cluster with `env` on top of a clean environment; does not wait for it. The tests
 * judge its exit themselves, so an early one prints nothing.
 */
export async function launch(env: Record<string, string>): Promise<Cluster> {
  return view(await launchCluster({ env, reportUnexpectedExit: false }));
}

/** Starts the cluster and resolves once every worker serves. */
export async function start(env: Record<string, string>): Promise<Cluster> {
  return view(await startCluster({ env, reportUnexpectedExit: false }));
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
