/**
 * Where a JSON value stands in the text it was read from: `text.slice(start, end)` is the value
 * exactly, from its first character to its last, without the whitespace around it. Offsets are
 * UTF-16 indexes, as `String.prototype.slice` takes them.
 */
export interface JsonSpan {
  readonly start: number;
  readonly end: number;
}

/** The text is not one valid JSON text (RFC 8259); `position` is where that became clear. */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';

  constructor(
    readonly position: number,
    problem: string,
  ) {
    super(`${problem} at position ${position}`);
  }
}

const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_1 = 0x31;
const DIGIT_9 = 0x39;
const COLON = 0x3a;
const LEFT_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const RIGHT_BRACKET = 0x5d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LOWER_U = 0x75;
const LEFT_BRACE = 0x7b;
const RIGHT_BRACE = 0x7d;

/** What a one-character escape (`\n`, ...) stands for, by the character after the backslash. */
const SHORT_ESCAPES: ReadonlyMap<number, string> = new Map([
  [QUOTE, '"'],
  [BACKSLASH, '\\'],
  [0x2f, '/'],
  [0x62, '\b'],
  [LOWER_F, '\f'],
  [LOWER_N, '\n'],
  [0x72, '\r'],
  [LOWER_T, '\t'],
]);

/** The code of the character returned by {@link JsonScanner.peek} at the end of the text. */
export const END_OF_TEXT = -1;

/**
 * A strict RFC 8259 reader over one JSON text that reports where values stand instead of
 * building them, so a value can be kept as the exact text it was sent as. It accepts what
 * `JSON.parse` accepts: no byte order mark, no comments, no trailing commas, no leading zeros,
 * only space, tab, line feed and carriage return as whitespace; escapes of lone surrogates are
 * valid, and numbers of any size are. Every method runs in time linear in the text it consumes,
 * and nesting is tracked on a bit stack, not the call stack, so any depth is fine.
 *
 * The caller walks the structure it cares about with {@link scanObject}, {@link scanArray},
 * {@link readString} and {@link skipValue}, then calls {@link expectEnd}. Any syntax error is
 * thrown as a {@link JsonSyntaxError}; nothing else is thrown.
 */
export class JsonScanner {
  private position = 0;
  /** One bit per open container below the value being skipped: 1 for an object. */
  private containers = new Uint8Array(64);

  constructor(private readonly text: string) {}

  /** Skips whitespace and returns the code of the next character, or {@link END_OF_TEXT}. */
  peek(): number {
    this.position = this.skipWhitespace(this.position);
    return this.position < this.text.length
      ? this.text.charCodeAt(this.position)
      : END_OF_TEXT;
  }

  /**
   * Reads an object. `onMember` gets each member's decoded name in order, with the scanner
   * standing before the member's value, and must consume that value.
   */
  scanObject(onMember: (name: string) => void): void {
    this.consume(LEFT_BRACE, 'an object');
    if (this.peek() === RIGHT_BRACE) {
      this.position++;
      return;
    }
    for (;;) {
      const name = this.readString();
      this.consume(COLON, '":" after a member name');
      onMember(name);
      const next = this.peek();
      this.position++;
      if (next === RIGHT_BRACE) return;
      if (next !== COMMA) this.fail(this.position - 1, '"," or "}"');
    }
  }

  /** Reads an array; `onElement` is called before each element and must consume it. */
  scanArray(onElement: () => void): void {
    this.consume(LEFT_BRACKET, 'an array');
    if (this.peek() === RIGHT_BRACKET) {
      this.position++;
      return;
    }
    for (;;) {
      onElement();
      const next = this.peek();
      this.position++;
      if (next === RIGHT_BRACKET) return;
      if (next !== COMMA) this.fail(this.position - 1, '"," or "]"');
    }
  }

  /** Reads a string and returns its decoded value (lone surrogates from escapes included). */
  readString(): string {
    const text = this.text;
    const start = this.skipWhitespace(this.position);
    if (text.charCodeAt(start) !== QUOTE) this.fail(start, 'a string');
    let decoded = '';
    let runStart = start + 1;
    let i = runStart;
    for (;;) {
      if (i >= text.length) this.fail(i, 'the end of the string');
      const code = text.charCodeAt(i);
      if (code === QUOTE) break;
      if (code === BACKSLASH) {
        decoded += text.slice(runStart, i);
        const escaped = text.charCodeAt(i + 1);
        if (escaped === LOWER_U) {
          decoded += String.fromCharCode(this.hexQuad(i + 2));
          i += 6;
        } else {
          const char = SHORT_ESCAPES.get(escaped);
          if (char === undefined) this.fail(i + 1, 'an escape character');
          decoded += char;
          i += 2;
        }
        runStart = i;
      } else {
        if (code < SPACE) this.fail(i, 'an escaped control character');
        i++;
      }
    }
    this.position = i + 1;
    return decoded + text.slice(runStart, i);
  }

  /** Checks one value of any kind and depth, consumes it and returns where it stands. */
  skipValue(): JsonSpan {
    const text = this.text;
    const start = this.skipWhitespace(this.position);
    let depth = 0;
    let i = start;
    for (;;) {
      // A value starts at i.
      const code = i < text.length ? text.charCodeAt(i) : END_OF_TEXT;
      if (code === LEFT_BRACE || code === LEFT_BRACKET) {
        const isObject = code === LEFT_BRACE;
        i = this.skipWhitespace(i + 1);
        if (text.charCodeAt(i) === (isObject ? RIGHT_BRACE : RIGHT_BRACKET)) {
          i++;
        } else {
          this.push(depth++, isObject);
          if (isObject) i = this.skipMemberName(i);
          continue;
        }
      } else if (code === QUOTE) {
        i = this.skipString(i);
      } else if (code === MINUS || (code >= DIGIT_0 && code <= DIGIT_9)) {
        i = this.skipNumber(i);
      } else if (code === LOWER_T) {
        i = this.skipLiteral(i, 'true');
      } else if (code === LOWER_F) {
        i = this.skipLiteral(i, 'false');
      } else if (code === LOWER_N) {
        i = this.skipLiteral(i, 'null');
      } else {
        this.fail(i, 'a value');
      }
      // A value ended at i: close what it ends, then go on to the next value or stop.
      for (;;) {
        if (depth === 0) {
          this.position = i;
          return { start, end: i };
        }
        const inObject = this.isObject(depth - 1);
        i = this.skipWhitespace(i);
        const next = i < text.length ? text.charCodeAt(i) : END_OF_TEXT;
        if (next === COMMA) {
          i = this.skipWhitespace(i + 1);
          if (inObject) i = this.skipMemberName(i);
          break;
        }
        if (next !== (inObject ? RIGHT_BRACE : RIGHT_BRACKET))
          this.fail(i, inObject ? '"," or "}"' : '"," or "]"');
        i++;
        depth--;
      }
    }
  }

  /** Checks that only whitespace is left. */
  expectEnd(): void {
    if (this.peek() !== END_OF_TEXT) this.fail(this.position, 'the end');
  }

  private consume(code: number, expected: string): void {
    if (this.peek() !== code) this.fail(this.position, expected);
    this.position++;
  }

  private skipWhitespace(from: number): number {
    const text = this.text;
    let i = from;
    for (;;) {
      const code = text.charCodeAt(i);
      if (
        code !== SPACE &&
        code !== LINE_FEED &&
        code !== CARRIAGE_RETURN &&
        code !== TAB
      )
        return i;
      i++;
    }
  }

  /** From a member name at `i`: past the name, the colon and the whitespace after it. */
  private skipMemberName(i: number): number {
    if (this.text.charCodeAt(i) !== QUOTE) this.fail(i, 'a member name');
    const afterName = this.skipWhitespace(this.skipString(i));
    if (this.text.charCodeAt(afterName) !== COLON)
      this.fail(afterName, '":" after a member name');
    return this.skipWhitespace(afterName + 1);
  }

  /** From the opening quote at `i`: the index just past the closing quote. */
  private skipString(i: number): number {
    const text = this.text;
    let at = i + 1;
    for (;;) {
      if (at >= text.length) this.fail(at, 'the end of the string');
      const code = text.charCodeAt(at);
      if (code === QUOTE) return at + 1;
      if (code === BACKSLASH) {
        const escaped = text.charCodeAt(at + 1);
        if (escaped === LOWER_U) {
          this.hexQuad(at + 2);
          at += 6;
        } else {
          if (!SHORT_ESCAPES.has(escaped))
            this.fail(at + 1, 'an escape character');
          at += 2;
        }
      } else {
        if (code < SPACE) this.fail(at, 'an escaped control character');
        at++;
      }
    }
  }

  /** The value of the four hex digits at `i`. */
  private hexQuad(i: number): number {
    let value = 0;
    for (let at = i; at < i + 4; at++) {
      const code = this.text.charCodeAt(at);
      const digit =
        code >= DIGIT_0 && code <= DIGIT_9
          ? code - DIGIT_0
          : (code | 0x20) >= 0x61 && (code | 0x20) <= LOWER_F
            ? (code | 0x20) - 0x61 + 10
            : -1;
      if (digit < 0) this.fail(at, 'a hex digit');
      value = value * 16 + digit;
    }
    return value;
  }

  /** From the first character of a number at `i`: the index just past it. */
  private skipNumber(i: number): number {
    const text = this.text;
    let at = i;
    if (text.charCodeAt(at) === MINUS) at++;
    const first = text.charCodeAt(at);
    if (first === DIGIT_0) at++;
    else if (first >= DIGIT_1 && first <= DIGIT_9) at = this.skipDigits(at);
    else this.fail(at, 'a digit');
    if (text.charCodeAt(at) === DOT) at = this.skipOneOrMoreDigits(at + 1);
    const exponent = text.charCodeAt(at);
    if (exponent === LOWER_E || exponent === UPPER_E) {
      at++;
      const sign = text.charCodeAt(at);
      if (sign === PLUS || sign === MINUS) at++;
      at = this.skipOneOrMoreDigits(at);
    }
    return at;
  }

  private skipOneOrMoreDigits(i: number): number {
    const code = this.text.charCodeAt(i);
    if (!(code >= DIGIT_0 && code <= DIGIT_9)) this.fail(i, 'a digit');
    return this.skipDigits(i);
  }

  private skipDigits(i: number): number {
    let at = i;
    for (;;) {
      const code = this.text.charCodeAt(at);
      if (!(code >= DIGIT_0 && code <= DIGIT_9)) return at;
      at++;
    }
  }

  private skipLiteral(i: number, literal: string): number {
    if (!this.text.startsWith(literal, i)) this.fail(i, `"${literal}"`);
    return i + literal.length;
  }

  private push(depth: number, isObject: boolean): void {
    const byte = depth >>> 3;
    if (byte === this.containers.length) {
      const grown = new Uint8Array(this.containers.length * 2);
      grown.set(this.containers);
      this.containers = grown;
    }
    const bit = 1 << (depth & 7);
    if (isObject) this.containers[byte]! |= bit;
    else this.containers[byte]! &= ~bit;
  }

  private isObject(depth: number): boolean {
    return (this.containers[depth >>> 3]! & (1 << (depth & 7))) !== 0;
  }

  private fail(at: number, expected: string): never {
    const found =
      at >= this.text.length
        ? 'the end of the text'
        : describeCharacter(this.text.charCodeAt(at));
    throw new JsonSyntaxError(at, `expected ${expected} but found ${found}`);
  }
}

/** A character as an error message shows it: printable ASCII quoted, anything else as U+XXXX. */
function describeCharacter(code: number): string {
  return code > SPACE && code < 0x7f
    ? `'${String.fromCharCode(code)}'`
    : 'U+' + code.toString(16).toUpperCase().padStart(4, '0');
}
