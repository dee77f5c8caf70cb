import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  openSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { syncDir } from './data-dir';

/**
 * When the log reaches the disk. `always`: a write is acknowledged only after an fsync covering
 * its batch (group commit: every batch written while one fsync runs shares the next one).
 * `everysec`: one fsync a second in the background. `no`: the OS decides.
 */
export type FsyncPolicy = 'always' | 'everysec' | 'no';

/** The fsync policies, as KV_FSYNC spells them. */
export const FSYNC_POLICIES: readonly FsyncPolicy[] = [
  'always',
  'everysec',
  'no',
];

const EVERYSEC_MS = 1000;

/**
 * The append-only log file the primary writes every committed batch to. Frames are written
 * synchronously (a copy into the page cache, microseconds), so a batch is in the file before
 * anything else happens; only fsync is asynchronous, and at most one runs at a time.
 */
export class AppendLog {
  private fd: number;
  private bytes: number;
  private dirty = false;
  private syncing = false;
  // Callbacks waiting for an fsync that starts after the current one.
  private waiting: (() => void)[] = [];
  // A rotated-out descriptor, closed when the fsync running on it ends.
  private retired: number | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  /**
   * Opens (or creates) the log at `path` for appending. `onError` gets a failed write or fsync:
   * the log can no longer promise anything, so the caller is expected to stop.
   */
  constructor(
    path: string,
    private readonly policy: FsyncPolicy,
    private readonly onError: (error: Error) => void,
  ) {
    this.fd = AppendLog.openFile(path);
    this.bytes = fstatSync(this.fd).size;
    if (policy === 'everysec') {
      this.timer = setInterval(() => {
        if (this.dirty && !this.syncing) this.startSync();
      }, EVERYSEC_MS);
      this.timer.unref();
    }
  }

  /** Bytes in the current log file. */
  get size(): number {
    return this.bytes;
  }

  /** Appends `frame` to the file (not yet fsynced). */
  append(frame: Buffer): void {
    try {
      for (let at = 0; at < frame.length;)
        at += writeSync(this.fd, frame, at, frame.length - at);
    } catch (error) {
      this.onError(error as Error);
      return;
    }
    this.bytes += frame.length;
    this.dirty = true;
  }

  /**
   * Runs `callback` once what was appended so far may be acknowledged: with `always`, after an
   * fsync that covers it; with the other policies, now. Callbacks run in the order given.
   */
  afterDurable(callback: () => void): void {
    if (this.policy === 'always') this.whenSynced(callback);
    else callback();
  }

  /** Resolves once everything appended so far is fsynced, whatever the policy. */
  sync(): Promise<void> {
    return new Promise((resolve) => this.whenSynced(resolve));
  }

  /**
   * Continues in a new file at `path`. The old one is fsynced first, so a crash can never leave
   * a later file holding batches that an earlier one lost.
   */
  rotate(path: string): void {
    const fd = AppendLog.openFile(path);
    try {
      fdatasyncSync(this.fd);
    } catch (error) {
      closeSync(fd);
      this.onError(error as Error);
      return;
    }
    if (this.syncing) this.retired = this.fd;
    else closeSync(this.fd);
    this.fd = fd;
    this.bytes = fstatSync(fd).size;
    // Everything appended so far is on disk: callbacks waiting for it need no new fsync.
    this.dirty = false;
  }

  /** fsyncs and closes the file. */
  close(): void {
    clearInterval(this.timer);
    fdatasyncSync(this.fd);
    closeSync(this.fd);
  }

  private whenSynced(callback: () => void): void {
    if (!this.dirty && !this.syncing) {
      callback();
      return;
    }
    this.waiting.push(callback);
    if (!this.syncing) this.startSync();
  }

  private startSync(): void {
    const callbacks = this.waiting;
    this.waiting = [];
    this.syncing = true;
    this.dirty = false;
    fdatasync(this.fd, (error) => {
      this.syncing = false;
      if (this.retired !== undefined) {
        closeSync(this.retired);
        this.retired = undefined;
      }
      if (error) {
        this.onError(error);
        return;
      }
      for (const callback of callbacks) callback();
      if (this.waiting.length === 0) return;
      if (this.dirty) this.startSync();
      else {
        // Queued while that fsync ran, with nothing appended since: it covered them.
        const covered = this.waiting;
        this.waiting = [];
        for (const callback of covered) callback();
      }
    });
  }

  private static openFile(path: string): number {
    const fd = openSync(path, 'a');
    // A new file exists after a crash only once its directory entry is on disk.
    syncDir(dirname(path));
    return fd;
  }
}
