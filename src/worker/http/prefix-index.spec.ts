import { PrefixIndex } from './prefix-index';

const matches = (index: PrefixIndex<string>, key: string): string[] => {
  const out: string[] = [];
  index.collect(key, out);
  return out;
};

describe('PrefixIndex', () => {
  it('finds every filed prefix of a key, shortest first', () => {
    const index = new PrefixIndex<string>();
    for (const prefix of ['user-', '', 'user-1', 'u', 'order-'])
      index.set(prefix, prefix);
    expect(matches(index, 'user-12')).toEqual(['', 'u', 'user-', 'user-1']);
    expect(matches(index, 'user-')).toEqual(['', 'u', 'user-']);
    expect(matches(index, 'order-7')).toEqual(['', 'order-']);
    expect(matches(index, 'x')).toEqual(['']);
    expect(index.size).toBe(5);
  });

  it('matches by whole characters, emoji and escapes included', () => {
    const index = new PrefixIndex<string>();
    index.set('😀', 'emoji');
    index.set('a/b', 'slash');
    expect(matches(index, '😀x')).toEqual(['emoji']);
    expect(matches(index, '😁')).toEqual([]);
    expect(matches(index, 'a/bc')).toEqual(['slash']);
    expect(matches(index, 'a%2Fb')).toEqual([]);
  });

  it('forgets a prefix, and a length once no prefix has it', () => {
    const index = new PrefixIndex<string>();
    index.set('ab', 'ab');
    index.set('cd', 'cd');
    index.set('abc', 'abc');
    index.delete('ab');
    expect(matches(index, 'abcd')).toEqual(['abc']);
    expect(matches(index, 'cde')).toEqual(['cd']);
    index.delete('cd');
    index.delete('cd');
    expect(matches(index, 'cde')).toEqual([]);
    expect(index.size).toBe(1);
    index.set('abc', 'again');
    expect(index.get('abc')).toBe('again');
    expect(index.size).toBe(1);
  });

  it('agrees with startsWith over many prefixes and keys', () => {
    const index = new PrefixIndex<string>();
    const prefixes = ['', 'a', 'ab', 'abc', 'b', 'ba', 'é', 'éa', 'k1', 'k10'];
    for (const prefix of prefixes) index.set(prefix, prefix);
    for (const key of [
      'a',
      'abc',
      'abcd',
      'b',
      'bab',
      'éab',
      'k100',
      'k2',
      'z',
    ])
      expect(matches(index, key).sort()).toEqual(
        prefixes.filter((p) => key.startsWith(p)).sort(),
      );
  });
});
