/** CPU time of processes from /proc (Linux only), for pricing work in CPU per request. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** User plus system CPU milliseconds of `pid` (clock ticks of 10 ms); 0 once it is gone. */
function cpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const fields = stat.split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** `pid` and its direct children. */
export function withChildren(pid: number): number[] {
  // pgrep exits 1 when it finds nothing: a server without children.
  const children = spawnSync('pgrep', ['-P', String(pid)], {
    encoding: 'utf8',
  })
    .stdout.trim()
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
  return [pid, ...children];
}

/** Starts a CPU meter over `pids`; the returned function gives their total CPU ms since. */
export function cpuMeter(pids: readonly number[]): () => number {
  const before = pids.map(cpuMs);
  return () => pids.reduce((sum, pid, i) => sum + cpuMs(pid) - before[i]!, 0);
}
