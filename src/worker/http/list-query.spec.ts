import { Errors } from './http-errors';
import { writeCursor } from './list-cursor';
import { parseListQuery } from './list-query';

const MAX_KEY_BYTES = 512;
const parse = (url: string) => parseListQuery(url, MAX_KEY_BYTES);

describe('parseListQuery', () => {
  it('has defaults for every parameter', () => {
    const defaults = {
      prefix: '',
      limit: 100,
      after: undefined,
      values: false,
      consistency: 'eventual',
    };
    expect(parse('/_/keys')).toEqual(defaults);
    expect(parse('/_/keys?')).toEqual(defaults);
    expect(parse('/_/keys?&&')).toEqual(defaults);
  });

  it('reads every parameter', () => {
    const cursor = writeCursor('user/7');
    expect(
      parse(
        `/_/keys?prefix=user%2F&limit=1000&cursor=${cursor}&values=true&consistency=strong`,
      ),
    ).toEqual({
      prefix: 'user/',
      limit: 1000,
      after: 'user/7',
      values: true,
      consistency: 'strong',
    });
  });

  it('percent-decodes the prefix like a key: a plus sign stays a plus sign', () => {
    expect(parse('/_/keys?prefix=a+b%20c')).toMatchObject({
      prefix: 'a+b c',
    });
    expect(parse('/_/keys?prefix=%F0%9F%98%80%EF%BF%BF')).toMatchObject({
      prefix: '😀\uffff',
    });
    expect(parse('/_/keys?prefix=a%26b%3Dc')).toMatchObject({
      prefix: 'a&b=c',
    });
    expect(parse('/_/keys?prefix=&limit=5')).toMatchObject({
      prefix: '',
      limit: 5,
    });
    expect(parse('/_/keys?prefix')).toMatchObject({ prefix: '' });
    expect(parse('/_/keys?%70refix=x')).toMatchObject({ prefix: 'x' });
  });

  it('takes a prefix as long as a key can be, and refuses a longer one with 414', () => {
    expect(parse(`/_/keys?prefix=${'k'.repeat(512)}`)).toMatchObject({
      prefix: 'k'.repeat(512),
    });
    expect(parse(`/_/keys?prefix=${'k'.repeat(513)}`)).toEqual(
      Errors.prefixTooLong(MAX_KEY_BYTES),
    );
    expect(parse(`/_/keys?prefix=${'%E2%82%AC'.repeat(171)}`)).toEqual(
      Errors.prefixTooLong(MAX_KEY_BYTES),
    );
  });

  it('ignores parameters it does not know, whatever their value', () => {
    expect(parse('/_/keys?limit=3&foo=%ZZ&bar&limit2=0')).toMatchObject({
      limit: 3,
    });
  });

  it.each([
    ['1', 1],
    ['1000', 1000],
    ['0100', 100],
    ['42', 42],
  ])('takes limit=%s', (text, limit) => {
    expect(parse(`/_/keys?limit=${text}`)).toMatchObject({ limit });
  });

  it.each([
    ['limit=0', Errors.invalidLimit],
    ['limit=1001', Errors.invalidLimit],
    ['limit=10000', Errors.invalidLimit],
    ['limit=-1', Errors.invalidLimit],
    ['limit=1.5', Errors.invalidLimit],
    ['limit=1e2', Errors.invalidLimit],
    ['limit=+5', Errors.invalidLimit],
    ['limit=%205', Errors.invalidLimit],
    ['limit=', Errors.invalidLimit],
    ['limit=abc', Errors.invalidLimit],
    ['limit=5&limit=5', Errors.invalidLimit],
    ['values=', Errors.invalidValues],
    ['values', Errors.invalidValues],
    ['values=TRUE', Errors.invalidValues],
    ['values=1', Errors.invalidValues],
    ['values=true&values=true', Errors.invalidValues],
    ['consistency=', Errors.invalidConsistency],
    ['consistency=STRONG', Errors.invalidConsistency],
    ['consistency=strong&consistency=strong', Errors.invalidConsistency],
    ['cursor=', Errors.invalidCursor],
    ['cursor=hello', Errors.invalidCursor],
    ['cursor=%ZZ', Errors.badUrl],
    ['prefix=a&prefix=b', Errors.invalidPrefix],
    ['prefix=%E2%82', Errors.badUrl],
    ['prefix=%', Errors.badUrl],
    ['pre%ZZfix=a', Errors.badUrl],
  ])('refuses %s', (query, error) => {
    expect(parse(`/_/keys?${query}`)).toBe(error);
  });

  it('refuses a cursor given twice, even the same one', () => {
    const cursor = writeCursor('a');
    expect(parse(`/_/keys?cursor=${cursor}&cursor=${cursor}`)).toBe(
      Errors.invalidCursor,
    );
  });

  it('refuses a well-formed cursor whose key is longer than this server allows', () => {
    const cursor = writeCursor('k'.repeat(MAX_KEY_BYTES + 1));
    expect(parse(`/_/keys?cursor=${cursor}`)).toBe(Errors.invalidCursor);
    expect(parseListQuery(`/_/keys?cursor=${cursor}`, 1024)).toMatchObject({
      after: 'k'.repeat(MAX_KEY_BYTES + 1),
    });
  });

  it('accepts any well-formed cursor whatever the prefix', () => {
    expect(
      parse(`/_/keys?prefix=zzz&cursor=${writeCursor('aaa')}`),
    ).toMatchObject({ prefix: 'zzz', after: 'aaa' });
  });
});
