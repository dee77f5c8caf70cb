import { prng } from '../store/seeded-random.spec-support';
import {
  END_OF_TEXT,
  JsonScanner,
  JsonSpan,
  JsonSyntaxError,
} from './json-scanner';
import {
  jsonParseAccepts,
  mutate,
  randomJsonValue,
  randomStringText,
  trimJsonWhitespace,
} from './json-texts.spec-support';

/** Scans `text` as one whole JSON text and returns the span of its value. */
function scanWhole(text: string): JsonSpan {
  const scanner = new JsonScanner(text);
  const span = scanner.skipValue();
  scanner.expectEnd();
  return span;
}

function syntaxErrorOf(text: string): JsonSyntaxError | undefined {
  try {
    scanWhole(text);
    return undefined;
  } catch (error) {
    if (error instanceof JsonSyntaxError) return error;
    throw error;
  }
}

const VALUES = [
  '0',
  '-0',
  '1e400',
  '-1e400',
  '0.10',
  '-12.5E-7',
  '1E+2',
  '123456789012345678901234567890',
  'true',
  'false',
  'null',
  '""',
  '"plain"',
  String.raw`"\"\\\/\b\f\n\r\t"`,
  String.raw`"\u0000 \u001f \u00E9 \uD83D\uDE00 \ud800 \uDFFF"`,
  '"é € 😀 \u2028 \u007f \ufeff"',
  '[]',
  '{}',
  '[ ]',
  '{ \n }',
  '[1,2]',
  '[ 1 ,\t2 ,\r\n[ ] , { } ]',
  '{ "a" : [ 1 , { "b" : null } ] ,\n "a" : "dup" , "" : -0 }',
  '{"__proto__":{"polluted":true},"constructor":1}',
];

describe('JsonScanner', () => {
  describe('skipValue', () => {
    it.each(VALUES)(
      'spans %s exactly, without the whitespace around it',
      (value) => {
        const text = ' \t\n\r' + value + '\r\n\t ';
        const span = scanWhole(text);
        expect(text.slice(span.start, span.end)).toBe(value);
        expect(span).toEqual({ start: 4, end: 4 + value.length });
      },
    );

    it('takes nesting 100,000 deep, arrays, objects and both mixed', () => {
      const depth = 100_000;
      const texts = [
        '['.repeat(depth) + ']'.repeat(depth),
        '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
        '[{"k":'.repeat(depth / 2) + '[]' + '}]'.repeat(depth / 2),
        '[ 1, {"k": '.repeat(depth / 2) + 'null' + ' } ]'.repeat(depth / 2),
      ];
      for (const text of texts) {
        expect(jsonParseAccepts(text)).toBe(true);
        expect(scanWhole(text)).toEqual({ start: 0, end: text.length });
      }
    });

    it('tells which container closes, however deep', () => {
      const open = '[{"k":'.repeat(50_000);
      expect(
        syntaxErrorOf(open + '[]' + '}]'.repeat(49_999) + ']]')?.position,
      ).toBe(open.length + 2 + 2 * 49_999);
      expect(syntaxErrorOf(open + '[]' + ']}'.repeat(50_000))?.position).toBe(
        open.length + 2,
      );
      expect(syntaxErrorOf('['.repeat(100_000))?.position).toBe(100_000);
    });

    it('consumes one value and leaves the scanner after it', () => {
      const scanner = new JsonScanner(' [1, 2]  , "next"');
      expect(scanner.skipValue()).toEqual({ start: 1, end: 7 });
      expect(scanner.peek()).toBe(','.charCodeAt(0));
    });
  });

  describe('readString', () => {
    it.each([
      ['""'],
      ['"plain"'],
      [String.raw`"a\"b\\c\/d\be\ff\ng\rh\ti"`],
      [String.raw`"\u0000\u001F\u00e9\u20AC"`],
      [String.raw`"\uD83D\uDE00 is one emoji"`],
      [String.raw`"lone \ud800 and \uDFFF"`],
      ['"raw é € 😀 \u2028"'],
      [String.raw`"\u0061\u0062"`],
    ])('decodes %s as JSON.parse does', (text) => {
      const scanner = new JsonScanner(text);
      expect(scanner.readString()).toBe(JSON.parse(text));
      expect(scanner.peek()).toBe(END_OF_TEXT);
    });

    it('refuses what is not a string', () => {
      expect(() => new JsonScanner('1').readString()).toThrow(JsonSyntaxError);
      expect(() => new JsonScanner('"\\x"').readString()).toThrow(
        JsonSyntaxError,
      );
      expect(() => new JsonScanner('"a\nb"').readString()).toThrow(
        JsonSyntaxError,
      );
      expect(() => new JsonScanner('"abc').readString()).toThrow(
        JsonSyntaxError,
      );
    });
  });

  describe('scanObject and scanArray', () => {
    it('hand over each decoded member name and element in order', () => {
      const text = ' { "a" : [ true , "x" ] , "b\\u0022" : { } , "a" : -1 } ';
      const scanner = new JsonScanner(text);
      const seen: string[] = [];
      scanner.scanObject((name) => {
        if (name === 'a' && scanner.peek() === '['.charCodeAt(0)) {
          scanner.scanArray(() => {
            const { start, end } = scanner.skipValue();
            seen.push('element ' + text.slice(start, end));
          });
          seen.push('name a');
          return;
        }
        const { start, end } = scanner.skipValue();
        seen.push(`name ${name} = ${text.slice(start, end)}`);
      });
      scanner.expectEnd();
      expect(seen).toEqual([
        'element true',
        'element "x"',
        'name a',
        'name b" = { }',
        'name a = -1',
      ]);
    });

    it('read empty containers without calling back', () => {
      const scanner = new JsonScanner('{ }');
      scanner.scanObject(() => {
        throw new Error('no member expected');
      });
      const arrays = new JsonScanner('[\n]');
      arrays.scanArray(() => {
        throw new Error('no element expected');
      });
      expect(scanner.peek()).toBe(END_OF_TEXT);
    });

    it.each([
      ['{"a":1,}'],
      ['{"a":1 "b":2}'],
      ['{1:2}'],
      ['[1,]'],
      ['[1 2]'],
      ['{"a" 1}'],
    ])('refuse %s', (text) => {
      const scanner = new JsonScanner(text);
      expect(() => {
        if (text.startsWith('{')) scanner.scanObject(() => scanner.skipValue());
        else scanner.scanArray(() => scanner.skipValue());
      }).toThrow(JsonSyntaxError);
    });
  });

  describe('refuses what JSON.parse refuses', () => {
    it.each([
      ['empty text', ''],
      ['whitespace only', ' \n'],
      ['a byte order mark', '\ufeff{}'],
      ['trailing garbage', '{} x'],
      ['a second value', '1 2'],
      ['a trailing comma after the value', '{},'],
      ['a trailing comma in an array', '[1,]'],
      ['a trailing comma in an object', '{"a":1,}'],
      ['a leading zero', '01'],
      ['a leading zero after a minus', '-01'],
      ['a lone minus', '-'],
      ['a minus before a letter', '-a'],
      ['a plus sign', '+1'],
      ['a dot without digits after it', '1.'],
      ['a dot without digits before it', '.5'],
      ['an exponent without digits', '1e'],
      ['an exponent with only a sign', '1e+'],
      ['hexadecimal', '0x10'],
      ['digit separators', '1_000'],
      ['NaN', 'NaN'],
      ['Infinity', 'Infinity'],
      ['-Infinity', '-Infinity'],
      ['a cut literal', 'tru'],
      ['a capital literal', 'True'],
      ['a literal with more after it', 'nulls'],
      ['single quotes', "'a'"],
      ['a raw NUL in a string', '"\u0000"'],
      ['a raw tab in a string', '"\t"'],
      ['a raw line feed in a string', '"a\nb"'],
      ['an unknown escape', String.raw`"\x41"`],
      ['a capital U escape', String.raw`"\U0041"`],
      ['a short unicode escape', String.raw`"\u12"`],
      ['a bad hex digit', String.raw`"\u12G4"`],
      ['a backslash at the end', '"\\'],
      ['an unterminated string', '"abc'],
      ['an unquoted member name', '{a:1}'],
      ['a missing colon', '{"a" 1}'],
      ['a missing member value', '{"a":}'],
      ['a missing comma', '[1 2]'],
      ['an unopened bracket', ']'],
      ['an unclosed bracket', '['],
      ['an unclosed brace', '{"a":1'],
      ['a mismatched close', '{"a":[}]'],
      ['an extra close', '[1]]'],
      ['a block comment', '/* c */ 1'],
      ['a line comment', '1 // c'],
      ['a no-break space as whitespace', '\u00a01'],
      ['a line separator as whitespace', '\u20281'],
      ['a vertical tab as whitespace', '\u000b1'],
    ])('%s', (_name, text) => {
      expect(jsonParseAccepts(text)).toBe(false);
      const error = syntaxErrorOf(text);
      expect(error).toBeInstanceOf(JsonSyntaxError);
      expect(error!.position).toBeGreaterThanOrEqual(0);
      expect(error!.position).toBeLessThanOrEqual(text.length);
      expect(error!.message).toMatch(
        /^expected .+ but found .+ at position \d+$/,
      );
    });

    it('says where and what', () => {
      expect(syntaxErrorOf('[1,]')?.message).toBe(
        "expected a value but found ']' at position 3",
      );
      expect(syntaxErrorOf('{"a":1 "b":2}')?.message).toBe(
        `expected "," or "}" but found '"' at position 7`,
      );
      expect(syntaxErrorOf('"\u0000"')?.message).toBe(
        'expected an escaped control character but found U+0000 at position 1',
      );
      expect(syntaxErrorOf('[1')?.message).toBe(
        'expected "," or "]" but found the end of the text at position 2',
      );
    });
  });

  // Mismatches are collected and compared once: an expect per text would dominate the run.
  describe('against JSON.parse on seeded random texts', () => {
    it('accepts every valid text and spans it whole', () => {
      const random = prng(16);
      const mismatches: string[] = [];
      for (let i = 0; i < 5000; i++) {
        const text =
          ' '.repeat(i % 3) + randomJsonValue(random) + '\n'.repeat(i % 2);
        const span = scanWhole(text);
        if (
          !jsonParseAccepts(text) ||
          text.slice(span.start, span.end) !== trimJsonWhitespace(text)
        )
          mismatches.push(text);
      }
      expect(mismatches).toEqual([]);
    });

    it('accepts exactly what JSON.parse accepts among mutated texts', () => {
      const random = prng(1616);
      const mismatches: string[] = [];
      let valid = 0;
      for (let i = 0; i < 20_000; i++) {
        const text = mutate(random, randomJsonValue(random));
        const accepted = jsonParseAccepts(text);
        if (accepted) valid++;
        if ((syntaxErrorOf(text) === undefined) !== accepted)
          mismatches.push(text);
      }
      expect(mismatches).toEqual([]);
      // Both outcomes must be well represented, or this spec compares nothing.
      expect(valid).toBeGreaterThan(2000);
      expect(valid).toBeLessThan(18_000);
    });

    it('decodes strings exactly as JSON.parse does', () => {
      const random = prng(61);
      const mismatches: string[] = [];
      for (let i = 0; i < 5000; i++) {
        const text = randomStringText(random);
        if (new JsonScanner(text).readString() !== JSON.parse(text))
          mismatches.push(text);
      }
      expect(mismatches).toEqual([]);
    });
  });
});
