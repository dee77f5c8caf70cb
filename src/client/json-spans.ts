/** Where a JSON value lies in a text: `text.slice(start, end)` is exactly its source. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * The spans of the values of every object member called `name` that sits `depth` containers
 * deep in the JSON text `text` (in `{"keys": [{"value": 1}]}`, the member `value` is 3 deep: the
 * outer object, the array, the inner object), in the order they appear.
 *
 * This is how the client hands out a listed or watched value as the exact text the server
 * embedded, rather than a parse and a re-serialization that would change it (`1.0` -> `1`, a
 * big integer rounded, `\u00e9` -> `é`). `text` must be valid JSON: check it with `JSON.parse`
 * first; on anything else the result is unspecified (it may throw).
 */
export function memberSpans(text: string, name: string, depth: number): Span[] {
  const spans: Span[] = [];
  let i = 0;

  const skipWhitespace = (): void => {
    while (i < text.length && WHITESPACE.has(text[i]!)) i++;
  };
  /** Moves past the string that starts at `i`; returns where it started. */
  const skipString = (): number => {
    const start = i;
    for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    i++;
    return start;
  };
  const expect = (char: string): void => {
    if (text[i] !== char) throw new Error(`expected ${char} at ${i}`);
    i++;
  };
  const value = (level: number): void => {
    skipWhitespace();
    const char = text[i];
    if (char === '{') {
      i++;
      skipWhitespace();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipWhitespace();
        const keyStart = skipString();
        const wanted =
          level + 1 === depth &&
          (JSON.parse(text.slice(keyStart, i)) as string) === name;
        skipWhitespace();
        expect(':');
        skipWhitespace();
        const start = i;
        value(level + 1);
        if (wanted) spans.push({ start, end: i });
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect('}');
        return;
      }
    }
    if (char === '[') {
      i++;
      skipWhitespace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(level + 1);
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(']');
        return;
      }
    }
    if (char === '"') {
      skipString();
      return;
    }
    // A number or a literal: it ends at a delimiter or whitespace.
    while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++;
  };

  value(0);
  return spans;
}
