import {
  Inject,
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { CONFIG, LOGGER } from '../config/config.module';
import {
  SnapshotCancelledError,
  snapshotPath,
  writeSnapshot,
} from '../persistence';
import { AuthoritativeStore } from '../store';
import { Durability } from './durability';
import { ReconcileLoop } from './reconcile-loop';

// How often the log's size is compared with the rewrite threshold.
const CHECK_INTERVAL_MS = 100;
// After a failed snapshot (a full disk, say), the next try waits this long.
const RETRY_AFTER_MS = 10_000;

/**
 * Keeps the log bounded: once it is larger than KV_SNAPSHOT_LOG_RATIO times the last snapshot
 * (and KV_SNAPSHOT_MIN_LOG_BYTES), writes a new snapshot in the background and drops the old
 * log.
 *
 * At revision R (everything up to R flushed into the log) the log moves to a new file from
 * R+1, then the store is written out chunk by chunk while it keeps changing. Entries newer than
 * R in the snapshot are also in the new log, and a replay with the revision guard never takes
 * them back, so snapshot + new log is the store. The old log goes only once the snapshot is
 * renamed into place and the new log is fsynced as far as any entry in the snapshot.
 */
@Injectable()
export class LogRewriter implements OnApplicationBootstrap, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private cancelled = false;
  private retryAt = 0;

  constructor(
    private readonly store: AuthoritativeStore,
    private readonly reconcileLoop: ReconcileLoop,
    private readonly durability: Durability,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    if (this.durability.log === undefined) return;
    this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    this.cancelled = true;
    await this.running;
  }

  private check(): void {
    if (this.running !== undefined || performance.now() < this.retryAt) return;
    const threshold = Math.max(
      this.config.snapshotMinLogBytes,
      this.config.snapshotLogRatio * this.durability.lastSnapshotBytes,
    );
    if (this.durability.logBytes <= threshold) return;
    this.running = this.rewrite().finally(() => (this.running = undefined));
  }

  private async rewrite(): Promise<void> {
    const log = this.durability.log!;
    const started = performance.now();
    this.reconcileLoop.flush();
    const revision = this.store.publishedRevision;
    const logBytes = this.durability.logBytes;
    this.durability.rotate(revision + 1);
    try {
      const written = await writeSnapshot(
        snapshotPath(this.config.dataDir!, revision),
        revision,
        this.store.table,
        {
          clock: Date.now,
          beforeChunk: () => this.reconcileLoop.flush(),
          beforeCommit: () => log.sync(),
          cancelled: () => this.cancelled,
        },
      );
      this.durability.snapshotWritten(revision, written.bytes);
      this.logger.info(
        {
          revision,
          keys: written.entries,
          bytes: written.bytes,
          logBytes,
          ms: Math.round(performance.now() - started),
        },
        'snapshot written; old log removed',
      );
    } catch (error) {
      if (error instanceof SnapshotCancelledError) return;
      this.retryAt = performance.now() + RETRY_AFTER_MS;
      this.logger.error(
        { err: error, revision },
        'snapshot failed; the log keeps everything, next try in 10 s',
      );
    }
  }
}
