import { Errors, HttpError } from './http-errors';
import { parseWatchQuery, WatchQuery } from './watch-query';

const parse = (query: string, lastEventId?: string): WatchQuery | HttpError =>
  parseWatchQuery(`/_/watch${query}`, lastEventId, 16);

const errorCode = (result: WatchQuery | HttpError): string =>
  result instanceof HttpError ? `${result.status} ${result.code}` : 'ok';

describe('parseWatchQuery', () => {
  it('defaults to every key, from now, with values', () => {
    expect(parse('')).toEqual({ prefix: '', from: undefined, values: true });
    expect(parse('?')).toEqual({ prefix: '', from: undefined, values: true });
  });

  it('reads prefix, from and values', () => {
    expect(parse('?prefix=user-&from=41&values=false')).toEqual({
      prefix: 'user-',
      from: 41,
      values: false,
    });
    expect(parse('?values=true&from=0')).toMatchObject({
      from: 0,
      values: true,
    });
  });

  it('percent-decodes the prefix as a key, with + a plus sign', () => {
    expect(parse('?prefix=a%2Fb%20c+d%F0%9F%98%80')).toMatchObject({
      prefix: 'a/b c+d😀',
    });
    expect(parse('?prefix=%2B')).toMatchObject({ prefix: '+' });
    expect(parse('?prefix=')).toMatchObject({ prefix: '' });
    expect(parse('?prefix=_')).toMatchObject({ prefix: '_' });
  });

  it('refuses bad percent-encoding', () => {
    expect(parse('?prefix=%zz')).toBe(Errors.badUrl);
    expect(parse('?prefix=%E2%82')).toBe(Errors.badUrl);
    expect(parse('?%zz=1')).toBe(Errors.badUrl);
  });

  it('holds a prefix to the key size limit', () => {
    expect(parse(`?prefix=${'a'.repeat(16)}`)).toMatchObject({
      prefix: 'a'.repeat(16),
    });
    expect(errorCode(parse(`?prefix=${'a'.repeat(17)}`))).toBe(
      '414 key_too_long',
    );
    expect(errorCode(parse(`?prefix=${'%C3%A9'.repeat(9)}`))).toBe(
      '414 key_too_long',
    );
  });

  it.each([
    ['-1'],
    ['1.5'],
    ['1e3'],
    [' 1'],
    ['0x10'],
    [''],
    ['9007199254740992'],
    ['99999999999999999999'],
  ])('refuses from=%j', (from) => {
    expect(errorCode(parse(`?from=${encodeURIComponent(from)}`))).toBe(
      '400 invalid_from',
    );
  });

  it('accepts the largest safe integer as from', () => {
    expect(parse('?from=9007199254740991')).toMatchObject({
      from: Number.MAX_SAFE_INTEGER,
    });
  });

  it('takes Last-Event-ID over from, unless it is empty', () => {
    expect(parse('?from=5', '9')).toMatchObject({ from: 9 });
    expect(parse('', '9')).toMatchObject({ from: 9 });
    expect(parse('?from=5', '')).toMatchObject({ from: 5 });
    expect(parse('?from=x', '9')).toMatchObject({ from: 9 });
    const bad = parse('?from=5', 'abc');
    expect(errorCode(bad)).toBe('400 invalid_from');
    expect((bad as HttpError).message).toMatch(/Last-Event-ID/);
  });

  it.each([['TRUE'], ['1'], [''], ['yes']])('refuses values=%j', (values) => {
    expect(parse(`?values=${values}`)).toBe(Errors.invalidValues);
  });

  it('accepts consistency, and refuses a word it does not know', () => {
    expect(parse('?consistency=strong')).toMatchObject({ prefix: '' });
    expect(parse('?consistency=weak')).toBe(Errors.invalidConsistency);
  });

  it('refuses a parameter given twice, and ignores ones it does not know', () => {
    expect(errorCode(parse('?prefix=a&prefix=b'))).toBe(
      '400 repeated_parameter',
    );
    expect(errorCode(parse('?from=1&from=1'))).toBe('400 repeated_parameter');
    expect(parse('?limit=3&__proto__=x&&')).toEqual({
      prefix: '',
      from: undefined,
      values: true,
    });
  });
});
