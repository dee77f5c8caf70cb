import type { Config } from '../../config/config';
import type { Milliseconds, Precondition } from '../../store';
import { MAX_TTL } from '../../store';
import { Errors, HttpError } from './http-errors';
import { JsonScanner, JsonSyntaxError } from '../../json/json-scanner';
import { checkKey, utf8LongerThan } from './request-parsing';

/** The most operations one `POST /_/txn` may carry. */
export const TXN_MAX_OPS = 128;

/** The limits a transaction body is checked against: a `Config` will do. */
export type TxnLimits = Pick<Config, 'maxKeyBytes' | 'maxValueBytes'>;

interface TxnOpBase {
  /** The decoded key: 1 to `maxKeyBytes` bytes of well-formed UTF-8, not `_`. */
  readonly key: string;
  /** `'*'` (the key is present) or the one revision its ETag must have. */
  readonly ifMatch?: Precondition;
  /** The key must be absent. */
  readonly ifNoneMatch?: '*';
}

/** A `put` (create or replace) or a `create` (the key must be absent). */
export interface TxnWriteOp extends TxnOpBase {
  readonly op: 'put' | 'create';
  /** The value's exact text in the body, at most `maxValueBytes` bytes of UTF-8. */
  readonly value: string;
  /** Time-to-live, 1 to `MAX_TTL`; absent for none. */
  readonly ttl?: Milliseconds;
}

/**
 * A `delete` (the key must be present) or a `check` (writes nothing; a check always carries
 * `ifMatch` or `ifNoneMatch`).
 */
export interface TxnDeleteOrCheckOp extends TxnOpBase {
  readonly op: 'delete' | 'check';
}

/** One operation of a transaction, as checked by {@link parseTxnBody}. */
export type TxnOp = TxnWriteOp | TxnDeleteOrCheckOp;

/** What {@link parseTxnBody} makes of a body: the ops in body order, or the error to answer. */
export type TxnBodyParse =
  | { readonly ok: true; readonly ops: readonly TxnOp[] }
  | { readonly ok: false; readonly error: HttpError };

const QUOTE = 0x22;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LEFT_BRACKET = 0x5b;
const LEFT_BRACE = 0x7b;

const OP_NAMES: ReadonlySet<string> = new Set([
  'put',
  'create',
  'delete',
  'check',
]);
const OP_FIELDS: ReadonlySet<string> = new Set([
  'op',
  'key',
  'value',
  'ttl',
  'ifMatch',
  'ifNoneMatch',
]);
// In a `u` regular expression a surrogate pair is one code point, so this finds lone ones only.
const LONE_SURROGATE = /\p{Cs}/u;
// A JSON number that is a plain non-negative integer: no sign, fraction or exponent. Sixteen
// digits reach past Number.MAX_SAFE_INTEGER, so a longer one is out of every range used here.
const PLAIN_INTEGER = /^[0-9]{1,16}$/;
// Names and keys quoted in error messages are cut to this many characters.
const QUOTED_LENGTH_LIMIT = 64;

/**
 * Reads the body of `POST /_/txn` (docs/api.md): `{"ops": [op, ...]}` with 1 to
 * {@link TXN_MAX_OPS} ops, each an object of `op`, `key` and, as the op allows, `value`,
 * `ttl`, `ifMatch` and `ifNoneMatch`. Each value is kept as the exact text it has in `body`,
 * never re-encoded. Never throws: a body that is not one valid JSON text is 400
 * `invalid_json`; otherwise the first problem in body order decides the answer:
 * - 400 `invalid_txn`: not an object, a top-level member other than `ops`, `ops` missing,
 *   repeated, not an array, empty or over {@link TXN_MAX_OPS}; an op that is not an object,
 *   has an unknown or repeated member, lacks `op` or `key`, has an unknown `op`, a put or create
 *   without `value`, a delete or check with `value` or `ttl`, a check with no condition, an
 *   `ifMatch` other than a non-negative safe integer or `"*"`, an `ifNoneMatch` other than
 *   `"*"`, a key already used by an earlier op; any of these fields with `null` or another type.
 * - 400 `invalid_key` (empty, or a lone surrogate escape), `reserved_key` (`_`), 414
 *   `key_too_long`, 413 `value_too_large` (over `maxValueBytes` bytes of UTF-8), 400
 *   `invalid_ttl` (`ttl` not a JSON integer written as digits from 1 to `MAX_TTL`).
 * Errors about one op name it in their message (`ops[3]: ...`). Takes time linear in the body.
 */
export function parseTxnBody(body: string, limits: TxnLimits): TxnBodyParse {
  try {
    return { ok: true, ops: new TxnBodyReader(body, limits).read() };
  } catch (error) {
    if (error instanceof JsonSyntaxError)
      return { ok: false, error: Errors.invalidJson(error.message) };
    if (!(error instanceof HttpError)) throw error;
    // Reading stopped at the first problem; a syntax error further on still wins, so the
    // answer never depends on where reading stopped.
    const syntaxError = findSyntaxError(body);
    return {
      ok: false,
      error:
        syntaxError === undefined
          ? error
          : Errors.invalidJson(syntaxError.message),
    };
  }
}

function findSyntaxError(text: string): JsonSyntaxError | undefined {
  const scanner = new JsonScanner(text);
  try {
    scanner.skipValue();
    scanner.expectEnd();
    return undefined;
  } catch (error) {
    if (error instanceof JsonSyntaxError) return error;
    throw error;
  }
}

interface OpFields {
  op?: TxnOp['op'];
  key?: string;
  value?: string;
  ttl?: Milliseconds;
  ifMatch?: Precondition;
  ifNoneMatch?: '*';
}

/** One reading of one body: throws the first problem found as an HttpError. */
class TxnBodyReader {
  private readonly scanner: JsonScanner;
  private readonly ops: TxnOp[] = [];
  private readonly opIndexByKey = new Map<string, number>();

  constructor(
    private readonly body: string,
    private readonly limits: TxnLimits,
  ) {
    this.scanner = new JsonScanner(body);
  }

  read(): TxnOp[] {
    if (this.scanner.peek() !== LEFT_BRACE)
      throw Errors.invalidTxn('the body must be an object: {"ops": [...]}');
    let sawOps = false;
    this.scanner.scanObject((name) => {
      if (name !== 'ops')
        throw Errors.invalidTxn(
          `unknown member ${quote(name)}: the body holds only "ops"`,
        );
      if (sawOps) throw Errors.invalidTxn('"ops" is given twice');
      sawOps = true;
      this.readOps();
    });
    if (!sawOps) throw Errors.invalidTxn('the body has no "ops" array');
    this.scanner.expectEnd();
    return this.ops;
  }

  private readOps(): void {
    const range = `1 to ${TXN_MAX_OPS} operations`;
    if (this.scanner.peek() !== LEFT_BRACKET)
      throw Errors.invalidTxn(`"ops" must be an array of ${range}`);
    this.scanner.scanArray(() => {
      const index = this.ops.length;
      if (index === TXN_MAX_OPS)
        throw Errors.invalidTxn(
          `"ops" holds more than ${TXN_MAX_OPS} operations`,
        );
      this.ops.push(this.readOp(index));
    });
    if (this.ops.length === 0)
      throw Errors.invalidTxn(`"ops" is empty: it must hold ${range}`);
  }

  private readOp(index: number): TxnOp {
    if (this.scanner.peek() !== LEFT_BRACE)
      throw Errors.invalidTxn(`ops[${index}] must be an object`);
    const fields: OpFields = {};
    this.scanner.scanObject((name) => this.readField(index, name, fields));
    return this.finishOp(index, fields);
  }

  private readField(index: number, name: string, fields: OpFields): void {
    if (!OP_FIELDS.has(name))
      throw Errors.invalidTxn(
        `ops[${index}] has an unknown member ${quote(name)}: an op takes op, key, value, ttl, ifMatch and ifNoneMatch`,
      );
    if (fields[name as keyof OpFields] !== undefined)
      throw Errors.invalidTxn(`ops[${index}] gives "${name}" twice`);
    switch (name) {
      case 'op':
        fields.op = this.readOpName(index);
        return;
      case 'key':
        fields.key = this.readKey(index);
        return;
      case 'value':
        fields.value = this.readValue(index);
        return;
      case 'ttl':
        fields.ttl = this.readTtl(index);
        return;
      case 'ifMatch':
        fields.ifMatch = this.readIfMatch(index);
        return;
      case 'ifNoneMatch':
        fields.ifNoneMatch = this.readIfNoneMatch(index);
        return;
    }
  }

  private finishOp(index: number, fields: OpFields): TxnOp {
    const { op, key, value, ttl, ifMatch, ifNoneMatch } = fields;
    if (op === undefined) throw Errors.invalidTxn(`ops[${index}] has no "op"`);
    if (key === undefined)
      throw Errors.invalidTxn(`ops[${index}] has no "key"`);
    const conditions = {
      ...(ifMatch === undefined ? {} : { ifMatch }),
      ...(ifNoneMatch === undefined ? {} : { ifNoneMatch }),
    };
    if (op === 'put' || op === 'create') {
      if (value === undefined)
        throw Errors.invalidTxn(`ops[${index}]: a ${op} needs a "value"`);
      return {
        op,
        key,
        value,
        ...(ttl === undefined ? {} : { ttl }),
        ...conditions,
      };
    }
    if (value !== undefined)
      throw Errors.invalidTxn(`ops[${index}]: a ${op} takes no "value"`);
    if (ttl !== undefined)
      throw Errors.invalidTxn(`ops[${index}]: a ${op} takes no "ttl"`);
    if (op === 'check' && ifMatch === undefined && ifNoneMatch === undefined)
      throw Errors.invalidTxn(
        `ops[${index}]: a check needs "ifMatch" or "ifNoneMatch"`,
      );
    return { op, key, ...conditions };
  }

  private readOpName(index: number): TxnOp['op'] {
    const name = this.readStringOrUndefined();
    if (name === undefined || !OP_NAMES.has(name))
      throw Errors.invalidTxn(
        `ops[${index}].op must be "put", "create", "delete" or "check"`,
      );
    return name as TxnOp['op'];
  }

  private readKey(index: number): string {
    const key = this.readStringOrUndefined();
    if (key === undefined)
      throw Errors.invalidTxn(`ops[${index}].key must be a string`);
    const keyError =
      checkKey(key, this.limits.maxKeyBytes) ??
      (LONE_SURROGATE.test(key)
        ? Errors.invalidKey(
            'the key holds a lone surrogate escape: it must be well-formed Unicode',
          )
        : undefined);
    if (keyError !== undefined) throw Errors.inTxnOp(index, keyError);
    const earlier = this.opIndexByKey.get(key);
    if (earlier !== undefined)
      throw Errors.invalidTxn(
        `ops[${index}] repeats the key ${quote(key)} of ops[${earlier}]: each key may appear once`,
      );
    this.opIndexByKey.set(key, index);
    return key;
  }

  private readValue(index: number): string {
    const { start, end } = this.scanner.skipValue();
    const value = this.body.slice(start, end);
    const limit = this.limits.maxValueBytes;
    if (utf8LongerThan(value, limit))
      throw Errors.inTxnOp(index, Errors.valueTooLarge(limit));
    return value;
  }

  private readTtl(index: number): Milliseconds {
    const ttl = this.readPlainIntegerOrUndefined();
    if (ttl === undefined || ttl < 1 || ttl > MAX_TTL)
      throw Errors.inTxnOp(index, Errors.invalidTtl);
    return ttl;
  }

  private readIfMatch(index: number): Precondition {
    if (this.scanner.peek() === QUOTE) {
      if (this.scanner.readString() === '*') return '*';
    } else {
      const revision = this.readPlainIntegerOrUndefined();
      if (revision !== undefined && Number.isSafeInteger(revision))
        return [revision];
    }
    throw Errors.invalidTxn(
      `ops[${index}].ifMatch must be a revision (an integer from 0 to ${Number.MAX_SAFE_INTEGER}) or "*"`,
    );
  }

  private readIfNoneMatch(index: number): '*' {
    if (this.readStringOrUndefined() !== '*')
      throw Errors.invalidTxn(`ops[${index}].ifNoneMatch must be "*"`);
    return '*';
  }

  /** A string's decoded value, or undefined (nothing consumed) when the next value is not one. */
  private readStringOrUndefined(): string | undefined {
    return this.scanner.peek() === QUOTE
      ? this.scanner.readString()
      : undefined;
  }

  /** A number written as digits only, or undefined when the next value is anything else. */
  private readPlainIntegerOrUndefined(): number | undefined {
    const code = this.scanner.peek();
    if (code !== MINUS && !(code >= DIGIT_0 && code <= DIGIT_9))
      return undefined;
    const { start, end } = this.scanner.skipValue();
    const text = this.body.slice(start, end);
    return PLAIN_INTEGER.test(text) ? Number(text) : undefined;
  }
}

/** A name or key as an error message shows it: JSON-quoted, cut if long. */
function quote(text: string): string {
  return JSON.stringify(
    text.length > QUOTED_LENGTH_LIMIT
      ? text.slice(0, QUOTED_LENGTH_LIMIT) + '…'
      : text,
  );
}
