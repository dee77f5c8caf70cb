import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../config/config.module';
import { encodeMessage, MessageType } from '../protocol';
import { AuthoritativeStore, ShardImage } from '../store';
import { PrimaryMetrics } from './primary-metrics';
import { ReconcileLoop } from './reconcile-loop';
import { ReplicaLink, ReplicaSet } from './replica-set';

// A chunk closes after the shard that takes it past this many entries or bytes, so building
// one costs the primary's event loop a millisecond or two.
const CHUNK_ENTRIES = 16_384;
const CHUNK_BYTES = 1 << 20;
// Chunks handed to the channel and not yet written: enough to keep the worker busy
// decoding one while the primary encodes the next, few enough to bound the memory.
const CHUNKS_IN_FLIGHT = 3;

/**
 * Streams the store to a worker that said hello, in chunks of whole shards, while the primary
 * keeps serving.
 *
 * The store changes between chunks, so the snapshot is not a point in time. That is fine
 * because every batch published from the snapshot's start revision on reaches the worker too,
 * and the worker replays them over the snapshot with a revision guard. Pending changes are
 * published before each chunk is read, so no entry in a chunk is newer than the batches sent
 * before it.
 */
@Injectable()
export class SnapshotStreamer {
  constructor(
    private readonly store: AuthoritativeStore,
    private readonly replicas: ReplicaSet,
    private readonly reconcileLoop: ReconcileLoop,
    private readonly metrics: PrimaryMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Starts streaming to `link`; returns at once, the transfer goes on over later turns. */
  start(link: ReplicaLink): void {
    link.live = false;
    this.reconcileLoop.flush();
    const revision = this.store.publishedRevision;
    const started = performance.now();
    const entries = this.store.table.entries;
    let shard = 0;
    let sent = 0;
    let inFlight = 0;
    let finished = false;
    this.replicas.send(
      link,
      encodeMessage({ type: MessageType.SnapshotBegin, revision }),
    );
    this.logger.info(
      { worker: link.pid, revision, keys: this.store.table.size },
      'snapshot started',
    );
    const onWritten = (): void => {
      inFlight--;
      setImmediate(step);
    };
    const step = (): void => {
      if (finished || !link.channel.open) return;
      while (inFlight < CHUNKS_IN_FLIGHT && shard < entries.shardCount) {
        this.reconcileLoop.flush();
        const now = Date.now();
        const shards: ShardImage[] = [];
        let entriesInChunk = 0;
        let bytesInChunk = 0;
        while (
          shard < entries.shardCount &&
          entriesInChunk < CHUNK_ENTRIES &&
          bytesInChunk < CHUNK_BYTES
        ) {
          const image = entries.exportShard(shard++, now);
          if (image === undefined) continue;
          shards.push(image);
          entriesInChunk += image.count;
          bytesInChunk += image.records.length;
        }
        if (shards.length === 0) continue;
        sent += entriesInChunk;
        inFlight++;
        this.replicas.send(
          link,
          encodeMessage({ type: MessageType.SnapshotChunk, shards }),
          onWritten,
        );
        // One chunk per turn, so requests from other workers are not held behind the whole store.
        return;
      }
      if (shard < entries.shardCount || inFlight > 0) return;
      finished = true;
      this.reconcileLoop.flush();
      this.replicas.send(
        link,
        encodeMessage({ type: MessageType.SnapshotEnd }),
      );
      const seconds = (performance.now() - started) / 1000;
      this.metrics.snapshots.inc();
      this.metrics.snapshotSeconds.observe(seconds);
      this.logger.info(
        { worker: link.pid, keys: sent, seconds },
        'snapshot sent',
      );
    };
    step();
  }
}
