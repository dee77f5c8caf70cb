import {
  Agent as HttpAgent,
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  request as httpRequest,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { KvConnectionError, KvError } from './errors';
import { listedValueSpans } from './json-spans';
import { SseParser } from './sse';
import type {
  CreateOptions,
  DeleteOptions,
  Digest,
  JsonText,
  KvEntry,
  ListedKey,
  ListOptions,
  ListPage,
  Precondition,
  PutOptions,
  ReadOptions,
  Stats,
  TxnOp,
  TxnResult,
  WatchChange,
  WatchEvent,
  WatchOptions,
  WriteOptions,
  WriteResult,
} from './types';

/** Where a client connects when given no URL: a server started with the defaults. */
export const DEFAULT_URL = 'http://127.0.0.1:3000';

export interface KvClientOptions {
  /** The server's base URL, `http://host:port` or `https://...`, maybe with a path prefix. */
  readonly url?: string;
  /** The bearer token (`KV_AUTH_TOKEN` of the server). */
  readonly token?: string;
  /** How long a request may wait for the server, in milliseconds (default 30000). */
  readonly timeoutMs?: number;
}

interface RequestInit {
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_WATCH_IDLE_MS = 45_000;
const MAX_RECONNECT_DELAY_MS = 5_000;

/**
 * The path segment of a key: percent-encoded with `encodeURIComponent`, and the keys `.` and
 * `..` spelled `%2E` and `%2E%2E`, so that no URL layer on the way folds them as dot segments.
 */
export function encodeKey(key: string): string {
  const encoded = encodeURIComponent(key);
  return key === '.' || key === '..' ? encoded.replace(/\./g, '%2E') : encoded;
}

/** `?a=1&b=x` from the defined entries of `params`; empty when there are none. */
function query(
  params: Record<string, string | number | boolean | undefined>,
): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params))
    if (value !== undefined)
      parts.push(`${name}=${encodeURIComponent(String(value))}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

function preconditionHeader(precondition: Precondition): string {
  return precondition === '*' ? '*' : `"${precondition}"`;
}

/** The `If-Match` and `If-None-Match` headers of the conditions given. */
function conditionHeaders(
  conditions: Pick<PutOptions, 'ifMatch' | 'ifNoneMatch'>,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  if (conditions.ifMatch !== undefined)
    headers['if-match'] = preconditionHeader(conditions.ifMatch);
  if (conditions.ifNoneMatch !== undefined)
    headers['if-none-match'] = preconditionHeader(conditions.ifNoneMatch);
  return headers;
}

function parseJson<T>(answer: Answer): T {
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    throw new KvConnectionError(
      `the server answered ${answer.status} with a body that is not JSON`,
    );
  }
}

/** Checks that `text` is one JSON text, so it can be embedded in a request body as it is. */
function checkJsonText(text: JsonText, what: string): void {
  try {
    JSON.parse(text);
  } catch (error) {
    throw new TypeError(
      `${what} is not one JSON text: ${(error as Error).message}`,
    );
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A typed client of the fanout-kv HTTP API, over node:http (no dependency). Values are JSON
 * texts in both directions, sent and handed back byte for byte. Every error answer throws a
 * {@link KvError} with the status and the `error` code; an unreachable server throws a
 * {@link KvConnectionError}.
 *
 * Keys are percent-encoded into the request path by {@link encodeKey}; they never go through
 * `new URL()`, which would fold `.` and `..`.
 */
export class KvClient {
  /** The base URL, without a trailing slash. */
  readonly url: string;
  private readonly https: boolean;
  private readonly hostname: string;
  private readonly port: number;
  private readonly pathPrefix: string;
  private readonly agent: HttpAgent;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: KvClientOptions = {}) {
    // Only the base URL is parsed as a URL; request paths are built as strings.
    const base = new URL(options.url ?? DEFAULT_URL);
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new TypeError(
        `the URL must be http:// or https://, not ${base.protocol}`,
      );
    if (base.search !== '' || base.hash !== '')
      throw new TypeError('the URL must have no query and no fragment');
    this.https = base.protocol === 'https:';
    this.hostname = base.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = base.port === '' ? (this.https ? 443 : 80) : Number(base.port);
    this.pathPrefix = base.pathname.replace(/\/+$/, '');
    this.url = `${base.protocol}//${base.host}${this.pathPrefix}`;
    this.agent = this.https
      ? new HttpsAgent({ keepAlive: true })
      : new HttpAgent({ keepAlive: true });
    this.authorization =
      options.token === undefined || options.token === ''
        ? undefined
        : `Bearer ${options.token}`;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Reads `key`: its value's JSON text, revision and deadline. Throws `key_not_found` (404). */
  async get(key: string, options: ReadOptions = {}): Promise<KvEntry> {
    const answer = await this.expectOk(
      'GET',
      `/${encodeKey(key)}${query({ consistency: options.consistency })}`,
    );
    const expiresAt = answer.headers['x-expires-at'];
    return {
      key,
      value: answer.body,
      revision: Number(/^"([0-9]+)"$/.exec(answer.headers.etag ?? '')?.[1]),
      expiresAt: typeof expiresAt === 'string' ? Number(expiresAt) : null,
    };
  }

  /**
   * Creates or replaces `key` with the JSON text `value` (sent as it is). Without `ttl` the key
   * keeps no deadline. Throws `precondition_failed` (412) when `ifMatch` / `ifNoneMatch` fails.
   */
  put(
    key: string,
    value: JsonText,
    options: PutOptions = {},
  ): Promise<WriteResult> {
    return this.write(
      'PUT',
      this.keyPath(key, options),
      value,
      conditionHeaders(options),
    );
  }

  /** Creates `key`, which must be absent: throws `key_exists` (409) otherwise. */
  create(
    key: string,
    value: JsonText,
    options: CreateOptions = {},
  ): Promise<WriteResult> {
    return this.write('POST', this.keyPath(key, options), value, {});
  }

  /** Deletes `key`: throws `key_not_found` (404) when it is absent. */
  delete(key: string, options: DeleteOptions = {}): Promise<WriteResult> {
    return this.write(
      'DELETE',
      this.keyPath(key, options),
      undefined,
      conditionHeaders(options),
    );
  }

  /**
   * Sets `key`'s deadline to `ttl` milliseconds from now, or removes it (`null`), leaving the
   * value as it is (v1.1). Throws `key_not_found` (404) when the key is absent.
   */
  patchTtl(
    key: string,
    ttl: number | null,
    options: DeleteOptions = {},
  ): Promise<WriteResult> {
    const path = `/${encodeKey(key)}${query({ ttl: ttl ?? 'none', consistency: options.consistency })}`;
    return this.write('PATCH', path, undefined, conditionHeaders(options));
  }

  /** One page of keys in byte order (v1.1). */
  async list(options: ListOptions = {}): Promise<ListPage> {
    const answer = await this.expectOk(
      'GET',
      `/_/keys${query({
        prefix: options.prefix,
        cursor: options.cursor,
        limit: options.limit,
        values: options.values,
        consistency: options.consistency,
      })}`,
    );
    const page = parseJson<{
      keys: ListedKey[];
      cursor: string | null;
      revision: number;
    }>(answer);
    return { ...page, keys: withRawValues(answer.body, 'keys', page.keys) };
  }

  /** Every key from `options.cursor` on (or from the start), following the cursors page by page. */
  async *listAll(
    options: Omit<ListOptions, 'cursor'> & { cursor?: string } = {},
  ): AsyncGenerator<ListedKey, void, undefined> {
    let cursor = options.cursor;
    for (;;) {
      const page = await this.list({ ...options, cursor });
      yield* page.keys;
      if (page.cursor === null) return;
      cursor = page.cursor;
    }
  }

  /**
   * Applies `ops` all or nothing, at one revision (v1.1). Each value is embedded in the request
   * as the text given. A failed condition throws `txn_failed` (409), with the failures in
   * {@link KvError.failures}.
   */
  async txn(
    ops: readonly TxnOp[],
    options: WriteOptions = {},
  ): Promise<TxnResult> {
    const texts = ops.map((op, index) => {
      const fields = [
        `"op":${JSON.stringify(op.op)}`,
        `"key":${JSON.stringify(op.key)}`,
      ];
      if ('value' in op) {
        checkJsonText(op.value, `the value of op ${index}`);
        fields.push(`"value":${op.value}`);
      }
      if ('ttl' in op && op.ttl !== undefined) fields.push(`"ttl":${op.ttl}`);
      if ('ifMatch' in op && op.ifMatch !== undefined)
        fields.push(`"ifMatch":${JSON.stringify(op.ifMatch)}`);
      if ('ifNoneMatch' in op && op.ifNoneMatch !== undefined)
        fields.push(`"ifNoneMatch":${JSON.stringify(op.ifNoneMatch)}`);
      return `{${fields.join(',')}}`;
    });
    return this.txnText(`{"ops":[${texts.join(',')}]}`, options);
  }

  /** As {@link txn}, with the request body given as a JSON text, sent as it is. */
  async txnText(
    body: JsonText,
    options: WriteOptions = {},
  ): Promise<TxnResult> {
    const answer = await this.expectOk(
      'POST',
      `/_/txn${query({ consistency: options.consistency })}`,
      { body, headers: { 'content-type': 'application/json' } },
    );
    return parseJson<TxnResult>(answer);
  }

  /**
   * The committed changes, one event per revision, as an endless async iterator (v1.1). When
   * the stream breaks (the server cut a slow reader, a worker died, the network failed, or it
   * stayed silent past `idleTimeoutMs`) it reconnects with `Last-Event-ID`, so no change is
   * missed or repeated. It ends when `options.signal` aborts or the loop breaks; it throws on an
   * error answer (410 `history_compacted` when the resume point is no longer kept).
   */
  async *watch(
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent, void, undefined> {
    const { signal } = options;
    // A function, not a narrowed expression: the signal can abort during any await.
    const aborted = (): boolean => signal?.aborted === true;
    let lastRevision = options.from ?? (await this.list({ limit: 1 })).revision;
    const path = (from: number | undefined): string =>
      `/_/watch${query({ prefix: options.prefix, from, values: options.values })}`;
    let connected = false;
    let attempt = 0;
    while (!aborted()) {
      let response: IncomingMessage | undefined;
      let failure: unknown;
      try {
        // The first request names its start; a reconnection names the last event received.
        response = await this.open(
          'GET',
          path(connected ? undefined : lastRevision),
          {
            headers: {
              accept: 'text/event-stream',
              ...(connected ? { 'last-event-id': String(lastRevision) } : {}),
            },
            timeoutMs: options.idleTimeoutMs ?? DEFAULT_WATCH_IDLE_MS,
            signal,
          },
        );
        if (response.statusCode !== 200)
          throw KvError.fromAnswer(
            response.statusCode ?? 0,
            await readBody(response),
          );
        connected = true;
        for await (const event of changeEvents(response)) {
          attempt = 0;
          lastRevision = event.revision;
          yield event;
        }
      } catch (error) {
        if (aborted()) return;
        // An error answer, a malformed event, or no server at all at the start: no resuming.
        if (
          !connected ||
          error instanceof KvError ||
          error instanceof SyntaxError
        )
          throw error;
        failure = error;
      } finally {
        response?.destroy();
      }
      if (aborted()) return;
      attempt++;
      options.onReconnect?.(attempt, failure);
      await sleep(
        Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** (attempt - 1)),
        signal,
      );
    }
  }

  /** The key count, revision and every worker's replication state. */
  async stats(): Promise<Stats> {
    return parseJson<Stats>(await this.expectOk('GET', '/_/stats'));
  }

  /** `{status: "ok"}` when the answering worker serves; throws `unavailable` (503) otherwise. */
  async health(): Promise<{ status: 'ok' }> {
    return parseJson<{ status: 'ok' }>(await this.expectOk('GET', '/_/health'));
  }

  /** The digests of the primary's data and of every replica. */
  async digest(): Promise<Digest> {
    return parseJson<Digest>(await this.expectOk('GET', '/_/digest'));
  }

  /** The Prometheus metrics of every process, as text. */
  async metrics(): Promise<string> {
    return (await this.expectOk('GET', '/_/metrics')).body;
  }

  /** The server's OpenAPI document. */
  async openapi(): Promise<Record<string, unknown>> {
    return parseJson<Record<string, unknown>>(
      await this.expectOk('GET', '/_/openapi.json'),
    );
  }

  /** Closes the idle connections the client keeps. */
  close(): void {
    this.agent.destroy();
  }

  private keyPath(
    key: string,
    options: { ttl?: number; consistency?: string },
  ): string {
    const ttl = options.ttl === undefined ? '' : `/${options.ttl}`;
    return `/${encodeKey(key)}${ttl}${query({ consistency: options.consistency })}`;
  }

  private async write(
    method: string,
    path: string,
    value: JsonText | undefined,
    headers: OutgoingHttpHeaders,
  ): Promise<WriteResult> {
    const answer = await this.expectOk(method, path, {
      body: value,
      headers:
        value === undefined
          ? headers
          : { ...headers, 'content-type': 'application/json' },
    });
    return parseJson<WriteResult>(answer);
  }

  /** {@link call}, throwing the {@link KvError} of any answer but 200. */
  private async expectOk(
    method: string,
    path: string,
    init: RequestInit = {},
  ): Promise<Answer> {
    const answer = await this.call(method, path, init);
    if (answer.status !== 200)
      throw KvError.fromAnswer(answer.status, answer.body);
    return answer;
  }

  private async call(
    method: string,
    path: string,
    init: RequestInit = {},
  ): Promise<Answer> {
    const response = await this.open(method, path, init);
    try {
      const body = await readBody(response);
      return {
        status: response.statusCode ?? 0,
        headers: response.headers,
        body,
      };
    } catch (error) {
      throw new KvConnectionError(
        `${method} ${this.url}${path}: the answer broke off: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Sends a request; resolves with the answer once its head has arrived. */
  private open(
    method: string,
    path: string,
    init: RequestInit,
  ): Promise<IncomingMessage> {
    const headers: OutgoingHttpHeaders = { ...init.headers };
    if (this.authorization !== undefined)
      headers.authorization = this.authorization;
    const payload =
      init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
    if (payload !== undefined) headers['content-length'] = payload.length;
    const timeoutMs = init.timeoutMs ?? this.timeoutMs;
    const where = `${method} ${this.url}${path}`;
    return new Promise((resolve, reject) => {
      const request = (this.https ? httpsRequest : httpRequest)(
        {
          hostname: this.hostname,
          port: this.port,
          method,
          path: this.pathPrefix + path,
          headers,
          agent: this.agent,
        },
        resolve,
      );
      const abort = (): void => {
        request.destroy(new KvConnectionError(`${where}: aborted`));
      };
      if (init.signal?.aborted === true) abort();
      init.signal?.addEventListener('abort', abort, { once: true });
      request.on('close', () =>
        init.signal?.removeEventListener('abort', abort),
      );
      request.setTimeout(timeoutMs, () =>
        request.destroy(
          new KvConnectionError(`${where}: no data for ${timeoutMs} ms`),
        ),
      );
      request.on('error', (error) =>
        reject(
          error instanceof KvConnectionError
            ? error
            : new KvConnectionError(`${where}: ${error.message}`, {
                cause: error,
              }),
        ),
      );
      request.end(payload);
    });
  }
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `entries` (parsed from `text`, the array its member `listName` holds) with each `value`
 * replaced by its exact source in `text`, in order. Until then an entry's `value` is the
 * parsed JSON value, whatever its type says.
 */
function withRawValues<T extends { value?: JsonText }>(
  text: string,
  listName: 'keys' | 'changes',
  entries: readonly T[],
): T[] {
  const spans = listedValueSpans(text, listName);
  let next = 0;
  return entries.map((entry) => {
    if (!('value' in entry)) return entry;
    const span = spans[next++];
    if (span === undefined)
      throw new KvConnectionError('a value of the answer could not be located');
    return { ...entry, value: text.slice(span.start, span.end) };
  });
}

/** The `change` events of a watch stream, parsed, values as their exact text. */
async function* changeEvents(
  response: IncomingMessage,
): AsyncGenerator<WatchEvent, void, undefined> {
  const decoder = new TextDecoder('utf-8');
  const parser = new SseParser();
  for await (const chunk of response) {
    for (const event of parser.push(
      decoder.decode(chunk as Buffer, { stream: true }),
    )) {
      if (event.event !== 'change') continue;
      const data = JSON.parse(event.data) as {
        revision: number;
        changes: WatchChange[];
      };
      yield {
        revision: data.revision,
        changes: withRawValues(event.data, 'changes', data.changes),
      };
    }
  }
}
