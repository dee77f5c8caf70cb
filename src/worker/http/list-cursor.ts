import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';

/** The first byte of every cursor: the format below. A new format takes a new number. */
const CURSOR_VERSION = 1;
/** Bytes of the check at the end of a cursor. */
const CHECK_BYTES = 4;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The cursor of a `GET /_/keys` page whose last key is `key`: the page after it starts strictly
 * after `key` (keyset pagination), so the cursor names a position, not a state of the store,
 * and stays valid across writes, workers and restarts.
 *
 * Format: base64url without padding of one version byte (1), the key's UTF-8 bytes, and the
 * first 4 bytes of the SHA-256 of the bytes before them. The check is no secret: it only
 * makes a random, truncated or altered string fail {@link readCursor} rather than stand for
 * some key. A cursor forged with a right check names a key, and the listing goes on after it,
 * which reveals nothing a listing would not.
 */
export function writeCursor(key: string): string {
  const keyBytes = Buffer.from(key, 'utf8');
  const bytes = Buffer.allocUnsafe(1 + keyBytes.length + CHECK_BYTES);
  bytes[0] = CURSOR_VERSION;
  keyBytes.copy(bytes, 1);
  checkOf(bytes.subarray(0, 1 + keyBytes.length)).copy(
    bytes,
    1 + keyBytes.length,
  );
  return bytes.toString('base64url');
}

/**
 * The key a cursor from {@link writeCursor} names, or undefined when `cursor` is none that a
 * page could have returned: not canonical base64url, another version, a wrong check, a key
 * that is empty, not UTF-8 or over `maxKeyBytes`. Costs O(length), and a string longer than
 * the longest cursor is refused before it is decoded.
 */
export function readCursor(
  cursor: string,
  maxKeyBytes: number,
): string | undefined {
  const maxBytes = 1 + maxKeyBytes + CHECK_BYTES;
  if (cursor.length > Math.ceil((maxBytes * 4) / 3)) return undefined;
  if (!BASE64URL.test(cursor)) return undefined;
  const bytes = Buffer.from(cursor, 'base64url');
  // Node decodes leniently: a length that no encoding has, or unused bits set in the last
  // character, decode to something; only a string that encodes back to itself is a cursor.
  if (bytes.toString('base64url') !== cursor) return undefined;
  const keyLength = bytes.length - 1 - CHECK_BYTES;
  if (keyLength < 1 || keyLength > maxKeyBytes) return undefined;
  if (bytes[0] !== CURSOR_VERSION) return undefined;
  const signed = bytes.subarray(0, 1 + keyLength);
  if (!checkOf(signed).equals(bytes.subarray(1 + keyLength))) return undefined;
  const keyBytes = bytes.subarray(1, 1 + keyLength);
  return isUtf8(keyBytes) ? keyBytes.toString('utf8') : undefined;
}

function checkOf(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest().subarray(0, CHECK_BYTES);
}
