import { Change, NO_DEADLINE, Revision } from '../../store';

/**
 * The text of watch streams (Server-Sent Events), built from strings alone so that one event
 * can be written to many streams as it is.
 */

/** A comment line that keeps an idle stream (and the proxies on its way) alive. */
export const PING = ': ping\n\n';

// SSE ends a line at CR, LF or CRLF and has no escape for either. JSON allows them only as
// whitespace between tokens (a key is JSON-escaped, so only a raw value can hold one).
const LINE_BREAK = /[\r\n]/;
const LINE_BREAKS = /[\r\n]/g;

/**
 * One change as it appears in an event's `changes`: `{"key", "type"}`, plus for a put the
 * stored JSON text as `value` (only when `values`) and `expiresAt` (the deadline in ms since
 * the epoch, or null). The value is embedded as the exact text stored, never re-encoded.
 */
export function changeJson(change: Change, values: boolean): string {
  const key = JSON.stringify(change.key);
  if (change.value === null)
    return change.expired
      ? `{"key":${key},"type":"expire"}`
      : `{"key":${key},"type":"delete"}`;
  const expiresAt =
    change.deadline === NO_DEADLINE ? 'null' : String(change.deadline);
  return values
    ? `{"key":${key},"type":"put","value":${change.value},"expiresAt":${expiresAt}}`
    : `{"key":${key},"type":"put","expiresAt":${expiresAt}}`;
}

/**
 * The `change` event of `revision` holding `changes` (texts from {@link changeJson}), with
 * its id, ready to write. Every carriage return or line feed in the data ends its line, and
 * the rest goes on in another `data:` line: a client that joins the lines with line feeds,
 * as SSE requires, reads the JSON text back with each CR turned into an LF.
 */
export function changeEvent(
  revision: Revision,
  changes: readonly string[],
): string {
  let data = `{"revision":${revision},"changes":[${changes.join(',')}]}`;
  if (LINE_BREAK.test(data)) data = data.replace(LINE_BREAKS, '\ndata: ');
  return `id: ${revision}\nevent: change\ndata: ${data}\n\n`;
}
