import { Errors } from './http-errors';
import {
  checkKey,
  hasBody,
  noneMatchHits,
  parseConsistency,
  parsePatchTtl,
  parsePrecondition,
  parseQueryTtl,
  parseTtl,
  readQueryParameters,
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

  describe('parseQueryTtl', () => {
    it('is undefined when absent and reads a value as a :ttl segment', () => {
      expect(parseQueryTtl(undefined)).toBeUndefined();
      expect(parseQueryTtl({ consistency: 'strong' })).toBeUndefined();
      expect(parseQueryTtl({ ttl: '60000' })).toBe(60_000);
      expect(parseQueryTtl({ ttl: '315360000000' })).toBe(315_360_000_000);
    });
    it.each([[''], ['0'], ['none'], ['1.5'], ['315360000001'], [['5', '5']]])(
      'refuses %j',
      (ttl) => {
        expect(parseQueryTtl({ ttl })).toBe(Errors.invalidTtl);
      },
    );
  });

  describe('parsePatchTtl', () => {
    it('reads a TTL, or none as 0, and needs one', () => {
      expect(parsePatchTtl({ ttl: '1' })).toBe(1);
      expect(parsePatchTtl({ ttl: '315360000000' })).toBe(315_360_000_000);
      expect(parsePatchTtl({ ttl: 'none' })).toBe(0);
      expect(parsePatchTtl({})).toBe(Errors.missingTtl);
      expect(parsePatchTtl(undefined)).toBe(Errors.missingTtl);
    });
    it.each([[''], ['0'], ['NONE'], ['-1'], ['315360000001'], [['1', 'none']]])(
      'refuses %j',
      (ttl) => {
        expect(parsePatchTtl({ ttl })).toBe(Errors.invalidPatchTtl);
      },
    );
  });

  describe('hasBody', () => {
    it('sees a body in a non-zero Content-Length or any Transfer-Encoding', () => {
      expect(hasBody({})).toBe(false);
      expect(hasBody({ 'content-length': '0' })).toBe(false);
      expect(hasBody({ 'content-length': '1' })).toBe(true);
      expect(hasBody({ 'transfer-encoding': 'chunked' })).toBe(true);
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

  describe('readQueryParameters', () => {
    const known = new Set(['prefix', 'limit']);

    it('decodes the known parameters as a key is decoded and skips the others', () => {
      expect(
        readQueryParameters('/_/keys?prefix=a%2Fb+c&x=1&&limit', known, false),
      ).toEqual(
        new Map([
          ['prefix', 'a/b+c'],
          ['limit', ''],
        ]),
      );
      expect(readQueryParameters('/_/keys', known, true)).toEqual(new Map());
    });

    it('names a known parameter given twice', () => {
      expect(
        readQueryParameters('/?limit=1&prefix=a&limit=2', known, false),
      ).toEqual({ fault: 'repeated', name: 'limit' });
      expect(readQueryParameters('/?x=1&x=2', known, true)).toEqual(new Map());
    });

    it('refuses a bad escape in a name, and in a value it reads', () => {
      expect(readQueryParameters('/?%ZZ=1', known, false)).toEqual({
        fault: 'bad_escape',
      });
      expect(readQueryParameters('/?prefix=%E0%A4', known, false)).toEqual({
        fault: 'bad_escape',
      });
    });

    it('checks the values of unknown names only when asked to', () => {
      expect(readQueryParameters('/?x=%ZZ', known, false)).toEqual(new Map());
      expect(readQueryParameters('/?x=%ZZ', known, true)).toEqual({
        fault: 'bad_escape',
      });
    });
  });
});
