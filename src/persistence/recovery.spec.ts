import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthoritativeStore,
  ChangeBatch,
  NO_DEADLINE,
  WriteOp,
} from '../store';
import { logPath, snapshotPath } from './data-dir';
import { encodeBatchFrame } from './log-frame';
import { recover, RecoveryError, RecoveryProgress } from './recovery';
import { writeSnapshot } from './snapshot-file';

let now = 1_000_000;
const clock = () => now;
let dir: string;

beforeEach(() => {
  now = 1_000_000;
  dir = mkdtempSync(join(tmpdir(), 'kv-recovery-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const newStore = () => new AuthoritativeStore({ clock, shardBits: 2 });
const put = (key: string, value: string, ttl = 0) => ({
  op: WriteOp.Put,
  key,
  value,
  ttl,
});

/** Applies `writes` to `store` and returns the batch they make. */
function commit(
  store: AuthoritativeStore,
  ...writes: ReturnType<typeof put>[]
): ChangeBatch {
  for (const write of writes) store.execute(write);
  return store.takeBatch()!;
}

function writeLog(from: number, ...batches: ChangeBatch[]): string {
  const path = logPath(dir, from);
  writeFileSync(path, Buffer.concat(batches.map(encodeBatchFrame)));
  return path;
}

function loaded(allowTruncate = false) {
  const store = newStore();
  const report = recover(dir, store, allowTruncate);
  return { store, report };
}

describe('recover', () => {
  it('starts empty from an empty directory', () => {
    const { store, report } = loaded();
    expect(store.revision).toBe(0);
    expect(report).toMatchObject({ snapshotRevision: undefined, logFiles: 0 });
  });

  it('replays a log: every key with its value, revision and absolute deadline', () => {
    const live = newStore();
    const first = commit(live, put('a', '1'), put('b', '"x"', 5000));
    const second = commit(live, put('a', '2'), put('é/\u0000', 'null'));
    writeLog(1, first, second);
    now += 1000; // a restart later: the deadline stays where it was
    const { store, report } = loaded();
    expect(store.revision).toBe(4);
    expect(store.table.digest(now)).toBe(live.table.digest(now));
    expect(store.get('b')).toEqual(live.get('b'));
    expect(store.get('b')?.deadline).toBe(1_005_000);
    expect(report).toMatchObject({ framesReplayed: 2, changesReplayed: 4 });
    now += 4000;
    expect(store.reapExpired()).toBe(1);
  });

  it('loads a snapshot taken while writes went on, then the log after it', async () => {
    const live = newStore();
    writeLog(1, commit(live, put('a', '1'), put('b', '1', 100)));
    const revision = live.publishedRevision;
    const after: ChangeBatch[] = [];
    let chunk = 0;
    const written = await writeSnapshot(
      snapshotPath(dir, revision),
      revision,
      live.table,
      {
        clock,
        // Writes land between chunks, as they do on the primary.
        beforeChunk: () => {
          const batch = commit(
            live,
            put(`k${chunk}`, '1'),
            put('a', `${chunk}`),
          );
          chunk++;
          after.push(batch);
        },
        beforeCommit: () => Promise.resolve(),
        cancelled: () => false,
      },
    );
    expect(written.entries).toBeGreaterThan(0);
    writeLog(revision + 1, ...after);
    const { store, report } = loaded();
    expect(store.revision).toBe(live.revision);
    expect(store.table.digest(now)).toBe(live.table.digest(now));
    expect(report.snapshotRevision).toBe(revision);
    // The log the snapshot made obsolete is gone; no temporary file is left.
    expect(readdirSync(dir).sort()).toEqual([
      `log-${String(revision + 1).padStart(16, '0')}.aof`,
      `snapshot-${String(revision).padStart(16, '0')}.msgpack`,
    ]);
  });

  it('cuts a torn tail off the last log and reports it', () => {
    const live = newStore();
    const first = commit(live, put('a', '1'));
    const path = writeLog(1, first, commit(live, put('b', '2')));
    const good = encodeBatchFrame(first).length;
    const size = statSync(path).size;
    truncateSync(path, size - 3);
    const { store, report } = loaded();
    expect(store.revision).toBe(1);
    expect(store.get('b')).toBeUndefined();
    expect(report.truncated).toEqual([
      expect.objectContaining({ path, offset: good, bytes: size - 3 - good }),
    ]);
    expect(statSync(path).size).toBe(good);
  });

  it('treats zeros at the end (a file extended but never written) as a torn tail', () => {
    const live = newStore();
    const path = writeLog(1, commit(live, put('a', '1')));
    appendFileSync(path, Buffer.alloc(4096));
    const { store, report } = loaded();
    expect(store.revision).toBe(1);
    expect(report.truncated).toHaveLength(1);
  });

  it('refuses damage in the middle, unless truncation is allowed', () => {
    const live = newStore();
    const path = writeLog(
      1,
      commit(live, put('a', '1')),
      commit(live, put('b', '2')),
      commit(live, put('c', '3')),
    );
    const bytes = readFileSync(path);
    bytes[12]! ^= 0xff; // inside the first frame's payload
    writeFileSync(path, bytes);
    expect(() => loaded()).toThrow(RecoveryError);
    expect(() => loaded()).toThrow(/damaged at byte 0 .*KV_ALLOW_TRUNCATE=on/);
    expect(statSync(path).size).toBe(bytes.length);
    const { store, report } = loaded(true);
    expect(store.revision).toBe(0);
    expect(report.truncated[0]?.bytes).toBe(bytes.length);
  });

  it('refuses a gap between logs', () => {
    const live = newStore();
    writeLog(1, commit(live, put('a', '1')));
    commit(live, put('lost', '1'));
    writeLog(3, commit(live, put('c', '1')));
    expect(() => loaded()).toThrow(/revisions 2 to 2 are missing/);
    const { store } = loaded(true);
    expect(store.revision).toBe(1);
    // Cut at its first frame: nothing of it is left.
    expect(statSync(logPath(dir, 3)).size).toBe(0);
  });

  it('refuses a damaged snapshot', () => {
    writeFileSync(snapshotPath(dir, 5), Buffer.from('not a snapshot'));
    expect(() => loaded()).toThrow(/cannot load the snapshot/);
  });

  it('keeps keys without a deadline and leaves expired ones to reap', () => {
    const live = newStore();
    writeLog(1, commit(live, put('short', '1', 10), put('long', '1')));
    now += 10;
    const { store } = loaded();
    expect(store.get('long')?.deadline).toBe(NO_DEADLINE);
    expect(store.reapExpired()).toBe(1);
    expect(store.takeBatch()).toEqual({
      from: 3,
      changes: [
        {
          key: 'short',
          value: null,
          deadline: NO_DEADLINE,
          revision: 3,
          expired: true,
        },
      ],
    });
  });

  it('reports its progress after every frame, ending at the bytes of every file it read', async () => {
    const live = newStore();
    writeLog(1, commit(live, put('a', '1'), put('b', '2')));
    const revision = live.publishedRevision;
    await writeSnapshot(snapshotPath(dir, revision), revision, live.table, {
      clock,
      beforeChunk: () => {},
      beforeCommit: () => Promise.resolve(),
      cancelled: () => false,
    });
    writeLog(
      revision + 1,
      commit(live, put('c', '3')),
      commit(live, put('a', '4'), put('d', '5')),
    );
    const files = readdirSync(dir).filter(
      (name) => !name.startsWith('log-0000000000000001'),
    );
    const total = files
      .map((name) => statSync(join(dir, name)).size)
      .reduce((sum, bytes) => sum + bytes, 0);
    const seen: RecoveryProgress[] = [];
    const report = recover(dir, newStore(), false, (progress) =>
      seen.push({ ...progress }),
    );
    // Header, one entry frame and trailer of the snapshot, then the two batches.
    expect(seen).toHaveLength(5);
    expect(seen.every((p) => p.totalBytes === total)).toBe(true);
    const bytes = seen.map((p) => p.bytesRead);
    expect(bytes).toEqual([...bytes].sort((x, y) => x - y));
    expect(new Set(bytes).size).toBe(bytes.length);
    expect(seen.at(-1)).toEqual({
      bytesRead: total,
      totalBytes: total,
      snapshotKeys: 2,
      changesReplayed: 3,
    });
    expect(report).toMatchObject({
      snapshotKeys: 2,
      changesReplayed: 3,
      bytesRead: total,
    });
  });
});
