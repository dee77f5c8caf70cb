import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDataDir,
  DataDirLock,
  DataDirLockedError,
  listDataDir,
  logPath,
  newestSnapshotBytes,
  removeReplacedFiles,
  snapshotPath,
} from './data-dir';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kv-dir-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('data directory', () => {
  it('names files by revision, sorted in revision order', () => {
    for (const path of [
      logPath(dir, 10),
      logPath(dir, 9),
      snapshotPath(dir, 100),
      snapshotPath(dir, 8),
      join(dir, 'snapshot-x.msgpack.tmp'),
      join(dir, 'notes.txt'),
    ])
      writeFileSync(path, '');
    const files = listDataDir(dir);
    expect(files.logs.map((l) => l.from)).toEqual([9, 10]);
    expect(files.snapshots.map((s) => s.revision)).toEqual([8, 100]);
    expect(files.temporary).toEqual([join(dir, 'snapshot-x.msgpack.tmp')]);
    expect(logPath(dir, 9)).toBe(join(dir, 'log-0000000000000009.aof'));
  });

  it('creates a missing directory with its parents, and leaves an existing one be', () => {
    const nested = join(dir, 'a', 'b');
    createDataDir(nested);
    writeFileSync(logPath(nested, 1), 'x');
    createDataDir(nested);
    expect(readFileSync(logPath(nested, 1), 'utf8')).toBe('x');
  });

  it('sizes the newest snapshot, 0 with none', () => {
    expect(newestSnapshotBytes(dir)).toBe(0);
    writeFileSync(snapshotPath(dir, 5), 'older snapshot');
    writeFileSync(snapshotPath(dir, 40), 'newer');
    expect(newestSnapshotBytes(dir)).toBe(5);
  });

  it('removes the logs and snapshots that a snapshot replaces, and nothing else', () => {
    const kept = [
      logPath(dir, 11),
      snapshotPath(dir, 10),
      join(dir, 'LOCK'),
      join(dir, 'notes.txt'),
    ];
    const replaced = [logPath(dir, 1), logPath(dir, 6), snapshotPath(dir, 5)];
    for (const path of [...kept, ...replaced]) writeFileSync(path, '');
    removeReplacedFiles(dir, 10);
    for (const path of kept) expect(existsSync(path)).toBe(true);
    for (const path of replaced) expect(existsSync(path)).toBe(false);
  });

  it('locks with the pid and refuses a second holder while it lives', () => {
    const lock = DataDirLock.acquire(dir);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
    writeFileSync(join(dir, 'LOCK'), '4242\n');
    expect(() => DataDirLock.acquire(dir, () => true)).toThrow(
      DataDirLockedError,
    );
    expect(() => DataDirLock.acquire(dir, () => true)).toThrow(
      /in use by process 4242/,
    );
    lock.release();
    expect(() => DataDirLock.acquire(dir, () => true)).not.toThrow();
  });

  it('takes over the lock of a dead process, or of its own pid', () => {
    writeFileSync(join(dir, 'LOCK'), '4242\n');
    DataDirLock.acquire(dir, () => false);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
    DataDirLock.acquire(dir, () => true);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
  });
});
