import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Clock, Milliseconds, Revision, KvTable } from '../store';
import { syncDir } from './data-dir';
import { scanFrameFile } from './frame-file';
import {
  encodeFrame,
  FormatError,
  packPayload,
  unpackArray,
} from './log-frame';

/**
 * A snapshot file is frames: a header `[1, version, revision]`, entry frames
 * `[2, key, value, revision, deadline, ...]`, and a trailer `[3, entry count]`, so a file cut
 * short is told from a complete one even before its checksums are read. Version 2 stores a
 * value as its UTF-8 bytes (msgpack bin); version 1 stored it as a msgpack string. Both load.
 */
const HEADER = 1;
const ENTRIES = 2;
const TRAILER = 3;
const VERSION = 2;
const READABLE_VERSIONS: readonly unknown[] = [1, 2];
const ENTRY_FIELDS = 4;
// An entry frame closes after the shard that takes it past this many entries or characters,
// so encoding one costs the primary's event loop a few milliseconds at most.
const CHUNK_ENTRIES = 8192;
const CHUNK_CHARS = 1 << 20;

/** How a snapshot write went. */
export interface SnapshotWritten {
  readonly path: string;
  readonly entries: number;
  readonly bytes: number;
}

/** What {@link writeSnapshot} needs besides the entries. */
export interface SnapshotWriteOptions {
  readonly clock: Clock;
  /** Runs before each chunk is read (the primary flushes its pending batch to the log). */
  readonly beforeChunk: () => void;
  /** Runs after the file is fsynced, before it is renamed into place. */
  readonly beforeCommit: () => Promise<void>;
  /** Checked between chunks: true abandons the write (the temporary file is removed). */
  readonly cancelled: () => boolean;
}

/** Thrown by {@link writeSnapshot} when `cancelled` said so. */
export class SnapshotCancelledError extends Error {
  override readonly name = 'SnapshotCancelledError';
}

/**
 * Writes `entries` as the snapshot `path` of revision `revision`, a chunk of whole shards per
 * event-loop turn, while the store keeps changing. Entries may come out newer than `revision`:
 * the log from `revision + 1` on is replayed over them with a revision guard, so that is fine.
 * Temporary file, fsync, rename, fsync of the directory: the snapshot exists whole or not at all.
 */
export async function writeSnapshot(
  path: string,
  revision: Revision,
  table: KvTable,
  options: SnapshotWriteOptions,
): Promise<SnapshotWritten> {
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w');
  let bytes = 0;
  let count = 0;
  const write = async (payload: unknown[]): Promise<void> => {
    const frame = encodeFrame(packPayload(payload));
    await file.write(frame);
    bytes += frame.length;
  };
  try {
    await write([HEADER, VERSION, revision]);
    let shard = 0;
    while (shard < table.entries.shardCount) {
      if (options.cancelled())
        throw new SnapshotCancelledError('snapshot cancelled');
      options.beforeChunk();
      const chunk: unknown[] = [ENTRIES];
      const read = table.readShards(
        shard,
        options.clock(),
        chunk,
        CHUNK_ENTRIES,
        CHUNK_CHARS,
      );
      shard = read.next;
      if (read.added === 0) continue;
      count += read.added;
      await write(chunk);
    }
    await write([TRAILER, count]);
    await file.sync();
  } catch (error) {
    await file.close();
    await unlink(temporary);
    throw error;
  }
  await file.close();
  await options.beforeCommit();
  await rename(temporary, path);
  syncDir(dirname(path));
  return { path, entries: count, bytes };
}

/**
 * Reads the snapshot at `path`, handing each entry to `onEntry`; returns the revision it
 * covers. Throws {@link FormatError} for a file that is damaged or cut short: a snapshot was
 * fsynced before it got its name, so unlike a log tail it has no excuse.
 *
 * A value is a string (version 1) or its UTF-8 bytes (version 2). Bytes are a view of the
 * scanner's read buffer, valid only while `onEntry` runs: that buffer is reused once the
 * file is larger than one read, so copy (or decode) them to keep them. `onFrameRead` runs
 * after each frame with the bytes of the file read so far.
 */
export function readSnapshot(
  path: string,
  onEntry: (
    key: string,
    value: string | Uint8Array,
    revision: Revision,
    deadline: Milliseconds,
  ) => void,
  onFrameRead: (bytesRead: number) => void = () => {},
): Revision {
  let revision: Revision | undefined;
  let expected: number | undefined;
  let count = 0;
  const takeFrame = (payload: Buffer, offset: number): void => {
    const wire = unpackArray(payload);
    if (expected !== undefined) {
      throw new FormatError(
        `${path}: data after the trailer at byte ${offset}`,
      );
    }
    if (revision === undefined) {
      if (
        wire[0] !== HEADER ||
        !READABLE_VERSIONS.includes(wire[1]) ||
        !Number.isSafeInteger(wire[2])
      ) {
        throw new FormatError(
          `${path}: not a snapshot of version ${READABLE_VERSIONS.join(' or ')}`,
        );
      }
      revision = wire[2] as Revision;
      return;
    }
    if (wire[0] === TRAILER) {
      expected = wire[1] as number;
      return;
    }
    if (wire[0] !== ENTRIES || (wire.length - 1) % ENTRY_FIELDS !== 0) {
      throw new FormatError(`${path}: a bad entry frame at byte ${offset}`);
    }
    for (let at = 1; at < wire.length; at += ENTRY_FIELDS) {
      onEntry(
        wire[at] as string,
        wire[at + 1] as string | Uint8Array,
        wire[at + 2] as Revision,
        wire[at + 3] as Milliseconds,
      );
    }
    count += (wire.length - 1) / ENTRY_FIELDS;
  };
  const scan = scanFrameFile(path, (payload, offset, end) => {
    takeFrame(payload, offset);
    onFrameRead(end);
  });
  if (scan.damage !== undefined) {
    throw new FormatError(
      `${path} is damaged at byte ${scan.damage.offset} (${scan.damage.reason})`,
    );
  }
  if (revision === undefined || expected !== count) {
    throw new FormatError(
      `${path} is incomplete: it has no trailer or a wrong count`,
    );
  }
  return revision;
}
