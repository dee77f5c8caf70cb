import { prng, randomString } from './seeded-random.spec-support';
import {
  compareUtf8,
  decodeUtf8,
  encodeUtf8,
  ownedCopy,
  writeUtf8,
} from './utf8';

const TEXTS: [string, string][] = [
  ['an empty string', ''],
  ['a short ASCII key', 'k'],
  ['a 16-character key', 'k000000000000042'],
  ['a key with 1 to 4 UTF-8 bytes a character', 'a/é€😀'],
  ['a key that turns multi-byte halfway', 'abcdefghij-ñ-xyz'],
  ['a key with a NUL and dots', '\u0000../..'],
  ['a key too long for a 4 KiB scratch buffer', 'é'.repeat(5000)],
];

/**
 * Characters of 1 to 4 UTF-8 bytes, U+E000 to U+FFFF among them: those sort below the astral
 * ones in UTF-16 but above them in UTF-8.
 */
const CHARACTERS = [
  'a',
  'b',
  '\u0000',
  '\u007f',
  'é',
  '\u07ff',
  '€',
  '\ue000',
  '\uffff',
  '😀',
  '\u{10000}',
];

describe('writeUtf8', () => {
  it.each(TEXTS)(
    'writes %s as Buffer does, at the offset asked',
    (_what, text) => {
      const out = new Uint8Array(5 + text.length * 3);
      out.fill(0xaa);
      const written = writeUtf8(text, out, 5);
      const expected = Buffer.from(text, 'utf8');
      expect(written).toBe(expected.length);
      expect(Buffer.from(out.subarray(5, 5 + written))).toEqual(expected);
      expect([...out.subarray(0, 5)]).toEqual([0xaa, 0xaa, 0xaa, 0xaa, 0xaa]);
    },
  );

  it('writes a lone surrogate as U+FFFD', () => {
    const out = new Uint8Array(12);
    expect(writeUtf8('k\ud800', out, 0)).toBe(4);
    expect([...out.subarray(0, 4)]).toEqual([0x6b, 0xef, 0xbf, 0xbd]);
  });
});

describe('encodeUtf8 and decodeUtf8', () => {
  it.each(TEXTS)('round-trip %s', (_what, text) => {
    const bytes = encodeUtf8(text);
    expect(Buffer.from(bytes)).toEqual(Buffer.from(text, 'utf8'));
    const padded = new Uint8Array(bytes.length + 6);
    padded.set(bytes, 3);
    expect(decodeUtf8(padded, 3, bytes.length)).toBe(text);
  });

  it('decodes only the bytes asked for', () => {
    expect(decodeUtf8(encodeUtf8('abc€def'), 1, 5)).toBe('bc€');
  });

  it('decodes a malformed sequence as U+FFFD', () => {
    expect(decodeUtf8(Uint8Array.of(0x61, 0xff, 0x62), 0, 3)).toBe('a\ufffdb');
  });
});

describe('compareUtf8', () => {
  /** compareUtf8 of `a` and `b`, each placed at another offset of a larger array. */
  function compare(a: string, b: string): number {
    const aBytes = Buffer.concat([Buffer.from('xx'), Buffer.from(a, 'utf8')]);
    const bBytes = Buffer.concat([
      Buffer.from('y'),
      Buffer.from(b, 'utf8'),
      Buffer.from('z'),
    ]);
    return compareUtf8(
      aBytes,
      2,
      aBytes.length - 2,
      bBytes,
      1,
      bBytes.length - 2,
    );
  }

  it('orders as Buffer.compare does, on seeded random texts', () => {
    const random = prng(18);
    for (let i = 0; i < 2000; i++) {
      const a = randomString(random, CHARACTERS, 12);
      const b = randomString(random, CHARACTERS, 12);
      expect(Math.sign(compare(a, b))).toBe(
        Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')),
      );
    }
  });

  it('says equal for the same bytes at different offsets', () => {
    expect(compare('key/é', 'key/é')).toBe(0);
    expect(compare('', '')).toBe(0);
  });

  it('sorts a prefix first', () => {
    expect(compare('key', 'key/1')).toBeLessThan(0);
    expect(compare('key/1', 'key')).toBeGreaterThan(0);
    expect(compare('', 'a')).toBeLessThan(0);
  });

  it('sorts by code point, not by UTF-16 unit as JavaScript strings do', () => {
    expect('\uffff' > '\u{10000}').toBe(true);
    expect(compare('\uffff', '\u{10000}')).toBeLessThan(0);
  });
});

describe('ownedCopy', () => {
  it.each(TEXTS)('copies %s exactly', (_what, text) => {
    expect(ownedCopy(text)).toBe(text);
  });

  it('keeps a text with a lone surrogate as it is rather than change it', () => {
    const text = 'k-\ud800-end';
    expect(ownedCopy(text)).toBe(text);
  });

  it('copies a slice cut from a longer string', () => {
    const message = 'k000000000000042{"prop":"/1234"}';
    expect(ownedCopy(message.slice(0, 16))).toBe('k000000000000042');
  });
});
