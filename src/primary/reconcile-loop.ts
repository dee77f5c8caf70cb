import { Inject, Injectable } from '@nestjs/common';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import {
  encodeMessage,
  MessageType,
  TxnResult,
  WriteResult,
} from '../protocol';
import { encodeBatchFrame } from '../persistence';
import { AuthoritativeStore, ChangeBatch, batchEnd } from '../store';
import { Durability } from './durability';
import { PrimaryMetrics } from './primary-metrics';
import { ReplicaLag } from './replica-lag';
import { ReplicaLink, ReplicaSet } from './replica-set';
import { StrongWriteWaiters } from './strong-write-waiters';
import { WatchHistory } from './watch-history';

const NO_TXN_REPLIES: ReadonlyMap<ReplicaLink, TxnResult[]> = new Map();

/**
 * The reconcile loop: takes what the store committed, keeps it in the watch history, sends it
 * to every worker as one batch, and only then answers the writes it holds. A worker therefore
 * applies a write before it hears that the write was acknowledged, and serves its own
 * acknowledged writes at once. A transaction is answered the same way, with a TxnResult message
 * of its own after the batch.
 *
 * Strong writes and strong transactions wait instead in {@link StrongWriteWaiters} until every
 * live replica has applied them. After each batch, {@link ReplicaLag} recycles the replicas
 * that fell too far behind.
 *
 * With KV_DATA_DIR set, each batch is appended to the log before it goes anywhere; the log
 * writes it off the event loop. The batch and the answers wait until it is written (a crash of
 * the process alone then loses nothing acknowledged), and with KV_FSYNC=always for the fsync
 * that covers it (group commit: one fsync for every batch written while the previous one ran);
 * they are sent in order. While the log has more than MAX_UNWRITTEN_BYTES unwritten, no batch
 * is taken from the store.
 */
@Injectable()
export class ReconcileLoop {
  private scheduled = false;
  private replies = new Map<ReplicaLink, WriteResult[]>();
  private txnReplies = new Map<ReplicaLink, TxnResult[]>();

  constructor(
    private readonly store: AuthoritativeStore,
    private readonly replicas: ReplicaSet,
    private readonly lag: ReplicaLag,
    private readonly strongWrites: StrongWriteWaiters,
    private readonly metrics: PrimaryMetrics,
    private readonly durability: Durability,
    private readonly watchHistory: WatchHistory,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Answers `result` to `link` right after the next batch goes out. */
  reply(link: ReplicaLink, result: WriteResult): void {
    const list = this.replies.get(link);
    if (list === undefined) this.replies.set(link, [result]);
    else list.push(result);
    this.schedule();
  }

  /** Answers the transaction result `result` to `link` right after the next batch goes out. */
  replyTxn(link: ReplicaLink, result: TxnResult): void {
    const list = this.txnReplies.get(link);
    if (list === undefined) this.txnReplies.set(link, [result]);
    else list.push(result);
    this.schedule();
  }

  /**
   * Answers `result` (a write's, or a transaction's) once every live replica has applied
   * `result.revision`.
   */
  replyWhenReplicated(
    link: ReplicaLink,
    result: WriteResult | TxnResult,
  ): void {
    this.strongWrites.add(link, result);
    this.schedule();
  }

  /** Runs the loop soon: at the end of this event-loop turn, or after the configured interval. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.config.reconcileIntervalMs === 0) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), this.config.reconcileIntervalMs);
  }

  /**
   * Publishes everything committed so far and sends the answers it holds: one frame per
   * worker, the batch first and that worker's write results after it.
   */
  flush(): void {
    this.scheduled = false;
    const started = performance.now();
    const log = this.durability.log;
    if (log?.overloaded) {
      // Backpressure: more than MAX_UNWRITTEN_BYTES of the log wait for the disk. The changes
      // stay in the store (and the writes unanswered, so clients slow down) until it is written.
      log.afterWritten(() => this.schedule());
      return;
    }
    const batch = this.store.takeBatch();
    let batchBytes: Buffer | undefined;
    // A strong write waits on every replica: then none of them is a bystander.
    const ack = this.strongWrites.waiting;
    if (batch !== undefined) {
      log?.append(encodeBatchFrame(batch));
      this.watchHistory.record(batch);
      batchBytes = encodeMessage({
        type: MessageType.Batch,
        from: batch.from,
        publishedAt: performance.timeOrigin + performance.now(),
        ack,
        changes: batch.changes,
      });
      this.lag.recordPublished(batchEnd(batch));
      this.metrics.batchChanges.observe(batch.changes.length);
    }
    if (
      batchBytes === undefined &&
      this.replies.size === 0 &&
      this.txnReplies.size === 0
    )
      return;
    const replies = this.replies;
    this.replies = new Map();
    // Transactions are rare, so a flush without any allocates nothing for them. The send may
    // wait for the log, so it never gets the map that later transactions are added to.
    let txnReplies = NO_TXN_REPLIES;
    if (this.txnReplies.size > 0) {
      txnReplies = this.txnReplies;
      this.txnReplies = new Map();
    }
    const send = (): void =>
      this.send(batch, batchBytes, ack, replies, txnReplies, started);
    if (log === undefined) send();
    else log.afterDurable(send);
  }

  /**
   * Sends the batch and each worker's answers. A worker with no answer in it is a bystander:
   * unless a strong write waits, its batch is held back to leave with later ones.
   */
  private send(
    batch: ChangeBatch | undefined,
    batchBytes: Buffer | undefined,
    ack: boolean,
    replies: Map<ReplicaLink, WriteResult[]>,
    txnReplies: ReadonlyMap<ReplicaLink, TxnResult[]>,
    started: number,
  ): void {
    for (const link of this.replicas.all()) {
      const results = replies.get(link);
      const txns = txnReplies.get(link);
      if (results === undefined && txns === undefined) {
        if (batchBytes === undefined) continue;
        if (ack) this.replicas.send(link, batchBytes);
        else this.replicas.defer(link, batchBytes);
        continue;
      }
      const parts: Uint8Array[] = [];
      if (batchBytes !== undefined) parts.push(batchBytes);
      if (results !== undefined)
        parts.push(encodeMessage({ type: MessageType.WriteResults, results }));
      if (txns !== undefined)
        for (const txn of txns) parts.push(encodeMessage(txn));
      this.replicas.send(link, parts);
    }
    if (batch !== undefined) {
      this.lag.recycleLaggards();
      this.metrics.reconcileSeconds.observe(
        (performance.now() - started) / 1000,
      );
    }
    this.strongWrites.release();
  }
}
