/**
 * UTF-8 helpers for the store, which keeps keys and values as UTF-8 bytes and orders keys by
 * those bytes (the order of their code points).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Writes `text` as UTF-8 at `at` in `out`, which must have room for 3 bytes per UTF-16 unit
 * from `at` on; returns the number of bytes written. A lone surrogate is written as U+FFFD (3
 * bytes). Keys and JSON texts are mostly ASCII, which a plain loop writes faster than
 * `TextEncoder.encodeInto` (and the view it needs) can for short strings.
 */
export function writeUtf8(text: string, out: Uint8Array, at: number): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) {
      return (
        i +
        encoder.encodeInto(
          text.slice(i),
          out.subarray(at + i, at + text.length * 3),
        ).written
      );
    }
    out[at + i] = code;
  }
  return text.length;
}

/** The UTF-8 bytes of `text` in a new array; a lone surrogate becomes U+FFFD. */
export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * The text of the `length` UTF-8 bytes at `start` in `bytes`; a malformed sequence becomes
 * U+FFFD.
 */
export function decodeUtf8(
  bytes: Uint8Array,
  start: number,
  length: number,
): string {
  return decoder.decode(bytes.subarray(start, start + length));
}

/**
 * Byte order of two UTF-8 texts: negative, zero or positive as the `aLength` bytes at `aStart`
 * in `a` sort before, with or after the `bLength` bytes at `bStart` in `b`. A text that is a
 * prefix of the other sorts first. For well-formed UTF-8 this is the order of code points,
 * which differs from JavaScript's string order (UTF-16 units) for U+E000 to U+FFFF against
 * characters beyond U+FFFF.
 */
export function compareUtf8(
  a: Uint8Array,
  aStart: number,
  aLength: number,
  b: Uint8Array,
  bStart: number,
  bLength: number,
): number {
  const common = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < common; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/** Where {@link ownedCopy} encodes; grown to 3 bytes per UTF-16 unit of the longest text. */
let copyScratch = new Uint8Array(4096);

/**
 * A copy of `text` that shares no memory with any other string. A key decoded from a message
 * can be a slice of one string that holds the whole message (msgpackr decodes a run of
 * strings at once, values included); kept for long, the slice would pin all of that. A text
 * with a lone surrogate has no UTF-8 form and is returned as it is.
 */
export function ownedCopy(text: string): string {
  if (text.length * 3 > copyScratch.length)
    copyScratch = new Uint8Array(text.length * 3);
  const copy = decodeUtf8(copyScratch, 0, writeUtf8(text, copyScratch, 0));
  // A lone surrogate comes back as U+FFFD: keep such a text as it is.
  return copy === text ? copy : text;
}
