import { NO_DEADLINE } from '../../store';
import { ListPageWriter } from './list-page';

const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const asText = (page: string | Buffer): string =>
  typeof page === 'string' ? page : page.toString('utf8');

describe('ListPageWriter', () => {
  it('writes an empty page', () => {
    expect(new ListPageWriter(1024).finish(null, 0)).toBe(
      '{"keys":[],"cursor":null,"revision":0}',
    );
  });

  it('writes keys, revisions and deadlines, with no value member without values', () => {
    const page = new ListPageWriter(1024);
    page.add('a"\\\u0000😀', 3, NO_DEADLINE, undefined);
    page.add('b', 2 ** 40, 1_795_000_000_123, undefined);
    expect(page.finish('AQ-_', 41)).toBe(
      '{"keys":[{"key":"a\\"\\\\\\u0000😀","revision":3,"expiresAt":null},' +
        '{"key":"b","revision":1099511627776,"expiresAt":1795000000123}],' +
        '"cursor":"AQ-_","revision":41}',
    );
  });

  it('splices each value in byte for byte, given as text or as bytes', () => {
    const odd = ' {"b" :\t[1 ,2],\n "a":"é\\u00e9"}\r\n';
    const page = new ListPageWriter(1024);
    page.add('x', 1, NO_DEADLINE, odd);
    page.add('y', 2, NO_DEADLINE, utf8(odd));
    page.add('z', 3, NO_DEADLINE, '1e400');
    const text = page.finish(null, 3);
    expect(text).toBe(
      `{"keys":[{"key":"x","revision":1,"expiresAt":null,"value":${odd}},` +
        `{"key":"y","revision":2,"expiresAt":null,"value":${odd}},` +
        '{"key":"z","revision":3,"expiresAt":null,"value":1e400}],"cursor":null,"revision":3}',
    );
    expect(typeof text).toBe('string');
  });

  it('sends values over the threshold as bytes, and the page as one buffer of the same text', () => {
    const long = `"${'€'.repeat(10)}"`; // 32 bytes, 12 UTF-16 units
    const small = new ListPageWriter(1024);
    const large = new ListPageWriter(8);
    for (const page of [small, large]) {
      page.add('a', 1, NO_DEADLINE, '1');
      page.add('b', 2, NO_DEADLINE, utf8(long));
      page.add('c', 3, 5, long);
      page.add('d', 4, NO_DEADLINE, utf8('[]'));
    }
    const expected = small.finish(null, 4);
    const bytes = large.finish(null, 4);
    expect(typeof expected).toBe('string');
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(asText(bytes)).toBe(expected);
    expect(JSON.parse(asText(bytes))).toEqual({
      keys: [
        { key: 'a', revision: 1, expiresAt: null, value: 1 },
        { key: 'b', revision: 2, expiresAt: null, value: '€'.repeat(10) },
        { key: 'c', revision: 3, expiresAt: 5, value: '€'.repeat(10) },
        { key: 'd', revision: 4, expiresAt: null, value: [] },
      ],
      cursor: null,
      revision: 4,
    });
  });

  it('takes a value given as a view into a larger buffer, at its offset', () => {
    const arena = utf8('xx[1,2]yy');
    const page = new ListPageWriter(0);
    page.add('k', 1, NO_DEADLINE, arena.subarray(2, 7));
    expect(asText(page.finish(null, 1))).toBe(
      '{"keys":[{"key":"k","revision":1,"expiresAt":null,"value":[1,2]}],"cursor":null,"revision":1}',
    );
  });
});
