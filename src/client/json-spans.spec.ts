import { memberSpans } from './json-spans';

const slices = (text: string, name: string, depth: number): string[] =>
  memberSpans(text, name, depth).map(({ start, end }) =>
    text.slice(start, end),
  );

describe('memberSpans', () => {
  it('finds the exact source of each listed value, whatever its form', () => {
    const page =
      '{"keys": [' +
      '{"key": "a", "value": 1.0},' +
      '{"key": "b", "value" : 12345678901234567890 },' +
      '{"key": "c", "value":"caf\\u00e9 \\"}\\" ]"},' +
      '{"key": "d", "value": {"value": [1, {"value": 2}], "s": "x,}]"}},' +
      '{"key": "e", "value": [ ]},' +
      '{"key": "f", "value": null}, {"key": "g"},' +
      '{"key": "h", "value": true}' +
      '], "cursor": null, "value": "not at depth 3"}';
    expect(slices(page, 'value', 3)).toEqual([
      '1.0',
      '12345678901234567890',
      '"caf\\u00e9 \\"}\\" ]"',
      '{"value": [1, {"value": 2}], "s": "x,}]"}',
      '[ ]',
      'null',
      'true',
    ]);
  });

  it('matches member names by their decoded text, at the given depth only', () => {
    const text = '{"v\\u0061lue": -0.5e+3, "x": {"value": 1}}';
    expect(slices(text, 'value', 1)).toEqual(['-0.5e+3']);
    expect(slices(text, 'value', 2)).toEqual(['1']);
    expect(slices(text, 'value', 3)).toEqual([]);
  });

  it('finds nothing in scalars, empty containers and whitespace', () => {
    for (const text of ['1', '"value"', '{}', '[]', ' { } ', '[[], {}]'])
      expect(slices(text, 'value', 1)).toEqual([]);
  });
});
