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
 * `--only txn` prices a transaction instead, on a cluster of two workers in every round: a
 * single PUT against `POST /_/txn` with 10 puts, and the ratio of their medians.
 *
 * Flags: --rate R (5000) --seconds S (6) --rounds N (3) --connections N (50)
 *        --only cluster|txn (the cluster alone; or transactions alone)
 */
import { parseArgs } from 'node:util';
import { pacedLoad } from './paced-load';
import { cpuMeter } from './proc-cpu';
import {
  BenchRequest,
  preload,
  RunningServer,
  startBaseline,
  startFanoutKv,
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

type Method = 'GET' | 'POST' | 'PUT' | 'TXN';
const TXN_OPS = 10;
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

/** Request number `i` of `method`; every write goes to new keys. */
function requestFor(method: Method, tag: string, i: number): BenchRequest {
  switch (method) {
    case 'GET':
      return { method, path: `/k-${i % KEYS}` };
    case 'POST':
    case 'PUT':
      return { method, path: `/${tag}${i}`, body: VALUE };
    case 'TXN': {
      const ops = Array.from(
        { length: TXN_OPS },
        (_, op) => `{"op":"put","key":"${tag}${i}-${op}","value":${VALUE}}`,
      );
      return {
        method: 'POST',
        path: '/_/txn',
        body: `{"ops":[${ops.join(',')}]}`,
      };
    }
  }
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
    request: (i): BenchRequest => server.translate(requestFor(method, tag, i)),
  });
  if (summary.errors + summary.non2xx > 0)
    throw new Error(
      `${server.name}: ${summary.errors} errors, ${summary.non2xx} non-2xx`,
    );
  return (spent() * 1000) / summary.requests;
}

async function measure(
  label: string,
  server: RunningServer,
  methods: readonly Method[] = ['GET', 'POST'],
): Promise<void> {
  try {
    await preload(server, 'k-', KEYS, VALUE);
    for (const method of methods) {
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
  if (flags.only === 'txn') return measureTxn();
  const peers = flags.only !== 'cluster';
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}`);
    for (const workers of [1, 2])
      await measure(
        `fanout-kv, ${workers} worker${workers > 1 ? 's' : ''}`,
        await startFanoutKv(workers),
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

async function measureTxn(): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}`);
    await measure('fanout-kv', await startFanoutKv(2), ['PUT', 'TXN']);
  }
  const put = median(figures.get('fanout-kv|PUT')!);
  const txn = median(figures.get('fanout-kv|TXN')!);
  console.log(
    `\nµs CPU per request (medians of ${rounds} rounds): PUT ${put.toFixed(1)}, transaction of ${TXN_OPS} puts ${txn.toFixed(1)}: ${(txn / put).toFixed(2)}x a PUT`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
