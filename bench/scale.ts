/**
 * `npm run bench:scale`: loads 10 million keys (16-byte keys, 16-byte JSON values) through the
 * normal write path, then reports memory per key per process, the load time and the slowest
 * request during the load, the ordered index's bytes per key in each process (the index's own
 * account of itself, `kv_ordered_index_bytes`; bench/ordered-index-memory.ts measures it from
 * the heap in one process), the server-side time of pages of 100 keys from `GET /_/keys` by
 * random prefix (see list-pages.ts), how long a freshly forked worker takes to catch up (and
 * the primary's worst event-loop delay while it streams the snapshot), and then keeps loading
 * past 2^24 keys.
 *
 * Flags: --keys N (10000000) --beyond N (17000000, 0 to skip) --workers N (CPUs)
 *        --connections N (128) --heap MB (8192)
 *        --list-rate R (1000, 0 to skip) --list-duration S (10) --list-connections N (32)
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { describeListPages, measureListPages } from './list-pages';
import { startFanoutKv } from './servers';

const { values: flags } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000000' },
    beyond: { type: 'string', default: '17000000' },
    workers: { type: 'string', default: String(availableParallelism()) },
    connections: { type: 'string', default: '128' },
    heap: { type: 'string', default: '8192' },
    'list-rate': { type: 'string', default: '1000' },
    'list-duration': { type: 'string', default: '10' },
    'list-connections': { type: 'string', default: '32' },
  },
});
const keys = Number(flags.keys);
const beyond = Number(flags.beyond);
const workers = Number(flags.workers);
const connections = Number(flags.connections);
const listRate = Number(flags['list-rate']);
const listDurationMs = Number(flags['list-duration']) * 1000;
const listConnections = Number(flags['list-connections']);

// 16-byte keys and 16-byte JSON values ("v" plus 13 digits, quoted).
const keyOf = (i: number): string => `k${String(i).padStart(15, '0')}`;
const valueOf = (i: number): string => `"v${String(i).padStart(13, '0')}"`;

interface LoadResult {
  seconds: number;
  maxLatencyMs: number;
  slowOver50ms: number;
}

async function load(
  origin: string,
  from: number,
  to: number,
): Promise<LoadResult> {
  const pool = new Pool(origin, { connections });
  // Every connection is opened before the clock starts: node:cluster's primary accepts each one
  // and hands it to a worker, and first requests waiting on that say nothing about a growing
  // store.
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const response = await pool.request({ method: 'GET', path: '/_/health' });
      await response.body.dump();
    }),
  );
  let next = from;
  let maxLatencyMs = 0;
  let slowOver50ms = 0;
  const started = performance.now();
  let reported = started;
  const loop = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      const sent = performance.now();
      const response = await pool.request({
        method: 'PUT',
        path: `/${keyOf(i)}`,
        body: valueOf(i),
        headers: { 'content-type': 'application/json' },
      });
      await response.body.dump();
      if (response.statusCode !== 200)
        throw new Error(`PUT ${keyOf(i)} answered ${response.statusCode}`);
      const latency = performance.now() - sent;
      if (latency > maxLatencyMs) maxLatencyMs = latency;
      if (latency > 50) slowOver50ms++;
      if (performance.now() - reported > 10_000) {
        reported = performance.now();
        const rate = (i - from) / ((reported - started) / 1000);
        console.log(
          `  ${i.toLocaleString()} keys, ${rate.toFixed(0)} PUT/s, slowest ${maxLatencyMs.toFixed(1)} ms`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  await pool.close();
  return {
    seconds: (performance.now() - started) / 1000,
    maxLatencyMs,
    slowOver50ms,
  };
}

interface ProcessMemory {
  role: string;
  pid: string;
  rss: number;
  heapUsed: number;
}

/** The cluster's aggregated metrics. A scrape resets the event-loop delay figures. */
async function scrape(origin: string): Promise<string> {
  return (await fetch(`${origin}/_/metrics`)).text();
}

/** Resident set and V8 heap of every process, from a {@link scrape}. */
function memory(text: string): ProcessMemory[] {
  const byPid = new Map<string, ProcessMemory>();
  for (const match of text.matchAll(
    /^(process_resident_memory_bytes|nodejs_heap_size_used_bytes)\{([^}]*)\} (\S+)/gm,
  )) {
    const labels = new Map(
      [...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    const pid = labels.get('pid') ?? '?';
    const entry = byPid.get(pid) ?? {
      role: labels.get('role') ?? '?',
      pid,
      rss: 0,
      heapUsed: 0,
    };
    if (match[1] === 'process_resident_memory_bytes')
      entry.rss = Number(match[3]);
    else entry.heapUsed = Number(match[3]);
    byPid.set(pid, entry);
  }
  return [...byPid.values()].sort((a, b) => a.role.localeCompare(b.role));
}

/**
 * The cluster's /_/stats. `timeoutMs` bounds a request that node:cluster handed to a worker as
 * it died, which is never answered (see the README's known limitations).
 */
async function stats(
  origin: string,
  timeoutMs = 30_000,
): Promise<{ keys: number; workers: { pid: number; live: boolean }[] }> {
  const response = await fetch(`${origin}/_/stats`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  return (await response.json()) as {
    keys: number;
    workers: { pid: number; live: boolean }[];
  };
}

/**
 * The server's own view of the PUTs so far: how many it answered and how many took over 50 ms
 * from the parsed request to the response (the kv_http_request_duration_seconds histogram,
 * summed over the workers). Unlike the latency seen here, it leaves out time the request spent
 * in the load generator and in socket buffers, so the two together show where a slow request
 * was slow.
 */
function serverPuts(text: string): { total: number; over50ms: number } {
  const bucket = (le: string): number => {
    const match = new RegExp(
      `^kv_http_request_duration_seconds_bucket\\{le="${le.replace('+', '\\+')}",route="/:key",method="PUT",status_class="2xx"\\} (\\S+)`,
      'm',
    ).exec(text);
    return match ? Number(match[1]) : 0;
  };
  const total = bucket('+Inf');
  return { total, over50ms: total - bucket('0.05') };
}

/** Each process's `kv_ordered_index_bytes`, from a {@link scrape}. */
function orderedIndexBytes(text: string): { process: string; bytes: number }[] {
  return [
    ...text.matchAll(
      /^kv_ordered_index_bytes\{role="(\w+)",pid="(\d+)"\} (\S+)/gm,
    ),
  ].map((m) => ({ process: `${m[1]} ${m[2]}`, bytes: Number(m[3]) }));
}

/** The worst event-loop delay of every process in a {@link scrape} since the one before. */
function loopDelaysMs(text: string): string {
  return [
    ...text.matchAll(
      /^nodejs_eventloop_lag_max_seconds\{role="(\w+)",pid="(\d+)"\} (\S+)/gm,
    ),
  ]
    .map((m) => `${m[1]} ${m[2]} ${(Number(m[3]) * 1000).toFixed(1)} ms`)
    .join(', ');
}

async function primaryLoopDelayMaxMs(origin: string): Promise<number> {
  const text = await (await fetch(`${origin}/_/metrics`)).text();
  const match =
    /^nodejs_eventloop_lag_max_seconds\{[^}]*role="primary"[^}]*\} (\S+)/m.exec(
      text,
    );
  return match ? Number(match[1]) * 1000 : NaN;
}

async function main(): Promise<void> {
  console.log(
    `bench:scale: ${keys.toLocaleString()} keys, ${workers} workers, ${connections} connections`,
  );
  const cluster = await startFanoutKv(workers, {}, [
    `--max-old-space-size=${flags.heap}`,
  ]);
  try {
    const before = memory(await scrape(cluster.origin));
    const loaded = await load(cluster.origin, 0, keys);
    const afterText = await scrape(cluster.origin);
    const after = memory(afterText);
    const server = serverPuts(afterText);
    console.log(
      `loaded ${keys.toLocaleString()} keys in ${loaded.seconds.toFixed(1)} s (${(keys / loaded.seconds).toFixed(0)} PUT/s); ` +
        `slowest request ${loaded.maxLatencyMs.toFixed(1)} ms, ${loaded.slowOver50ms} over 50 ms`,
    );
    console.log(
      `  server side: ${server.over50ms} of ${server.total.toLocaleString()} PUTs over 50 ms from parsed request to response; ` +
        `worst event-loop delay during the load: ${loopDelaysMs(afterText)}`,
    );
    console.log('memory per key (growth during the load / keys):');
    for (const end of after) {
      const start = before.find((b) => b.pid === end.pid);
      if (!start) continue;
      console.log(
        `  ${end.role.padEnd(7)} pid ${end.pid}: rss ${((end.rss - start.rss) / keys).toFixed(0)} B/key (${(end.rss / 2 ** 20).toFixed(0)} MiB), ` +
          `heap ${((end.heapUsed - start.heapUsed) / keys).toFixed(0)} B/key (${(end.heapUsed / 2 ** 20).toFixed(0)} MiB)`,
      );
    }
    console.log('ordered index of keys (kv_ordered_index_bytes / keys):');
    for (const { process, bytes } of orderedIndexBytes(afterText))
      console.log(
        `  ${process.padEnd(14)}: ${(bytes / keys).toFixed(1)} B/key (${(bytes / 2 ** 20).toFixed(0)} MiB) (target: at most 32 B/key)`,
      );

    if (listRate > 0) {
      // Keys are "k" and 15 digits: a prefix of all but the last two is a page of 100.
      const list = await measureListPages({
        origin: cluster.origin,
        rate: listRate,
        durationMs: listDurationMs,
        warmupMs: 2000,
        connections: listConnections,
        limit: 100,
        prefix: () => keyOf(Math.floor(Math.random() * keys)).slice(0, -2),
      });
      console.log(
        `${describeListPages(list)} (target: p99 <= 5 ms server-side at 10 M keys)`,
      );
    }

    const { workers: live } = await stats(cluster.origin);
    const victim = live[0]!.pid;
    const others = new Set(live.map((w) => w.pid));
    await primaryLoopDelayMaxMs(cluster.origin);
    const killedAt = performance.now();
    process.kill(victim, 'SIGKILL');
    // Two spans: until the replacement exists (the primary's fork() copies its page tables, a
    // cost that grows with its RSS), then until it has loaded the snapshot and is live.
    let forkDelay = NaN;
    for (;;) {
      const now = await stats(cluster.origin, 250).catch(() => undefined);
      const fresh = now?.workers.find((w) => !others.has(w.pid));
      if (fresh && Number.isNaN(forkDelay)) {
        // Lets the delay monitor's next 10 ms tick record the stall before it is read.
        await new Promise((r) => setTimeout(r, 50));
        forkDelay = await primaryLoopDelayMaxMs(cluster.origin);
      }
      if (
        now &&
        now.workers.length === workers &&
        now.workers.every((w) => w.live && w.pid !== victim)
      )
        break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const caughtUp = (performance.now() - killedAt) / 1000;
    const streamDelay = await primaryLoopDelayMaxMs(cluster.origin);
    console.log(
      `replacement worker caught up ${caughtUp.toFixed(2)} s after SIGKILL; primary's worst event-loop delay ` +
        `${forkDelay.toFixed(1)} ms until the replacement was forked, ${streamDelay.toFixed(1)} ms while it streamed the snapshot`,
    );

    if (beyond > keys) {
      const more = await load(cluster.origin, keys, beyond);
      const { keys: total } = await stats(cluster.origin);
      console.log(
        `kept loading to ${total.toLocaleString()} keys (2^24 = 16,777,216) in ${more.seconds.toFixed(1)} s without error; ` +
          `slowest request ${more.maxLatencyMs.toFixed(1)} ms`,
      );
    }
  } finally {
    await cluster.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
