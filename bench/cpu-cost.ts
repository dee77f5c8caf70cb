/**
 * `npm run bench:cpu`: CPU time the cluster spends per request, per process, read from
 * /proc/<pid>/stat before and after a fixed number of requests. Unlike req/s on a machine the
 * load generator shares, CPU time per request barely moves with what else runs, so it prices
 * small costs (the per-request metrics) that throughput noise hides. Linux only.
 *
 * `--only txn` prices a transaction instead: a single PUT against `POST /_/txn` with 10 puts,
 * on one cluster, and their ratio (issue 16's target: at most 3).
 *
 * Flags: --requests N (60000) --workers N (2) --connections N (50) --only all|txn (all)
 */
import autocannon from 'autocannon';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RunningServer, startBaseline, startCluster } from './servers';

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '60000' },
    workers: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string', default: 'all' },
  },
});
const requests = Number(flags.requests);
const workers = Number(flags.workers);

/** User plus system CPU milliseconds of `pid` (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .split(') ')[1]!
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** What one request is: a read, a create, a replace, or a transaction of TXN_OPS puts. */
type Workload = 'GET' | 'POST' | 'PUT' | 'TXN';

const VALUE = '{"prop":"/1234"}';
const TXN_OPS = 10;

/** Method, path and body of request number `i` of `workload`; every write goes to new keys. */
function requestFor(
  workload: Workload,
  tag: string,
  i: number,
): { method: 'GET' | 'POST' | 'PUT'; path: string; body: string | undefined } {
  switch (workload) {
    case 'GET':
      return { method: 'GET', path: `/${tag}-${i}`, body: undefined };
    case 'POST':
    case 'PUT':
      return { method: workload, path: `/${tag}-${i}`, body: VALUE };
    case 'TXN': {
      const ops = Array.from(
        { length: TXN_OPS },
        (_, op) => `{"op":"put","key":"${tag}-${i}-${op}","value":${VALUE}}`,
      );
      return {
        method: 'POST',
        path: '/_/txn',
        body: `{"ops":[${ops.join(',')}]}`,
      };
    }
  }
}

function send(
  origin: string,
  amount: number,
  workload: Workload,
  tag: string,
): Promise<void> {
  let i = 0;
  return new Promise((resolve, reject) =>
    autocannon(
      {
        url: origin,
        connections: Number(flags.connections),
        amount,
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              ...requestFor(workload, tag, i++),
              headers: { 'content-type': 'application/json' },
            }),
          },
        ],
      },
      (error) =>
        error
          ? reject(error instanceof Error ? error : new Error(String(error)))
          : resolve(),
    ),
  );
}

/**
 * Prints a row per workload: CPU µs per request of the main process, of the workers, and in
 * all. Returns the totals, in the order of `workloads`.
 */
async function measure(
  label: string,
  server: RunningServer,
  workloads: readonly Workload[],
): Promise<number[]> {
  const pid = server.child.pid!;
  // pgrep exits 1 when it finds nothing, and the baseline has no children.
  const children = spawnSync('pgrep', ['-P', String(pid)], {
    encoding: 'utf8',
  })
    .stdout.trim()
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
  const pids = [pid, ...children];
  const totals: number[] = [];
  for (const workload of workloads) {
    await send(server.origin, 5000, workload, `warm-${workload}`);
    const before = pids.map(cpuMs);
    await send(server.origin, requests, workload, `cpu-${workload}`);
    const perRequest = pids.map(
      (p, i) => ((cpuMs(p) - before[i]!) * 1000) / requests,
    );
    const workersUs = perRequest.slice(1).reduce((a, b) => a + b, 0);
    const total = perRequest[0]! + workersUs;
    totals.push(total);
    const name = workload === 'TXN' ? `txn of ${TXN_OPS} puts` : workload;
    console.log(
      `| ${label} | ${name} | ${perRequest[0]!.toFixed(1)} | ${workersUs.toFixed(1)} | ${total.toFixed(1)} |`,
    );
  }
  return totals;
}

async function measureTxn(): Promise<void> {
  const cluster = await startCluster(workers, {});
  try {
    const [put, txn] = await measure('fanout-kv', cluster, ['PUT', 'TXN']);
    console.log(
      `\nA transaction of ${TXN_OPS} puts costs ${(txn! / put!).toFixed(2)} x the CPU of a single PUT.`,
    );
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  if (flags.only !== 'all' && flags.only !== 'txn')
    throw new Error(`--only must be all or txn, not ${flags.only}`);
  console.log(
    '| server | request | µs CPU per request: main process | workers | total |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  if (flags.only === 'txn') return measureTxn();
  const baseline = await startBaseline();
  try {
    await measure('baseline', baseline, ['GET', 'POST']);
  } finally {
    await baseline.stop();
  }
  for (const metrics of ['on', 'off']) {
    const cluster = await startCluster(workers, { KV_HTTP_METRICS: metrics });
    try {
      await measure(`fanout-kv, metrics ${metrics}`, cluster, ['GET', 'POST']);
    } finally {
      await cluster.stop();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
