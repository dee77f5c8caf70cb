import { readdirSync, readlinkSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, Socket } from 'node:net';
import {
  bodyBytes,
  ClusterOptions,
  delay,
  HOST,
  HttpResponse,
  json,
  KvCluster,
  readResponse,
  request,
  RequestOptions,
  Stats,
  suiteCluster,
  waitFor,
} from './cluster';

export { processState } from './launcher';

/**
 * Helpers for the fault suite (test/faults/, one file per scenario, each with its own cluster):
 * signals with a safety net for stopped processes, keep-alive connections pinned to one worker,
 * raw-socket exchanges, slow clients, small statistics, and checks that acknowledged writes
 * hold. Everything talks to 127.0.0.1 only.
 *
 * A write counts as acknowledged only when it was answered 200; one whose connection died may or
 * may not have been applied and is never counted as lost. Each scenario prints one summary line
 * ("[faults] ...") with what was acknowledged, what was lost (always 0) and what was compared.
 */

// ---------------------------------------------------------------------------------------------
// Signals

/** Pids a test stopped with SIGSTOP and has not released: resumed and killed by the safety net. */
const stoppedPids = new Set<number>();

/** Sends `signal` to `pid`; false when the process is gone. */
export function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/**
 * A scenario's cluster: {@link suiteCluster} with a 40 s start; after the tests, whatever failed,
 * no process the scenario stopped stays stopped.
 */
export function scenarioCluster(
  options: ClusterOptions,
  use: (cluster: KvCluster) => unknown,
): void {
  afterAll(releaseStopped);
  suiteCluster(options, use, 40_000);
}

/** SIGSTOPs `pid` and remembers it, so that {@link releaseStopped} can clean up after a failure. */
export function stopProcess(pid: number): void {
  stoppedPids.add(pid);
  if (!signal(pid, 'SIGSTOP')) throw new Error(`cannot SIGSTOP ${pid}`);
}

/** Forgets a stopped pid once it is known to be gone (so the safety net never signals a reused pid). */
export function forgetStopped(pid: number): void {
  stoppedPids.delete(pid);
}

/** SIGCONT then SIGKILL every process still remembered as stopped. Synchronous, never throws. */
export function releaseStopped(): void {
  for (const pid of stoppedPids) {
    signal(pid, 'SIGCONT');
    signal(pid, 'SIGKILL');
  }
  stoppedPids.clear();
}

process.once('exit', releaseStopped);

/** How many sockets process `pid` holds open (its /proc/<pid>/fd entries that are sockets). */
export function socketCount(pid: number): number {
  let count = 0;
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return -1;
  }
  for (const name of names) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${name}`).startsWith('socket:'))
        count++;
    } catch {
      // Closed while listing.
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** The bearer header for a token, or none. */
export function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/**
 * GET /_/stats on a fresh connection with a short timeout (a stopped worker may be handed the
 * connection and never answer: the caller retries).
 */
export async function quickStats(
  kv: KvCluster,
  timeoutMs = 4_000,
  headers: Record<string, string> = {},
): Promise<Stats> {
  const response = await request(kv.port, 'GET', '/_/stats', {
    timeoutMs,
    headers,
  });
  if (response.status !== 200)
    throw new Error(`/_/stats answered ${response.status}: ${response.body}`);
  return json<Stats>(response);
}

/** A response from a {@link KeepAliveConnection}, with the local port of the socket used. */
export interface PinnedResponse extends HttpResponse {
  readonly localPort: number;
}

/**
 * One keep-alive TCP connection (an http.Agent with keepAlive and a single socket), so every
 * request lands on the worker that accepted it. `socketsOpened` counts the TCP connections the
 * agent had to open: more than one means the pinning was lost (the server closed it).
 */
export class KeepAliveConnection {
  private readonly agent = new Agent({
    keepAlive: true,
    maxSockets: 1,
    maxFreeSockets: 1,
  });
  socketsOpened = 0;
  private readonly sockets = new WeakSet<Socket>();
  /** The worker pid this connection was pinned to by {@link pinConnection}, if any. */
  pid: number | undefined;

  constructor(
    readonly port: number,
    private readonly defaultHeaders: Record<string, string> = {},
  ) {}

  request(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<PinnedResponse> {
    const headers: Record<string, string | string[]> = {
      ...this.defaultHeaders,
      ...options.headers,
    };
    const body = bodyBytes(options.body);
    if (body !== undefined) headers['content-length'] = String(body.length);
    return new Promise<PinnedResponse>((resolve, reject) => {
      const req = httpRequest(
        {
          host: HOST,
          port: this.port,
          method,
          path,
          headers,
          agent: this.agent,
        },
        (res) => {
          const localPort = res.socket.localPort ?? 0;
          readResponse(res).then(
            (response) => resolve({ ...response, localPort }),
            reject,
          );
        },
      );
      req.on('socket', (socket: Socket) => {
        if (this.sockets.has(socket)) return;
        this.sockets.add(socket);
        this.socketsOpened++;
      });
      req.setTimeout(options.timeoutMs ?? 15_000, () =>
        req.destroy(new Error(`${method} ${path}: no answer in time`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  get(path: string, timeoutMs?: number): Promise<PinnedResponse> {
    return this.request('GET', path, { timeoutMs });
  }

  put(
    path: string,
    value: string,
    timeoutMs?: number,
  ): Promise<PinnedResponse> {
    return this.request('PUT', path, {
      body: value,
      headers: { 'content-type': 'application/json' },
      timeoutMs,
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Opens keep-alive connections until one is served by a worker that `accept` takes (judged by
 * the `pid` of /_/stats on that very connection); closes the others. Gives up after
 * `maxAttempts`.
 */
export async function pinConnection(
  kv: KvCluster,
  accept: (pid: number) => boolean,
  options: {
    maxAttempts?: number;
    timeoutMs?: number;
    headers?: Record<string, string>;
  } = {},
): Promise<KeepAliveConnection> {
  const attempts = options.maxAttempts ?? 40;
  let lastError = '';
  for (let i = 0; i < attempts; i++) {
    const connection = new KeepAliveConnection(kv.port, options.headers);
    try {
      const response = await connection.get(
        '/_/stats',
        options.timeoutMs ?? 4_000,
      );
      if (response.status === 200) {
        const pid = json<Stats>(response).pid;
        if (accept(pid)) {
          connection.pid = pid;
          return connection;
        }
        lastError = `served by ${pid}`;
      } else lastError = `status ${response.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    connection.close();
  }
  throw new Error(
    `no keep-alive connection to a suitable worker in ${attempts} attempts (last: ${lastError})`,
  );
}

/** One pinned keep-alive connection to each pid in `pids`. */
export async function pinOnePerWorker(
  kv: KvCluster,
  pids: readonly number[],
  headers?: Record<string, string>,
): Promise<Map<number, KeepAliveConnection>> {
  const pinned = new Map<number, KeepAliveConnection>();
  for (const pid of pids)
    pinned.set(pid, await pinConnection(kv, (p) => p === pid, { headers }));
  return pinned;
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

/** What came back on one raw TCP exchange. */
export interface RawExchange {
  /** Every byte the server sent. */
  readonly bytes: Buffer;
  /** The server ended its side (FIN) or reset the connection. */
  readonly closedByServer: boolean;
  /** Milliseconds from connecting to the server's end, or to our give-up. */
  readonly elapsedMs: number;
  readonly error: string | undefined;
}

/**
 * Connects, writes `data` as is, and collects what the server sends until it closes the
 * connection or `timeoutMs` passes (then the connection is destroyed from our side).
 */
export function rawExchange(
  port: number,
  data: string | Buffer,
  timeoutMs = 5_000,
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: HOST, port });
    const chunks: Buffer[] = [];
    let closedByServer = false;
    let error: string | undefined;
    let endedAt: number | undefined;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      closedByServer = true;
      endedAt = Date.now();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
        closedByServer = true;
        endedAt ??= Date.now();
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({
        bytes: Buffer.concat(chunks),
        closedByServer,
        elapsedMs: (endedAt ?? Date.now()) - started,
        error,
      });
    });
    socket.write(data);
  });
}

/** One HTTP/1.1 response parsed out of raw bytes. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * Parses one response at `offset` (Content-Length framing only: the server always sends one).
 * Returns it and the offset after it, or undefined when the bytes end before it does.
 */
function takeResponse(
  bytes: Buffer,
  offset: number,
): { response: RawResponse; next: number } | undefined {
  const headEnd = bytes.indexOf('\r\n\r\n', offset);
  if (headEnd < 0) return undefined;
  const lines = bytes
    .subarray(offset, headEnd)
    .toString('latin1')
    .split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '');
  if (match === null) throw new Error(`not a status line: ${lines[0]}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line
      .slice(colon + 1)
      .trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const bodyStart = headEnd + 4;
  if (bytes.length < bodyStart + length) return undefined;
  return {
    response: {
      status: Number(match[1]),
      headers,
      body: bytes.subarray(bodyStart, bodyStart + length).toString('utf8'),
    },
    next: bodyStart + length,
  };
}

/** Splits the bytes a server sent into responses (Content-Length framing only). */
export function parseResponses(bytes: Buffer): RawResponse[] {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const taken = takeResponse(bytes, offset);
    if (taken === undefined)
      throw new Error(
        `a truncated response: ${JSON.stringify(bytes.subarray(offset).toString('latin1'))}`,
      );
    responses.push(taken.response);
    offset = taken.next;
  }
  return responses;
}

/** A raw HTTP/1.1 request: `method path`, optional JSON body, keep-alive. */
export function rawRequest(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): string {
  let text = `${method} ${path} HTTP/1.1\r\nHost: ${HOST}\r\n`;
  for (const [name, value] of Object.entries(headers))
    text += `${name}: ${value}\r\n`;
  if (body !== undefined)
    text += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return `${text}\r\n${body ?? ''}`;
}

/**
 * One raw keep-alive connection that sends requests pipelined, `depth` at a time, and parses the
 * responses in order. Much cheaper for the test process than one client request each, so bulk
 * loads and bulk checks stay fast on a small machine; and like any connection, it stays on the
 * worker that accepted it.
 */
export class PipelinedConnection {
  private readonly socket: Socket;
  private readonly connected: Promise<void>;
  private pending: Buffer = Buffer.alloc(0);
  private responses: RawResponse[] = [];
  private onData: (() => void) | undefined;
  private failure: Error | undefined;
  /** The worker pid, once {@link pinPipelined} has checked it. */
  pid: number | undefined;

  constructor(port: number) {
    this.socket = connect({ host: HOST, port });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    // Reported by send(); not an unhandled rejection when nobody has sent yet.
    this.connected.catch(() => undefined);
    this.socket.on('data', (chunk: Buffer) => {
      this.pending =
        this.pending.length === 0
          ? chunk
          : Buffer.concat([this.pending, chunk]);
      let offset = 0;
      try {
        for (;;) {
          const taken = takeResponse(this.pending, offset);
          if (taken === undefined) break;
          this.responses.push(taken.response);
          offset = taken.next;
        }
      } catch (error) {
        this.failure = error as Error;
      }
      this.pending = this.pending.subarray(offset);
      this.onData?.();
    });
    const fail = (error: Error): void => {
      this.failure ??= error;
      this.onData?.();
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('the connection closed')));
  }

  /** Sends every request, `depth` in flight at most; resolves with the responses in order. */
  async send(
    requests: readonly string[],
    depth = 200,
    timeoutMs = 60_000,
  ): Promise<RawResponse[]> {
    await this.connected;
    const answers: RawResponse[] = [];
    const deadline = Date.now() + timeoutMs;
    for (let sent = 0; sent < requests.length;) {
      const end = Math.min(requests.length, sent + depth);
      this.socket.write(requests.slice(sent, end).join(''));
      const expected = end - sent;
      sent = end;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `pipelined: ${answers.length + this.responses.length} of ${requests.length} answers in ${timeoutMs} ms`,
              ),
            ),
          Math.max(1, deadline - Date.now()),
        );
        const check = (): void => {
          if (this.responses.length >= expected) {
            clearTimeout(timer);
            this.onData = undefined;
            answers.push(...this.responses.splice(0, expected));
            resolve();
          } else if (this.failure !== undefined) {
            clearTimeout(timer);
            this.onData = undefined;
            reject(
              new Error(
                `pipelined: ${this.failure.message} after ${answers.length + this.responses.length} of ${requests.length} answers`,
              ),
            );
          }
        };
        this.onData = check;
        check();
      });
    }
    return answers;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends `requests` pipelined on one fresh connection, then closes it. */
export async function pipelined(
  port: number,
  requests: readonly string[],
  depth = 200,
): Promise<RawResponse[]> {
  const connection = new PipelinedConnection(port);
  try {
    return await connection.send(requests, depth);
  } finally {
    connection.close();
  }
}

/** A {@link PipelinedConnection} served by worker `pid` (checked with /_/stats on it). */
export async function pinPipelined(
  kv: KvCluster,
  pid: number,
  headers: Record<string, string> = {},
  maxAttempts = 40,
): Promise<PipelinedConnection> {
  let last = '';
  for (let i = 0; i < maxAttempts; i++) {
    const connection = new PipelinedConnection(kv.port);
    try {
      const [response] = await connection.send(
        [rawRequest('GET', '/_/stats', undefined, headers)],
        1,
        4_000,
      );
      const served = (JSON.parse(response!.body) as Stats).pid;
      if (served === pid) {
        connection.pid = pid;
        return connection;
      }
      last = `served by ${served}`;
    } catch (error) {
      last = (error as Error).message;
    }
    connection.close();
  }
  throw new Error(`no pipelined connection to worker ${pid} (last: ${last})`);
}

/** Splits `requests` over `connections` pipelined connections; responses in request order. */
export async function pipelinedParallel(
  port: number,
  requests: readonly string[],
  connections = 8,
  depth = 200,
): Promise<RawResponse[]> {
  const slices = Array.from({ length: connections }, (_, c) => {
    const from = Math.floor((c * requests.length) / connections);
    const to = Math.floor(((c + 1) * requests.length) / connections);
    return requests.slice(from, to);
  });
  const answers = await Promise.all(
    slices.map((slice) => pipelined(port, slice, depth)),
  );
  return answers.flat();
}

// ---------------------------------------------------------------------------------------------
// Slow clients

/** One slow connection's fate. */
export interface SlowClient {
  /** Milliseconds from its start until the server ended the connection; undefined while open. */
  endedAfterMs: number | undefined;
  /** The first line the server sent, if any. */
  firstLine: string | undefined;
  /** Bytes the server sent. */
  received: string;
  readonly socket: Socket;
}

/**
 * Opens `count` connections that send `prefix` at once and then `trickle` one byte every
 * `intervalMs` (the server never gets a complete request before `trickle` runs out).
 * `allowHalfOpen` keeps our side open after the server's FIN, as a hostile client would.
 */
export async function openSlowClients(
  port: number,
  count: number,
  prefix: string,
  trickle: string,
  intervalMs: number,
  allowHalfOpen = false,
): Promise<{ clients: SlowClient[]; destroy: () => void; startedAt: number }> {
  const clients: SlowClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  const startedAt = Date.now();
  const connected: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: HOST, port, allowHalfOpen });
    const client: SlowClient = {
      endedAfterMs: undefined,
      firstLine: undefined,
      received: '',
      socket,
    };
    clients.push(client);
    let position = 0;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      client.received += chunk.toString('latin1');
      client.firstLine ??= client.received.split('\r\n')[0];
    });
    const ended = (): void => {
      client.endedAfterMs ??= Date.now() - startedAt;
    };
    socket.on('end', ended);
    socket.on('error', ended);
    connected.push(
      new Promise((resolve) => {
        socket.once('connect', () => resolve());
        socket.once('error', () => resolve());
      }),
    );
    socket.write(prefix);
    const timer = setInterval(() => {
      if (position < trickle.length && socket.writable && !socket.destroyed)
        socket.write(trickle[position++]!);
    }, intervalMs);
    timers.push(timer);
  }
  await Promise.all(connected);
  return {
    clients,
    startedAt,
    destroy: () => {
      for (const timer of timers) clearInterval(timer);
      for (const client of clients) client.socket.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Small utilities

/** The `p`-th percentile (0..100) of `values` (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil((p / 100) * sorted.length) - 1),
  );
  return sorted[rank]!;
}

/** The integer inside an ETag header `"<n>"`, or NaN. */
export function etagRevision(response: HttpResponse): number {
  const match = /^"(\d+)"$/.exec(String(response.headers.etag ?? ''));
  return match === null ? NaN : Number(match[1]);
}

/** Prints one summary line for the run log. */
export function summary(
  scenario: string,
  figures: Record<string, number | string>,
): void {
  const text = Object.entries(figures)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  console.log(`[faults] ${scenario}: ${text}`);
}

/** Waits until /_/stats lists exactly `count` live workers satisfying `check`; returns the stats. */
export async function waitForWorkers(
  kv: KvCluster,
  check: (stats: Stats) => boolean,
  timeoutMs: number,
  description: string,
  headers: Record<string, string> = {},
): Promise<Stats> {
  let last: Stats | undefined;
  await waitFor(
    async () => {
      last = await quickStats(kv, 4_000, headers);
      return check(last);
    },
    timeoutMs,
    description,
    50,
  ).catch((error: Error) => {
    throw new Error(
      `${error.message}; last stats: ${JSON.stringify(last?.workers)}\n${kv.logTail(3000)}`,
    );
  });
  return last!;
}

/**
 * Waits until /_/stats lists two live workers, `victim` not among them (its replacement has
 * come); returns the pid of the one that is not `survivor`.
 */
export async function waitForReplacement(
  kv: KvCluster,
  victim: number,
  survivor: number,
  timeoutMs: number,
  description: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const stats = await waitForWorkers(
    kv,
    (s) =>
      s.workers.length === 2 &&
      s.workers.every((w) => w.live) &&
      !s.workers.some((w) => w.pid === victim),
    timeoutMs,
    description,
    headers,
  );
  return stats.workers.find((w) => w.pid !== survivor)!.pid;
}

// ---------------------------------------------------------------------------------------------
// Checking acknowledged writes

/** Checks that a read holds exactly `value` at `revision`; returns a problem or undefined. */
export function mismatch(
  response: HttpResponse,
  value: string,
  revision: number,
): string | undefined {
  if (response.status !== 200) return `status ${response.status}`;
  if (response.body !== value) return `body ${response.body}`;
  if (etagRevision(response) !== revision)
    return `etag ${String(response.headers.etag)} instead of "${revision}"`;
  return undefined;
}

/** Acknowledged writes by key: the value and revision each was answered with. */
export type Acked = Map<string, { value: string; revision: number }>;

/** {@link mismatch} for a response read off a raw socket. */
export function rawMismatch(
  response: RawResponse,
  value: string,
  revision: number,
): string | undefined {
  if (response.status !== 200) return `status ${response.status}`;
  if (response.body !== value) return `body ${response.body}`;
  if (response.headers.etag !== `"${revision}"`)
    return `etag ${response.headers.etag} instead of "${revision}"`;
  return undefined;
}

/**
 * Reads every acknowledged key strongly (from the primary), then eventually from each worker in
 * `pids` on a connection pinned to it; returns what did not hold exactly the acknowledged value
 * and revision.
 */
export async function verifyEverywhere(
  kv: KvCluster,
  acked: Acked,
  pids: readonly number[],
): Promise<{ lost: string[]; strongReads: number; eventualReads: number }> {
  const entries = [...acked];
  const paths = entries.map(([key]) => `/${encodeURIComponent(key)}`);
  const lost: string[] = [];
  const strong = await pipelinedParallel(
    kv.port,
    paths.map((path) => rawRequest('GET', `${path}?consistency=strong`)),
    4,
  );
  for (const [i, response] of strong.entries()) {
    const [key, { value, revision }] = entries[i]!;
    const problem = rawMismatch(response, value, revision);
    if (problem !== undefined) lost.push(`strong ${key}: ${problem}`);
  }
  for (const pid of pids) {
    const connection = await pinPipelined(kv, pid);
    try {
      const eventual = await connection.send(
        paths.map((path) => rawRequest('GET', path)),
      );
      for (const [i, response] of eventual.entries()) {
        const [key, { value, revision }] = entries[i]!;
        const problem = rawMismatch(response, value, revision);
        if (problem !== undefined)
          lost.push(`worker ${pid} ${key}: ${problem}`);
      }
    } finally {
      connection.close();
    }
  }
  return {
    lost,
    strongReads: entries.length,
    eventualReads: entries.length * pids.length,
  };
}

/** Closes every connection (a `finally` for pinned connections). */
export function closeAll(connections: Iterable<KeepAliveConnection>): void {
  for (const connection of connections) connection.close();
}

/** The pino lines of the cluster's output that carry `msg`. */
export function logLines(
  kv: KvCluster,
  msg: string,
): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of kv.output().split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const parsed = JSON.parse(line.replace(/^\[stderr\] /, '')) as Record<
        string,
        unknown
      >;
      if (parsed.msg === msg) lines.push(parsed);
    } catch {
      // Not a JSON line.
    }
  }
  return lines;
}

export { delay };
