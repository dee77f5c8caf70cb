import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { CONFIG, LOGGER } from '../config/config.module';
import { Batch, MessageType, SnapshotBegin, SnapshotChunk } from '../protocol';
import {
  ApplyResult,
  Change,
  ChangeHistory,
  Entry,
  ListPage,
  ReplicaStore,
  Revision,
  SlicedDigest,
  TableDigest,
} from '../store';
import { PrimaryLink } from './primary-link';
import { WorkerMetrics } from './worker-metrics';

const nextTurn = (): Promise<void> =>
  new Promise((resolve) => setImmediate(resolve));

// How long a revision report may wait when no strong write is waiting for it.
const LAZY_ACK_MS = 5;

/** Told of what the serving replica applies, in order (the watch streams). */
export interface ReplicaListener {
  /** The changes of `changes` with revisions above `after` were just applied. */
  applied(changes: readonly Change[], after: Revision): void;
  /** The replica was replaced by a new snapshot: the history starts over at its revision. */
  replaced(): void;
}

/**
 * This worker's read replica, fed by the primary: a snapshot first, then batches, each change
 * applied once. Applied revisions are reported back at the end of the turn when a strong write
 * waits for them, and within a few milliseconds otherwise. A gap in the revisions makes it ask
 * for a fresh snapshot, and it keeps serving the old replica until the new one is complete.
 *
 * The changes it applies are also kept in {@link history}, up to the serving replica's
 * revision: it starts at the revision of the snapshot, so what came before is the primary's
 * to serve.
 */
@Injectable()
export class ReplicaService {
  /** The changes applied to the serving replica, of the last KV_WATCH_HISTORY revisions. */
  readonly history: ChangeHistory;
  private replica: ReplicaStore | undefined;
  private incoming: ReplicaStore | undefined;
  /** The revision of the snapshot being loaded, and the batches that came during it. */
  private snapshotRevision: Revision = 0;
  private snapshotBatches: Batch[] = [];
  private listener: ReplicaListener | undefined;
  private ackScheduled = false;
  private lazyAck: NodeJS.Timeout | undefined;
  private readonly ready: Promise<void>;
  // Reads whichever replica is current when a scan begins; there is one once digest() asks.
  private readonly slicedDigest = new SlicedDigest(
    () => ({ table: this.replica!.table, revision: this.revision }),
    Date.now,
    nextTurn,
  );
  private markReady!: () => void;

  constructor(
    private readonly link: PrimaryLink,
    private readonly metrics: WorkerMetrics,
    @Inject(CONFIG) config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.history = new ChangeHistory({
      maxRevisions: config.watchHistory,
      maxBytes: config.watchHistoryBytes,
    });
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    metrics.reportOrderedIndex(
      () => this.replica?.table.entries.orderedIndexBytes ?? 0,
    );
    link.on<SnapshotBegin>(MessageType.SnapshotBegin, (m) => {
      this.incoming = new ReplicaStore();
      this.incoming.beginSnapshot(m.revision);
      this.snapshotRevision = m.revision;
      this.snapshotBatches = [];
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

  /** Tells `listener` of every change applied from now on (one listener). */
  listen(listener: ReplicaListener): void {
    this.listener = listener;
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

  /**
   * The digest of this replica's live data, with its revision, computed a slice per
   * event-loop turn so that requests keep being served meanwhile (see {@link SlicedDigest}).
   * Empty before the first snapshot is loaded.
   */
  digest(): Promise<TableDigest> {
    if (this.replica === undefined)
      return Promise.resolve({ revision: 0, digest: '' });
    return this.slicedDigest.request();
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
    this.history.reset(this.snapshotRevision);
    for (const batch of this.snapshotBatches)
      this.history.append(batch.changes);
    this.snapshotBatches = [];
    this.listener?.replaced();
    this.logger.info(
      { revision: incoming.revision, keys: incoming.table.size },
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
    if (target === this.incoming) {
      this.snapshotBatches.push(batch);
      return;
    }
    if (result === ApplyResult.Applied) {
      const after = this.history.newest;
      if (!this.history.append(batch.changes)) {
        // Cannot happen while the history follows the replica; start it over if it does.
        this.history.reset(target.revision);
        this.listener?.replaced();
      } else this.listener?.applied(batch.changes, after);
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
    this.snapshotBatches = [];
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
