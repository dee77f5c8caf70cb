import { Inject, Injectable } from '@nestjs/common';
import type { Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { CONFIG, LOGGER } from '../config/config.module';
import { CHANNEL_FD, FrameChannel } from '../protocol';
import type { Revision } from '../store';

/** The primary's view of one worker and its replica. */
export interface ReplicaLink {
  readonly worker: Worker;
  readonly pid: number;
  /** The protocol's channel to the worker. */
  readonly channel: FrameChannel;
  /** When the worker was forked, from `performance.now()`. */
  readonly forkedAt: number;
  /** True once the replica finished its snapshot and serves; strong writes wait only for live ones. */
  live: boolean;
  /** The last revision the worker reported applied. */
  applied: Revision;
  /** Encoded batches held back for the next frame (see {@link ReplicaSet.defer}). */
  deferred: Uint8Array[];
  /** Bytes of {@link deferred}. */
  deferredBytes: number;
}

/** Held-back batches leave at most this long after the first of them. */
const DEFER_MS = 1;
/** Held-back batches leave at once when a worker has this many bytes of them. */
const DEFER_MAX_BYTES = 64 * 1024;

/**
 * Every forked worker, and the one way to send to them: what a channel has not yet written is
 * its backlog, so a worker that stops reading (SIGSTOP, a stall) shows up as a growing backlog
 * instead of growing memory, and is recycled past `maxReplicaBacklogBytes`.
 */
@Injectable()
export class ReplicaSet {
  private readonly links = new Map<number, ReplicaLink>();
  private deferTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.links.size;
  }

  /**
   * Tracks a worker just forked with the protocol's stdio; `onFrame` gets the payload of every
   * frame it sends.
   */
  add(
    worker: Worker,
    onFrame: (link: ReplicaLink, payload: Uint8Array) => void,
  ): ReplicaLink {
    const pid = worker.process.pid ?? 0;
    const link: ReplicaLink = {
      worker,
      pid,
      channel: new FrameChannel(worker.process.stdio[CHANNEL_FD] as Socket, {
        onFrame: (payload) => onFrame(link, payload),
        // A worker that dies breaks its channel; its exit is logged and handled elsewhere.
        onClose: (error) =>
          this.logger.debug({ worker: pid, err: error }, 'channel closed'),
      }),
      forkedAt: performance.now(),
      live: false,
      applied: 0,
      deferred: [],
      deferredBytes: 0,
    };
    this.links.set(worker.id, link);
    return link;
  }

  remove(worker: Worker): void {
    this.links.delete(worker.id);
  }

  all(): IterableIterator<ReplicaLink> {
    return this.links.values();
  }

  /** The lowest applied revision among live replicas; undefined when none is live. */
  minLiveApplied(): Revision | undefined {
    let min: Revision | undefined;
    for (const link of this.links.values()) {
      if (link.live && (min === undefined || link.applied < min))
        min = link.applied;
    }
    return min;
  }

  /**
   * Holds back `batch` (an encoded message) for a worker that answers nothing in it: it leaves
   * with the next frame sent to that worker, or within {@link DEFER_MS}, or once
   * {@link DEFER_MAX_BYTES} wait. A bystander then wakes once for many batches, not once per
   * batch; every frame carries what was held back first, so the order of messages is kept.
   */
  defer(link: ReplicaLink, batch: Uint8Array): void {
    link.deferred.push(batch);
    link.deferredBytes += batch.length;
    if (link.deferredBytes >= DEFER_MAX_BYTES) this.send(link, []);
    else
      this.deferTimer ??= setTimeout(() => {
        this.deferTimer = undefined;
        for (const held of this.links.values())
          if (held.deferred.length > 0) this.send(held, []);
      }, DEFER_MS);
  }

  /**
   * Sends one frame of `parts` (encoded messages), after any batches held back by
   * {@link defer}, to one worker. `onWritten` runs once the channel has written it (or failed
   * to, when the worker is gone): pace bulk transfers on it.
   */
  send(
    link: ReplicaLink,
    parts: Uint8Array | readonly Uint8Array[],
    onWritten?: () => void,
  ): void {
    let frame = parts;
    if (link.deferred.length > 0) {
      frame = link.deferred.concat(parts);
      link.deferred = [];
      link.deferredBytes = 0;
    }
    // What was still unwritten before this frame is the worker's backlog: one large frame
    // (a 1 MiB value, a snapshot chunk) is not a sign of a stalled reader.
    const backlog = link.channel.backlogBytes;
    link.channel.send(frame, onWritten);
    if (link.live && backlog > this.config.maxReplicaBacklogBytes) {
      this.recycle(
        link,
        'replication backlog over KV_MAX_REPLICA_BACKLOG_BYTES',
      );
    }
  }

  /** Kills a worker whose replica cannot keep up; the supervisor forks a fresh one. */
  recycle(link: ReplicaLink, reason: string): void {
    if (!this.links.has(link.worker.id)) return;
    this.logger.warn(
      {
        worker: link.pid,
        backlogBytes: link.channel.backlogBytes,
        applied: link.applied,
        reason,
      },
      'recycling a worker whose replica fell behind',
    );
    this.links.delete(link.worker.id);
    link.worker.process.kill('SIGKILL');
  }
}
