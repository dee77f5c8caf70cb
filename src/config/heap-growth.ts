import { setFlagsFromString } from 'node:v8';

/**
 * How far the old generation may grow past what survived the last full collection before V8
 * starts marking it again, in percent of that survivor size (300: to four times it).
 *
 * Why: the store keeps keys and values off the V8 heap, so each process's live heap stays small,
 * and V8's adaptive growth (little more than the live size when a collection is cheap) put the
 * next limit just above it, so under sustained writes every process ran frequent full
 * mark-compacts, each a pause on its main thread. Growing to four times the live size makes
 * them several times rarer (the figures are in docs/performance.md).
 */
export const HEAP_GROWING_PERCENT = 300;

/**
 * The V8 flag that applies {@link HEAP_GROWING_PERCENT}, or undefined when Node was started
 * with a `--heap-growing-percent` of its own (forked workers inherit it too), which wins.
 */
export function heapGrowthFlag(
  execArgv: readonly string[],
): string | undefined {
  return execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))
    ? undefined
    : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/**
 * Sets {@link heapGrowthFlag} on this process. V8 reads the flag each time it sets a limit, so
 * setting it after start-up takes effect at the next collection.
 */
export function tuneHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv);
  if (flag !== undefined) setFlagsFromString(flag);
}
