import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FRAME_HEADER_BYTES, readFrame } from './log-frame';

// Bytes read from the file at a time; a larger frame grows the buffer to fit it.
const READ_BYTES = 8 << 20;

/** Where the good frames of a file stop, and why. */
export interface FrameFileScan {
  /** Bytes of whole, checksummed frames from the start of the file. */
  readonly goodBytes: number;
  readonly fileBytes: number;
  /**
   * Absent: the file is all good frames. `torn`: the bad bytes run to the end of the file (or
   * are all zeros), as a crash mid-write leaves them. `corrupt`: good-looking bytes follow
   * the bad frame, so something damaged the middle of the file.
   */
  readonly damage?: {
    readonly kind: 'torn' | 'corrupt';
    readonly offset: number;
    readonly reason: string;
  };
}

/**
 * Reads the frames of the file at `path` in order, handing each payload to `onPayload` (a view
 * into a reused buffer: decode it before returning) with the file offsets of its frame's first
 * byte and of the byte just past its end. Synchronous: it runs at start-up, before anything
 * else needs the event loop.
 */
export function scanFrameFile(
  path: string,
  onPayload: (payload: Buffer, offset: number, end: number) => void,
): FrameFileScan {
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    let buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, fileBytes));
    let bufferStart = 0; // file offset of buffer[0]
    let filled = 0;
    let at = 0; // offset in buffer of the next frame
    for (;;) {
      const read = readFrame(buffer.subarray(0, filled), at);
      if (read.kind === 'frame') {
        onPayload(read.payload, bufferStart + at, bufferStart + read.next);
        at = read.next;
        continue;
      }
      const offset = bufferStart + at;
      if (read.kind === 'corrupt') {
        const torn =
          bufferStart + read.end === fileBytes ||
          allZeros(fd, offset, fileBytes);
        return {
          goodBytes: offset,
          fileBytes,
          damage: {
            kind: torn ? 'torn' : 'corrupt',
            offset,
            reason: read.reason,
          },
        };
      }
      if (bufferStart + filled === fileBytes) {
        if (offset === fileBytes) return { goodBytes: offset, fileBytes };
        return {
          goodBytes: offset,
          fileBytes,
          damage: {
            kind: 'torn',
            offset,
            reason: `a frame cut short ${fileBytes - offset} bytes before its end`,
          },
        };
      }
      // Keep the unread bytes, make room for the whole next frame, read on.
      const rest = buffer.subarray(at, filled);
      const need =
        filled - at >= FRAME_HEADER_BYTES
          ? FRAME_HEADER_BYTES + buffer.readUInt32LE(at)
          : 0;
      const size = Math.min(
        Math.max(READ_BYTES, need),
        fileBytes - bufferStart - at,
      );
      const next = size > buffer.length ? Buffer.allocUnsafe(size) : buffer;
      rest.copy(next, 0);
      buffer = next;
      bufferStart += at;
      filled = rest.length;
      at = 0;
      const got = readSync(
        fd,
        buffer,
        filled,
        buffer.length - filled,
        bufferStart + filled,
      );
      if (got === 0) throw new Error(`${path} shrank while it was read`);
      filled += got;
    }
  } finally {
    closeSync(fd);
  }
}

function allZeros(fd: number, from: number, to: number): boolean {
  const buffer = Buffer.allocUnsafe(1 << 16);
  for (let offset = from; offset < to;) {
    const read = readSync(
      fd,
      buffer,
      0,
      Math.min(buffer.length, to - offset),
      offset,
    );
    if (read === 0) break;
    for (let i = 0; i < read; i++) if (buffer[i] !== 0) return false;
    offset += read;
  }
  return true;
}
