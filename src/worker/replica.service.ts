import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../config/config.module';
import { Batch, MessageType, SnapshotBegin, SnapshotChunk } from '../protocol';
import { ApplyResult, Entry, ListPage, ReplicaStore } from '../store';
import { PrimaryLink } from './primary-link';
import { WorkerMetrics } from './worker-metrics';

// How long a revision report may wait when no strong write is waiting for it.
const LAZY_ACK_MS = 5;

/**
 * This worker's read replica, fed by the primary: a snapshot first, then batches, each change
 * applied once. Applied revisions are reported back at the end of the turn when a strong write
 * waits for them, and within a few milliseconds otherwise. A gap in the revisions makes it ask for a fresh snapshot, and it keeps
 * serving the old replica until the new one is complete.
 */
@Injectable()
export class ReplicaService {
  private replica: ReplicaStore | undefined;
  private incoming: ReplicaStore | undefined;
  private ackScheduled = false;
  private lazyAck: NodeJS.Timeout | undefined;
  private readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(
    private readonly link: PrimaryLink,
    private readonly metrics: WorkerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    metrics.reportOrderedIndex(
      () => this.replica?.table.entries.orderedIndexBytes ?? 0,
    );
    link.on<SnapshotBegin>(MessageType.SnapshotBegin, (m) => {
      this.incoming = new ReplicaStore();
      this.incoming.beginSnapshot(m.revision);
    });
    link.on<SnapshotChunk>(MessageType.SnapshotChunk, (m) => {
      const target = this.incoming;
      if (target === undefined) return;
      for (const image of m.shards) target.addSnapshotShard(image);
    });
    link.on(MessageType.SnapshotEnd, () => this.finishSnapshot());
    link.on<Batch>(MessageType.Batch, (m) => this.applyBatch(m));
  }

  /** True once the first snapshot is loaded. */
  get live(): boolean {
    return this.replica !== undefined;
  }

  /** The revision this replica has applied up to; 0 before the first snapshot. */
  get revision(): number {
    return this.replica?.revision ?? 0;
  }

  /** Asks the primary for a snapshot; resolves once it is loaded. */
  start(): Promise<void> {
    this.link.send({ type: MessageType.Hello });
    return this.ready;
  }

  /** The entry of `key` live now, or undefined. */
  read(key: string): Entry | undefined {
    return this.replica?.read(key, Date.now());
  }

  /**
   * A page of the keys live now that start with `prefix`, strictly after `after`, at most
   * `limit` (see {@link KvTable.list}), and the revision it was read at. Read in one call, and
   * a batch is applied in one call too, so the page never holds part of a transaction.
   */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): { page: ListPage; revision: number } {
    const replica = this.replica;
    if (replica === undefined)
      return { page: { entries: [], more: false }, revision: 0 };
    return {
      page: replica.table.list(prefix, after, limit, Date.now()),
      revision: replica.revision,
    };
  }

  /** The digest of this replica's live data, with its revision. */
  digest(): { revision: number; digest: string } {
    return {
      revision: this.revision,
      digest: this.replica?.table.digest(Date.now()) ?? '',
    };
  }

  private finishSnapshot(): void {
    const incoming = this.incoming;
    if (incoming === undefined) return;
    this.incoming = undefined;
    if (incoming.endSnapshot() === ApplyResult.Gap) {
      this.resync('a gap in the batches sent during the snapshot');
      return;
    }
    this.replica = incoming;
    this.logger.info(
      { revision: incoming.revision, keys: incoming.table.entries.size },
      'replica loaded',
    );
    this.scheduleAck();
    this.markReady();
  }

  private applyBatch(batch: Batch): void {
    const target = this.incoming ?? this.replica;
    if (target === undefined) return;
    const result = target.applyBatch(batch);
    if (result === ApplyResult.Gap) {
      this.resync(`batch from ${batch.from} after revision ${target.revision}`);
      return;
    }
    if (target === this.replica && result === ApplyResult.Applied) {
      this.metrics.replicationLag.observe(
        Math.max(
          0,
          performance.timeOrigin + performance.now() - batch.publishedAt,
        ) / 1000,
      );
      if (batch.ack) this.scheduleAck();
      else this.scheduleLazyAck();
    }
  }

  private resync(reason: string): void {
    this.logger.warn(
      { reason },
      'replica out of step; asking for a new snapshot',
    );
    this.incoming = undefined;
    this.link.send({ type: MessageType.Hello });
  }

  /** Reports the revision soon, for lag figures and liveness, without a message per batch. */
  private scheduleLazyAck(): void {
    if (this.lazyAck !== undefined) return;
    this.lazyAck = setTimeout(() => {
      this.lazyAck = undefined;
      this.scheduleAck();
    }, LAZY_ACK_MS);
  }

  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      this.link.send({ type: MessageType.Applied, revision: this.revision });
    });
  }
}
