import { Errors } from './http-errors';
import {
  checkKey,
  noneMatchHits,
  parseConsistency,
  parsePrecondition,
  parseTtl,
} from './request-parsing';

describe('request parsing', () => {
  describe('parseConsistency', () => {
    it('defaults to eventual and knows the two words', () => {
      expect(parseConsistency({})).toBe('eventual');
      expect(parseConsistency(undefined)).toBe('eventual');
      expect(parseConsistency({ consistency: 'eventual' })).toBe('eventual');
      expect(parseConsistency({ consistency: 'strong' })).toBe('strong');
    });
    it.each([[''], ['STRONG'], ['weak'], [['strong', 'strong']]])(
      'refuses %j',
      (value) => {
        expect(parseConsistency({ consistency: value })).toBe(
          Errors.invalidConsistency,
        );
      },
    );
  });

  describe('checkKey', () => {
    it('accepts any characters up to the byte limit', () => {
      for (const key of [
        'a',
        '..',
        '__proto__',
        'constructor',
        'a/b',
        '\u0000',
        '😀',
        'a'.repeat(512),
      ]) {
        expect(checkKey(key, 512)).toBeUndefined();
      }
      // 170 three-byte characters and two one-byte ones: exactly 512 bytes
      expect(checkKey('€'.repeat(170) + 'ab', 512)).toBeUndefined();
    });
    it('refuses the reserved key, the empty key and keys over the limit', () => {
      expect(checkKey('_', 512)).toBe(Errors.reservedKey);
      expect(checkKey('', 512)?.status).toBe(400);
      expect(checkKey('a'.repeat(513), 512)?.status).toBe(414);
      expect(checkKey('€'.repeat(171), 512)?.status).toBe(414);
    });
  });

  describe('parseTtl', () => {
    it.each([
      ['1', 1],
      ['60000', 60_000],
      ['315360000000', 315_360_000_000],
      ['007', 7],
      ['0000000000600000', 600_000],
    ])('%s is %d ms', (raw, ttl) => {
      expect(parseTtl(raw)).toBe(ttl);
    });
    it.each([
      ['0'],
      ['-1'],
      ['1.5'],
      ['1e3'],
      ['abc'],
      [''],
      [' 1'],
      ['315360000001'],
      ['9999999999999'],
    ])('refuses %j', (raw) => {
      expect(parseTtl(raw)).toBe(Errors.invalidTtl);
    });
  });

  describe('parsePrecondition', () => {
    it('reads *, one tag or a list, and keeps weak or foreign tags from matching', () => {
      expect(parsePrecondition(undefined)).toBeUndefined();
      expect(parsePrecondition('*')).toBe('*');
      expect(parsePrecondition('"12"')).toEqual([12]);
      expect(parsePrecondition('"1", "2" ,"3"')).toEqual([1, 2, 3]);
      expect(parsePrecondition('W/"5", "abc", "6"')).toEqual([6]);
      expect(parsePrecondition('12')).toEqual([]);
    });
  });

  describe('noneMatchHits', () => {
    it('compares weakly, as RFC 9110 asks of If-None-Match', () => {
      expect(noneMatchHits(undefined, 3)).toBe(false);
      expect(noneMatchHits('"3"', 3)).toBe(true);
      expect(noneMatchHits('W/"3"', 3)).toBe(true);
      expect(noneMatchHits('"1", "3"', 3)).toBe(true);
      expect(noneMatchHits('"4"', 3)).toBe(false);
      expect(noneMatchHits('*', 3)).toBe(true);
    });
  });
});
