import { createHash } from 'node:crypto';
import { readCursor, writeCursor } from './list-cursor';

const MAX_KEY_BYTES = 512;

/** A cursor built by hand: `version`, then `keyBytes`, then a right check unless told. */
function forge(version: number, keyBytes: Uint8Array, check?: Buffer): string {
  const signed = Buffer.concat([Buffer.of(version), keyBytes]);
  const sum =
    check ?? createHash('sha256').update(signed).digest().subarray(0, 4);
  return Buffer.concat([signed, sum]).toString('base64url');
}

const ALPHABET =
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The cursor of `key` with the lowest bit of its last character flipped: 11 bytes (a 6-byte
 * key) take 15 characters, whose last 2 bits encode nothing, so Node decodes the same bytes.
 */
function flipUnusedBit(key: string): string {
  const cursor = writeCursor(key);
  const last = ALPHABET.indexOf(cursor[cursor.length - 1]!);
  const altered = cursor.slice(0, -1) + ALPHABET[last ^ 1];
  expect(Buffer.from(altered, 'base64url')).toEqual(
    Buffer.from(cursor, 'base64url'),
  );
  return altered;
}

describe('list cursors', () => {
  it.each([
    ['ascii', 'user-1'],
    ['multi-byte', 'é€😀'],
    ['the last BMP character', '\uffff'],
    ['a NUL and a slash', '\u0000a/b'],
    ['the reserved-looking _', '_'],
    ['a key of the longest length', 'k'.repeat(MAX_KEY_BYTES)],
    ['multi-byte up to the limit', '€'.repeat(Math.floor(MAX_KEY_BYTES / 3))],
  ])('reads back the key it was written for: %s', (_name, key) => {
    const cursor = writeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(readCursor(cursor, MAX_KEY_BYTES)).toBe(key);
  });

  it('has the documented layout: version 1, the UTF-8 key, 4 bytes of SHA-256', () => {
    expect(writeCursor('a')).toBe(forge(1, Buffer.from('a')));
    expect(Buffer.from(writeCursor('a'), 'base64url')).toHaveLength(6);
  });

  const valid = writeCursor('user-12');
  it.each([
    ['the empty string', ''],
    ['a random word', 'hello'],
    ['random base64url', 'q83vEjRWeJA'],
    ['a truncated cursor', valid.slice(0, -1)],
    ['a cursor cut by a whole byte', valid.slice(0, -2)],
    ['padding appended', valid + '='],
    ['standard base64 characters', valid.replace(/.$/, '+')],
    ['a percent sign', valid.slice(0, 4) + '%' + valid.slice(5)],
    ['whitespace', ` ${valid}`],
    [
      'one character changed',
      valid.slice(0, 3) + (valid[3] === 'A' ? 'B' : 'A') + valid.slice(4),
    ],
    ['unused bits flipped in the last character', flipUnusedBit('user-1')],
    ['another version', forge(2, Buffer.from('user-12'))],
    ['an empty key', forge(1, Buffer.alloc(0))],
    [
      'a key over the limit',
      forge(1, Buffer.from('k'.repeat(MAX_KEY_BYTES + 1))),
    ],
    ['a key that is not UTF-8', forge(1, Buffer.of(0x61, 0xff, 0x62))],
    ['a lone surrogate in UTF-8', forge(1, Buffer.of(0xed, 0xa0, 0x80))],
    ['a wrong check', forge(1, Buffer.from('user-12'), Buffer.alloc(4))],
    ['a string far over the longest cursor', 'A'.repeat(100_000)],
  ])('refuses %s', (_name, cursor) => {
    expect(readCursor(cursor, MAX_KEY_BYTES)).toBeUndefined();
  });

  it('refuses a key the configured limit does not allow, even with a right check', () => {
    const cursor = writeCursor('k'.repeat(100));
    expect(readCursor(cursor, 100)).toBe('k'.repeat(100));
    expect(readCursor(cursor, 99)).toBeUndefined();
  });
});
