/**
 * `npm run bench:cpu`: CPU time the cluster spends per request, per process, read from
 * /proc/<pid>/stat before and after a fixed number of requests. Unlike req/s on a machine the
 * load generator shares, CPU time per request barely moves with what else runs, so it prices
 * small costs (the per-request metrics) that throughput noise hides. Linux only.
 *
 * Flags: --requests N (60000) --workers N (2) --connections N (50)
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

function send(
  origin: string,
  amount: number,
  method: 'GET' | 'POST',
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
              method,
              path: `/${tag}-${i++}`,
              body: method === 'POST' ? '{"prop":"/1234"}' : undefined,
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

async function measure(label: string, server: RunningServer): Promise<void> {
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
  for (const method of ['GET', 'POST'] as const) {
    await send(server.origin, 5000, method, `warm-${method}`);
    const before = pids.map(cpuMs);
    await send(server.origin, requests, method, `cpu-${method}`);
    const perRequest = pids.map(
      (p, i) => ((cpuMs(p) - before[i]!) * 1000) / requests,
    );
    const workersUs = perRequest.slice(1).reduce((a, b) => a + b, 0);
    console.log(
      `| ${label} | ${method} | ${perRequest[0]!.toFixed(1)} | ${workersUs.toFixed(1)} | ${(perRequest[0]! + workersUs).toFixed(1)} |`,
    );
  }
}

async function main(): Promise<void> {
  console.log(
    '| server | method | µs CPU per request: main process | workers | total |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  const baseline = await startBaseline();
  try {
    await measure('baseline', baseline);
  } finally {
    await baseline.stop();
  }
  for (const metrics of ['on', 'off']) {
    const cluster = await startCluster(workers, { KV_HTTP_METRICS: metrics });
    try {
      await measure(`fanout-kv, metrics ${metrics}`, cluster);
    } finally {
      await cluster.stop();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
