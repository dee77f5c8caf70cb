import { statSync, truncateSync, unlinkSync } from 'node:fs';
import { AuthoritativeStore, batchEnd, Revision } from '../store';
import { listDataDir, syncDir } from './data-dir';
import { scanFrameFile } from './frame-file';
import { decodeBatch } from './log-frame';
import { readSnapshot } from './snapshot-file';

/** What {@link recover} did, for the start-up log line. */
export interface RecoveryReport {
  /** The revision of the snapshot loaded; undefined when there was none. */
  readonly snapshotRevision: Revision | undefined;
  readonly snapshotKeys: number;
  readonly logFiles: number;
  readonly framesReplayed: number;
  readonly changesReplayed: number;
  /** Bytes of the logs that were replayed and stay on disk (they count towards a rewrite). */
  readonly logBytes: number;
  /** Bytes of the snapshot and the logs read. */
  readonly bytesRead: number;
  /** Logs cut back to their last good frame. */
  readonly truncated: readonly TruncatedLog[];
}

/** A log cut back to its last good frame: where, how many bytes went, and why. */
export interface TruncatedLog {
  readonly path: string;
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

/**
 * How far {@link recover} has got, handed to its `onProgress` after every frame read. It is the
 * same object each time, updated in place: read it during the call.
 */
export interface RecoveryProgress {
  /** Bytes of the snapshot and the logs read so far. */
  readonly bytesRead: number;
  /** Bytes of the snapshot and the logs to read, as they were when loading began. */
  readonly totalBytes: number;
  /** Entries loaded from the snapshot so far. */
  readonly snapshotKeys: number;
  /** Changes replayed from the logs so far. */
  readonly changesReplayed: number;
}

/** Thrown when the data directory cannot be loaded without losing data silently. */
export class RecoveryError extends Error {
  override readonly name = 'RecoveryError';
}

// Thrown from inside a scan when a well-checksummed frame cannot be replayed.
class RejectedFrame extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * Loads the data directory `dir` into the fresh `store`: the newest snapshot, then every log
 * after it in revision order. A torn tail of the last log (a crash mid-write) is cut off and
 * reported. Damage anywhere else stops with a {@link RecoveryError}, unless `allowTruncate`,
 * which cuts the log there and drops every later log. Files made obsolete by the snapshot are
 * removed. Expired keys are left for the caller to reap, as deletes that reach the new log.
 * `onProgress` runs after every frame read, for a caller that reports progress now and then.
 */
export function recover(
  dir: string,
  store: AuthoritativeStore,
  allowTruncate: boolean,
  onProgress: (progress: RecoveryProgress) => void = () => {},
): RecoveryReport {
  const files = listDataDir(dir);
  const obsolete = [...files.temporary];
  const snapshot = files.snapshots.at(-1);
  // A snapshot whose contents disagree with its name is refused below, so its name decides.
  const logs = files.logs.filter((log) => log.from > (snapshot?.revision ?? 0));
  const progress = {
    bytesRead: 0,
    totalBytes: [...(snapshot === undefined ? [] : [snapshot]), ...logs]
      .map((file) => statSync(file.path).size)
      .reduce((sum, bytes) => sum + bytes, 0),
    snapshotKeys: 0,
    changesReplayed: 0,
  };
  let revision: Revision = 0;
  if (snapshot !== undefined) {
    try {
      revision = readSnapshot(
        snapshot.path,
        (key, value, rev, deadline) => {
          store.loadEntry(key, value, rev, deadline);
          progress.snapshotKeys++;
        },
        (bytesRead) => {
          progress.bytesRead = bytesRead;
          onProgress(progress);
        },
      );
    } catch (error) {
      throw new RecoveryError(
        `cannot load the snapshot: ${(error as Error).message}`,
      );
    }
    if (revision !== snapshot.revision) {
      throw new RecoveryError(
        `${snapshot.path} says it holds revision ${revision}, not the one in its name`,
      );
    }
    obsolete.push(...files.snapshots.slice(0, -1).map((s) => s.path));
  }
  obsolete.push(
    ...files.logs.filter((log) => log.from <= revision).map((l) => l.path),
  );
  let framesReplayed = 0;
  let logBytes = 0;
  let bytesBefore = progress.bytesRead;
  const truncated: TruncatedLog[] = [];
  for (let i = 0; i < logs.length; i++) {
    const log = logs[i]!;
    let damage: { offset: number; reason: string; torn: boolean } | undefined;
    let fileBytes: number;
    try {
      const scan = scanFrameFile(log.path, (payload, offset, frameEnd) => {
        let batch;
        try {
          batch = decodeBatch(payload);
        } catch (error) {
          throw new RejectedFrame(offset, (error as Error).message);
        }
        if (batch.from > revision + 1) {
          throw new RejectedFrame(
            offset,
            `revisions ${revision + 1} to ${batch.from - 1} are missing`,
          );
        }
        framesReplayed++;
        const end = batchEnd(batch);
        if (end > revision) {
          store.replayBatch(batch);
          progress.changesReplayed += end - revision;
          revision = end;
        }
        progress.bytesRead = bytesBefore + frameEnd;
        onProgress(progress);
      });
      fileBytes = scan.fileBytes;
      if (scan.damage !== undefined)
        damage = { ...scan.damage, torn: scan.damage.kind === 'torn' };
    } catch (error) {
      if (!(error instanceof RejectedFrame)) throw error;
      fileBytes = statSync(log.path).size;
      damage = { offset: error.offset, reason: error.message, torn: false };
    }
    bytesBefore += fileBytes;
    if (damage === undefined) {
      logBytes += fileBytes;
      continue;
    }
    const later = logs.slice(i + 1);
    const last = later.every((l) => statSync(l.path).size === 0);
    if (!(damage.torn && last) && !allowTruncate) {
      throw new RecoveryError(
        `${log.path} is damaged at byte ${damage.offset} of ${fileBytes} (${damage.reason}), ` +
          `and ${fileBytes - damage.offset} bytes${last ? '' : ' and later logs'} follow. ` +
          'Start-up stopped so that nothing is dropped silently; set KV_ALLOW_TRUNCATE=on ' +
          'to start from the data before that point and drop the rest',
      );
    }
    truncateSync(log.path, damage.offset);
    truncated.push({
      path: log.path,
      offset: damage.offset,
      bytes: fileBytes - damage.offset,
      reason: damage.reason,
    });
    logBytes += damage.offset;
    obsolete.push(...later.map((l) => l.path));
    break;
  }
  store.restored(revision);
  for (const path of obsolete) unlinkSync(path);
  if (obsolete.length > 0) syncDir(dir);
  return {
    snapshotRevision: snapshot?.revision,
    snapshotKeys: progress.snapshotKeys,
    logFiles: logs.length,
    framesReplayed,
    changesReplayed: progress.changesReplayed,
    bytesRead: progress.bytesRead,
    logBytes,
    truncated,
  };
}
