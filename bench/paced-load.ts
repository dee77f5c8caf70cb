/**
 * An open-loop load generator: request i is due at start + i / rate, whatever happened to the
 * requests before it. Its latency counts from when it was due, so time spent waiting for a free
 * connection is latency too (autocannon's overallRate is closed-loop: each connection sends its
 * quota back to back, then idles, which measures a burst and hides queueing).
 *
 * It speaks HTTP/1.1 on plain sockets, one request in flight per keep-alive connection, and
 * reads only the status line and Content-Length of each answer: on a machine where it shares
 * the cores with the server it measures, every microsecond it spends is taken from the server
 * (undici's Pool cost several times as much CPU per request).
 */
import { connect, Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

export interface PacedRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: string;
}

export interface PacedOptions {
  origin: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  connections: number;
  /** Builds request number `i`. */
  request: (i: number) => PacedRequest;
}

export interface LoadSummary {
  requests: number;
  reqPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');
/** Milliseconds between two releases of requests; each release sends every request due by then. */
const TICK_MS = 1;

/**
 * The clock that releases requests, on a thread of its own. `setTimeout(tick, 1)` fires on
 * libuv's millisecond clock, 1 to 2 ms apart and later still when the loop is busy, and every
 * request waits for the next tick, so part of each latency was the generator's own (the floor
 * server's figures before and after are in docs/performance.md). This thread sleeps in
 * `Atomics.wait` to each tick's exact time and posts one message per tick, which wakes the
 * generator's loop at once.
 */
const TICKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { stop, tickMs } = workerData;
parentPort.once('message', (start) => {
  for (let k = 1; Atomics.load(stop, 0) === 0; k++) {
    const wait = start + k * tickMs - (performance.timeOrigin + performance.now());
    if (wait > 0) Atomics.wait(stop, 0, 0, wait);
    parentPort.postMessage(k);
  }
});
`;
/** The number of the request each connection carries before the schedule starts. */
const WARM_UP = -2;

/** One keep-alive connection with at most one request in flight. */
class Connection {
  private socket: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private closed = false;
  /** The request in flight, or -1. */
  inFlight = -1;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly onAnswer: (i: number, status: number) => void,
    private readonly onFailure: (i: number) => void,
  ) {
    this.socket = this.open();
  }

  send(i: number, bytes: string): void {
    this.inFlight = i;
    this.socket.write(bytes);
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (socket !== this.socket || this.closed) return;
      this.pending = Buffer.alloc(0);
      const lost = this.inFlight;
      this.socket = this.open();
      if (lost !== -1) {
        this.inFlight = -1;
        this.onFailure(lost);
      }
    });
    return socket;
  }

  /** Parses one answer (a request in flight has exactly one) once all of it has arrived. */
  private read(chunk: Buffer): void {
    this.pending =
      this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const headerEnd = this.pending.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.pending.toString('latin1', 0, headerEnd);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    const total = headerEnd + 4 + (length ? Number(length[1]) : 0);
    if (this.pending.length < total) return;
    this.pending = this.pending.subarray(total);
    const i = this.inFlight;
    this.inFlight = -1;
    this.onAnswer(i, Number(head.slice(9, 12)));
  }
}

/** Runs the schedule, waits for the last response, and summarizes latencies in milliseconds. */
export async function pacedLoad(options: PacedOptions): Promise<LoadSummary> {
  const { hostname, port } = new URL(options.origin);
  const total = Math.floor((options.rate * options.durationMs) / 1000);
  const latencies = new Float64Array(total);
  const interval = 1000 / options.rate;
  const waiting: number[] = [];
  let waitingFrom = 0;
  let issued = 0;
  let done = 0;
  let errors = 0;
  let non2xx = 0;
  let start = 0;
  let finished = (): void => undefined;

  const requestBytes = (i: number): string => {
    const { method, path, body } = options.request(i);
    return body === undefined
      ? `${method} ${path} HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`
      : `${method} ${path} HTTP/1.1\r\nhost: ${hostname}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  const finishOne = (i: number): void => {
    latencies[i] = performance.now() - (start + i * interval);
    if (++done === total) finished();
  };
  const next = (connection: Connection): void => {
    if (waitingFrom < waiting.length) {
      const i = waiting[waitingFrom++]!;
      connection.send(i, requestBytes(i));
    }
  };
  const connections: Connection[] = [];
  const idle: Connection[] = [];
  let warming = options.connections;
  let warmed = (): void => undefined;
  /** Request `i` on `connection` ended: answered 2xx, answered otherwise, or failed. */
  const settle = (
    connection: Connection,
    i: number,
    outcome: 'ok' | 'non2xx' | 'error',
  ): void => {
    if (i === WARM_UP) {
      idle.push(connection);
      if (--warming === 0) warmed();
      return;
    }
    if (outcome === 'non2xx') non2xx++;
    else if (outcome === 'error') errors++;
    finishOne(i);
    next(connection);
    if (connection.inFlight < 0) idle.push(connection);
  };
  for (let c = 0; c < options.connections; c++) {
    const connection: Connection = new Connection(
      hostname,
      Number(port),
      (i, status) =>
        settle(connection, i, status < 200 || status > 299 ? 'non2xx' : 'ok'),
      (i) => settle(connection, i, 'error'),
    );
    connections.push(connection);
  }
  // Each connection carries one request before the schedule starts: node:cluster's primary
  // accepts every new connection and hands it to a worker, and 50 first requests waiting on
  // that measure connection set-up, not the server's steady state (bench:scale does the same).
  await new Promise<void>((resolve) => {
    warmed = resolve;
    for (const connection of connections)
      connection.send(
        WARM_UP,
        `GET /_/health HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`,
      );
  });

  const stop = new Int32Array(new SharedArrayBuffer(4));
  const ticker = new Worker(TICKER_SOURCE, {
    eval: true,
    workerData: { stop, tickMs: TICK_MS },
  });
  await new Promise((resolve) => ticker.once('online', resolve));

  start = performance.now();
  await new Promise<void>((resolve) => {
    finished = resolve;
    const tick = (): void => {
      const due = Math.min(
        total,
        Math.floor((performance.now() - start) / interval) + 1,
      );
      while (issued < due) waiting.push(issued++);
      while (waitingFrom < waiting.length && idle.length > 0) next(idle.pop()!);
      if (waitingFrom === waiting.length) {
        waiting.length = 0;
        waitingFrom = 0;
      }
      if (issued === total) Atomics.store(stop, 0, 1);
    };
    ticker.on('message', tick);
    ticker.postMessage(performance.timeOrigin + start);
    tick();
  });
  const elapsed = performance.now() - start;
  await ticker.terminate();
  for (const connection of connections) connection.close();
  const sorted = latencies.sort();
  const at = (q: number): number =>
    sorted[Math.min(total - 1, Math.floor(q * total))] ?? 0;
  return {
    requests: total,
    reqPerSec: (total * 1000) / elapsed,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: sorted[total - 1] ?? 0,
    errors,
    non2xx,
  };
}
