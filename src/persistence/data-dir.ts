import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Revision } from '../store';

/**
 * The files of a data directory. Names carry revisions only, never keys (keys are arbitrary
 * bytes): `snapshot-<revision>.msgpack` holds the store as of that revision,
 * `log-<first revision>.aof` the batches from that revision on, `LOCK` the holder's pid.
 * Revisions are zero-padded to 16 digits so names sort in revision order.
 */
export interface DataDirFiles {
  /** Snapshots, oldest first. */
  readonly snapshots: { readonly revision: Revision; readonly path: string }[];
  /** Logs, by first revision. */
  readonly logs: { readonly from: Revision; readonly path: string }[];
  /** Leftovers of snapshots that never finished (a crash mid-write). */
  readonly temporary: string[];
}

const SNAPSHOT = /^snapshot-(\d{16})\.msgpack$/;
const LOG = /^log-(\d{16})\.aof$/;
const TEMPORARY = /\.tmp$/;

function padded(revision: Revision): string {
  return String(revision).padStart(16, '0');
}

/** The path of the snapshot of `revision`. */
export function snapshotPath(dir: string, revision: Revision): string {
  return join(dir, `snapshot-${padded(revision)}.msgpack`);
}

/** The path of the log whose first batch starts at `from`. */
export function logPath(dir: string, from: Revision): string {
  return join(dir, `log-${padded(from)}.aof`);
}

/** Lists the store's files in `dir`; anything else there is left alone. */
export function listDataDir(dir: string): DataDirFiles {
  const files: DataDirFiles = { snapshots: [], logs: [], temporary: [] };
  for (const name of readdirSync(dir).sort()) {
    const snapshot = SNAPSHOT.exec(name);
    const log = LOG.exec(name);
    if (snapshot)
      files.snapshots.push({
        revision: Number(snapshot[1]),
        path: join(dir, name),
      });
    else if (log)
      files.logs.push({ from: Number(log[1]), path: join(dir, name) });
    else if (TEMPORARY.test(name)) files.temporary.push(join(dir, name));
  }
  return files;
}

/** Creates `dir`, and any parent it lacks, unless it exists. */
export function createDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

/** Bytes of the newest snapshot in `dir`; 0 when there is none. */
export function newestSnapshotBytes(dir: string): number {
  const snapshot = listDataDir(dir).snapshots.at(-1);
  return snapshot === undefined ? 0 : statSync(snapshot.path).size;
}

/**
 * Removes the files that the durable snapshot of `revision` replaces: every log from `revision`
 * or earlier (the log after that snapshot starts at `revision` + 1) and every older snapshot.
 * The directory is fsynced after, so a crash does not bring them back.
 */
export function removeReplacedFiles(dir: string, revision: Revision): void {
  const files = listDataDir(dir);
  for (const log of files.logs) if (log.from <= revision) unlinkSync(log.path);
  for (const snapshot of files.snapshots)
    if (snapshot.revision < revision) unlinkSync(snapshot.path);
  syncDir(dir);
}

/** fsyncs the directory itself, so a file created, renamed or removed in it stays so. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Thrown when another live process holds the data directory. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
}

/**
 * The lock of a data directory: a `LOCK` file holding the pid of the primary that owns it. A
 * lock whose pid is gone (a crash, SIGKILL) or is this very process (the same pid in a new
 * container) is stale and taken over.
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  /** Takes the lock of `dir` for this process, or throws {@link DataDirLockedError}. */
  static acquire(
    dir: string,
    isAlive: (pid: number) => boolean = processIsAlive,
  ): DataDirLock {
    const path = join(dir, 'LOCK');
    // Two tries: the second after removing a stale lock. 'wx' makes creation atomic, so of
    // two primaries starting at once, one wins.
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, `${process.pid}\n`);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        return new DataDirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0)
          throw error;
      }
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (
        Number.isSafeInteger(holder) &&
        holder !== process.pid &&
        isAlive(holder)
      ) {
        throw new DataDirLockedError(
          `KV_DATA_DIR ${dir} is in use by process ${holder} (lock file ${path}); ` +
            'stop that primary first, or remove the lock file if that pid is not a fanout-kv primary',
        );
      }
      unlinkSync(path);
    }
  }

  /** Gives the lock up (on a clean stop). */
  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: nothing to give up.
    }
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed primary whose parent has not reaped it yet is a zombie: it holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    // No /proc (not Linux): trust the signal check.
    return true;
  }
}
