/**
 * `npm run bench`: fanout-kv against the peer users would run instead (webdis in front of
 * Redis) and a single-process Fastify + Map baseline, in the same run, workload by workload,
 * alternating A B C A B C. The seed profile also runs against a server that stores nothing, the
 * floor of what the paced generator can measure on this machine. Every run also reads the CPU
 * time of each server's processes from /proc, priced per request. Prints one table and writes
 * it as JSON under bench/results/.
 *
 * The list workload (fanout-kv alone: the peers have no listing) asks for pages of 100 keys by
 * random prefix among the seed profile's preloaded keys `seed-preload-<i>` (a random i without
 * its last two digits, a prefix at least 100 keys share), at --list-rate pages per second, and
 * prints the server-side p50/p95/p99 that the workers' own request histogram gives for route
 * /_/keys. Without the seed profile it preloads those keys itself.
 *
 * Flags: --duration S (10) --warmup S (2) --connections N (50) --rate R (16667)
 *        --seed-duration S (20) --seed-preload N (1000000) --preload N (100000)
 *        --workers N (CPUs) --rounds N (2) --only get,post,mix,seed,list --list-rate R (1000)
 *        --metrics-cost (also run fanout-kv with KV_HTTP_METRICS=off, to price the metrics)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/support/launcher';
import { closedLoad } from './closed-load';
import {
  describeListPages,
  ListPagesResult,
  measureListPages,
} from './list-pages';
import { LoadSummary, pacedLoad } from './paced-load';
import { cpuMeter } from './proc-cpu';
import {
  BenchRequest,
  preload,
  RunningServer,
  startBaseline,
  startFanoutKv,
  startFloor,
  startWebdis,
} from './servers';
import {
  Quantiles,
  quantilesBetween,
  readHistogram,
  scrapeMetrics,
} from './server-histograms';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    rate: { type: 'string', default: '16667' },
    'seed-duration': { type: 'string', default: '20' },
    'seed-preload': { type: 'string', default: '1000000' },
    preload: { type: 'string', default: '100000' },
    workers: { type: 'string', default: String(availableParallelism()) },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string', default: 'get,post,mix,seed,list' },
    'list-rate': { type: 'string', default: '1000' },
    'metrics-cost': { type: 'boolean', default: false },
  },
});
const duration = Number(flags.duration);
const warmup = Number(flags.warmup);
const connections = Number(flags.connections);
const rate = Number(flags.rate);
const seedDuration = Number(flags['seed-duration']);
const seedPreload = Number(flags['seed-preload']);
const keys = Number(flags.preload);
const workers = Number(flags.workers);
const rounds = Number(flags.rounds);
const only = new Set(flags.only.split(','));
const listRate = Number(flags['list-rate']);

const VALUE = '{"prop":"/1234"}';
const randomKey = (): string => `/bench-${Math.floor(Math.random() * keys)}`;
let unique = 0;
const newKey = (tag: string): string =>
  `/${1 + Math.floor(Math.random() * 10000)}-${1 + Math.floor(Math.random() * 10000)}-${tag}${unique++}`;

// The cluster's histograms the seed profile reads: replication lag, and the workers' own
// timing of the seed's POSTs, to tell time spent in the handler from time spent getting there.
const LAG = 'kv_replication_lag_seconds';
const DURATION = 'kv_http_request_duration_seconds';
const SEED_POSTS = ['method="POST"', 'route="/:key"'];

const SEED_PRELOAD_PREFIX = 'seed-preload-';
const LIST_LIMIT = 100;
/**
 * A prefix of the preloaded keys for one list page: `seed-preload-` and a random i below
 * `count` without its last two digits (all of a number below 100). It matches i's hundred and
 * every longer number that starts the same way: a full page of 100, with more after it.
 */
function preloadPrefix(count: number): string {
  const i = String(Math.floor(Math.random() * count));
  return SEED_PRELOAD_PREFIX + (i.length > 2 ? i.slice(0, -2) : i);
}

const slug = (name: string): string => name.replace(/[^a-z0-9]+/gi, '-');

/** One run of a workload against one server, with the CPU its processes spent per request. */
interface Measured {
  summary: LoadSummary;
  cpuUs: number;
}

interface Row extends Measured {
  workload: string;
  server: string;
}

/** Runs `load` against `server`, pricing the CPU time of all its processes per request. */
async function metered(
  server: RunningServer,
  load: () => Promise<LoadSummary>,
): Promise<Measured> {
  const spent = cpuMeter(server.pids());
  const summary = await load();
  return { summary, cpuUs: (spent() * 1000) / Math.max(1, summary.requests) };
}

async function closed(
  server: RunningServer,
  workload: string,
  round: number,
): Promise<Measured> {
  const tag = `${slug(server.name)}-${round}-`;
  const build: () => BenchRequest =
    workload === 'get'
      ? () => ({ method: 'GET', path: randomKey() })
      : workload === 'post'
        ? () => ({ method: 'POST', path: newKey(tag), body: VALUE })
        : () =>
            Math.random() < 0.9
              ? { method: 'GET', path: randomKey() }
              : { method: 'PUT', path: randomKey(), body: VALUE };
  const next = () => server.translate(build());
  await closedLoad({
    origin: server.origin,
    connections,
    durationSeconds: warmup,
    next,
  });
  return metered(server, () =>
    closedLoad({
      origin: server.origin,
      connections,
      durationSeconds: duration,
      next,
    }),
  );
}

async function seed(server: RunningServer, round: number): Promise<Measured> {
  const tag = `seed-${slug(server.name)}-${round}-`;
  const profile = (durationSeconds: number): Promise<LoadSummary> =>
    pacedLoad({
      origin: server.origin,
      rate,
      durationMs: durationSeconds * 1000,
      connections,
      request: (i) =>
        server.translate({
          method: 'POST',
          path: newKey(tag) + i,
          body: `{"prop":"/${i % 10000}"}`,
        }),
    });
  // Warmed up like every other workload: the first round follows the preload's million writes.
  await profile(warmup);
  return metered(server, () => profile(seedDuration));
}

function mean(runs: Measured[]): Measured {
  const summaries = runs.map((r) => r.summary);
  const avg = (f: (s: LoadSummary) => number): number =>
    summaries.reduce((a, s) => a + f(s), 0) / summaries.length;
  return {
    summary: {
      requests: avg((s) => s.requests),
      reqPerSec: avg((s) => s.reqPerSec),
      p50: avg((s) => s.p50),
      p95: avg((s) => s.p95),
      p99: avg((s) => s.p99),
      max: Math.max(...summaries.map((s) => s.max)),
      errors: summaries.reduce((a, s) => a + s.errors, 0),
      non2xx: summaries.reduce((a, s) => a + s.non2xx, 0),
    },
    cpuUs: runs.reduce((a, r) => a + r.cpuUs, 0) / runs.length,
  };
}

async function main(): Promise<void> {
  console.log(
    `fanout-kv bench: ${workers} workers, ${connections} connections, ${duration}s per run after ${warmup}s warm-up, ${rounds} rounds A B`,
  );
  const cluster = await startFanoutKv(workers);
  const baseline = await startBaseline();
  const servers = [cluster, baseline];
  const webdis = await startWebdis();
  if (typeof webdis === 'string')
    console.log(`webdis + Redis left out of this run: ${webdis}`);
  else servers.splice(1, 0, webdis);
  if (flags['metrics-cost']) {
    const bare = await startFanoutKv(workers, { KV_HTTP_METRICS: 'off' });
    servers.splice(1, 0, { ...bare, name: 'fanout-kv, metrics off' });
  }
  const rows: Row[] = [];
  let lag: Quantiles | undefined;
  let serverSide: Quantiles | undefined;
  let list: ListPagesResult | undefined;
  try {
    for (const server of servers) await preload(server, 'bench-', keys, VALUE);
    console.log(`preloaded ${keys} keys into each server`);
    for (const workload of ['get', 'post', 'mix'].filter((w) => only.has(w))) {
      const results = new Map<RunningServer, Measured[]>(
        servers.map((s) => [s, []]),
      );
      for (let round = 0; round < rounds; round++) {
        for (const server of servers) {
          const run = await closed(server, workload, round);
          results.get(server)!.push(run);
          console.log(
            `  ${workload} round ${round + 1} ${server.name}: ${run.summary.reqPerSec.toFixed(0)} req/s p99 ${run.summary.p99.toFixed(2)} ms, ${run.cpuUs.toFixed(1)} µs CPU/req`,
          );
        }
      }
      for (const server of servers)
        rows.push({
          workload,
          server: server.name,
          ...mean(results.get(server)!),
        });
    }
    if (only.has('seed')) {
      for (const server of servers)
        await preload(server, SEED_PRELOAD_PREFIX, seedPreload, VALUE, 128);
      console.log(
        `preloaded ${seedPreload} more keys into each server for the seed profile`,
      );
      // After the preload: the floor stores nothing. Stopped with the others below.
      servers.push(await startFloor());
      const results = new Map<RunningServer, Measured[]>(
        servers.map((s) => [s, []]),
      );
      let before: string | undefined;
      for (let round = 0; round < rounds; round++) {
        for (const server of servers) {
          // From before the cluster's first seed round: the figures cover every round.
          if (server === cluster && before === undefined)
            before = await scrapeMetrics(cluster.origin);
          const run = await seed(server, round);
          if (server === cluster && before !== undefined) {
            const after = await scrapeMetrics(cluster.origin);
            lag = quantilesBetween(
              readHistogram(before, LAG),
              readHistogram(after, LAG),
            );
            serverSide = quantilesBetween(
              readHistogram(before, DURATION, SEED_POSTS),
              readHistogram(after, DURATION, SEED_POSTS),
            );
          }
          results.get(server)!.push(run);
          console.log(
            `  seed round ${round + 1} ${server.name}: ${run.summary.reqPerSec.toFixed(0)} req/s p95 ${run.summary.p95.toFixed(2)} p99 ${run.summary.p99.toFixed(2)} ms, ${run.cpuUs.toFixed(1)} µs CPU/req`,
          );
        }
      }
      for (const server of servers)
        rows.push({
          workload: 'seed (paced)',
          server: server.name,
          ...mean(results.get(server)!),
        });
    }
    if (only.has('list')) {
      if (!only.has('seed')) {
        await preload(cluster, SEED_PRELOAD_PREFIX, seedPreload, VALUE, 128);
        console.log(`preloaded ${seedPreload} keys for the list workload`);
      }
      list = await measureListPages({
        origin: cluster.origin,
        rate: listRate,
        durationMs: duration * 1000,
        warmupMs: warmup * 1000,
        connections,
        limit: LIST_LIMIT,
        prefix: () => preloadPrefix(seedPreload),
      });
      console.log(`  ${describeListPages(list)}`);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  printTable(rows);
  if (lag)
    console.log(
      `replication lag during the seed profile (primary publish -> replica apply): p50 ${lag.p50Ms.toFixed(3)} ms, p99 ${lag.p99Ms.toFixed(3)} ms over ${lag.samples} batches`,
    );
  if (serverSide)
    console.log(
      `the same seed POSTs as the workers timed them (parsed request -> answer sent): p50 ${serverSide.p50Ms.toFixed(2)} ms, p95 ${serverSide.p95Ms.toFixed(2)} ms, p99 ${serverSide.p99Ms.toFixed(2)} ms over ${serverSide.samples} requests`,
    );
  if (list)
    console.log(
      `${describeListPages(list)} (target: p99 <= 2 ms server-side at 1 M keys)`,
    );
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(
    dir,
    `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  writeFileSync(
    file,
    JSON.stringify(
      {
        machine: {
          cpus: cpus().length,
          model: cpus()[0]?.model,
          node: process.version,
        },
        flags,
        rows,
        replicationLag: lag,
        seedServerSide: serverSide,
        list,
      },
      null,
      2,
    ),
  );
  console.log(`results written to ${file}`);
}

function printTable(rows: Row[]): void {
  const header = [
    'workload',
    'server',
    'req/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
    'errors',
    'non-2xx',
    'µs CPU/req',
    'vs webdis',
    'vs baseline',
  ];
  const lines = rows.map((row) => {
    const ratio = (peer: string): string => {
      const base = rows.find(
        (r) => r.workload === row.workload && r.server === peer,
      );
      return row.server === peer || !base
        ? ''
        : `${(row.summary.reqPerSec / base.summary.reqPerSec).toFixed(2)}x`;
    };
    const s = row.summary;
    return [
      row.workload,
      row.server,
      s.reqPerSec.toFixed(0),
      s.p50.toFixed(2),
      s.p95.toFixed(2),
      s.p99.toFixed(2),
      s.max.toFixed(1),
      String(s.errors),
      String(s.non2xx),
      row.cpuUs.toFixed(1),
      ratio('webdis + Redis'),
      ratio('baseline'),
    ];
  });
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => l[i]!.length)),
  );
  const format = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(format(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const line of lines) console.log(format(line));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
