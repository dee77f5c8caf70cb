/**
 * The one way the e2e tests and the benches start the built cluster (`node dist/main.js`, as
 * `npm start` runs it after the build): {@link launchCluster} spawns it on a free port,
 * {@link startCluster} also waits until every worker is live. The process helpers here (free
 * ports, stopping a child) serve the benches' peer servers too.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { HOST, json, request, waitFor } from './http';

/** The repository root: `npm start` runs `node dist/main.js` from here. */
export const REPO_ROOT = join(__dirname, '..', '..');
const ENTRY = join('dist', 'main.js');
// Environment the runner may carry that would change the cluster under test.
const RUNNER_SETTINGS = /^(KV_|PORT$|HOST$|LOG_LEVEL$)/;
const MAX_OUTPUT_CHARS = 2_000_000;

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

/** SIGTERMs `child` and resolves once it has exited; SIGKILLs it after `graceMs`. */
export function stopChild(
  child: ChildProcess,
  graceMs = 15_000,
): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}

/** The process state letter from /proc (R, S, T for stopped, Z...), or undefined when gone. */
export function processState(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
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
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
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

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ExitResult extends ExitStatus {
  /** Milliseconds from stop() sending its signal to the primary's exit. */
  elapsedMs: number;
}

export interface ClusterOptions {
  /** KV_WORKERS; 2 unless given. */
  workers?: number;
  /** Extra environment (KV_*, LOG_LEVEL...), over everything else. */
  env?: Record<string, string>;
  /** LOG_LEVEL unless `env` sets it; 'info' unless given. */
  logLevel?: string;
  /** Arguments for node before the entry point (`--cpu-prof`...). */
  nodeArgs?: string[];
  /**
   * 'capture' (the default) keeps stdout and stderr for {@link ClusterProcess.output} and
   * {@link ClusterProcess.waitForLine}; 'inherit' lets them through to the runner's.
   */
  output?: 'capture' | 'inherit';
  /**
   * Whether the runner's own KV_*, PORT, HOST and LOG_LEVEL reach the cluster: the benches take
   * settings from the command line that way; a test must not depend on the shell it runs in.
   */
  passRunnerSettings?: boolean;
  /**
   * Its own process group, so that {@link ClusterProcess.kill} takes the primary and every
   * worker at once. Off for the benches, whose Ctrl-C must reach the cluster too.
   */
  processGroup?: boolean;
  /**
   * Whether an exit nobody asked for prints the output to stderr; off where the caller kills the
   * process itself and judges the exit.
   */
  reportUnexpectedExit?: boolean;
  /** How long {@link startCluster} waits for every worker; 30 s unless given. */
  startTimeoutMs?: number;
}

type ClusterConstructor<T> = new (
  port: number,
  child: ChildProcess,
  options: ClusterOptions,
) => T;

/**
 * One launched primary and its workers: its output, its exit, its /_/stats, and ways to stop
 * it. The e2e tests' KvCluster adds HTTP helpers to it.
 */
export class ClusterProcess {
  readonly workers: number;
  readonly origin: string;
  /** Resolves with the primary's exit code and signal. */
  readonly exited: Promise<ExitStatus>;
  /** Set once the runner stops or kills the primary on purpose. */
  stopRequested = false;
  private readonly chunks: string[] = [];
  /** stdout alone as well: a stderr chunk may land in the middle of one of its lines. */
  private readonly stdoutChunks: string[] = [];
  private outputChars = 0;
  private exitStatus: ExitStatus | undefined;
  private readonly lineWaiters = new Set<() => void>();
  /** Every worker pid seen in /_/stats, for the kill-all safety. */
  private readonly knownWorkerPids = new Set<number>();
  /** Sent with the launcher's own /_/stats requests (the bearer token, if any). */
  protected readonly systemHeaders: Record<string, string>;

  constructor(
    readonly port: number,
    readonly child: ChildProcess,
    options: ClusterOptions,
  ) {
    this.workers = options.workers ?? 2;
    this.origin = `http://${HOST}:${port}`;
    const token = options.env?.KV_AUTH_TOKEN;
    this.systemHeaders =
      token === undefined || token === ''
        ? {}
        : { authorization: `Bearer ${token}` };
    const keep = (stream: string) => (chunk: Buffer) => {
      if (this.outputChars > MAX_OUTPUT_CHARS) return;
      const text = chunk.toString('utf8');
      this.outputChars += text.length;
      this.chunks.push(stream === 'stderr' ? `[stderr] ${text}` : text);
      if (stream === 'stdout') this.stdoutChunks.push(text);
      for (const wake of this.lineWaiters) wake();
    };
    child.stdout?.on('data', keep('stdout'));
    child.stderr?.on('data', keep('stderr'));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        if (!this.stopRequested && options.reportUnexpectedExit !== false) {
          // Nobody asked it to stop: show why it died.
          process.stderr.write(
            `\nfanout-kv cluster on port ${port} exited unexpectedly (code ${code}, signal ${signal});\n` +
              `--- its output ---\n${this.logTail(8000)}\n`,
          );
        }
        for (const wake of this.lineWaiters) wake();
        resolve(this.exitStatus);
      }),
    );
  }

  /** Spawns the cluster on a free port; does not wait for it to serve. */
  static async launch<T extends ClusterProcess>(
    this: ClusterConstructor<T>,
    options: ClusterOptions = {},
  ): Promise<T> {
    if (!existsSync(join(REPO_ROOT, ENTRY))) {
      throw new Error(`${ENTRY} is missing: run "npm run build" first`);
    }
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (options.passRunnerSettings === true || !RUNNER_SETTINGS.test(name))
        env[name] = value;
    }
    Object.assign(env, {
      PORT: String(port),
      HOST,
      KV_WORKERS: String(options.workers ?? 2),
      LOG_LEVEL: options.logLevel ?? 'info',
      ...options.env,
    });
    const stream = options.output === 'inherit' ? 'inherit' : 'pipe';
    const child = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), ENTRY],
      {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', stream, stream],
        detached: options.processGroup === true,
      },
    );
    return new this(port, child, options);
  }

  /** The primary's pid. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Exit code and signal once the primary has exited; undefined while it runs. */
  get exit(): ExitStatus | undefined {
    return this.exitStatus;
  }

  /** Everything the cluster wrote to stdout and stderr so far (empty when not captured). */
  output(): string {
    return this.chunks.join('');
  }

  /** The last `chars` characters of the output, for error messages. */
  logTail(chars = 4000): string {
    const text = this.output();
    return text.length <= chars ? text : `...${text.slice(-chars)}`;
  }

  /**
   * Resolves with the first whole line of stdout that contains `text`, as soon as it is written;
   * rejects when the primary exits first or after `timeoutMs`.
   */
  waitForLine(text: string, timeoutMs = 120_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lineWaiters.delete(check);
        reject(
          new Error(`no "${text}" in ${timeoutMs} ms:\n${this.logTail()}`),
        );
      }, timeoutMs);
      const check = (): void => {
        // Only whole lines: a chunk may end in the middle of one.
        const line = this.stdoutChunks
          .join('')
          .split('\n')
          .slice(0, -1)
          .find((candidate) => candidate.includes(text));
        if (line === undefined && this.exitStatus === undefined) return;
        clearTimeout(timer);
        this.lineWaiters.delete(check);
        if (line !== undefined) resolve(line);
        else
          reject(
            new Error(
              `the cluster exited (${JSON.stringify(this.exitStatus)}) before "${text}":\n${this.logTail()}`,
            ),
          );
      };
      this.lineWaiters.add(check);
      check();
    });
  }

  /** GET /_/stats on a fresh connection; remembers every worker pid it lists. */
  async stats(
    headers: Record<string, string> = this.systemHeaders,
  ): Promise<Stats> {
    // Polls use it: give up after 5 s rather than the default 15 s.
    const response = await request(this.port, 'GET', '/_/stats', {
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

  /** Polls /_/stats until `workers` workers are listed, all live. Returns their pids. */
  async waitAllLive(
    timeoutMs = 30_000,
    headers?: Record<string, string>,
  ): Promise<number[]> {
    let pids: number[] = [];
    await waitFor(
      async () => {
        if (this.exitStatus !== undefined) {
          throw new Error(
            `the cluster exited (${JSON.stringify(this.exitStatus)}):\n${this.logTail()}`,
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
   * Sends `signal` to the primary only and resolves with its exit code and signal. Rejects
   * (after killing everything) when it has not exited within `timeoutMs`.
   */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 15_000,
  ): Promise<ExitResult> {
    const started = Date.now();
    this.stopRequested = true;
    if (this.exitStatus === undefined) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // Already gone: the exit event reports how.
      }
    }
    try {
      const result = await this.waitExit(timeoutMs);
      return { ...result, elapsedMs: Date.now() - started };
    } catch {
      this.kill();
      throw new Error(
        `the primary did not exit within ${timeoutMs} ms of ${signal}\n${this.logTail()}`,
      );
    }
  }

  /** Waits for the primary to exit by itself (after a SIGKILL sent elsewhere, say). */
  async waitExit(timeoutMs = 15_000): Promise<ExitStatus> {
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

  /** Safety net: SIGKILL the process group and every worker ever seen. Synchronous. */
  kill(): void {
    this.stopRequested = true;
    for (const target of [-this.pid, this.pid, ...this.knownWorkerPids]) {
      if (target === 0) continue;
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Not there any more (or, for a negative pid, no group of its own).
      }
    }
  }
}

/** Spawns the cluster on a free port; does not wait for it to serve. */
export function launchCluster(
  options: ClusterOptions = {},
): Promise<ClusterProcess> {
  return ClusterProcess.launch(options);
}

/** Spawns the cluster and resolves once /_/stats shows every worker live. */
export async function startCluster(
  options: ClusterOptions = {},
): Promise<ClusterProcess> {
  const cluster = await launchCluster(options);
  await untilServing(cluster, options);
  return cluster;
}

/** Waits for every worker of a launched cluster; kills it all when that fails. */
export async function untilServing(
  cluster: ClusterProcess,
  options: ClusterOptions,
): Promise<void> {
  try {
    await cluster.waitAllLive(options.startTimeoutMs ?? 30_000);
  } catch (error) {
    cluster.kill();
    throw error;
  }
}
