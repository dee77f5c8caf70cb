import { Digest } from './digest';

type Triple = [key: string, value: string, deadline: number];

function digestOf(triples: readonly Triple[]): string {
  const digest = new Digest();
  for (const [key, value, deadline] of triples)
    digest.add(key, value, deadline);
  return digest.toString();
}

const one = (key: string, value: string, deadline: number): string =>
  digestOf([[key, value, deadline]]);

describe('Digest', () => {
  it('is 16 zero digits for the empty set', () => {
    expect(new Digest().toString()).toBe('0000000000000000');
  });

  it('is 16 lowercase hex digits', () => {
    expect(one('k', '"v"', 0)).toMatch(/^[0-9a-f]{16}$/);
    expect(one('k', '"v"', 0)).not.toBe('0000000000000000');
  });

  it('does not depend on the order the triples are added in', () => {
    const triples: Triple[] = [];
    for (let i = 0; i < 200; i++) {
      triples.push([
        `key-${i}`,
        JSON.stringify({ i }),
        i % 3 === 0 ? 0 : 1_700_000_000_000 + i,
      ]);
    }
    const forward = digestOf(triples);
    const backward = digestOf([...triples].reverse());
    // A fixed interleaving: evens then odds.
    const shuffled = digestOf([
      ...triples.filter((_, i) => i % 2 === 0),
      ...triples.filter((_, i) => i % 2 === 1),
    ]);
    expect(backward).toBe(forward);
    expect(shuffled).toBe(forward);
    expect(
      digestOf([
        ['a', '1', 0],
        ['b', '2', 5],
      ]),
    ).toBe(
      digestOf([
        ['b', '2', 5],
        ['a', '1', 0],
      ]),
    );
  });

  it('changes when one triple is left out', () => {
    const triples: Triple[] = [
      ['a', '1', 0],
      ['b', '2', 0],
      ['c', '3', 0],
    ];
    expect(digestOf(triples.slice(0, 2))).not.toBe(digestOf(triples));
  });

  it('differs when the value, the deadline or the key differs', () => {
    const base = one('key', '"value"', 1_700_000_000_000);
    expect(one('key', '"valuf"', 1_700_000_000_000)).not.toBe(base);
    expect(one('key', '"value"', 1_700_000_000_001)).not.toBe(base);
    expect(one('key', '"value"', 0)).not.toBe(base);
    expect(one('kez', '"value"', 1_700_000_000_000)).not.toBe(base);
    // Swapping key and value.
    expect(one('"value"', 'key', 1_700_000_000_000)).not.toBe(base);
  });

  it('keeps the key/value boundary: ("ab", "c") and ("a", "bc") differ', () => {
    expect(one('ab', 'c', 0)).not.toBe(one('a', 'bc', 0));
    expect(one('', 'abc', 0)).not.toBe(one('abc', '', 0));
  });

  it('keeps the value/deadline boundary', () => {
    // The decimal deadline follows the value: "1" + "23" vs "12" + "3".
    expect(one('k', '1', 23)).not.toBe(one('k', '12', 3));
    // A numeric value with no TTL vs a shorter one with a realistic deadline.
    expect(one('k', '5170000000000', 0)).not.toBe(
      one('k', '5', 1_700_000_000_000),
    );
  });

  it('keeps the key-length/key boundary for keys that start with digits', () => {
    // The key's length is written in decimal before it: "1" + "1..." vs "11" + "...".
    expect(one('1', 'abcdefghijkX', 0)).not.toBe(one('abcdefghijk', 'X', 0));
    expect(one('1', '2', 0)).not.toBe(one('12', '', 0));
  });

  it('counts a repeated triple twice (it is a sum, not a set union)', () => {
    expect(
      digestOf([
        ['a', '1', 0],
        ['a', '1', 0],
      ]),
    ).not.toBe(one('a', '1', 0));
  });
});
