import { Packr } from 'msgpackr';
import type { Change, ChangeBatch } from '../store';
import { crc32 } from './crc32';

/**
 * The frame every persistence file is made of: a little-endian u32 payload length, a
 * little-endian u32 CRC-32 of the payload, then the payload (msgpack). The checksum is what
 * tells a torn or damaged frame from a good one after a crash.
 */
export const FRAME_HEADER_BYTES = 8;
/** Larger lengths are damage, not data: no frame this store writes comes near it. */
export const MAX_FRAME_BYTES = 1 << 30;

// The file format's own codec, apart from the IPC protocol's, so the two can change separately.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** What {@link readFrame} found at an offset. */
export type FrameRead =
  | { readonly kind: 'frame'; readonly payload: Buffer; readonly next: number }
  /** The bytes end before the frame does: read more, or, at the end of a file, a torn tail. */
  | { readonly kind: 'incomplete' }
  /** A zero or absurd length, or a checksum that does not match. */
  | { readonly kind: 'corrupt'; readonly reason: string; readonly end: number };

/** Frames `payload`: header and payload in one buffer. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Reads the frame at `offset` of `bytes`. The payload is a view into `bytes`, not a copy. */
export function readFrame(bytes: Buffer, offset: number): FrameRead {
  if (bytes.length - offset < FRAME_HEADER_BYTES) return { kind: 'incomplete' };
  const length = bytes.readUInt32LE(offset);
  const start = offset + FRAME_HEADER_BYTES;
  if (length === 0 || length > MAX_FRAME_BYTES) {
    return {
      kind: 'corrupt',
      reason: `impossible frame length ${length}`,
      end: start,
    };
  }
  const end = start + length;
  if (end > bytes.length) return { kind: 'incomplete' };
  const payload = bytes.subarray(start, end);
  if (crc32(payload) !== bytes.readUInt32LE(offset + 4)) {
    return { kind: 'corrupt', reason: 'checksum mismatch', end };
  }
  return { kind: 'frame', payload, next: end };
}

/** Thrown when a frame's checksum holds but its payload is not what the file format says. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}

/** Packs `value` with the file format's codec. */
export function packPayload(value: unknown): Buffer {
  return packr.pack(value);
}

/** Unpacks a payload into an array, or throws {@link FormatError}. */
export function unpackArray(payload: Uint8Array): unknown[] {
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (error) {
    throw new FormatError(`undecodable payload: ${(error as Error).message}`);
  }
  if (!Array.isArray(value))
    throw new FormatError('a payload must be an array');
  return value;
}

const CHANGE_FIELDS = 3;

/**
 * A committed batch as one log frame. Payload: `[from, key, value|null, deadline, ...]`, the
 * changes flattened (revision `from + i` for the i-th), deadlines absolute so TTLs survive a
 * restart as the same instants.
 */
export function encodeBatchFrame(batch: ChangeBatch): Buffer {
  const wire: unknown[] = [batch.from];
  for (const c of batch.changes) wire.push(c.key, c.value, c.deadline);
  return encodeFrame(packPayload(wire));
}

/** Decodes the payload of a log frame; throws {@link FormatError} if it is not a batch. */
export function decodeBatch(payload: Uint8Array): ChangeBatch {
  const wire = unpackArray(payload);
  const from = wire[0];
  if (
    !Number.isSafeInteger(from) ||
    (from as number) < 1 ||
    (wire.length - 1) % CHANGE_FIELDS !== 0 ||
    wire.length === 1
  ) {
    throw new FormatError('not a batch of whole changes');
  }
  const changes: Change[] = [];
  for (let at = 1; at < wire.length; at += CHANGE_FIELDS) {
    const key = wire[at];
    const value = wire[at + 1];
    const deadline = wire[at + 2];
    if (
      typeof key !== 'string' ||
      (value !== null && typeof value !== 'string') ||
      typeof deadline !== 'number'
    ) {
      throw new FormatError('a change must be key, value or null, deadline');
    }
    changes.push({ key, value, deadline });
  }
  return { from: from as number, changes };
}
