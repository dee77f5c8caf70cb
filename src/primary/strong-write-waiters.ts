import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import {
  encodeMessage,
  MessageType,
  ReplyStatus,
  TxnResult,
  WriteResult,
} from '../protocol';
import { ReplicaLink, ReplicaSet } from './replica-set';

interface StrongWaiter {
  readonly link: ReplicaLink;
  /** A write's result, or a transaction's whole answer. */
  readonly result: WriteResult | TxnResult;
  /** From `performance.now()`. */
  readonly deadline: number;
}

/**
 * The strong writes and transactions that wait to be answered: each is answered once every live
 * replica has applied its revision, or as Unconfirmed once `strongWriteTimeoutMs` has passed.
 * Replicas that are not live (still loading their snapshot) or are gone hold nothing back.
 */
@Injectable()
export class StrongWriteWaiters implements OnModuleDestroy {
  // In revision order, since results are added in the order the store committed them, and so
  // in deadline order too: the ones that release or expire take are always the first.
  private readonly waiters: StrongWaiter[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly replicas: ReplicaSet,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    // A quarter of the timeout (within 1 to 100 ms) bounds how late an Unconfirmed answer is.
    this.timer = setInterval(
      () => this.expire(),
      Math.max(1, Math.min(100, config.strongWriteTimeoutMs / 4)),
    );
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** True while any write waits: then every worker is sent each batch at once. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** Holds `result` for `link` until every live replica has applied `result.revision`. */
  add(link: ReplicaLink, result: WriteResult | TxnResult): void {
    this.waiters.push({
      link,
      result,
      deadline: performance.now() + this.config.strongWriteTimeoutMs,
    });
  }

  /**
   * Answers the writes that every live replica has now applied: call it when a replica applies
   * a batch, goes live, or dies.
   */
  release(): void {
    if (this.waiters.length === 0) return;
    const min = this.replicas.minLiveApplied() ?? Infinity;
    let released = 0;
    while (
      released < this.waiters.length &&
      this.waiters[released]!.result.revision <= min
    )
      released++;
    if (released === 0) return;
    this.answer(this.waiters.splice(0, released), false);
  }

  private expire(): void {
    const now = performance.now();
    let expired = 0;
    while (
      expired < this.waiters.length &&
      this.waiters[expired]!.deadline <= now
    )
      expired++;
    if (expired === 0) return;
    this.answer(this.waiters.splice(0, expired), true);
  }

  private answer(waiters: StrongWaiter[], timedOut: boolean): void {
    const byLink = new Map<ReplicaLink, WriteResult[]>();
    for (const { link, result } of waiters) {
      const answer = timedOut
        ? { ...result, status: ReplyStatus.Unconfirmed }
        : result;
      if (isTxnResult(answer)) {
        this.replicas.send(link, encodeMessage(answer));
        continue;
      }
      const list = byLink.get(link);
      if (list === undefined) byLink.set(link, [answer]);
      else list.push(answer);
    }
    for (const [link, results] of byLink)
      this.replicas.send(
        link,
        encodeMessage({ type: MessageType.WriteResults, results }),
      );
  }
}

function isTxnResult(result: WriteResult | TxnResult): result is TxnResult {
  return 'type' in result;
}
