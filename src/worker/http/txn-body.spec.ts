import { prng } from '../../store/seeded-random.spec-support';
import {
  jsonParseAccepts,
  mutate,
  randomJsonValue,
  randomWhitespace,
  trimJsonWhitespace,
} from '../../json/json-texts.spec-support';
import { parseTxnBody, TXN_MAX_OPS, TxnBodyParse, TxnOp } from './txn-body';

const LIMITS = { maxKeyBytes: 512, maxValueBytes: 1_048_576 };

function opsOf(result: TxnBodyParse): readonly TxnOp[] {
  if (!result.ok) throw new Error(`refused: ${result.error.body}`);
  return result.ops;
}

/** The status and code a body is refused with, or 'ok'. */
function answerTo(body: string, limits = LIMITS): string {
  const result = parseTxnBody(body, limits);
  return result.ok ? 'ok' : `${result.error.status} ${result.error.code}`;
}

function messageFor(body: string, limits = LIMITS): string {
  const result = parseTxnBody(body, limits);
  if (result.ok) throw new Error('accepted');
  return result.error.message;
}

/** A body of one put; `key` is the text between the key's quotes, escapes and all. */
const putOf = (value: string, key = 'k'): string =>
  `{"ops":[{"op":"put","key":"${key}","value":${value}}]}`;

const bodyOf = (...ops: string[]): string => `{"ops":[${ops.join(',')}]}`;

describe('parseTxnBody', () => {
  it('reads the example of docs/api.md', () => {
    const body = `{"ops": [
      {"op": "put",    "key": "a", "value": {"n": 1}, "ttl": 60000, "ifMatch": 12},
      {"op": "create", "key": "b", "value": [1, 2]},
      {"op": "delete", "key": "c", "ifMatch": "*"},
      {"op": "check",  "key": "d", "ifMatch": 7}
    ]}`;
    expect(opsOf(parseTxnBody(body, LIMITS))).toStrictEqual([
      { op: 'put', key: 'a', value: '{"n": 1}', ttl: 60_000, ifMatch: [12] },
      { op: 'create', key: 'b', value: '[1, 2]' },
      { op: 'delete', key: 'c', ifMatch: '*' },
      { op: 'check', key: 'd', ifMatch: [7] },
    ]);
  });

  it('takes members in any order, escaped names and every condition', () => {
    const body = `{"ops":[
      {"value":true,"ifNoneMatch":"*","\\u006bey":"x","op":"create","ttl":1},
      {"ifMatch":0,"ifNoneMatch":"*","key":"y","\\u006fp":"check"},
      {"key":"z","op":"put","value":null,"ifMatch":9007199254740991,"ttl":315360000000}
    ]}`;
    expect(opsOf(parseTxnBody(body, LIMITS))).toStrictEqual([
      { op: 'create', key: 'x', value: 'true', ttl: 1, ifNoneMatch: '*' },
      { op: 'check', key: 'y', ifMatch: [0], ifNoneMatch: '*' },
      {
        op: 'put',
        key: 'z',
        value: 'null',
        ttl: 315_360_000_000,
        ifMatch: [Number.MAX_SAFE_INTEGER],
      },
    ]);
  });

  describe('keeps each value as its exact text', () => {
    it.each([
      ['-0'],
      ['1e400'],
      ['-1E-400'],
      ['0.10'],
      ['1.0'],
      ['123456789012345678901234567890'],
      ['true'],
      ['null'],
      ['""'],
      [String.raw`"\"\\\/\b\f\n\r\t"`],
      [String.raw`"\u0000\u001f\u00e9\u20AC"`],
      [String.raw`"\uD83D\uDE00 and a lone \ud800"`],
      ['"é € 😀 \u2028 \u007f"'],
      ['[ 1 ,\n\t2 ,\r\n[ ] , { } ]'],
      ['{ "b" : 2 , "a" : [ 1 , { } ] }'],
      ['{"a":1,"a":2}'],
      ['{"__proto__":{"polluted":true}}'],
      ['{"ops":[],"op":"delete"}'],
    ])('%s', (value) => {
      const body = `{ "ops" : [ { "op" : "put" , "key" : "k" , "value" :\r\n\t ${value} \n, "ttl":5 } ] }`;
      const [op] = opsOf(parseTxnBody(body, LIMITS));
      expect(op?.op === 'put' && op.value).toBe(value);
      expect(Buffer.from(op?.op === 'put' ? op.value : '')).toEqual(
        Buffer.from(value),
      );
    });

    it('for a value nested 100,000 deep', () => {
      const value = '[{"a":'.repeat(50_000) + '0' + '}]'.repeat(50_000);
      const [op] = opsOf(parseTxnBody(putOf(value), LIMITS));
      expect(op?.op === 'put' && op.value === value).toBe(true);
    });

    it('for 128 values, each in its own op', () => {
      const random = prng(128);
      const values = Array.from({ length: TXN_MAX_OPS }, () =>
        randomJsonValue(random),
      );
      const body = bodyOf(
        ...values.map(
          (value, i) =>
            `{"op":"create","key":"k${i}","value":${randomWhitespace(random)}${value}${randomWhitespace(random)}}`,
        ),
      );
      const ops = opsOf(parseTxnBody(body, LIMITS));
      expect(ops.map((op) => op.op === 'create' && op.value)).toEqual(values);
    });
  });

  describe('keys', () => {
    it('decodes escapes and allows any character', () => {
      const body = bodyOf(
        String.raw`{"op":"delete","key":"a\/b"}`,
        String.raw`{"op":"delete","key":"\uD83D\uDE00"}`,
        String.raw`{"op":"delete","key":"\u0000"}`,
        '{"op":"delete","key":"__proto__"}',
        '{"op":"delete","key":".."}',
        '{"op":"delete","key":"_/keys"}',
      );
      expect(opsOf(parseTxnBody(body, LIMITS)).map((op) => op.key)).toEqual([
        'a/b',
        '😀',
        '\u0000',
        '__proto__',
        '..',
        '_/keys',
      ]);
    });

    it('counts UTF-8 bytes of the decoded key, escaped or not', () => {
      // 170 three-byte characters and two one-byte ones: exactly 512 bytes.
      const fits = '€'.repeat(170) + 'ab';
      expect(answerTo(putOf('1', fits))).toBe('ok');
      expect(answerTo(putOf('1', '\\u20ac'.repeat(170) + 'ab'))).toBe('ok');
      expect(answerTo(putOf('1', '€'.repeat(171)))).toBe('414 key_too_long');
      expect(answerTo(putOf('1', '\\u20AC'.repeat(171)))).toBe(
        '414 key_too_long',
      );
      expect(answerTo(putOf('1', 'a'.repeat(513)))).toBe('414 key_too_long');
      expect(
        answerTo(putOf('1', 'a'.repeat(5)), { ...LIMITS, maxKeyBytes: 4 }),
      ).toBe('414 key_too_long');
    });

    it('refuses the reserved key, the empty key, a lone surrogate and a key used twice', () => {
      expect(answerTo(putOf('1', '_'))).toBe('400 reserved_key');
      expect(answerTo(`{"ops":[{"op":"put","key":"\\u005f","value":1}]}`)).toBe(
        '400 reserved_key',
      );
      expect(answerTo(putOf('1', ''))).toBe('400 invalid_key');
      expect(
        answerTo(String.raw`{"ops":[{"op":"delete","key":"a\ud800"}]}`),
      ).toBe('400 invalid_key');
      expect(
        answerTo(String.raw`{"ops":[{"op":"delete","key":"\udc00\ud800"}]}`),
      ).toBe('400 invalid_key');
      const twice = bodyOf(
        '{"op":"put","key":"a","value":1}',
        '{"op":"delete","key":"b"}',
        '{"op":"check","key":"\\u0061","ifMatch":"*"}',
      );
      expect(answerTo(twice)).toBe('400 invalid_txn');
      expect(messageFor(twice)).toBe(
        'the transaction body is malformed: ops[2] repeats the key "a" of ops[0]: each key may appear once',
      );
    });

    it('names the op in the message', () => {
      expect(
        messageFor(
          bodyOf('{"op":"delete","key":"a"}', '{"op":"delete","key":"_"}'),
        ),
      ).toBe('ops[1]: the key "_" is reserved for system endpoints');
    });
  });

  describe('value sizes', () => {
    const limits = { maxKeyBytes: 512, maxValueBytes: 10 };
    it.each([
      ['"12345678"', 'ok'],
      ['"123456789"', '413 value_too_large'],
      ['"€€"', 'ok'],
      ['"€€€"', '413 value_too_large'],
      ['"😀😀"', 'ok'],
      ['"😀😀a"', '413 value_too_large'],
      [String.raw`"\u20ac"`, 'ok'],
      [String.raw`"\u20ac\n!"`, '413 value_too_large'],
      ['[1, 2, 3]', 'ok'],
      ['[1,  2,  3]', '413 value_too_large'],
    ])('%s against a 10-byte limit: %s', (value, answer) => {
      expect(
        answerTo(
          `{"ops":[{"op":"put","key":"k","value":   ${value}   }]}`,
          limits,
        ),
      ).toBe(answer);
    });

    it('refuses a 2 MB value with 413', () => {
      const body = putOf('"' + 'x'.repeat(2_000_000) + '"');
      expect(answerTo(body)).toBe('413 value_too_large');
      expect(messageFor(body)).toBe(
        'ops[0]: the value is over the limit of 1048576 bytes',
      );
    });

    it('takes a value of exactly the limit', () => {
      const value = '"' + 'é'.repeat((1_048_576 - 2) / 2) + '"';
      expect(answerTo(putOf(value))).toBe('ok');
      expect(answerTo(putOf(value.slice(0, -1) + 'a"'))).toBe(
        '413 value_too_large',
      );
    });
  });

  describe('ttl and conditions', () => {
    it.each([
      ['"ttl":1', 'ok'],
      ['"ttl":315360000000', 'ok'],
      ['"ttl":0', '400 invalid_ttl'],
      ['"ttl":315360000001', '400 invalid_ttl'],
      ['"ttl":-1', '400 invalid_ttl'],
      ['"ttl":-0', '400 invalid_ttl'],
      ['"ttl":1.5', '400 invalid_ttl'],
      ['"ttl":1.0', '400 invalid_ttl'],
      ['"ttl":6e4', '400 invalid_ttl'],
      ['"ttl":1e400', '400 invalid_ttl'],
      ['"ttl":99999999999999999999', '400 invalid_ttl'],
      ['"ttl":"60000"', '400 invalid_ttl'],
      ['"ttl":null', '400 invalid_ttl'],
      ['"ttl":[1]', '400 invalid_ttl'],
      ['"ifMatch":0', 'ok'],
      ['"ifMatch":9007199254740991', 'ok'],
      ['"ifMatch":"*"', 'ok'],
      ['"ifMatch":9007199254740992', '400 invalid_txn'],
      ['"ifMatch":-1', '400 invalid_txn'],
      ['"ifMatch":1.5', '400 invalid_txn'],
      ['"ifMatch":"12"', '400 invalid_txn'],
      ['"ifMatch":"\\"12\\""', '400 invalid_txn'],
      ['"ifMatch":[12]', '400 invalid_txn'],
      ['"ifMatch":null', '400 invalid_txn'],
      ['"ifNoneMatch":"*"', 'ok'],
      ['"ifNoneMatch":"\\u002a"', 'ok'],
      ['"ifNoneMatch":12', '400 invalid_txn'],
      ['"ifNoneMatch":"12"', '400 invalid_txn'],
      ['"ifNoneMatch":true', '400 invalid_txn'],
    ])('put with %s: %s', (member, answer) => {
      expect(
        answerTo(`{"ops":[{"op":"put","key":"k","value":1,${member}}]}`),
      ).toBe(answer);
    });
  });

  describe('refuses a malformed transaction with 400 invalid_txn', () => {
    const ok = '{"op":"delete","key":"a"}';
    it.each([
      ['a top-level array', '[{"ops":[]}]'],
      ['a top-level string', '"ops"'],
      ['a top-level number', '1'],
      ['null', 'null'],
      ['an empty object', '{}'],
      ['an unknown top-level member', `{"ops":[${ok}],"atomic":true}`],
      ['an unknown top-level member first', `{"x":1,"ops":[${ok}]}`],
      ['ops twice', `{"ops":[${ok}],"ops":[${ok}]}`],
      ['ops an object', `{"ops":${ok}}`],
      ['ops a string', '{"ops":"[]"}'],
      ['ops null', '{"ops":null}'],
      ['no ops', '{"ops":[]}'],
      ['an op that is an array', '{"ops":[["delete","a"]]}'],
      ['an op that is null', `{"ops":[${ok},null]}`],
      ['an op without op', '{"ops":[{"key":"a"}]}'],
      ['an op without key', '{"ops":[{"op":"delete"}]}'],
      ['an unknown op', '{"ops":[{"op":"get","key":"a"}]}'],
      ['an op in capitals', '{"ops":[{"op":"PUT","key":"a","value":1}]}'],
      ['an op that is not a string', '{"ops":[{"op":1,"key":"a"}]}'],
      ['a key that is not a string', '{"ops":[{"op":"delete","key":1}]}'],
      ['a key that is null', '{"ops":[{"op":"delete","key":null}]}'],
      ['an unknown op member', '{"ops":[{"op":"delete","key":"a","if":"*"}]}'],
      ['a repeated op', '{"ops":[{"op":"delete","op":"delete","key":"a"}]}'],
      ['a repeated key', '{"ops":[{"op":"delete","key":"a","key":"b"}]}'],
      [
        'a repeated value',
        '{"ops":[{"op":"put","key":"a","value":1,"value":2}]}',
      ],
      [
        'a repeated escaped name',
        '{"ops":[{"op":"delete","key":"a","k\\u0065y":"a"}]}',
      ],
      ['a put without value', '{"ops":[{"op":"put","key":"a"}]}'],
      ['a create without value', '{"ops":[{"op":"create","key":"a","ttl":5}]}'],
      [
        'a delete with a value',
        '{"ops":[{"op":"delete","key":"a","value":1}]}',
      ],
      [
        'a check with a value',
        '{"ops":[{"op":"check","key":"a","value":1,"ifMatch":1}]}',
      ],
      ['a delete with a ttl', '{"ops":[{"op":"delete","key":"a","ttl":5}]}'],
      [
        'a check with a ttl',
        '{"ops":[{"op":"check","key":"a","ttl":5,"ifMatch":1}]}',
      ],
      ['a check without a condition', '{"ops":[{"op":"check","key":"a"}]}'],
    ])('%s', (_name, body) => {
      expect(answerTo(body)).toBe('400 invalid_txn');
    });

    it(`over ${TXN_MAX_OPS} ops`, () => {
      const ops = (count: number): string[] =>
        Array.from(
          { length: count },
          (_, i) => `{"op":"delete","key":"k${i}"}`,
        );
      expect(answerTo(bodyOf(...ops(TXN_MAX_OPS)))).toBe('ok');
      expect(answerTo(bodyOf(...ops(TXN_MAX_OPS + 1)))).toBe('400 invalid_txn');
      expect(messageFor(bodyOf(...ops(TXN_MAX_OPS + 1)))).toBe(
        'the transaction body is malformed: "ops" holds more than 128 operations',
      );
      // 2 MB of ops: refused for their number, after a scan that allocates no op past the limit.
      const many = bodyOf(...ops(70_000));
      expect(many.length).toBeGreaterThan(2_000_000);
      expect(answerTo(many)).toBe('400 invalid_txn');
    });

    it('says what is wrong and where', () => {
      expect(messageFor('{"ops":[{"op":"delete","key":"a","value":1}]}')).toBe(
        'the transaction body is malformed: ops[0]: a delete takes no "value"',
      );
      expect(
        messageFor(`{"ops":[${ok},{"op":"delete","key":"b","x":1}]}`),
      ).toBe(
        'the transaction body is malformed: ops[1] has an unknown member "x": an op takes op, key, value, ttl, ifMatch and ifNoneMatch',
      );
      expect(messageFor(`{"${'n'.repeat(100)}":1}`)).toBe(
        `the transaction body is malformed: unknown member "${'n'.repeat(64)}…": the body holds only "ops"`,
      );
    });
  });

  describe('refuses what is not one JSON text with 400 invalid_json', () => {
    const ok = '{"op":"delete","key":"a"}';
    it.each([
      ['an empty body', ''],
      ['a byte order mark', `\ufeff{"ops":[${ok}]}`],
      ['a truncated body', `{"ops":[${ok}`],
      ['a body cut in a string', '{"ops":[{"op":"del'],
      ['unbalanced brackets', `{"ops":[${ok}}]`],
      ['trailing garbage', `{"ops":[${ok}]} x`],
      ['a second object', `{"ops":[${ok}]}{}`],
      ['a trailing comma in ops', `{"ops":[${ok},]}`],
      ['a trailing comma in an op', '{"ops":[{"op":"delete","key":"a",}]}'],
      ['a comment', `{"ops":[${ok}] /* c */}`],
      ['an invalid escape in a key', '{"ops":[{"op":"delete","key":"\\x"}]}'],
      [
        'a raw control character in a key',
        '{"ops":[{"op":"delete","key":"a\u0001"}]}',
      ],
      ['a lone minus as a value', '{"ops":[{"op":"put","key":"a","value":-}]}'],
      [
        'a leading zero in a value',
        '{"ops":[{"op":"put","key":"a","value":01}]}',
      ],
      ['NaN as a value', '{"ops":[{"op":"put","key":"a","value":NaN}]}'],
      ['a single-quoted value', `{"ops":[{"op":"put","key":"a","value":'x'}]}`],
      [
        'a bad escape deep in a value',
        '{"ops":[{"op":"put","key":"a","value":[[{"b":"\\q"}]]}]}',
      ],
      ['a 100,000-deep unclosed value', putOf('['.repeat(100_000))],
      ['100,000 open brackets', '['.repeat(100_000)],
      ['2 MB of open braces', '{"ops":' + '{'.repeat(2_000_000)],
    ])('%s', (_name, body) => {
      expect(answerTo(body)).toBe('400 invalid_json');
    });

    it('even past a transaction problem found earlier', () => {
      // The key is reserved and the op count is over, but the body is not JSON at all.
      expect(answerTo(`{"ops":[{"op":"put","key":"_","value":1}] "x"}`)).toBe(
        '400 invalid_json',
      );
      expect(answerTo(putOf('"' + 'x'.repeat(2_000_000) + '"') + ',')).toBe(
        '400 invalid_json',
      );
      expect(messageFor('{"ops":[1,]}')).toBe(
        "the body is not one valid JSON text: expected a value but found ']' at position 10",
      );
    });

    it('while a balanced 100,000-deep body is only a malformed transaction', () => {
      expect(answerTo('['.repeat(100_000) + ']'.repeat(100_000))).toBe(
        '400 invalid_txn',
      );
    });
  });

  // Mismatches are collected and compared once: an expect per text would dominate the run.
  describe('against JSON.parse on seeded random texts', () => {
    it('answers invalid_json exactly when JSON.parse refuses', () => {
      const random = prng(16_16);
      const mismatches: string[] = [];
      for (let i = 0; i < 10_000; i++) {
        const value = randomJsonValue(random);
        const text =
          i % 2 === 0
            ? mutate(random, value)
            : mutate(random, putOf(value, 'k' + i));
        const result = parseTxnBody(text, LIMITS);
        const saysInvalidJson =
          !result.ok && result.error.code === 'invalid_json';
        if (saysInvalidJson === jsonParseAccepts(text)) mismatches.push(text);
      }
      expect(mismatches).toEqual([]);
    });

    it('keeps every valid value, with whitespace around it, as its exact text', () => {
      const random = prng(61_61);
      const mismatches: string[] = [];
      for (let i = 0; i < 5000; i++) {
        const value =
          randomWhitespace(random) +
          randomJsonValue(random) +
          randomWhitespace(random);
        const result = parseTxnBody(putOf(value), LIMITS);
        const op = result.ok ? result.ops[0] : undefined;
        if (op?.op !== 'put' || op.value !== trimJsonWhitespace(value))
          mismatches.push(value);
      }
      expect(mismatches).toEqual([]);
    });

    it('never throws on a mutated transaction, and answers only 400, 413 or 414', () => {
      const random = prng(1_6_16);
      const template = bodyOf(
        '{"op":"put","key":"a","value":{"n":[1,2]},"ttl":60000,"ifMatch":12}',
        '{"op":"create","key":"_b","value":"x"}',
        '{"op":"delete","key":"c","ifMatch":"*"}',
        '{"op":"check","key":"d","ifNoneMatch":"*"}',
      );
      const answers = new Map<string, number>();
      const limits = { maxKeyBytes: 2, maxValueBytes: 11 };
      for (let i = 0; i < 10_000; i++) {
        const answer = answerTo(mutate(random, template), limits);
        answers.set(answer, (answers.get(answer) ?? 0) + 1);
      }
      expect([...answers.keys()].sort()).toEqual([
        '400 invalid_json',
        '400 invalid_key',
        '400 invalid_ttl',
        '400 invalid_txn',
        '400 reserved_key',
        '413 value_too_large',
        '414 key_too_long',
        'ok',
      ]);
    });
  });
});
