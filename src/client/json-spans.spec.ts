import { listedValueSpans } from './json-spans';

const slices = (text: string, listName: string): string[] =>
  listedValueSpans(text, listName).map(({ start, end }) =>
    text.slice(start, end),
  );

describe('listedValueSpans', () => {
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
      '], "cursor": null, "value": "not in the list"}';
    expect(slices(page, 'keys')).toEqual([
      '1.0',
      '12345678901234567890',
      '"caf\\u00e9 \\"}\\" ]"',
      '{"value": [1, {"value": 2}], "s": "x,}]"}',
      '[ ]',
      'null',
      'true',
    ]);
  });

  it('matches names by their decoded text, in the named list only', () => {
    const text =
      '{"ch\\u0061nges": [{"v\\u0061lue": -0.5e+3, "x": {"value": 1}}], "keys": [{"value": 2}]}';
    expect(slices(text, 'changes')).toEqual(['-0.5e+3']);
    expect(slices(text, 'keys')).toEqual(['2']);
  });

  it('finds nothing in empty lists and entries without a value', () => {
    for (const text of ['{}', '{"keys": []}', ' { "keys" : [ { } ] } '])
      expect(slices(text, 'keys')).toEqual([]);
  });

  it('finds a value nested deeper than the call stack goes', () => {
    const depth = 200_000;
    const deep = '['.repeat(depth) + ']'.repeat(depth);
    expect(slices(`{"keys": [{"value": ${deep}}]}`, 'keys')).toEqual([deep]);
  });
});
