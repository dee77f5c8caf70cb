/**
 * The ordered index of the store on its own, in one process, no HTTP: its memory per key, what
 * it adds to an insert and a delete, how long one sort of every key takes (a replica's
 * snapshot, a primary's restart), and how long a page of 100 keys by prefix takes.
 *
 *   node --expose-gc -r ts-node/register/transpile-only bench/ordered-index-memory.ts
 *
 * For each size (1 M, then 10 M keys like `key-00000001`, values `"v"`), in shuffled order
 * (`--order sequential` for ascending):
 * - table A loads every key with the index deferred, then sorts them all at once;
 * - table B loads the same keys in the same order with the index kept on every insert. Both
 *   tables then hold the same arenas, so B's heap + array buffers beyond A's unsorted ones is
 *   the index (plus the per-slot leaf ids, counted exactly and added to it);
 * - insert and delete cost: B's time per key minus A's, over the load and over deleting and
 *   re-inserting a tenth of the keys;
 * - pages: 2,000 pages of 100 at random points, two ways: after a random key under the prefix
 *   `key-` (a cursor deep into the listing), and the first page of a random 5-digit prefix.
 * Times are wall and process CPU time: on a shared machine the CPU time leaves out the time
 * other processes held the core (garbage collection threads stay in).
 *
 * Flags: --sizes 1000000,10000000 --pages 2000 --order shuffled|sequential
 */
import { parseArgs } from 'node:util';
import { KvTable } from '../src/store/kv-table';
import { prng } from '../src/store/seeded-random.spec-support';

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000000,10000000' },
    pages: { type: 'string', default: '2000' },
    order: { type: 'string', default: 'shuffled' },
  },
});
const sizes = flags.sizes.split(',').map(Number);
const pages = Number(flags.pages);
const shuffled = flags.order !== 'sequential';
const PAGE = 100;
const NOW = 1_000_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run node with --expose-gc');

const keyOf = (i: number): string => `key-${String(i).padStart(8, '0')}`;

/**
 * Bytes of the JS heap and of array buffers, after full collections, each followed by a pause:
 * V8 frees the memory of dead array buffers on a thread of its own, a moment later.
 */
async function memory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Wall and CPU (user + system, this process) nanoseconds that `work` takes. */
function timed(work: () => void): { wall: number; cpu: number } {
  const start = process.hrtime.bigint();
  const used = process.cpuUsage();
  work();
  const spent = process.cpuUsage(used);
  return {
    wall: Number(process.hrtime.bigint() - start),
    cpu: (spent.user + spent.system) * 1000,
  };
}

/** `with` minus `without`, per operation, as "+X ns CPU (+Y wall)". */
function extra(
  withIndex: { wall: number; cpu: number },
  without: { wall: number; cpu: number },
  ops: number,
): string {
  const cpu = (withIndex.cpu - without.cpu) / ops;
  const wall = (withIndex.wall - without.wall) / ops;
  return `${(withIndex.cpu / ops).toFixed(0)} ns CPU with the index, ${(without.cpu / ops).toFixed(0)} without: ${cpu >= 0 ? '+' : ''}${cpu.toFixed(0)} ns CPU (${wall >= 0 ? '+' : ''}${wall.toFixed(0)} ns wall)`;
}

/** The i-th key number of the load: a fixed shuffle (a multiplier coprime to n), or i. */
function numberAt(i: number, n: number): number {
  return shuffled ? (i * 1_000_003 + 12_345) % n : i;
}

interface Costs {
  load: { wall: number; cpu: number };
  remove: { wall: number; cpu: number };
  insert: { wall: number; cpu: number };
}

/** Loads keys 0..n-1 into `table` in load order, then deletes and re-inserts every tenth. */
function fill(table: KvTable, n: number): Costs {
  const load = timed(() => {
    for (let i = 0; i < n; i++)
      table.entries.set(keyOf(numberAt(i, n)), '"v"', i + 1, 0);
  });
  const tenth = Math.floor(n / 10);
  const remove = timed(() => {
    for (let i = 0; i < tenth; i++)
      table.entries.delete(keyOf(numberAt(i * 10 + 3, n)));
  });
  const insert = timed(() => {
    for (let i = 0; i < tenth; i++)
      table.entries.set(keyOf(numberAt(i * 10 + 3, n)), '"v"', n + i, 0);
  });
  return { load, remove, insert };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Times `pages` pages of 100 both ways; returns p50 and p99 in ms of each. */
function timePages(table: KvTable, n: number): string {
  const random = prng(12345);
  const run = (page: () => number): string => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < pages; i++) {
      let got = 0;
      const spent = timed(() => {
        got = page();
      });
      wall.push(spent.wall / 1e6);
      cpu.push(spent.cpu / 1e6);
      if (got !== PAGE) throw new Error(`a page of ${got} keys, not ${PAGE}`);
    }
    wall.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    const ms = (times: number[], p: number): string =>
      percentile(times, p).toFixed(3);
    return `wall p50 ${ms(wall, 0.5)} p99 ${ms(wall, 0.99)} ms, CPU p50 ${ms(cpu, 0.5)} p99 ${ms(cpu, 0.99)} ms`;
  };
  const deep = run(
    () =>
      table.list(
        'key-',
        keyOf(Math.floor(random() * (n - 2 * PAGE))),
        PAGE,
        NOW,
      ).entries.length,
  );
  // Five digits of eight: 1,000 keys under each prefix (the first n / 1000 prefixes).
  const prefixes = Math.floor(n / 1000);
  const first = run(
    () =>
      table.list(
        `key-${String(Math.floor(random() * prefixes)).padStart(5, '0')}`,
        undefined,
        PAGE,
        NOW,
      ).entries.length,
  );
  return `\n    after a random key:              ${deep}\n    first page of a 5-digit prefix:  ${first}`;
}

/** The own account of an index with no key, without the leaf ids of a one-shard table. */
function emptyIndexBytes(): number {
  const empty = new KvTable(0);
  // One shard of 8 slots, a 4-byte leaf id each.
  return empty.entries.orderedIndexBytes - 8 * 4;
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  console.log(
    `ordered index, keys like ${keyOf(1)} loaded in ${shuffled ? 'shuffled' : 'ascending'} order, node ${process.version}`,
  );
  for (const n of sizes) await measure(n);
}

async function measure(n: number): Promise<void> {
  const base = await memory();
  let a: KvTable | undefined = new KvTable();
  a.entries.deferOrdering();
  const costsA = fill(a, n);
  const unsorted = await memory();
  // Deferred, the index holds no key: its own account is its empty tree plus the leaf ids that
  // every shard keeps per slot (which both tables hold, so the measured difference misses them).
  const leafIds = a.entries.orderedIndexBytes - emptyIndexBytes();
  const sort = timed(() => a!.entries.ensureOrdered());
  const sorted = await memory();
  const builtBytes = sorted - unsorted + leafIds;
  const builtAccount = a.entries.orderedIndexBytes;
  const pagesA = timePages(a, n);
  a = undefined;
  await memory();

  const b = new KvTable();
  const costsB = fill(b, n);
  const kept = await memory();
  const keptBytes = kept - unsorted + leafIds;
  const pagesB = timePages(b, n);
  const tenth = Math.floor(n / 10);

  console.log(
    `\n${n.toLocaleString('en-US')} keys (the table alone: ${((unsorted - base) / n).toFixed(1)} B/key)`,
  );
  console.log(
    `  index kept on every insert: ${(keptBytes / n).toFixed(1)} B/key measured (${mb(keptBytes)}), ${(b.entries.orderedIndexBytes / n).toFixed(1)} B/key by its own account`,
  );
  console.log(
    `  index sorted at once:       ${(builtBytes / n).toFixed(1)} B/key measured (${mb(builtBytes)}), ${(builtAccount / n).toFixed(1)} B/key by its own account`,
  );
  console.log(
    `  sorting every key at once: ${(sort.cpu / 1e6).toFixed(0)} ms CPU, ${(sort.wall / 1e6).toFixed(0)} ms wall`,
  );
  console.log(`  load:      ${extra(costsB.load, costsA.load, n)}`);
  console.log(`  delete:    ${extra(costsB.remove, costsA.remove, tenth)}`);
  console.log(`  re-insert: ${extra(costsB.insert, costsA.insert, tenth)}`);
  console.log(`  page of ${PAGE}, index kept on every insert:${pagesB}`);
  console.log(`  page of ${PAGE}, index sorted at once:${pagesA}`);
}

void main();
