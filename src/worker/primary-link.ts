import { Inject, Injectable } from '@nestjs/common';
import { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { CONFIG, LOGGER } from '../config/config.module';
import {
  CHANNEL_FD,
  decodeFrame,
  FrameChannel,
  encodeMessage,
  HistoryChanges,
  ListRequest,
  ListResult,
  Message,
  MessageType,
  PrimaryMessage,
  QueryKind,
  ReplyStatus,
  TxnResult,
  WriteRequest,
} from '../protocol';
import type {
  Milliseconds,
  Revision,
  TxnOperation,
  WriteStatus,
} from '../store';
import { PendingWrites } from './pending-writes';

/** Called with the primary's answer to a forwarded write. */
export type WriteCallback = (
  status: WriteStatus | ReplyStatus,
  revision: Revision,
) => void;
/** Called with the primary's answer to a forwarded transaction. */
export type TxnCallback = (result: TxnResult) => void;
/**
 * Called with the primary's answer to a strong read: `value` null when the key is absent;
 * `deadline` in ms since the epoch, NO_DEADLINE (0) for none.
 */
export type ReadCallback = (
  value: string | null,
  revision: Revision,
  deadline: Milliseconds,
) => void;

/** Called with the primary's answer to a strong listing. */
export type ListCallback = (result: ListResult) => void;

type Handler<T> = (message: T) => void;

// History requests sent to the primary and not yet answered, at most.
const HISTORY_REQUESTS_IN_FLIGHT = 4;

/**
 * The worker's end of the channel to the primary.
 *
 * Writes that arrive in one event-loop turn leave as one Writes message at the end of the turn.
 * When the channel reports itself backed up, nothing more is sent until it drains; the writes
 * wait here, up to `maxPendingWrites`, past which they are refused (503). Transactions leave at
 * once, each in a message of its own, and count against the same limit. The worker cannot
 * serve without the primary, so it exits when the channel closes.
 */
@Injectable()
export class PrimaryLink {
  private nextId = 1;
  private readonly writes: PendingWrites<WriteCallback>;
  private readonly txns = new Map<number, TxnCallback>();
  private readonly reads = new Map<number, ReadCallback>();
  private readonly lists = new Map<number, ListCallback>();
  private readonly queries = new Map<number, (body: unknown) => void>();
  private readonly histories = new Map<
    number,
    (answer: HistoryChanges) => void
  >();
  // History requests waiting for one of the HISTORY_REQUESTS_IN_FLIGHT places.
  private readonly historyQueue: (() => void)[] = [];
  private outgoing: WriteRequest[] = [];
  private flushScheduled = false;
  private blocked = false;
  /** Plain (not strong) writes sent and not yet answered. */
  private unanswered = 0;
  private readonly strongIds = new Set<number>();
  private readonly handlers = new Map<number, Handler<PrimaryMessage>>();
  private readonly channel: FrameChannel;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.writes = new PendingWrites(config.maxPendingWrites);
    const socket = new Socket({
      fd: CHANNEL_FD,
      readable: true,
      writable: true,
    });
    this.channel = new FrameChannel(socket, {
      onFrame: (payload) => this.receive(payload),
      onClose: (error) => {
        logger.fatal({ err: error }, 'channel to the primary closed; exiting');
        process.exit(1);
      },
    });
  }

  /** Writes and transactions forwarded and not yet answered. */
  get pendingWrites(): number {
    return this.writes.size + this.txns.size;
  }

  /** Routes messages of type `type` to `handler` (replication, probes, shutdown). */
  on<T extends PrimaryMessage>(type: T['type'], handler: Handler<T>): void {
    this.handlers.set(type, handler as Handler<PrimaryMessage>);
  }

  /** Sends a message now, outside the write batching. */
  send(message: Message): void {
    this.sendBytes(encodeMessage(message));
  }

  /**
   * Forwards a write; `done` gets the primary's answer. Returns false, without forwarding,
   * when too many writes are already waiting.
   */
  write(request: Omit<WriteRequest, 'id'>, done: WriteCallback): boolean {
    if (this.full) return false;
    const id = this.nextId;
    if (!this.writes.add(id, done)) return false;
    this.nextId++;
    this.outgoing.push({ ...request, id });
    this.scheduleFlush();
    return true;
  }

  /**
   * Forwards a transaction; `done` gets the primary's answer. Returns false, without
   * forwarding, when too many writes are already waiting.
   */
  transact(ops: TxnOperation[], strong: boolean, done: TxnCallback): boolean {
    if (this.full) return false;
    const id = this.nextId++;
    this.txns.set(id, done);
    this.send({ type: MessageType.Txn, id, strong, ops });
    return true;
  }

  /** Reads `key` from the primary's authoritative store. */
  strongRead(key: string, done: ReadCallback): void {
    const id = this.nextId++;
    this.reads.set(id, done);
    this.send({ type: MessageType.StrongRead, id, key });
  }

  /** Reads a page of keys from the primary's authoritative store. */
  list(request: Omit<ListRequest, 'type' | 'id'>, done: ListCallback): void {
    const id = this.nextId++;
    this.lists.set(id, done);
    this.send({ type: MessageType.ListRequest, id, ...request });
  }

  /** Asks the primary a cluster-wide question. */
  query(kind: QueryKind): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.queries.set(id, resolve);
      this.send({ type: MessageType.Query, id, kind });
    });
  }

  private get full(): boolean {
    return (
      this.pendingWrites >= this.config.maxPendingWrites || !this.channel.open
    );
  }

  /**
   * Asks the primary's watch history for the changes with revisions in (`after`, `upTo`]
   * (see {@link HistoryChanges} for what comes back). At most HISTORY_REQUESTS_IN_FLIGHT are
   * asked at once, the rest wait their turn: streams resuming together on a worker forked a
   * moment ago must not have the primary queue an answer of up to a MiB for each at once.
   */
  history(after: Revision, upTo: Revision): Promise<HistoryChanges> {
    return new Promise((resolve) => {
      const ask = (): void => {
        const id = this.nextId++;
        this.histories.set(id, (answer) => {
          // This request has left `histories` by now, so its place is free.
          this.historyQueue.shift()?.();
          resolve(answer);
        });
        this.send({ type: MessageType.HistoryRequest, id, after, upTo });
      };
      if (this.histories.size < HISTORY_REQUESTS_IN_FLIGHT) ask();
      else this.historyQueue.push(ask);
    });
  }

  /**
   * Group commit: while one message of plain writes awaits its answers, new writes wait here
   * and leave together when the answers come. Under load that turns many small messages into
   * few large ones (each message costs two system calls and a decode on both sides); when idle,
   * a write still leaves at the end of the turn it arrived in. Strong writes are not waited for:
   * their answers can take as long as a replica does.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.blocked || this.unanswered > 0) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0 || !this.channel.open) return;
    const requests = this.outgoing;
    this.outgoing = [];
    for (const request of requests) {
      if (request.strong) this.strongIds.add(request.id);
      else this.unanswered++;
    }
    this.sendBytes(encodeMessage({ type: MessageType.Writes, requests }));
  }

  private sendBytes(bytes: Buffer): void {
    if (this.channel.send(bytes) || this.blocked) return;
    this.blocked = true;
    this.channel.onDrain(() => {
      this.blocked = false;
      this.scheduleFlush();
    });
  }

  private receive(payload: Uint8Array): void {
    for (const message of decodeFrame(payload))
      this.dispatch(message as PrimaryMessage);
  }

  private dispatch(message: PrimaryMessage): void {
    switch (message.type) {
      case MessageType.WriteResults:
        for (const result of message.results) {
          const done = this.writes.take(result.id);
          if (done === undefined) continue;
          if (!this.strongIds.delete(result.id)) this.unanswered--;
          done(result.status, result.revision);
        }
        if (this.unanswered === 0 && this.outgoing.length > 0)
          this.scheduleFlush();
        return;
      case MessageType.TxnResult: {
        const done = this.txns.get(message.id);
        this.txns.delete(message.id);
        done?.(message);
        return;
      }
      case MessageType.ReadResult: {
        const done = this.reads.get(message.id);
        this.reads.delete(message.id);
        done?.(message.value, message.revision, message.deadline);
        return;
      }
      case MessageType.ListResult: {
        const done = this.lists.get(message.id);
        this.lists.delete(message.id);
        done?.(message);
        return;
      }
      case MessageType.QueryResult: {
        const done = this.queries.get(message.id);
        this.queries.delete(message.id);
        done?.(message.body);
        return;
      }
      case MessageType.HistoryChanges: {
        const done = this.histories.get(message.id);
        this.histories.delete(message.id);
        done?.(message);
        return;
      }
      default:
        this.handlers.get(message.type)?.(message);
    }
  }
}
