/**
 * The e2e tests' cluster: the launcher's (test/support/launcher.ts) with HTTP helpers on top,
 * and a registry so that no cluster outlives its test file (this module stops them in an
 * afterAll of its own).
 */
import { HttpResponse, json, request, RequestOptions, waitFor } from './http';
import {
  ClusterOptions,
  ClusterProcess,
  ExitResult,
  untilServing,
} from './launcher';

export * from './http';
export {
  freePort,
  isAlive,
  REPO_ROOT,
  Stats,
  WorkerStats,
  ExitResult,
  ClusterOptions,
} from './launcher';

export interface Digest {
  revision: number;
  digest: string;
  workers: { pid: number; revision: number; digest: string }[];
}

const running = new Set<KvCluster>();

/** The built cluster on a free port in its own process group, with its output kept. */
export class KvCluster extends ClusterProcess {
  /** Starts a cluster and resolves once /_/stats shows every worker live. */
  static async start(options: ClusterOptions = {}): Promise<KvCluster> {
    const cluster = await KvCluster.launch({ ...options, processGroup: true });
    running.add(cluster);
    await untilServing(cluster, options);
    return cluster;
  }

  request(
    method: string,
    path: string,
    options?: RequestOptions,
  ): Promise<HttpResponse> {
    return request(this.port, method, path, options);
  }

  get(path: string, headers?: Record<string, string>): Promise<HttpResponse> {
    return this.request('GET', path, { headers });
  }

  /** A write with a JSON body sent as application/json. */
  write(
    method: 'POST' | 'PUT',
    path: string,
    body: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<HttpResponse> {
    return this.request(method, path, {
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
  }

  delete(
    path: string,
    headers?: Record<string, string>,
  ): Promise<HttpResponse> {
    return this.request('DELETE', path, { headers });
  }

  async digest(
    headers: Record<string, string> = this.systemHeaders,
  ): Promise<Digest> {
    const response = await this.request('GET', '/_/digest', {
      headers,
      timeoutMs: 5_000,
    });
    if (response.status !== 200) {
      throw new Error(
        `/_/digest answered ${response.status}: ${response.body}`,
      );
    }
    return json<Digest>(response);
  }

  /**
   * Polls until every worker's digest and revision equal the primary's (writes have stopped).
   * Returns the converged digest.
   */
  async waitDigestConverged(
    timeoutMs = 10_000,
    headers?: Record<string, string>,
  ): Promise<Digest> {
    let last: Digest | undefined;
    await waitFor(
      async () => {
        last = await this.digest(headers);
        const d = last;
        return (
          d.workers.length === this.workers &&
          d.workers.every(
            (w) => w.digest === d.digest && w.revision === d.revision,
          )
        );
      },
      timeoutMs,
      'every worker digest to equal the primary digest',
      25,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last: ${JSON.stringify(last)}`);
    });
    return last!;
  }

  override async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 15_000,
  ): Promise<ExitResult> {
    const result = await super.stop(signal, timeoutMs);
    running.delete(this);
    return result;
  }

  override kill(): void {
    running.delete(this);
    super.kill();
  }

  /** Graceful stop, or a SIGKILL of everything when that fails; never throws. */
  async shutdown(): Promise<void> {
    try {
      if (this.exit === undefined) await this.stop('SIGTERM', 12_000);
    } catch {
      // stop() has killed everything.
    }
    this.kill();
  }
}

/**
 * A describe block's cluster: started in a beforeAll (`use` gets it, to keep as the block's `kv`;
 * `timeoutMs` bounds that hook, jest's default when undefined) and shut down in an afterAll.
 */
export function suiteCluster(
  options: ClusterOptions,
  use: (cluster: KvCluster) => unknown,
  timeoutMs?: number,
): void {
  let started: KvCluster | undefined;
  beforeAll(async () => {
    started = await KvCluster.start(options);
    await use(started);
  }, timeoutMs);
  afterAll(() => started?.shutdown());
}

/** Stops every cluster still running (afterAll safety). */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((cluster) => cluster.shutdown()));
}

// Every test file that starts clusters imports this module (jest loads it afresh per file): no
// cluster outlives the file that started it, whatever failed.
afterAll(() => stopAllClusters());

// Last resort if jest exits without afterAll: no cluster outlives the test run.
process.once('exit', () => {
  for (const cluster of running) cluster.kill();
});
