import { Change, NO_DEADLINE } from '../../store';
import { changeEvent, changeJson, PING } from './watch-events';

const change = (fields: Partial<Change>): Change => ({
  key: 'k',
  value: '1',
  deadline: NO_DEADLINE,
  revision: 1,
  expired: false,
  ...fields,
});

/** What an SSE client reads from one event: its fields, data lines joined with LF. */
function parseEvent(text: string): Record<string, string> {
  expect(text.endsWith('\n\n')).toBe(true);
  const fields: Record<string, string> = {};
  for (const line of text.slice(0, -2).split('\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^ /, '');
    fields[name] = name in fields ? `${fields[name]}\n${value}` : value;
  }
  return fields;
}

describe('watch events', () => {
  describe('changeJson', () => {
    it('embeds a put value byte for byte, with its deadline', () => {
      const value = '{ "n" : 1.50, "s": "\\u00e9" }';
      expect(changeJson(change({ key: 'a', value }), true)).toBe(
        '{"key":"a","type":"put","value":{ "n" : 1.50, "s": "\\u00e9" },"expiresAt":null}',
      );
      expect(
        changeJson(change({ value: '"x"', deadline: 1_795_000_000_123 }), true),
      ).toBe('{"key":"k","type":"put","value":"x","expiresAt":1795000000123}');
    });

    it('leaves the value out when values are not asked for', () => {
      expect(changeJson(change({ value: '[1,2]' }), false)).toBe(
        '{"key":"k","type":"put","expiresAt":null}',
      );
    });

    it('tells a client delete from an expiry, with no value either way', () => {
      const deleted = change({ value: null });
      expect(changeJson(deleted, true)).toBe('{"key":"k","type":"delete"}');
      expect(changeJson({ ...deleted, expired: true }, true)).toBe(
        '{"key":"k","type":"expire"}',
      );
    });

    it('escapes any key as a JSON string', () => {
      const key = 'a\nb\r"c\\/\u0000😀';
      const json = changeJson(change({ key }), false);
      expect(json).not.toMatch(/[\r\n]/);
      expect((JSON.parse(json) as { key: string }).key).toBe(key);
    });
  });

  describe('changeEvent', () => {
    it('is id, event and one data line, then a blank line', () => {
      expect(
        changeEvent(41, [
          changeJson(
            change({ key: 'a', value: '{"n":1}', revision: 41 }),
            true,
          ),
          changeJson(change({ key: 'c', value: null, revision: 41 }), true),
        ]),
      ).toBe(
        'id: 41\nevent: change\n' +
          'data: {"revision":41,"changes":[{"key":"a","type":"put","value":{"n":1},"expiresAt":null},{"key":"c","type":"delete"}]}\n\n',
      );
    });

    it('splits a value over data lines at each LF, CR or CRLF, a CR read back as LF', () => {
      const value = '{\r\n  "a": 1,\n  "b": [\r2]\n}';
      const text = changeEvent(7, [changeJson(change({ value }), true)]);
      expect(text).toBe(
        'id: 7\nevent: change\n' +
          'data: {"revision":7,"changes":[{"key":"k","type":"put","value":{\n' +
          'data: \n' +
          'data:   "a": 1,\n' +
          'data:   "b": [\n' +
          'data: 2]\n' +
          'data: },"expiresAt":null}]}\n\n',
      );
      expect(text).not.toContain('\r');
      const event = parseEvent(text);
      expect(event.id).toBe('7');
      expect(event.event).toBe('change');
      const data = JSON.parse(event.data!) as {
        changes: { value: unknown }[];
      };
      expect(data.changes[0]!.value).toEqual({ a: 1, b: [2] });
      expect(event.data).toContain('{\n\n  "a": 1,\n  "b": [\n2]\n}');
    });

    it('keeps a line break inside a key escaped on one line', () => {
      const text = changeEvent(3, [
        changeJson(change({ key: 'x\r\ny', value: null }), true),
      ]);
      expect(text.split('\n')).toHaveLength(5);
    });
  });

  it('pings with a comment line', () => {
    expect(PING).toBe(': ping\n\n');
  });
});
