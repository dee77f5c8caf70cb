/**
 * Frames on the byte stream between the primary and a worker: a 4-byte big-endian length, then
 * that many bytes of payload (one or more encoded messages laid end to end, see `codec.ts`).
 * A stream socket delivers bytes in arbitrary pieces; the length is what puts frames back
 * together.
 */

/** Bytes of the length that starts every frame. */
export const FRAME_HEADER_BYTES = 4;

/** The largest payload a frame can carry: what its 4-byte length can count. */
export const MAX_FRAME_PAYLOAD_BYTES = 0xffff_ffff;

/**
 * One frame whose payload is `parts` laid end to end. The parts are copied, so the frame owns
 * its bytes. Throws a RangeError when they add up to more than {@link MAX_FRAME_PAYLOAD_BYTES}.
 */
export function encodeFrame(...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  if (length > MAX_FRAME_PAYLOAD_BYTES) {
    throw new RangeError(
      `a frame holds at most ${MAX_FRAME_PAYLOAD_BYTES} bytes, not ${length}`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  let at = FRAME_HEADER_BYTES;
  for (const part of parts) {
    frame.set(part, at);
    at += part.length;
  }
  return frame;
}

/**
 * Reassembles frames from the pieces a stream delivers. Feed it every piece in order; it hands
 * back each payload once its last byte has arrived.
 *
 * A payload that arrives whole inside one piece is returned as a view of that piece (no copy),
 * so the pieces must not be reused by their producer: a `net.Socket` gives every read a buffer
 * of its own. A payload split over pieces is gathered into a buffer of its exact size.
 */
export class FrameReader {
  /** The length bytes of a frame whose header is split over pieces. */
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  /** The payload being gathered, once its header is known and it did not arrive whole. */
  private payload: Uint8Array | undefined;
  private payloadFilled = 0;

  /** Takes the next piece of the stream; returns the payloads it completes, in order. */
  push(piece: Uint8Array): Uint8Array[] {
    const payloads: Uint8Array[] = [];
    let at = 0;
    while (at < piece.length) {
      if (this.payload !== undefined) {
        const take = Math.min(
          this.payload.length - this.payloadFilled,
          piece.length - at,
        );
        this.payload.set(piece.subarray(at, at + take), this.payloadFilled);
        this.payloadFilled += take;
        at += take;
        if (this.payloadFilled === this.payload.length) {
          payloads.push(this.payload);
          this.payload = undefined;
          this.payloadFilled = 0;
        }
        continue;
      }
      let length: number;
      if (this.headerFilled === 0 && piece.length - at >= FRAME_HEADER_BYTES) {
        length = readLength(piece, at);
        at += FRAME_HEADER_BYTES;
      } else {
        const take = Math.min(
          FRAME_HEADER_BYTES - this.headerFilled,
          piece.length - at,
        );
        this.header.set(piece.subarray(at, at + take), this.headerFilled);
        this.headerFilled += take;
        at += take;
        if (this.headerFilled < FRAME_HEADER_BYTES) break;
        this.headerFilled = 0;
        length = readLength(this.header, 0);
      }
      if (piece.length - at >= length) {
        payloads.push(piece.subarray(at, at + length));
        at += length;
      } else {
        this.payload = new Uint8Array(length);
      }
    }
    return payloads;
  }
}

function readLength(bytes: Uint8Array, at: number): number {
  return (
    bytes[at]! * 0x100_0000 +
    ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!)
  );
}
