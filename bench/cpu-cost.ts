/**
 * `npm run bench:cpu`: CPU time each server spends per request, over all of its processes,
 * read from /proc/<pid>/stat around a paced load. Unlike req/s on a machine the load generator
 * shares, CPU time per request barely moves with what else runs, so it prices small costs
 * that throughput noise hides. Linux only.
 *
 * The cluster runs with one worker and with two in alternating rounds (1, 2, 1, 2, ...) at a
 * fixed rate that leaves the cores unsaturated, and the medians price the fan-out: what a
 * second worker adds to a POST beyond what it adds to a GET (which pays for more processes
 * on the same cores, but replicates nothing), as a share of a POST with one worker. The
 * baseline and webdis + Redis are measured the same way in every round.
 *
 * Flags: --rate R (5000) --seconds S (6) --rounds N (3) --connections N (50)
 *        --only cluster (leave out the baseline and webdis + Redis)
 */
import { parseArgs } from 'node:util';
import { pacedLoad } from './paced-load';
import { cpuMeter } from './proc-cpu';
import {
  BenchRequest,
  preload,
  RunningServer,
  startBaseline,
  startCluster,
  startWebdis,
} from './servers';

const { values: flags } = parseArgs({
  options: {
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string', default: '' },
  },
});
const rate = Number(flags.rate);
const seconds = Number(flags.seconds);
const rounds = Number(flags.rounds);
const connections = Number(flags.connections);
const KEYS = 10_000;
const VALUE = '{"prop":"/1234"}';

type Method = 'GET' | 'POST';
/** µs of CPU per request, by server and method, one figure per round. */
const figures = new Map<string, number[]>();

function record(server: string, method: Method, us: number): void {
  const key = `${server}|${method}`;
  figures.set(key, [...(figures.get(key) ?? []), us]);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2
    ? sorted[Math.floor(mid)]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

let unique = 0;
async function paced(
  server: RunningServer,
  method: Method,
  durationMs: number,
): Promise<number> {
  const tag = `cpu-${unique++}-`;
  const spent = cpuMeter(server.pids());
  const summary = await pacedLoad({
    origin: server.origin,
    rate,
    durationMs,
    connections,
    request: (i): BenchRequest =>
      server.translate(
        method === 'GET'
          ? { method, path: `/k-${i % KEYS}` }
          : { method, path: `/${tag}${i}`, body: VALUE },
      ),
  });
  if (summary.errors + summary.non2xx > 0)
    throw new Error(
      `${server.name}: ${summary.errors} errors, ${summary.non2xx} non-2xx`,
    );
  const cpuMs = spent().reduce((a, b) => a + b, 0);
  return (cpuMs * 1000) / summary.requests;
}

async function measure(label: string, server: RunningServer): Promise<void> {
  try {
    await preload(server, 'k-', KEYS, VALUE);
    for (const method of ['GET', 'POST'] as const) {
      await paced(server, method, 2000);
      const us = await paced(server, method, seconds * 1000);
      record(label, method, us);
      console.log(`  ${label} ${method}: ${us.toFixed(1)} µs`);
    }
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  console.log(
    `bench:cpu: paced ${rate}/s, ${seconds} s per measurement, ${rounds} rounds`,
  );
  const peers = flags.only !== 'cluster';
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}`);
    for (const workers of [1, 2])
      await measure(
        `fanout-kv, ${workers} worker${workers > 1 ? 's' : ''}`,
        await startCluster(workers),
      );
    if (!peers) continue;
    await measure('baseline', await startBaseline());
    const webdis = await startWebdis();
    if (typeof webdis === 'string')
      console.log(`  webdis + Redis left out: ${webdis}`);
    else await measure('webdis + Redis', webdis);
  }
  console.log('\n| server | GET µs CPU/req | POST µs CPU/req |');
  console.log('| --- | --- | --- |');
  const servers = [
    ...new Set([...figures.keys()].map((k) => k.split('|')[0]!)),
  ];
  const med = (server: string, method: Method): number =>
    median(figures.get(`${server}|${method}`) ?? [NaN]);
  for (const server of servers)
    console.log(
      `| ${server} | ${med(server, 'GET').toFixed(1)} | ${med(server, 'POST').toFixed(1)} |`,
    );
  const one = 'fanout-kv, 1 worker';
  const two = 'fanout-kv, 2 workers';
  const excess =
    med(two, 'POST') - med(one, 'POST') - (med(two, 'GET') - med(one, 'GET'));
  console.log(
    `\nfan-out: a second worker adds ${(med(two, 'POST') - med(one, 'POST')).toFixed(1)} µs to a POST and ${(med(two, 'GET') - med(one, 'GET')).toFixed(1)} µs to a GET; the excess, ${excess.toFixed(1)} µs, is ${((excess / med(one, 'POST')) * 100).toFixed(1)}% of a POST with one worker (medians of ${rounds} rounds)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
