import {
  close,
  closeSync,
  fdatasync,
  fstatSync,
  openSync,
  write,
} from 'node:fs';
import { dirname } from 'node:path';
import type { FsyncPolicy } from '../config/config';
import { syncDir } from './data-dir';

const EVERYSEC_MS = 1000;

/**
 * Unwritten bytes past which {@link AppendLog.overloaded} says so. The log itself never refuses a
 * frame; {@link ReconcileLoop} stops taking batches from the store until the queue is written.
 */
export const MAX_UNWRITTEN_BYTES = 64 * 1024 * 1024;

// Frames queued for one file, in order. The first segment is the file being written; a later
// one exists only after a rotation, and is not written until the earlier file is fsynced.
interface Segment {
  readonly fd: number;
  frames: Buffer[];
  bytes: number;
}

interface SyncWaiter {
  // Position (bytes appended over the log's life, all files together) it waits for.
  readonly upTo: number;
  readonly done: () => void;
  readonly failed?: (error: Error) => void;
}

/**
 * The append-only log file the primary writes every committed batch to. Nothing here blocks the
 * event loop: frames are queued in memory and written by asynchronous `write`s on the thread
 * pool, one in flight at a time, each taking everything queued meanwhile as one buffer (so the
 * order is the order of {@link append}). fsync is asynchronous too, at most one at a time; a
 * write and an fsync may run together, and an fsync only covers the bytes whose write had ended
 * before it started.
 *
 * Positions count bytes appended since the log was opened, across files: `appended` (queued),
 * `written` (in the page cache), `synced` (covered by an ended fsync).
 */
export class AppendLog {
  private segments: Segment[];
  private bytes: number;
  private appended = 0;
  private written = 0;
  private synced = 0;
  private writing = false;
  private syncing = false;
  private failure: Error | undefined;
  private closed = false;
  // Waiting for their bytes to be written; then for an fsync covering them.
  private writeWaiters: SyncWaiter[] = [];
  private syncWaiters: SyncWaiter[] = [];
  private readonly timer: NodeJS.Timeout | undefined;

  /**
   * Opens (or creates) the log at `path` for appending. `onError` gets a failed write or fsync:
   * the log can no longer promise anything, so the caller is expected to stop. After one, the
   * log writes nothing more and releases no callback. `maxUnwrittenBytes` is the bound of
   * {@link AppendLog.overloaded}, in bytes.
   */
  constructor(
    path: string,
    private readonly policy: FsyncPolicy,
    private readonly onError: (error: Error) => void,
    private readonly maxUnwrittenBytes = MAX_UNWRITTEN_BYTES,
  ) {
    const fd = AppendLog.openFile(path);
    this.segments = [{ fd, frames: [], bytes: 0 }];
    this.bytes = fstatSync(fd).size;
    if (policy === 'everysec') {
      this.timer = setInterval(() => {
        if (!this.syncing && this.written > this.synced) this.startSync();
      }, EVERYSEC_MS);
      this.timer.unref();
    }
  }

  /** Bytes in the current log file, counting frames queued but not yet written. */
  get size(): number {
    return this.bytes;
  }

  /** Bytes appended but not yet written to a file. */
  get unwritten(): number {
    return this.appended - this.written;
  }

  /**
   * Whether more than `maxUnwrittenBytes` ({@link MAX_UNWRITTEN_BYTES} unless given) wait to be
   * written: stop appending a while.
   */
  get overloaded(): boolean {
    return this.unwritten > this.maxUnwrittenBytes;
  }

  /** Queues `frame` for the current file; it is written soon, in order (not yet fsynced). */
  append(frame: Buffer): void {
    if (this.failure !== undefined) return;
    if (this.closed) {
      this.fail(new Error('append to a closed log'));
      return;
    }
    const tail = this.segments[this.segments.length - 1]!;
    tail.frames.push(frame);
    tail.bytes += frame.length;
    this.bytes += frame.length;
    this.appended += frame.length;
    this.pump();
  }

  /**
   * Runs `callback` once what was appended so far may be acknowledged: with `always`, after an
   * fsync that started once it was written; with the other policies, once it is written to the
   * file (so a crash of the process alone loses nothing acknowledged). At once when that is
   * already so. Callbacks run in the order given.
   */
  afterDurable(callback: () => void): void {
    if (this.policy === 'always')
      this.whenSynced({ upTo: this.appended, done: callback });
    else this.afterWritten(callback);
  }

  /** Runs `callback` once everything appended so far is written to the file (not fsynced). */
  afterWritten(callback: () => void): void {
    if (this.written >= this.appended && this.failure === undefined) callback();
    else this.writeWaiters.push({ upTo: this.appended, done: callback });
  }

  /**
   * Resolves once everything appended so far is written and fsynced, whatever the policy;
   * rejects if the log fails first.
   */
  sync(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.whenSynced({ upTo: this.appended, done: resolve, failed: reject }),
    );
  }

  /**
   * Continues in a new file at `path`: frames appended from now on go there. The frames queued
   * for the old file are written to it first, then it is fsynced and closed, and only then is
   * anything written to the new one, so a crash can never leave a later file holding batches
   * that an earlier one lost. Does not wait for any of it.
   */
  rotate(path: string): void {
    let fd: number;
    try {
      fd = AppendLog.openFile(path);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.segments.push({ fd, frames: [], bytes: 0 });
    this.bytes = fstatSync(fd).size;
    this.pump();
  }

  /** Writes what is queued, fsyncs and closes the file(s). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      if (this.failure === undefined) await this.sync();
    } finally {
      this.closed = true;
      for (const { fd } of this.segments.splice(0)) closeSync(fd);
    }
  }

  private whenSynced(waiter: SyncWaiter): void {
    if (this.failure !== undefined) {
      waiter.failed?.(this.failure);
      return;
    }
    if (this.synced >= waiter.upTo) {
      waiter.done();
      return;
    }
    this.syncWaiters.push(waiter);
    this.pump();
  }

  /** Starts whatever can start now: the next write, the retirement of a rotated file, an fsync. */
  private pump(): void {
    if (this.failure !== undefined || this.segments.length === 0) return;
    const head = this.segments[0]!;
    if (!this.writing) {
      if (head.frames.length > 0) this.startWrite(head);
      else if (this.segments.length > 1 && !this.syncing) this.retire(head);
    }
    const next = this.syncWaiters[0];
    if (
      !this.syncing &&
      next !== undefined &&
      next.upTo <= this.written &&
      next.upTo > this.synced
    )
      this.startSync();
  }

  private startWrite(head: Segment): void {
    const frames = head.frames;
    const length = head.bytes;
    head.frames = [];
    head.bytes = 0;
    const buffer =
      frames.length === 1 ? frames[0]! : Buffer.concat(frames, length);
    this.writing = true;
    const writeFrom = (at: number): void => {
      write(head.fd, buffer, at, length - at, null, (error, count) => {
        if (error) return this.fail(error);
        if (at + count < length) return writeFrom(at + count);
        this.writing = false;
        this.written += length;
        AppendLog.release(this.writeWaiters, this.written);
        this.pump();
      });
    };
    writeFrom(0);
  }

  // The head file is fully written and a newer one waits: fsync it, close it, move on.
  private retire(head: Segment): void {
    this.writing = true;
    this.syncing = true;
    fdatasync(head.fd, (error) => {
      if (error) return this.fail(error);
      close(head.fd, (closeError) => {
        if (closeError) return this.fail(closeError);
        this.segments.shift();
        this.writing = false;
        this.syncing = false;
        // Every byte written so far was in that file.
        this.synced = this.written;
        AppendLog.release(this.syncWaiters, this.synced);
        this.pump();
      });
    });
  }

  private startSync(): void {
    const upTo = this.written;
    this.syncing = true;
    fdatasync(this.segments[0]!.fd, (error) => {
      if (error) return this.fail(error);
      this.syncing = false;
      if (upTo > this.synced) this.synced = upTo;
      AppendLog.release(this.syncWaiters, this.synced);
      this.pump();
    });
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    clearInterval(this.timer);
    this.writeWaiters = [];
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const waiter of waiters) waiter.failed?.(error);
    this.onError(error);
  }

  // Runs, in order, the waiters whose position is reached; they are sorted by position.
  private static release(waiters: SyncWaiter[], reached: number): void {
    let count = 0;
    while (count < waiters.length && waiters[count]!.upTo <= reached) count++;
    if (count === 0) return;
    for (const waiter of waiters.splice(0, count)) waiter.done();
  }

  private static openFile(path: string): number {
    const fd = openSync(path, 'a');
    // A new file exists after a crash only once its directory entry is on disk.
    syncDir(dirname(path));
    return fd;
  }
}
