import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../config/config.module';
import { encodeMessage, MessageType, SnapshotEntry } from '../protocol';
import { AuthoritativeStore, Entry, isLive } from '../store';
import { ChangePublisher } from './change-publisher';
import { PrimaryMetrics } from './primary-metrics';
import { ReplicaLink, ReplicaSet } from './replica-set';

// A chunk closes at this many entries or this many characters of keys and values, whichever
// comes first, so that building one costs a few milliseconds of the primary's event loop.
const CHUNK_ENTRIES = 8192;
const CHUNK_CHARS = 1 << 20;

/**
 * Streams the store to a worker that said hello, in chunks, while the primary keeps serving.
 *
 * The store is read through one live iterator while writes go on, so the snapshot is not a
 * point in time. That is fine because every batch published from the snapshot's start revision on
 * reaches the worker too, and the worker replays them over the snapshot with a revision guard.
 * Pending changes are published before each chunk is read, so no entry in a chunk is newer than
 * the batches sent before it.
 */
@Injectable()
export class SnapshotStreamer {
  constructor(
    private readonly store: AuthoritativeStore,
    private readonly replicas: ReplicaSet,
    private readonly publisher: ChangePublisher,
    private readonly metrics: PrimaryMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Starts streaming to `link`; returns at once, the transfer goes on over later turns. */
  start(link: ReplicaLink): void {
    link.live = false;
    this.publisher.flush();
    const revision = this.store.publishedRevision;
    const started = performance.now();
    const entries = this.store.table.entries.entries();
    let sent = 0;
    this.replicas.send(
      link,
      encodeMessage({ type: MessageType.SnapshotBegin, revision }),
    );
    this.logger.info(
      { worker: link.pid, revision, keys: this.store.table.entries.size },
      'snapshot started',
    );
    const step = (): void => {
      if (!link.worker.isConnected()) return;
      this.publisher.flush();
      const chunk = readChunk(entries, Date.now());
      if (chunk.length > 0) {
        sent += chunk.length;
        this.replicas.send(
          link,
          encodeMessage({ type: MessageType.SnapshotChunk, entries: chunk }),
          () => setImmediate(step),
        );
        return;
      }
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

function readChunk(
  entries: Iterator<[string, Entry]>,
  now: number,
): SnapshotEntry[] {
  const chunk: SnapshotEntry[] = [];
  let chars = 0;
  while (chunk.length < CHUNK_ENTRIES && chars < CHUNK_CHARS) {
    const next = entries.next();
    if (next.done === true) break;
    const [key, entry] = next.value;
    if (!isLive(entry, now)) continue;
    chunk.push([key, entry.value, entry.revision, entry.deadline]);
    chars += key.length + entry.value.length;
  }
  return chunk;
}
