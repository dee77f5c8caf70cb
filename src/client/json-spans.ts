import { JsonScanner, JsonSpan } from '../json/json-scanner';

/**
 * The spans of the `value` members of the objects in the array that the member `listName` of
 * the JSON object `text` holds (`{"keys": [{"value": 1}]}`), in the order they appear.
 *
 * This is how the client hands out a listed or watched value as the exact text the server
 * embedded, rather than a parse and a re-serialization that would change it (`1.0` -> `1`, a
 * big integer rounded, `\u00e9` -> `é`). It reads with the server's own scanner, so a value
 * nested to any depth is found; on text of another shape it throws a `JsonSyntaxError`.
 */
export function listedValueSpans(text: string, listName: string): JsonSpan[] {
  const scanner = new JsonScanner(text);
  const spans: JsonSpan[] = [];
  scanner.scanObject((name) => {
    if (name !== listName) {
      scanner.skipValue();
      return;
    }
    scanner.scanArray(() =>
      scanner.scanObject((member) => {
        const span = scanner.skipValue();
        if (member === 'value') spans.push(span);
      }),
    );
  });
  return spans;
}
