import { hashBytes, hashString } from './key-hash';

describe('hashString', () => {
  it('matches the published 32-bit FNV-1a test vectors for ASCII text', () => {
    expect(hashString('')).toBe(0x811c9dc5);
    expect(hashString('a')).toBe(0xe40c292c);
    expect(hashString('foobar')).toBe(0xbf9cf968);
  });

  it('returns an unsigned 32-bit integer and is deterministic', () => {
    for (const text of ['', 'x', 'key:1', '\u{1f600}', 'a'.repeat(1000)]) {
      const hash = hashString(text);
      expect(Number.isInteger(hash)).toBe(true);
      expect(hash).toBeGreaterThanOrEqual(0);
      expect(hash).toBeLessThan(2 ** 32);
      expect(hashString(text)).toBe(hash);
    }
  });

  it('hashes UTF-16 code units, so different non-ASCII strings differ', () => {
    expect(hashString('\u00e9')).not.toBe(hashString('e'));
    expect(hashString('\u{1f600}')).not.toBe(hashString('\u{1f601}'));
  });

  it('gives a different hash family for a different seed', () => {
    expect(hashString('foobar', 12345)).not.toBe(hashString('foobar'));
    // Chaining: hashing "bar" seeded with the hash of "foo" equals hashing "foobar".
    expect(hashString('bar', hashString('foo'))).toBe(hashString('foobar'));
  });
});

describe('hashBytes', () => {
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

  it('matches the published 32-bit FNV-1a test vectors', () => {
    expect(hashBytes(bytes(''), 0, 0)).toBe(0x811c9dc5);
    expect(hashBytes(bytes('a'), 0, 1)).toBe(0xe40c292c);
    expect(hashBytes(bytes('foobar'), 0, 6)).toBe(0xbf9cf968);
  });

  it('hashes only the bytes from start for length', () => {
    expect(hashBytes(bytes('xxfoobaryy'), 2, 6)).toBe(0xbf9cf968);
  });

  it('equals hashString for ASCII text, and hashes UTF-8 bytes otherwise', () => {
    expect(hashBytes(bytes('key:1'), 0, 5)).toBe(hashString('key:1'));
    expect(hashBytes(bytes('\u00e9'), 0, 2)).not.toBe(hashString('\u00e9'));
  });
});
