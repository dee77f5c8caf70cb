/**
 * What durability costs. Part 1: PUT throughput and p99 (autocannon, closed loop, unique keys)
 * with KV_DATA_DIR unset and with KV_FSYNC=no, everysec and always, one after the other in one
 * run. Part 2: restart time with 1 million and 10 million keys in a snapshot (and 1 million in
 * a log alone): until the primary has loaded them, and until every worker serves.
 *
 *   npm run bench:durability                      # 10 s per mode, 1M and 10M keys
 *   BENCH_SECONDS=5 BENCH_RESTART_KEYS=1000000 npm run bench:durability
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeBatchFrame,
  logPath,
  snapshotPath,
  writeSnapshot,
} from '../src/persistence';
import { KvTable, NO_DEADLINE } from '../src/store';
import { closedLoad } from './closed-load';
import { launchCluster } from '../test/support/launcher';
import { startFanoutKv } from './servers';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const workers = Number(
  process.env.KV_WORKERS ?? Math.max(1, availableParallelism() - 1),
);
const restartKeys = (process.env.BENCH_RESTART_KEYS ?? '1000000,10000000')
  .split(',')
  .map(Number);

const keyOf = (i: number): string => `k${String(i).padStart(15, '0')}`;
const valueOf = (i: number): string => `{"v":${i},"pad":"${'x'.repeat(32)}"}`;

async function throughput(): Promise<void> {
  console.log(
    `PUT, ${workers} workers, ${connections} connections, ${seconds} s per mode`,
  );
  console.log('mode          PUT/s   p50 ms  p99 ms  errors');
  let baseline = 0;
  for (const mode of ['unset', 'no', 'everysec', 'always'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'kv-bench-'));
    const env: Record<string, string> =
      mode === 'unset' ? {} : { KV_DATA_DIR: dir, KV_FSYNC: mode };
    const server = await startFanoutKv(workers, env);
    let n = 0;
    const summary = await closedLoad({
      origin: server.origin,
      connections,
      durationSeconds: seconds,
      next: () => ({ method: 'PUT', path: `/${keyOf(n++)}`, body: valueOf(n) }),
    });
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    if (mode === 'unset') baseline = summary.reqPerSec;
    const cost =
      mode === 'unset'
        ? ''
        : `  (${((1 - summary.reqPerSec / baseline) * 100).toFixed(1)}% below unset)`;
    console.log(
      `${mode.padEnd(10)} ${summary.reqPerSec.toFixed(0).padStart(8)} ${summary.p50.toFixed(2).padStart(8)} ${summary.p99.toFixed(2).padStart(7)} ${String(summary.errors + summary.non2xx).padStart(7)}${cost}`,
    );
  }
}

/** Writes `count` keys as one snapshot file, the way the primary does. */
async function makeSnapshot(dir: string, count: number): Promise<number> {
  const table = new KvTable();
  for (let i = 1; i <= count; i++)
    table.entries.set(keyOf(i), valueOf(i), i, NO_DEADLINE);
  const written = await writeSnapshot(snapshotPath(dir, count), count, table, {
    clock: Date.now,
    beforeChunk: () => undefined,
    beforeCommit: () => Promise.resolve(),
    cancelled: () => false,
  });
  return written.bytes;
}

/** Writes `count` keys as a log alone, in batches of 1,000. */
function makeLog(dir: string, count: number): number {
  const frames: Buffer[] = [];
  for (let from = 1; from <= count; from += 1000) {
    const changes = [];
    for (let i = from; i < Math.min(from + 1000, count + 1); i++)
      changes.push({
        key: keyOf(i),
        value: valueOf(i),
        deadline: NO_DEADLINE,
        revision: i,
        expired: false,
      });
    frames.push(encodeBatchFrame({ from, changes }));
  }
  writeFileSync(logPath(dir, 1), Buffer.concat(frames));
  return statSync(logPath(dir, 1)).size;
}

/** Starts the cluster on `dir`; ms until the primary loaded it and until all workers serve. */
async function restart(
  dir: string,
): Promise<{ loadedMs: number; servingMs: number; loadMs: number }> {
  const started = performance.now();
  const cluster = await launchCluster({
    workers,
    env: { KV_DATA_DIR: dir },
    logLevel: 'info',
    passRunnerSettings: true,
  });
  const loaded = await cluster.waitForLine('"data loaded"');
  const loadedMs = performance.now() - started;
  const loadMs = (JSON.parse(loaded) as { ms: number }).ms;
  await cluster.waitForLine('fanout-kv serving on');
  const servingMs = performance.now() - started;
  await cluster.stop();
  return { loadedMs, servingMs, loadMs };
}

async function restarts(): Promise<void> {
  console.log(`\nrestart, ${workers} workers`);
  console.log('keys        from      file MB  load ms  loaded ms  serving ms');
  const cases: { keys: number; from: 'snapshot' | 'log' }[] = [];
  for (const keys of restartKeys) {
    cases.push({ keys, from: 'snapshot' });
    if (keys <= 1_000_000) cases.push({ keys, from: 'log' });
  }
  for (const { keys, from } of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'kv-bench-restart-'));
    const bytes =
      from === 'snapshot' ? await makeSnapshot(dir, keys) : makeLog(dir, keys);
    const time = await restart(dir);
    rmSync(dir, { recursive: true, force: true });
    console.log(
      `${keys.toLocaleString().padEnd(11)} ${from.padEnd(9)} ${(bytes / 1_048_576).toFixed(0).padStart(7)} ${String(time.loadMs).padStart(8)} ${time.loadedMs.toFixed(0).padStart(10)} ${time.servingMs.toFixed(0).padStart(11)}`,
    );
  }
}

async function main(): Promise<void> {
  if (process.env.BENCH_SKIP_THROUGHPUT !== '1') await throughput();
  await restarts();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
