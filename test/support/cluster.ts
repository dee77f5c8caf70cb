import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  IncomingHttpHeaders,
  IncomingMessage,
  request as httpRequest,
} from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The repository root: `npm start` runs `node dist/main.js` from here. */
export const REPO_ROOT = join(__dirname, '..', '..');
const ENTRY = join('dist', 'main.js');
const HOST = '127.0.0.1';
// Environment the runner may carry that would change the cluster under test.
const SCRUBBED_ENV = /^(KV_|PORT$|HOST$|LOG_LEVEL$)/;
const MAX_LOG_CHARS = 2_000_000;

/** One HTTP exchange: status, headers, the body as text and as the exact bytes received. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly raw: Buffer;
}

export interface RequestOptions {
  readonly headers?: Record<string, string | string[]>;
  /** Sent as is; a Content-Length is added unless `chunked`. */
  readonly body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked instead of a Content-Length. */
  readonly chunked?: boolean;
  readonly timeoutMs?: number;
}

/**
 * Sends one request on a FRESH TCP connection (`agent: false`, `Connection: close`), so that
 * consecutive requests are spread over the workers by the cluster's round-robin. The path is
 * written on the request line verbatim: `/%2E%2E` stays `/%2E%2E` (no URL normalization).
 */
export function request(
  port: number,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<HttpResponse> {
  const headers: Record<string, string | string[]> = {
    connection: 'close',
    ...options.headers,
  };
  const body =
    options.body === undefined
      ? undefined
      : Buffer.isBuffer(options.body)
        ? options.body
        : Buffer.from(options.body, 'utf8');
  if (body !== undefined) {
    if (options.chunked === true) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(body.length);
  }
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = httpRequest(
      { host: HOST, port, method, path, headers, agent: false },
      (res) => void readResponse(res).then(resolve, reject),
    );
    req.setTimeout(options.timeoutMs ?? 15_000, () =>
      req.destroy(new Error(`${method} ${path}: no answer in time`)),
    );
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (options.chunked === true) {
      // Two chunks, so the server cannot know the length up front.
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else req.end(body);
  });
}

/** Reads a whole response: status, headers and the body as bytes and as UTF-8 text. */
export function readResponse(res: IncomingMessage): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', reject);
    res.on('end', () => {
      const raw = Buffer.concat(chunks);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: raw.toString('utf8'),
        raw,
      });
    });
  });
}

/** Parses a JSON response body; throws with the body when it is not JSON. */
export function json<T = Record<string, unknown>>(response: HttpResponse): T {
  try {
    return JSON.parse(response.body) as T;
  } catch {
    throw new Error(
      `expected a JSON body, got ${response.status}: ${JSON.stringify(response.body)}`,
    );
  }
}

/** Resolves after `ms` milliseconds (only for waiting out a deadline: poll everything else). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Resolves once the clock has passed `epochMs` (a TTL deadline, say). */
export async function waitUntil(epochMs: number): Promise<void> {
  while (Date.now() <= epochMs) await delay(epochMs - Date.now() + 1);
}

/**
 * Polls `predicate` every `intervalMs` until it returns true; rejects after `timeoutMs` with
 * `description` and the last error the predicate threw, if any.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  description = 'condition',
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why =
        lastError === undefined
          ? ''
          : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${description}${why}`,
      );
    }
    await delay(intervalMs);
  }
}

/** A port that was free a moment ago: listen on port 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/**
 * Whether process `pid` exists and is not a zombie. Workers orphaned by a killed primary are
 * reparented to PID 1, which may never reap them: a zombie has exited, so it counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": the state follows the last ')'.
    const state = stat.slice(
      stat.lastIndexOf(')') + 2,
      stat.lastIndexOf(')') + 3,
    );
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export interface WorkerStats {
  pid: number;
  live: boolean;
  revision: number;
  lag: unknown;
}

export interface Stats {
  keys: number;
  revision: number;
  primaryPid: number;
  pid: number;
  workers: WorkerStats[];
  /** Beyond the contract: the serving worker's own replica (its pid and applied revision). */
  worker?: { pid: number; revision: number };
}

export interface Digest {
  revision: number;
  digest: string;
  workers: { pid: number; revision: number; digest: string }[];
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from stop() sending its signal to the primary's exit. */
  elapsedMs: number;
}

export interface ClusterOptions {
  /** KV_WORKERS; 2 unless given. */
  workers?: number;
  /** Extra environment (KV_*, LOG_LEVEL...). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

const running = new Set<KvCluster>();

/**
 * The built cluster (`node dist/main.js`, as `npm start` runs it after the build) on a free
 * port, with its output kept for debugging.
 */
export class KvCluster {
  readonly workers: number;
  private readonly output: string[] = [];
  private outputChars = 0;
  private exitResult:
    { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
  }>;
  /** Every worker pid seen in /_/stats, for the kill-all safety. */
  private readonly knownWorkerPids = new Set<number>();
  /** Set once the test stops or kills the primary on purpose. */
  stopRequested = false;
  /** Sent with the harness's own /_/stats and /_/digest requests (the bearer token, if any). */
  private readonly systemHeaders: Record<string, string>;

  private constructor(
    readonly port: number,
    readonly child: ChildProcess,
    workers: number,
    authToken: string | undefined,
  ) {
    this.workers = workers;
    this.systemHeaders =
      authToken === undefined || authToken === ''
        ? {}
        : { authorization: `Bearer ${authToken}` };
    const keep = (stream: string) => (chunk: Buffer) => {
      if (this.outputChars > MAX_LOG_CHARS) return;
      const text = chunk.toString('utf8');
      this.outputChars += text.length;
      this.output.push(stream === 'stderr' ? `[stderr] ${text}` : text);
    };
    child.stdout?.on('data', keep('stdout'));
    child.stderr?.on('data', keep('stderr'));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitResult = { code, signal };
        if (!this.stopRequested) {
          // Nobody asked it to stop: show why it died.
          process.stderr.write(
            `\nfanout-kv cluster on port ${port} exited unexpectedly (code ${code}, signal ${signal});\n` +
              `--- its output ---\n${this.logTail(8000)}\n`,
          );
        }
        resolve(this.exitResult);
      }),
    );
  }

  /** Starts a cluster and resolves once /_/stats shows every worker live. */
  static async start(options: ClusterOptions = {}): Promise<KvCluster> {
    if (!existsSync(join(REPO_ROOT, ENTRY))) {
      throw new Error(`${ENTRY} is missing: run "npm run build" first`);
    }
    const workers = options.workers ?? 2;
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!SCRUBBED_ENV.test(name)) env[name] = value;
    }
    Object.assign(env, {
      PORT: String(port),
      HOST,
      KV_WORKERS: String(workers),
      LOG_LEVEL: 'info',
      ...options.env,
    });
    const child = spawn(process.execPath, [ENTRY], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so the safety net can kill the primary and every worker at once.
      detached: true,
    });
    const cluster = new KvCluster(
      port,
      child,
      workers,
      options.env?.KV_AUTH_TOKEN,
    );
    running.add(cluster);
    try {
      await cluster.waitAllLive(options.startTimeoutMs ?? 30_000);
    } catch (error) {
      cluster.kill();
      throw error;
    }
    return cluster;
  }

  /** The primary's pid. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Exit code and signal once the primary has exited; undefined while it runs. */
  get exit():
    { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitResult;
  }

  /** Everything the cluster wrote to stdout and stderr so far. */
  logs(): string {
    return this.output.join('');
  }

  /** The last `chars` characters of the output, for error messages. */
  logTail(chars = 4000): string {
    const text = this.logs();
    return text.length <= chars ? text : `...${text.slice(-chars)}`;
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

  async stats(
    headers: Record<string, string> = this.systemHeaders,
  ): Promise<Stats> {
    // Polls use it: give up after 5 s rather than the default 15 s.
    const response = await this.request('GET', '/_/stats', {
      headers,
      timeoutMs: 5_000,
    });
    if (response.status !== 200) {
      throw new Error(`/_/stats answered ${response.status}: ${response.body}`);
    }
    const stats = json<Stats>(response);
    for (const worker of stats.workers) this.knownWorkerPids.add(worker.pid);
    return stats;
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

  /** Polls /_/stats until `workers` workers are listed, all live. Returns their pids. */
  async waitAllLive(
    timeoutMs = 30_000,
    headers?: Record<string, string>,
  ): Promise<number[]> {
    let pids: number[] = [];
    await waitFor(
      async () => {
        if (this.exitResult !== undefined) {
          throw new Error(
            `the cluster exited (${JSON.stringify(this.exitResult)}):\n${this.logTail()}`,
          );
        }
        const stats = await this.stats(headers);
        pids = stats.workers.map((w) => w.pid);
        return (
          stats.workers.length === this.workers &&
          stats.workers.every((w) => w.live)
        );
      },
      timeoutMs,
      `${this.workers} live workers on port ${this.port}`,
      25,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\n--- cluster output ---\n${this.logTail()}`,
      );
    });
    return pids;
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

  /**
   * Sends `signal` to the primary only and resolves with its exit code and signal. Rejects
   * (after killing everything) when it has not exited within `timeoutMs`.
   */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 15_000,
  ): Promise<ExitResult> {
    const started = Date.now();
    this.stopRequested = true;
    if (this.exitResult === undefined) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // Already gone: the exit event reports how.
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.kill();
      throw new Error(
        `the primary did not exit within ${timeoutMs} ms of ${signal}\n${this.logTail()}`,
      );
    }
    running.delete(this);
    return { ...result, elapsedMs: Date.now() - started };
  }

  /** Waits for the primary to exit by itself (after a SIGKILL sent elsewhere, say). */
  async waitExit(
    timeoutMs = 15_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout')
      throw new Error(`the primary did not exit within ${timeoutMs} ms`);
    return result;
  }

  /** Safety net: SIGKILL the whole process group and every worker ever seen. Synchronous. */
  kill(): void {
    this.stopRequested = true;
    running.delete(this);
    for (const target of [-this.pid, this.pid, ...this.knownWorkerPids]) {
      if (target === 0) continue;
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Not there any more.
      }
    }
  }

  /** Graceful stop, or a SIGKILL of everything when that fails; never throws. */
  async shutdown(): Promise<void> {
    try {
      if (this.exitResult === undefined) await this.stop('SIGTERM', 12_000);
    } catch {
      // stop() has killed everything.
    }
    this.kill();
  }
}

/** Stops every cluster still running (afterAll safety). */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((cluster) => cluster.shutdown()));
}

// Last resort if jest exits without afterAll: no cluster outlives the test run.
process.once('exit', () => {
  for (const cluster of running) cluster.kill();
});
