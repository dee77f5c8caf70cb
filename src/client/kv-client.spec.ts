import { AddressInfo } from 'node:net';
import {
  createServer,
  IncomingMessage,
  Server,
  ServerResponse,
} from 'node:http';
import { KvError } from './errors';
import { KvClient } from './kv-client';
import type { WatchEvent } from './types';

/**
 * The client's request building and answer parsing, against a scripted server on a real
 * socket: exact paths and headers, values as their exact text, cursors followed, and a watch
 * that resumes with Last-Event-ID after its stream breaks. The real server is the e2e suites'.
 */

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Handler = (request: Seen, response: ServerResponse, index: number) => void;

let server: Server;
let client: KvClient;
let handler: Handler;
let seen: Seen[];

beforeEach(async () => {
  seen = [];
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(entry);
      handler(entry, response, seen.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new KvClient({ url: `http://127.0.0.1:${port}/kv/`, token: 't' });
});

afterEach(async () => {
  client.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function answer(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(body);
}

describe('KvClient requests', () => {
  it('writes keys into the path itself, percent-encoded, after the base path', async () => {
    handler = (request, response) =>
      answer(response, 200, '{"key":"x","revision":1}');
    await client.put('..', '1');
    await client.put('a/b c', '1', { ttl: 500, consistency: 'strong' });
    await client.delete('.', { ifMatch: 4 });
    await client.patchTtl('k', null, { ifMatch: '*' });
    await client.patchTtl('k', 60_000);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /kv/%2E%2E',
      'PUT /kv/a%2Fb%20c/500?consistency=strong',
      'DELETE /kv/%2E',
      'PATCH /kv/k?ttl=none',
      'PATCH /kv/k?ttl=60000',
    ]);
    expect(seen[0]!.headers.authorization).toBe('Bearer t');
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    expect(seen[2]!.headers['if-match']).toBe('"4"');
    expect(seen[3]!.headers['if-match']).toBe('*');
    expect(seen[3]!.body).toBe('');
  });

  it('reads the value text, the revision from the ETag and the deadline', async () => {
    handler = (request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        etag: '"42"',
        'x-expires-at': '1900000000000',
      });
      response.end(' 1.50 ');
    };
    expect(await client.get('k')).toEqual({
      key: 'k',
      value: ' 1.50 ',
      revision: 42,
      expiresAt: 1_900_000_000_000,
    });
  });

  it('turns an error answer into a KvError with its code and extra fields', async () => {
    handler = (request, response) =>
      answer(
        response,
        409,
        '{"error":"txn_failed","message":"no","failures":[{"index":1,"key":"b","reason":"key_exists","revision":3}]}',
      );
    const error = (await client
      .txn([{ op: 'check', key: 'b', ifNoneMatch: '*' }])
      .catch((e: unknown) => e)) as KvError;
    expect(error).toBeInstanceOf(KvError);
    expect([error.status, error.code, error.message]).toEqual([
      409,
      'txn_failed',
      'no',
    ]);
    expect(error.failures).toEqual([
      { index: 1, key: 'b', reason: 'key_exists', revision: 3 },
    ]);
    handler = (request, response) => {
      response.writeHead(502);
      response.end('<html>bad gateway</html>');
    };
    const proxied = (await client.stats().catch((e: unknown) => e)) as KvError;
    expect([proxied.status, proxied.code]).toEqual([502, 'http_502']);
  });

  it('embeds each transaction value as its text', async () => {
    handler = (request, response) =>
      answer(
        response,
        200,
        '{"revision":9,"results":[{"key":"a","revision":9},{"key":"b","revision":9}]}',
      );
    const result = await client.txn([
      { op: 'put', key: 'a', value: '{"n": 1.0}', ttl: 100, ifMatch: 7 },
      { op: 'create', key: 'b', value: '12345678901234567890' },
      { op: 'delete', key: 'c', ifMatch: '*' },
    ]);
    expect(result.revision).toBe(9);
    expect(seen[0]!.url).toBe('/kv/_/txn');
    expect(seen[0]!.body).toBe(
      '{"ops":[{"op":"put","key":"a","value":{"n": 1.0},"ttl":100,"ifMatch":7},' +
        '{"op":"create","key":"b","value":12345678901234567890},' +
        '{"op":"delete","key":"c","ifMatch":"*"}]}',
    );
    await expect(
      client.txn([{ op: 'put', key: 'a', value: '1, "x": 2' }]),
    ).rejects.toThrow(/the value of op 0 is not one JSON text/);
    expect(seen).toHaveLength(1);
  });
});

describe('KvClient listing', () => {
  const keys = ['a', 'b', 'c', 'd', 'e'];
  const values = [
    '1.0',
    '"\\u00e9"',
    '{"value": 2}',
    '[ ]',
    '12345678901234567890',
  ];

  beforeEach(() => {
    handler = (request, response) => {
      const query = new URLSearchParams(request.url.split('?')[1]);
      const limit = Number(query.get('limit'));
      const start = query.has('cursor') ? Number(query.get('cursor')) : 0;
      const page = keys.slice(start, start + limit).map((key, index) => {
        const value =
          query.get('values') === 'true'
            ? `, "value": ${values[start + index]}`
            : '';
        return `{"key": "${key}", "revision": ${start + index + 1}, "expiresAt": null${value}}`;
      });
      const cursor = page.length === limit ? `"${start + limit}"` : 'null';
      answer(
        response,
        200,
        `{"keys": [${page.join(', ')}], "cursor": ${cursor}, "revision": 5}`,
      );
    };
  });

  it('hands out each listed value as the text the server sent', async () => {
    const page = await client.list({ prefix: 'p/x', limit: 10, values: true });
    expect(page.keys.map((k) => k.value)).toEqual(values);
    expect(page.cursor).toBeNull();
    expect(seen[0]!.url).toBe('/kv/_/keys?prefix=p%2Fx&limit=10&values=true');
  });

  it('follows cursors to the last page', async () => {
    const listed: string[] = [];
    for await (const entry of client.listAll({ limit: 2 }))
      listed.push(entry.key);
    expect(listed).toEqual(keys);
    expect(seen.map((r) => r.url)).toEqual([
      '/kv/_/keys?limit=2',
      '/kv/_/keys?cursor=2&limit=2',
      '/kv/_/keys?cursor=4&limit=2',
    ]);
  });
});

describe('KvClient watch', () => {
  const event = (revision: number, changes: string): string =>
    `id: ${revision}\nevent: change\ndata: {"revision": ${revision}, "changes": ${changes}}\n\n`;

  it('resumes with Last-Event-ID after the stream breaks, and stops on an error answer', async () => {
    handler = (request, response, index) => {
      if (index === 2) {
        answer(
          response,
          410,
          '{"error":"history_compacted","message":"gone","oldest":20}',
        );
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      if (index === 0) {
        response.write(': ping\n\n');
        response.write(
          event(
            6,
            '[{"key": "a", "type": "put", "value": 1.0, "expiresAt": null}]',
          ),
        );
        // An event split across writes, its value over two data lines.
        response.write(
          'id: 7\nevent: change\ndata: {"revision": 7, "changes": [{"key": "b", "type": "put", "value": {\n',
        );
        response.write(
          'data: "x": 2}, "expiresAt": 1900000000000}, {"key": "c", "type": "delete"}]}\n\n',
        );
        // A broken connection: the client must come back.
        response.socket?.end();
        return;
      }
      // The server closes a stream (a slow reader cut off): the client must come back too.
      response.end(event(8, '[{"key": "d", "type": "expire"}]'));
    };
    const events: WatchEvent[] = [];
    const reconnects: number[] = [];
    const error = await (async () => {
      try {
        for await (const watched of client.watch({
          from: 5,
          prefix: 'a b',
          onReconnect: (attempt) => reconnects.push(attempt),
        }))
          events.push(watched);
      } catch (caught) {
        return caught;
      }
    })();
    expect(events).toEqual([
      {
        revision: 6,
        changes: [{ key: 'a', type: 'put', value: '1.0', expiresAt: null }],
      },
      {
        revision: 7,
        changes: [
          {
            key: 'b',
            type: 'put',
            value: '{\n"x": 2}',
            expiresAt: 1_900_000_000_000,
          },
          { key: 'c', type: 'delete' },
        ],
      },
      { revision: 8, changes: [{ key: 'd', type: 'expire' }] },
    ]);
    expect(error).toBeInstanceOf(KvError);
    expect((error as KvError).code).toBe('history_compacted');
    expect((error as KvError).oldest).toBe(20);
    expect(reconnects).toEqual([1, 1]);
    expect(seen.map((r) => [r.url, r.headers['last-event-id']])).toEqual([
      ['/kv/_/watch?prefix=a%20b&from=5', undefined],
      ['/kv/_/watch?prefix=a%20b', '7'],
      ['/kv/_/watch?prefix=a%20b', '8'],
    ]);
    expect(seen[0]!.headers.accept).toBe('text/event-stream');
  });

  it('starts from the revision of a one-key listing when given no start, and ends on abort', async () => {
    const stop = new AbortController();
    handler = (request, response) => {
      if (request.url.startsWith('/kv/_/keys')) {
        answer(response, 200, '{"keys": [], "cursor": null, "revision": 30}');
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(event(31, '[{"key": "a", "type": "delete"}]'));
    };
    const events: number[] = [];
    for await (const watched of client.watch({ signal: stop.signal })) {
      events.push(watched.revision);
      stop.abort();
    }
    expect(events).toEqual([31]);
    expect(seen.map((r) => r.url)).toEqual([
      '/kv/_/keys?limit=1',
      '/kv/_/watch?from=30',
    ]);
  });
});
