/** One dispatched Server-Sent Event. */
export interface SseEvent {
  /** The `event` field; `message` when the event named none. */
  readonly event: string;
  /** The `data` lines joined with line feeds. */
  readonly data: string;
  /** The last event id seen on the stream so far (it carries over to later events). */
  readonly id: string | undefined;
}

/**
 * An incremental parser of the `text/event-stream` format (WHATWG HTML, "Server-sent events"):
 * feed it decoded text in chunks of any size, split anywhere, and it returns the events each
 * chunk completes. Lines end with CRLF, LF or CR; comment lines (`:`) are skipped; `retry` is
 * kept in {@link retryMs}.
 */
export class SseParser {
  /** The last `retry` field: how long the server asks a client to wait before reconnecting. */
  retryMs: number | undefined;
  private partial = '';
  // A chunk ended in CR: an LF at the start of the next one belongs to the same line break.
  private skipLineFeed = false;
  private dataLines: string[] = [];
  private eventType = '';
  private lastId: string | undefined;

  /** Parses `chunk` and returns the events it completes, in order. */
  push(chunk: string): SseEvent[] {
    const events: SseEvent[] = [];
    let text = chunk;
    if (this.skipLineFeed && text.startsWith('\n')) text = text.slice(1);
    this.skipLineFeed = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const char = text.charCodeAt(i);
      if (char !== 10 && char !== 13) continue;
      const line = this.partial + text.slice(start, i);
      this.partial = '';
      if (char === 13) {
        if (i + 1 === text.length) this.skipLineFeed = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
      const event = this.line(line);
      if (event !== undefined) events.push(event);
    }
    this.partial += text.slice(start);
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const event = this.eventType === '' ? 'message' : this.eventType;
    const lines = this.dataLines;
    this.dataLines = [];
    this.eventType = '';
    if (lines.length === 0) return undefined;
    return { event, data: lines.join('\n'), id: this.lastId };
  }
}
