import type { MemoryFigures } from './messages';

/** This process's memory figures, as both sides report them in /_/stats. */
export function memoryFigures(): MemoryFigures {
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  return { rss, heapUsed, heapTotal };
}
