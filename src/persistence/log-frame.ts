import { Packr } from 'msgpackr';
import {
  CHANGE_WIRE_FIELDS,
  ChangeFlags,
  flattenChanges,
  revisionFromFlags,
  type Change,
  type ChangeBatch,
  type Revision,
} from '../store';
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

// The first log format had no flags: each change took the next revision and none was an expiry.
const V1_CHANGE_FIELDS = 3;
// Marks a batch frame of the current format; a first-format frame starts with its `from`.
const BATCH_V2 = 'b2';

/**
 * A committed batch as one log frame. Payload: `['b2', from, key, value|null, deadline, flags,
 * ...]`, the changes flattened with the {@link ChangeFlags} that give their revisions (a
 * transaction's changes share one) and kind, deadlines absolute so TTLs survive a restart as
 * the same instants. {@link decodeBatch} also reads the first format, `[from, key, value|null,
 * deadline, ...]`, whose i-th change has revision `from + i`.
 */
export function encodeBatchFrame(batch: ChangeBatch): Buffer {
  return encodeFrame(
    packPayload(flattenChanges([BATCH_V2, batch.from], batch.changes)),
  );
}

/** Decodes the payload of a log frame; throws {@link FormatError} if it is not a batch. */
export function decodeBatch(payload: Uint8Array): ChangeBatch {
  const wire = unpackArray(payload);
  const v2 = wire[0] === BATCH_V2;
  const start = v2 ? 2 : 1;
  const fields = v2 ? CHANGE_WIRE_FIELDS : V1_CHANGE_FIELDS;
  const from = wire[start - 1];
  if (
    !Number.isSafeInteger(from) ||
    (from as number) < 1 ||
    (wire.length - start) % fields !== 0 ||
    wire.length === start
  ) {
    throw new FormatError('not a batch of whole changes');
  }
  const changes: Change[] = [];
  let previous: Revision | undefined;
  for (let at = start; at < wire.length; at += fields) {
    const key = wire[at];
    const value = wire[at + 1];
    const deadline = wire[at + 2];
    const flags = v2 ? wire[at + 3] : 0;
    if (
      typeof key !== 'string' ||
      (value !== null && typeof value !== 'string') ||
      typeof deadline !== 'number' ||
      typeof flags !== 'number'
    ) {
      throw new FormatError(
        'a change must be key, value or null, deadline, flags',
      );
    }
    const revision = revisionFromFlags(previous, from as number, flags);
    previous = revision;
    changes.push({
      key,
      value,
      deadline,
      revision,
      expired: (flags & ChangeFlags.Expired) !== 0,
    });
  }
  return { from: from as number, changes };
}
