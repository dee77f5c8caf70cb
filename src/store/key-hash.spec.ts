import { hashString } from './key-hash';

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
