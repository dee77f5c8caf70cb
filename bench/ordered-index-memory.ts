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
 *
 * Flags: --sizes 1000000,10000000 --pages 2000 --order shuffled|sequential
 */
import { parseArgs } from 'node:util';
import { KvTable } from '../src/store/kv-table';

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

/** Bytes of the JS heap and of array buffers, after full collections. */
function memory(): number {
  for (let i = 0; i < 3; i++) gc!();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** The i-th key number of the load: a fixed shuffle (a multiplier coprime to n), or i. */
function numberAt(i: number, n: number): number {
  return shuffled ? (i * 1_000_003 + 12_345) % n : i;
}

/** Loads keys 0..n-1 into `table` in load order; returns ns per key. */
function load(table: KvTable, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++)
    table.entries.set(keyOf(numberAt(i, n)), '"v"', i + 1, 0);
  return Number(process.hrtime.bigint() - start) / n;
}

/** Deletes and then re-inserts every tenth key; returns ns per delete and per insert. */
function churn(table: KvTable, n: number): { remove: number; insert: number } {
  const count = Math.floor(n / 10);
  let start = process.hrtime.bigint();
  for (let i = 0; i < count; i++)
    table.entries.delete(keyOf(numberAt(i * 10 + 3, n)));
  const remove = Number(process.hrtime.bigint() - start) / count;
  start = process.hrtime.bigint();
  for (let i = 0; i < count; i++)
    table.entries.set(keyOf(numberAt(i * 10 + 3, n)), '"v"', n + i, 0);
  const insert = Number(process.hrtime.bigint() - start) / count;
  return { remove, insert };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Times `pages` pages of 100 both ways; returns p50 and p99 in ms of each. */
function timePages(table: KvTable, n: number): string {
  let seed = 12345;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  // Wall time, and the process's CPU time, which leaves out the time other processes of a
  // shared machine held the core (garbage collection stays in).
  const run = (page: () => number): string => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < pages; i++) {
      const start = process.hrtime.bigint();
      const used = process.cpuUsage();
      const got = page();
      const spent = process.cpuUsage(used);
      wall.push(Number(process.hrtime.bigint() - start) / 1e6);
      cpu.push((spent.user + spent.system) / 1000);
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

console.log(
  `ordered index, keys like ${keyOf(1)} loaded in ${shuffled ? 'shuffled' : 'ascending'} order, node ${process.version}`,
);
for (const n of sizes) {
  const base = memory();
  let a: KvTable | undefined = new KvTable();
  a.entries.deferOrdering();
  const loadA = load(a, n);
  const churnA = churn(a, n);
  const unsorted = memory();
  // Deferred, the index holds no key: its own account is its empty tree plus the leaf ids that
  // every shard keeps per slot (which both tables hold, so the measured difference misses them).
  const leafIds = a.entries.orderedIndexBytes - emptyIndexBytes();
  const start = process.hrtime.bigint();
  a.entries.ensureOrdered();
  const sortMs = Number(process.hrtime.bigint() - start) / 1e6;
  const sorted = memory();
  const builtBytes = sorted - unsorted + leafIds;
  const builtAccount = a.entries.orderedIndexBytes;
  const pagesA = timePages(a, n);
  a = undefined;
  memory();

  const b = new KvTable();
  const loadB = load(b, n);
  const churnB = churn(b, n);
  const kept = memory();
  const keptBytes = kept - unsorted + leafIds;
  const pagesB = timePages(b, n);
  const table = (unsorted - base) / n;

  console.log(
    `\n${n.toLocaleString('en-US')} keys (the table alone: ${table.toFixed(1)} B/key)`,
  );
  console.log(
    `  index kept on every insert: ${(keptBytes / n).toFixed(1)} B/key measured (${mb(keptBytes)}), ${(b.entries.orderedIndexBytes / n).toFixed(1)} B/key by its own account`,
  );
  console.log(
    `  index sorted at once:       ${(builtBytes / n).toFixed(1)} B/key measured (${mb(builtBytes)}), ${(builtAccount / n).toFixed(1)} B/key by its own account; the sort took ${sortMs.toFixed(0)} ms`,
  );
  console.log(
    `  insert: ${loadB.toFixed(0)} ns/key with the index, ${loadA.toFixed(0)} without: +${(loadB - loadA).toFixed(0)} ns (re-inserting a tenth: +${(churnB.insert - churnA.insert).toFixed(0)} ns)`,
  );
  console.log(
    `  delete: ${churnB.remove.toFixed(0)} ns/key with the index, ${churnA.remove.toFixed(0)} without: +${(churnB.remove - churnA.remove).toFixed(0)} ns`,
  );
  console.log(`  page of ${PAGE}, index kept on every insert: ${pagesB}`);
  console.log(`  page of ${PAGE}, index sorted at once:       ${pagesA}`);
}
