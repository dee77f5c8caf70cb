import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../config/config.module';
import {
  decodeFrame,
  Message,
  encodeMessage,
  ListRequest,
  MessageType,
  Txn,
  WorkerMessage,
  WriteRequest,
} from '../protocol';
import {
  AuthoritativeStore,
  NO_DEADLINE,
  TxnStatus,
  WriteStatus,
} from '../store';
import { ClusterQueries } from './cluster-queries';
import { PrimaryMetrics } from './primary-metrics';
import { ReconcileLoop } from './reconcile-loop';
import { ReplicaLink, ReplicaSet } from './replica-set';
import { SnapshotStreamer } from './snapshot-streamer';
import { StrongWriteWaiters } from './strong-write-waiters';
import { WatchHistory } from './watch-history';

const OUTCOME_LABELS: Record<WriteStatus, string> = {
  [WriteStatus.Ok]: 'ok',
  [WriteStatus.NotFound]: 'not_found',
  [WriteStatus.Exists]: 'exists',
  [WriteStatus.PreconditionFailed]: 'precondition_failed',
  [WriteStatus.Full]: 'full',
};

/**
 * Everything a worker sends lands here. Writes and transactions are applied one by one in
 * arrival order, which is the only place the cluster decides anything.
 */
@Injectable()
export class WorkerMessages {
  constructor(
    private readonly store: AuthoritativeStore,
    private readonly replicas: ReplicaSet,
    private readonly reconcileLoop: ReconcileLoop,
    private readonly strongWrites: StrongWriteWaiters,
    private readonly snapshots: SnapshotStreamer,
    private readonly queries: ClusterQueries,
    private readonly watchHistory: WatchHistory,
    private readonly metrics: PrimaryMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Handles the payload of one frame from `link`'s worker. */
  handle(link: ReplicaLink, payload: Uint8Array): void {
    let messages: Message[];
    try {
      messages = decodeFrame(payload);
    } catch (error) {
      this.logger.error(
        { worker: link.pid, err: error },
        'undecodable message from worker',
      );
      return;
    }
    for (const message of messages)
      this.dispatch(link, message as WorkerMessage);
  }

  private dispatch(link: ReplicaLink, message: WorkerMessage): void {
    switch (message.type) {
      case MessageType.Hello:
        this.snapshots.start(link);
        return;
      case MessageType.Writes:
        for (const request of message.requests) this.write(link, request);
        return;
      case MessageType.Txn:
        this.transact(link, message);
        return;
      case MessageType.StrongRead: {
        const entry = this.store.get(message.key);
        this.replicas.send(
          link,
          encodeMessage({
            type: MessageType.ReadResult,
            id: message.id,
            value: entry?.value ?? null,
            revision: entry?.revision ?? 0,
            deadline: entry?.deadline ?? NO_DEADLINE,
          }),
        );
        return;
      }
      case MessageType.ListRequest:
        this.list(link, message);
        return;
      case MessageType.Applied:
        if (!link.live) {
          link.live = true;
          this.logger.info(
            { worker: link.pid, revision: message.revision },
            'worker replica is live',
          );
        }
        if (message.revision > link.applied) link.applied = message.revision;
        this.strongWrites.release();
        return;
      case MessageType.Query:
        this.queries.answer(link, message.id, message.kind);
        return;
      case MessageType.ProbeAnswer:
        this.queries.onProbeAnswer(link, message.id, message.body);
        return;
      case MessageType.HistoryRequest:
        this.replicas.send(
          link,
          encodeMessage(this.watchHistory.answer(message)),
        );
        return;
    }
  }

  /** Answers a strong listing from the authoritative store, read in one step. */
  private list(link: ReplicaLink, request: ListRequest): void {
    const page = this.store.list(request.prefix, request.after, request.limit);
    this.replicas.send(
      link,
      encodeMessage({
        type: MessageType.ListResult,
        id: request.id,
        revision: this.store.revision,
        more: page.more,
        keys: page.entries.map(({ key, entry }) => ({
          key,
          value: request.values ? entry.value : null,
          revision: entry.revision,
          deadline: entry.deadline,
        })),
      }),
    );
  }

  private write(link: ReplicaLink, request: WriteRequest): void {
    const outcome = this.store.execute(request);
    this.metrics.writes.inc({ outcome: OUTCOME_LABELS[outcome.status] });
    const result = {
      id: request.id,
      status: outcome.status,
      revision: outcome.revision,
    };
    if (request.strong && outcome.status === WriteStatus.Ok)
      this.reconcileLoop.replyWhenReplicated(link, result);
    else this.reconcileLoop.reply(link, result);
  }

  private transact(link: ReplicaLink, txn: Txn): void {
    const outcome = this.store.transact(txn.ops);
    if (outcome.status === TxnStatus.Committed) this.metrics.txnCommitted.inc();
    else
      this.metrics.txnFailed.inc({
        reason: outcome.status === TxnStatus.Full ? 'full' : 'conditions',
      });
    const result = { type: MessageType.TxnResult, id: txn.id, ...outcome };
    if (txn.strong && outcome.status === TxnStatus.Committed)
      this.reconcileLoop.replyWhenReplicated(link, result);
    else this.reconcileLoop.replyTxn(link, result);
  }
}
