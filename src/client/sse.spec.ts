import { SseEvent, SseParser } from './sse';

/** Feeds `text` to a new parser in chunks of `size` characters. */
function parseInChunks(text: string, size: number): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (let i = 0; i < text.length; i += size)
    events.push(...parser.push(text.slice(i, i + size)));
  return events;
}

describe('SseParser', () => {
  const stream =
    ': ping\n\n' +
    'id: 41\nevent: change\ndata: {"revision": 41,\ndata:  "changes": []}\n\n' +
    'id: 42\r\nevent: change\r\ndata: {"revision": 42}\r\n\r\n' +
    'id: 43\revent: change\rdata: x\r\r' +
    'data\n\n' +
    'retry: 2500\nevent: other\ndata:no space\n\n';

  const expected: SseEvent[] = [
    {
      event: 'change',
      data: '{"revision": 41,\n "changes": []}',
      id: '41',
    },
    { event: 'change', data: '{"revision": 42}', id: '42' },
    { event: 'change', data: 'x', id: '43' },
    // A bare field name is the field with an empty value; the last id carries over.
    { event: 'message', data: '', id: '43' },
    { event: 'other', data: 'no space', id: '43' },
  ];

  it('parses events, comments and every line ending whole', () => {
    expect(parseInChunks(stream, stream.length)).toEqual(expected);
  });

  it('gives the same events however the stream is split, CRLF across chunks included', () => {
    for (const size of [1, 2, 3, 5, 7, 64])
      expect(parseInChunks(stream, size)).toEqual(expected);
  });

  it('keeps the retry delay and dispatches nothing for an event without data', () => {
    const parser = new SseParser();
    expect(parser.push('retry: 2500\nid: 7\nevent: change\n\n')).toEqual([]);
    expect(parser.retryMs).toBe(2500);
    expect(parser.push('data: after\n\n')).toEqual([
      { event: 'message', data: 'after', id: '7' },
    ]);
  });

  it('holds an unfinished event until its blank line arrives', () => {
    const parser = new SseParser();
    expect(parser.push('id: 1\ndata: a')).toEqual([]);
    expect(parser.push('b\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([
      { event: 'message', data: 'ab', id: '1' },
    ]);
  });
});
