/**
 * `npm run bench:watch`: what open watch streams cost the write path. Runs a closed-loop PUT
 * load against the built cluster without streams, with `--streams` streams open (half watching
 * the prefix every PUT writes under, half a prefix nothing writes), and without again; prints
 * PUT/s and the cluster's CPU time per PUT for each, and the ratio with / without.
 *
 * Every matching stream must receive every revision written during the run, once and in
 * order, and every other stream none: the run fails otherwise. The streams are read in a
 * thread of their own, so reading them does not slow the load generator's event loop (they
 * still share the machine's cores with the cluster).
 *
 * Flags: --duration S (10) --warmup S (3) --connections N (32) --streams N (1000)
 *        --workers N (2) --keys N (10000)
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { closedLoad } from './closed-load';
import type { LoadSummary } from './paced-load';
import { cpuMeter } from './proc-cpu';
import { RunningServer, startFanoutKv } from './servers';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    streams: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '2' },
    keys: { type: 'string', default: '10000' },
  },
});
const duration = Number(flags.duration);
const warmup = Number(flags.warmup);
const connections = Number(flags.connections);
const streams = Number(flags.streams);
const workers = Number(flags.workers);
const keys = Number(flags.keys);

const VALUE = '{"prop":"/1234"}';
const MATCHING = '/_/watch?prefix=w-';
const OTHER = '/_/watch?prefix=none-';

/** What the reader thread knows of one stream. */
interface StreamReport {
  readonly path: string;
  /** The head of a 200 arrived. */
  readonly open: boolean;
  /** The server closed the connection. */
  readonly closed: boolean;
  readonly events: number;
  readonly first: number;
  readonly last: number;
  /** Every id was the one before plus one. */
  readonly contiguous: boolean;
}

/**
 * The reader thread: one raw socket per stream, scanning the bytes for `\nid: N` lines. Events
 * are written whole in each chunk of the chunked body, so an id line is never interrupted by
 * a chunk header; a read that ends mid-line keeps its tail, from its last line feed, for the
 * next one.
 */
const READER_SOURCE = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const ID = Buffer.from('\\nid: ');
const HEAD_END = Buffer.from('\\r\\n\\r\\n');
const readers = workerData.paths.map((path) => {
  const r = { path, open: false, closed: false, events: 0, first: 0, last: 0, contiguous: true };
  let carry = null;
  const socket = net.connect(workerData.port, '127.0.0.1');
  r.socket = socket;
  socket.write('GET ' + path + ' HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\n\\r\\n');
  socket.on('data', (chunk) => {
    let buf = carry === null ? chunk : Buffer.concat([carry, chunk]);
    carry = null;
    if (!r.open) {
      const end = buf.indexOf(HEAD_END);
      if (end < 0) { carry = buf; return; }
      if (buf.toString('latin1', 0, 12) !== 'HTTP/1.1 200') { socket.destroy(); return; }
      r.open = true;
      buf = buf.subarray(end + 2);
    }
    const lastLf = buf.lastIndexOf(10);
    if (lastLf < 0) { carry = buf; return; }
    let pos = 0;
    while ((pos = buf.indexOf(ID, pos)) !== -1 && pos < lastLf) {
      let id = 0;
      let i = pos + ID.length;
      for (; buf[i] !== 10; i++) id = id * 10 + (buf[i] - 48);
      if (r.events === 0) r.first = id;
      else if (id !== r.last + 1) r.contiguous = false;
      r.last = id;
      r.events++;
      pos = i;
    }
    carry = Buffer.from(buf.subarray(lastLf));
  });
  socket.on('close', () => { r.closed = true; });
  socket.on('error', () => undefined);
  return r;
});
parentPort.on('message', (message) => {
  if (message === 'close') for (const r of readers) r.socket.destroy();
  parentPort.postMessage(readers.map((r) => ({
    path: r.path, open: r.open, closed: r.closed, events: r.events,
    first: r.first, last: r.last, contiguous: r.contiguous,
  })));
});
`;

class Readers {
  private readonly thread: Worker;

  constructor(port: number, paths: string[]) {
    this.thread = new Worker(READER_SOURCE, {
      eval: true,
      workerData: { port, paths },
    });
  }

  report(message: 'report' | 'close' = 'report'): Promise<StreamReport[]> {
    return new Promise((resolve) => {
      this.thread.once('message', resolve);
      this.thread.postMessage(message);
    });
  }

  async stop(): Promise<void> {
    await this.report('close');
    await this.thread.terminate();
  }
}

interface Stats {
  revision: number;
}

async function stats(server: RunningServer): Promise<Stats> {
  return (await (await fetch(`${server.origin}/_/stats`)).json()) as Stats;
}

/**
 * The store's revision once writes have stopped: autocannon ends a run with requests still in
 * flight, and the primary may apply them after it returns.
 */
async function settledRevision(server: RunningServer): Promise<number> {
  let last = (await stats(server)).revision;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const revision = (await stats(server)).revision;
    if (revision === last) return revision;
    last = revision;
  }
}

async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Run {
  name: string;
  summary: LoadSummary;
  /** The cluster's CPU milliseconds per PUT (primary and workers together). */
  cpuPerPut: number;
  /** This process's (the load generator's and the stream readers') CPU milliseconds per PUT. */
  clientCpuPerPut: number;
}

async function putLoad(
  server: RunningServer,
  name: string,
  seconds: number,
): Promise<Run> {
  const spent = cpuMeter(server.pids());
  const clientBefore = process.cpuUsage();
  const summary = await closedLoad({
    origin: server.origin,
    connections,
    durationSeconds: seconds,
    next: () => ({
      method: 'PUT',
      path: `/w-${Math.floor(Math.random() * keys)}`,
      body: VALUE,
    }),
  });
  const cpu = spent();
  const client = process.cpuUsage(clientBefore);
  return {
    name,
    summary,
    cpuPerPut: cpu / summary.requests,
    clientCpuPerPut: (client.user + client.system) / 1000 / summary.requests,
  };
}

async function main(): Promise<void> {
  const server = await startFanoutKv(workers, { LOG_LEVEL: 'warn' });
  try {
    await putLoad(server, 'warm-up', warmup);
    const before = await putLoad(server, 'no streams', duration);

    const paths = Array.from({ length: streams }, (_, i) =>
      i % 2 === 0 ? MATCHING : OTHER,
    );
    const port = Number(new URL(server.origin).port);
    const readers = new Readers(port, paths);
    await until(
      async () => (await readers.report()).every((r) => r.open),
      60_000,
      `${streams} open streams`,
    );
    const from = await settledRevision(server);
    const withStreams = await putLoad(server, `${streams} streams`, duration);
    const to = await settledRevision(server);
    let reports: StreamReport[] = [];
    await until(
      async () => {
        reports = await readers.report();
        return reports.every(
          (r) => r.closed || r.path === OTHER || r.last >= to,
        );
      },
      120_000,
      'every matching stream to reach the last revision',
    ).catch((error: Error) => console.error(error.message));
    await readers.stop();
    const after = await putLoad(server, 'no streams, again', duration);

    const expected = to - from;
    const matching = reports.filter((r) => r.path === MATCHING);
    const complete = matching.filter(
      (r) =>
        !r.closed &&
        r.contiguous &&
        r.events === expected &&
        r.first === from + 1 &&
        r.last === to,
    ).length;
    const quiet = reports.filter(
      (r) => r.path === OTHER && !r.closed && r.events === 0,
    ).length;

    const runs = [before, withStreams, after];
    const baseline = (before.summary.reqPerSec + after.summary.reqPerSec) / 2;
    const baselineCpu = (before.cpuPerPut + after.cpuPerPut) / 2;
    console.log(
      `\nPUT, closed loop, ${connections} connections, ${duration} s each, ${workers} workers\n`,
    );
    console.log(
      '| run | PUT/s | p50 ms | p99 ms | errors | non-2xx | cluster CPU ms per PUT | client CPU ms per PUT |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const run of runs) {
      const s = run.summary;
      console.log(
        `| ${run.name} | ${Math.round(s.reqPerSec)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.errors} | ${s.non2xx} | ${run.cpuPerPut.toFixed(4)} | ${run.clientCpuPerPut.toFixed(4)} |`,
      );
    }
    console.log(
      `\nwith / without streams: PUT/s ${(withStreams.summary.reqPerSec / baseline).toFixed(3)}, ` +
        `CPU per PUT ${(withStreams.cpuPerPut / baselineCpu).toFixed(3)} ` +
        `(without = the mean of the two runs without streams)`,
    );
    console.log(
      `revisions ${from + 1}..${to} (${expected}): ${complete} of ${matching.length} matching streams received every one, in order; ` +
        `${quiet} of ${reports.length - matching.length} other streams received none`,
    );
    if (
      complete !== matching.length ||
      quiet !== reports.length - matching.length
    ) {
      const closed = reports.filter((r) => r.closed);
      console.log(
        `failed: ${closed.length} streams closed by the server (${closed.filter((r) => r.path === MATCHING).length} matching); ` +
          `${matching.filter((r) => !r.contiguous).length} matching with a gap or a repeat; ` +
          `matching streams got from ${Math.min(...matching.map((r) => r.events))} to ${Math.max(...matching.map((r) => r.events))} events, ` +
          `first ids ${Math.min(...matching.map((r) => r.first))}..${Math.max(...matching.map((r) => r.first))}`,
      );
      process.exitCode = 1;
    }
  } finally {
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
