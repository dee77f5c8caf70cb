import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { Config } from '../../config/config';
import { CONFIG } from '../../config/config.module';
import type { Change, Revision } from '../../store';
import { PrimaryLink } from '../primary-link';
import { ReplicaListener, ReplicaService } from '../replica-service';
import { WorkerMetrics } from '../worker-metrics';
import { PrefixIndex } from './prefix-index';
import { changeEvent, changeJson, PING } from './watch-events';
import type { WatchQuery } from './watch-query';

// A replaying stream takes changes from the history this many bytes at a time (by the
// history's estimate), and writes its events in strings of about this many characters.
const REPLAY_SLICE_BYTES = 256 * 1024;
const REPLAY_WRITE_CHARS = 64 * 1024;
// Writing to live streams may take this share of the event loop: after a flush that took
// d ms, the next waits until d * (1 / share - 1) ms have passed. Each write to a socket costs
// a system call and the loopback's delivery, so many streams are written less often, each
// write carrying more events, instead of costing the writes that pay for the events.
const FLUSH_SHARE = 0.05;
const MAX_FLUSH_DELAY_MS = 1000;

/** One open watch stream. */
class WatchStream {
  /** Every matching change up to this revision has been written (or was not to be). */
  cursor: Revision;
  /** In its group, written to as batches are applied; otherwise replaying. */
  group: WatchGroup | undefined;
  /** Waiting for the socket to drain or for the primary to answer. */
  waiting = false;
  closed = false;
  /** Changes being replayed: `chunk[at]` on, then every revision up to `chunkEnd` is done. */
  chunk: readonly Change[] | undefined;
  at = 0;
  chunkEnd: Revision = 0;

  constructor(
    readonly res: ServerResponse,
    readonly prefix: string,
    readonly values: boolean,
    cursor: Revision,
  ) {
    this.cursor = cursor;
  }
}

/**
 * The live streams that watch one prefix with one `values` setting: each event is built once
 * for all of them, and the events gathered between two flushes go out in one write to each.
 */
interface WatchGroup {
  readonly prefix: string;
  readonly values: boolean;
  readonly streams: Set<WatchStream>;
  /** The events gathered since the last flush, and their revisions. */
  events: string[];
  revisions: Revision[];
  /** The matching changes of the revision being read, as JSON texts. */
  readonly fragments: string[];
}

/** The groups of one prefix: `[values=true, values=false]`. */
type PrefixGroups = [WatchGroup | undefined, WatchGroup | undefined];

/**
 * Every watch stream of this worker.
 *
 * A stream starts by replaying: from the local history, or for revisions older than it holds
 * from the primary's, a slice at a time, each write waiting for the socket to drain. Once it
 * has caught up with the replica it joins its group, and from then on every batch the replica
 * applies reaches it at the next flush: at the end of that turn, or a little later while
 * flushes take a large share of the event loop (FLUSH_SHARE). A stream's cursor filters out
 * what it has already seen, so the switch leaves no gap and repeats nothing. A live stream
 * that leaves more than KV_WATCH_BUFFER_BYTES unwritten is closed; the client resumes from
 * its last id.
 */
@Injectable()
export class WatchHub implements ReplicaListener, OnModuleDestroy {
  private readonly streams = new Set<WatchStream>();
  private readonly index = new PrefixIndex<PrefixGroups>();
  /** Groups with events to write at the next flush. */
  private pending: WatchGroup[] = [];
  private flushScheduled = false;
  /** When the last flush ended and how long it took, in performance.now() milliseconds. */
  private lastFlushEnd = 0;
  private lastFlushCost = 0;
  /** The revision up to which every live stream has been written to once pending is flushed. */
  private through: Revision = 0;
  private liveThrough: Revision = 0;
  private readonly matched: PrefixGroups[] = [];
  private readonly touched: WatchGroup[] = [];
  private readonly pingTimer: NodeJS.Timeout;

  constructor(
    private readonly replica: ReplicaService,
    private readonly primary: PrimaryLink,
    private readonly metrics: WorkerMetrics,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    replica.listen(this);
    this.pingTimer = setInterval(() => this.ping(), config.watchPingMs);
    this.pingTimer.unref();
  }

  /**
   * Starts a stream on `res` (its head already written) with every matching change after
   * `cursor`: `prefetched`, changes the primary sent for revisions up to `upTo`, come first.
   */
  open(
    res: ServerResponse,
    query: WatchQuery,
    cursor: Revision,
    prefetched?: { changes: readonly Change[]; upTo: Revision },
  ): void {
    // The client may have gone while the primary was asked: nothing would ever close it.
    if (res.destroyed) return;
    const stream = new WatchStream(res, query.prefix, query.values, cursor);
    this.streams.add(stream);
    this.metrics.watchStreams.inc();
    res.on('close', () => this.close(stream, false));
    if (prefetched !== undefined)
      setChunk(stream, prefetched.changes, prefetched.upTo);
    this.pump(stream);
  }

  applied(changes: readonly Change[], after: Revision): void {
    if (this.index.size === 0 || changes.length === 0) {
      this.through = this.replica.history.newest;
      this.liveThrough = this.through;
      return;
    }
    let i = 0;
    while (i < changes.length && changes[i]!.revision <= after) i++;
    while (i < changes.length) {
      const revision = changes[i]!.revision;
      for (; i < changes.length && changes[i]!.revision === revision; i++)
        this.match(changes[i]!);
      for (const group of this.touched) {
        if (group.events.length === 0) this.pending.push(group);
        group.events.push(changeEvent(revision, group.fragments));
        group.revisions.push(revision);
        group.fragments.length = 0;
      }
      this.touched.length = 0;
    }
    this.through = this.replica.history.newest;
    if (this.pending.length === 0) this.liveThrough = this.through;
    else this.scheduleFlush();
  }

  replaced(): void {
    this.flush();
    const live = [...this.streams].filter((s) => s.group !== undefined);
    for (const stream of live) {
      stream.cursor = Math.max(stream.cursor, this.liveThrough);
      this.leaveGroup(stream);
    }
    for (const stream of live) this.pump(stream);
  }

  /** Ends every stream (a graceful shutdown); one with output still unwritten is cut. */
  onModuleDestroy(): void {
    clearInterval(this.pingTimer);
    for (const stream of [...this.streams])
      this.close(stream, stream.res.writableLength > 0 ? 'destroy' : 'end');
  }

  /** Adds `change` to the event being built for every group it matches. */
  private match(change: Change): void {
    this.index.collect(change.key, this.matched);
    if (this.matched.length === 0) return;
    let withValue: string | undefined;
    let bare: string | undefined;
    for (const groups of this.matched) {
      for (const group of groups) {
        if (group === undefined) continue;
        if (group.fragments.length === 0) this.touched.push(group);
        group.fragments.push(
          group.values
            ? (withValue ??= changeJson(change, true))
            : (bare ??= changeJson(change, false)),
        );
      }
    }
    this.matched.length = 0;
  }

  /** Flushes at the end of this turn, or later when the last flush took long (FLUSH_SHARE). */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const delay = Math.min(
      MAX_FLUSH_DELAY_MS,
      this.lastFlushEnd +
        this.lastFlushCost * (1 / FLUSH_SHARE - 1) -
        performance.now(),
    );
    if (delay <= 0) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), delay);
  }

  /** Writes the events gathered since the last flush to the live streams of their groups. */
  private flush(): void {
    this.flushScheduled = false;
    const started = performance.now();
    let sent = 0;
    for (const group of this.pending) {
      const { events, revisions } = group;
      const first = revisions[0]!;
      const last = revisions[revisions.length - 1]!;
      // Encoded once for the whole group, not once per stream.
      let all: Buffer | undefined;
      for (const stream of group.streams) {
        if (stream.cursor >= last) continue;
        let bytes: Buffer;
        let count = events.length;
        if (stream.cursor < first)
          bytes = all ??= Buffer.from(events.join(''), 'utf8');
        else {
          const from = revisions.findIndex((r) => r > stream.cursor);
          bytes = Buffer.from(events.slice(from).join(''), 'utf8');
          count -= from;
        }
        if (this.writeLive(stream, bytes)) {
          stream.cursor = last;
          sent += count;
        }
      }
      group.events = [];
      group.revisions = [];
    }
    this.pending = [];
    this.liveThrough = this.through;
    if (sent > 0) this.metrics.watchEvents.inc(sent);
    // A response's write reaches its socket (the system call, and the loopback's delivery) in
    // a callback queued for the next tick: measured after those, not before.
    process.nextTick(() => {
      this.lastFlushEnd = performance.now();
      this.lastFlushCost = this.lastFlushEnd - started;
    });
  }

  /**
   * Writes to a live stream, or closes it when more than KV_WATCH_BUFFER_BYTES are already
   * waiting: whatever the size of `bytes`, which therefore always go out whole.
   */
  private writeLive(stream: WatchStream, bytes: Buffer): boolean {
    if (stream.closed) return false;
    if (stream.res.writableLength > this.config.watchBufferBytes) {
      this.close(stream, 'destroy');
      return false;
    }
    stream.res.write(bytes);
    return true;
  }

  /** Replays to `stream` until it waits for the socket or the primary, or joins its group. */
  private pump(stream: WatchStream): void {
    while (!stream.closed && !stream.waiting) {
      if (stream.chunk !== undefined) {
        if (!this.writeReplay(stream)) {
          stream.waiting = true;
          stream.res.once('drain', () => {
            stream.waiting = false;
            this.pump(stream);
          });
        }
        continue;
      }
      const history = this.replica.history;
      if (stream.cursor >= history.newest) {
        this.joinGroup(stream);
        return;
      }
      if (history.covers(stream.cursor)) {
        setChunk(
          stream,
          history.slice(stream.cursor, history.newest, REPLAY_SLICE_BYTES),
          history.newest,
        );
        continue;
      }
      this.fetch(stream, history.oldest - 1);
    }
  }

  /** Writes the next events of the stream's chunk; false once the socket wants a drain. */
  private writeReplay(stream: WatchStream): boolean {
    const chunk = stream.chunk!;
    let text = '';
    let events = 0;
    let i = stream.at;
    const fragments: string[] = [];
    while (i < chunk.length && text.length < REPLAY_WRITE_CHARS) {
      const revision = chunk[i]!.revision;
      for (; i < chunk.length && chunk[i]!.revision === revision; i++) {
        const change = chunk[i]!;
        if (change.key.startsWith(stream.prefix))
          fragments.push(changeJson(change, stream.values));
      }
      if (fragments.length > 0) {
        text += changeEvent(revision, fragments);
        events++;
        fragments.length = 0;
      }
      stream.cursor = revision;
    }
    stream.at = i;
    if (i === chunk.length) {
      stream.cursor = Math.max(stream.cursor, stream.chunkEnd);
      stream.chunk = undefined;
    }
    if (events === 0) return true;
    this.metrics.watchEvents.inc(events);
    return stream.res.write(text);
  }

  /** Asks the primary for the changes after the stream's cursor up to `upTo`. */
  private fetch(stream: WatchStream, upTo: Revision): void {
    stream.waiting = true;
    const after = stream.cursor;
    void this.primary.history(after, upTo).then((answer) => {
      stream.waiting = false;
      if (stream.closed) return;
      // Gone from the primary's history while this stream read older ones: the client
      // resumes and is told so with a 410.
      if (answer.changes.length === 0 && after < answer.oldest - 1) {
        this.close(stream, 'end');
        return;
      }
      setChunk(stream, answer.changes, upTo);
      this.pump(stream);
    });
  }

  private joinGroup(stream: WatchStream): void {
    const index = stream.values ? 0 : 1;
    let groups = this.index.get(stream.prefix);
    if (groups === undefined) {
      groups = [undefined, undefined];
      this.index.set(stream.prefix, groups);
    }
    let group = groups[index];
    if (group === undefined) {
      group = {
        prefix: stream.prefix,
        values: stream.values,
        streams: new Set(),
        events: [],
        revisions: [],
        fragments: [],
      };
      groups[index] = group;
    }
    group.streams.add(stream);
    stream.group = group;
  }

  private leaveGroup(stream: WatchStream): void {
    const group = stream.group;
    if (group === undefined) return;
    stream.group = undefined;
    group.streams.delete(stream);
    if (group.streams.size > 0) return;
    const groups = this.index.get(group.prefix);
    if (groups === undefined) return;
    groups[group.values ? 0 : 1] = undefined;
    if (groups[0] === undefined && groups[1] === undefined)
      this.index.delete(group.prefix);
  }

  /** A ping is small and cuts no stream: a replaying one may hold a large event unwritten. */
  private ping(): void {
    for (const stream of this.streams) stream.res.write(PING);
  }

  /** Forgets `stream`; `how` ends or cuts its response, false when it is already closed. */
  private close(stream: WatchStream, how: 'end' | 'destroy' | false): void {
    if (stream.closed) return;
    stream.closed = true;
    this.leaveGroup(stream);
    this.streams.delete(stream);
    this.metrics.watchStreams.dec();
    if (how === 'end') stream.res.end();
    else if (how === 'destroy') stream.res.destroy();
  }
}

/** Gives `stream` `changes` to replay, after which every revision up to `upTo` is done. */
function setChunk(
  stream: WatchStream,
  changes: readonly Change[],
  upTo: Revision,
): void {
  stream.chunk = changes;
  stream.at = 0;
  stream.chunkEnd =
    changes.length > 0 ? changes[changes.length - 1]!.revision : upTo;
}
