import {
  Inject,
  Injectable,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { CONFIG, LOGGER } from '../config/config.module';
import {
  AppendLog,
  createDataDir,
  DataDirLock,
  logPath,
  newestSnapshotBytes,
  recover,
  RecoveryProgress,
  removeReplacedFiles,
} from '../persistence';
import { AuthoritativeStore, Revision } from '../store';

// Loading a large data directory takes seconds: a line this often says it is getting on.
const PROGRESS_INTERVAL_MS = 2000;

/**
 * The primary's side of KV_DATA_DIR: at start-up (before the workers fork) it locks the
 * directory and loads it into the store; then it holds the log that {@link ReconcileLoop}
 * appends every batch to, and the bookkeeping {@link LogRewriter} needs. With KV_DATA_DIR unset
 * it does nothing and {@link log} stays undefined.
 */
@Injectable()
export class Durability implements OnModuleInit, OnApplicationShutdown {
  private appendLog: AppendLog | undefined;
  private lock: DataDirLock | undefined;
  // Bytes of the logs before the current one that the next snapshot makes obsolete.
  private olderLogBytes = 0;
  private snapshotBytes = 0;

  constructor(
    private readonly store: AuthoritativeStore,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The log batches are appended to; undefined when persistence is off. */
  get log(): AppendLog | undefined {
    return this.appendLog;
  }

  /** Bytes of log written since the last snapshot. */
  get logBytes(): number {
    return this.olderLogBytes + (this.appendLog?.size ?? 0);
  }

  /** Size of the last snapshot written or loaded. */
  get lastSnapshotBytes(): number {
    return this.snapshotBytes;
  }

  onModuleInit(): void {
    const dir = this.config.dataDir;
    if (dir === undefined) return;
    const started = performance.now();
    createDataDir(dir);
    this.lock = DataDirLock.acquire(dir);
    let reportedAt = started;
    const reportProgress = (progress: RecoveryProgress): void => {
      const at = performance.now();
      if (at - reportedAt < PROGRESS_INTERVAL_MS) return;
      reportedAt = at;
      this.logger.info(
        {
          keys: this.store.table.size,
          bytesRead: progress.bytesRead,
          totalBytes: progress.totalBytes,
          percent: Math.floor(
            (100 * progress.bytesRead) / Math.max(1, progress.totalBytes),
          ),
        },
        'loading data',
      );
    };
    try {
      const report = recover(
        dir,
        this.store,
        this.config.allowTruncate,
        reportProgress,
      );
      for (const cut of report.truncated) {
        this.logger.warn(
          { ...cut },
          'cut a damaged log tail off (a crash mid-write); the writes in it were never acknowledged',
        );
      }
      this.snapshotBytes = newestSnapshotBytes(dir);
      const revision = this.store.revision;
      this.appendLog = new AppendLog(
        logPath(dir, revision + 1),
        this.config.fsync,
        (error) => this.fail(error),
      );
      this.olderLogBytes = report.logBytes;
      // Keys whose deadline passed while the store was down go as deletes into the new log.
      const expired = this.store.reapExpired();
      this.logger.info(
        {
          dataDir: dir,
          fsync: this.config.fsync,
          snapshotRevision: report.snapshotRevision,
          snapshotKeys: report.snapshotKeys,
          logFiles: report.logFiles,
          framesReplayed: report.framesReplayed,
          changesReplayed: report.changesReplayed,
          bytesRead: report.bytesRead,
          revision,
          expired,
          keys: this.store.table.size,
          ms: Math.round(performance.now() - started),
        },
        'data loaded',
      );
    } catch (error) {
      this.lock.release();
      throw error;
    }
  }

  /** Continues the log in a new file starting at revision `from`; the snapshot up to from-1 follows. */
  rotate(from: Revision): void {
    if (this.appendLog === undefined) return;
    this.olderLogBytes += this.appendLog.size;
    this.appendLog.rotate(logPath(this.config.dataDir!, from));
  }

  /** The snapshot of `revision` is durable: the files it replaces go. */
  snapshotWritten(revision: Revision, bytes: number): void {
    this.snapshotBytes = bytes;
    this.olderLogBytes = 0;
    removeReplacedFiles(this.config.dataDir!, revision);
  }

  async onApplicationShutdown(): Promise<void> {
    const log = this.appendLog;
    // A flush that still runs before the process exits must not append to the closing log.
    this.appendLog = undefined;
    try {
      await log?.close();
    } finally {
      this.lock?.release();
    }
  }

  private fail(error: Error): void {
    // Acknowledging writes that may not be on disk would break the promise KV_FSYNC makes.
    this.logger.fatal({ err: error }, 'cannot write the log; stopping');
    process.exit(1);
  }
}
