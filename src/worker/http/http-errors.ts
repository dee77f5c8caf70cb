import { ReplyStatus } from '../../protocol';

/**
 * Every error the HTTP API answers, with its stable machine code. The body is always
 * `{"error": code, "message": sentence}`, followed by the members of `details` for the errors
 * that carry more (a failed transaction's `failures`, the oldest revision a watch can resume
 * from).
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  /** The response body, serialized once. */
  readonly body: string;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.body = JSON.stringify({ error: code, message, ...details });
  }
}

/** One operation of a failed transaction, as the 409 `txn_failed` body lists it. */
export interface TxnFailureBody {
  readonly index: number;
  readonly key: string;
  readonly reason: 'precondition_failed' | 'key_exists' | 'key_not_found';
  readonly revision: number | null;
}

export const Errors = {
  invalidJson: (detail: string) =>
    new HttpError(
      400,
      'invalid_json',
      `the body is not one valid JSON text: ${detail}`,
    ),
  emptyBody: new HttpError(
    400,
    'empty_body',
    'a write needs a JSON value as its body',
  ),
  invalidTtl: new HttpError(
    400,
    'invalid_ttl',
    'the TTL must be decimal digits: an integer from 1 to 315360000000 milliseconds',
  ),
  invalidPatchTtl: new HttpError(
    400,
    'invalid_ttl',
    'a PATCH takes ?ttl= as decimal digits (an integer from 1 to 315360000000 milliseconds) or "none"',
  ),
  duplicateTtl: new HttpError(
    400,
    'duplicate_ttl',
    'give the TTL either as a path segment or as ?ttl=, not both',
  ),
  missingTtl: new HttpError(
    400,
    'missing_ttl',
    'a PATCH needs ?ttl=<milliseconds> or ?ttl=none: it changes only the deadline',
  ),
  // The body is not read: the connection closes after the answer rather than wait for it.
  unexpectedBody: new HttpError(
    400,
    'unexpected_body',
    'a PATCH takes no body: it changes only the deadline, never the value',
    { connection: 'close' },
  ),
  invalidConsistency: new HttpError(
    400,
    'invalid_consistency',
    'consistency must be "eventual" or "strong"',
  ),
  invalidLimit: new HttpError(
    400,
    'invalid_limit',
    'limit must be decimal digits: an integer from 1 to 1000 keys per page',
  ),
  invalidValues: new HttpError(
    400,
    'invalid_values',
    'values must be "true" or "false"',
  ),
  invalidCursor: new HttpError(
    400,
    'invalid_cursor',
    'the cursor is not one that a page of this server returned: pass back the cursor of the previous page unchanged',
  ),
  invalidPrefix: new HttpError(
    400,
    'invalid_prefix',
    'give prefix at most once',
  ),
  reservedKey: new HttpError(
    400,
    'reserved_key',
    'the key "_" is reserved for system endpoints',
  ),
  invalidKey: (detail: string) => new HttpError(400, 'invalid_key', detail),
  invalidTxn: (detail: string) =>
    new HttpError(
      400,
      'invalid_txn',
      `the transaction body is malformed: ${detail}`,
    ),
  /** `error` about one op of a transaction body: its message names the op first. */
  inTxnOp: (index: number, error: HttpError) =>
    new HttpError(
      error.status,
      error.code,
      `ops[${index}]: ${error.message}`,
      error.headers,
    ),
  invalidFrom: (source: string) =>
    new HttpError(
      400,
      'invalid_from',
      `${source} must be a revision: decimal digits, at most 9007199254740991`,
    ),
  fromAhead: (from: number, revision: number) =>
    new HttpError(
      400,
      'from_ahead',
      `revision ${from} is ahead of the store, which is at revision ${revision}`,
    ),
  repeatedParameter: (name: string) =>
    new HttpError(
      400,
      'repeated_parameter',
      `the query gives ${name} more than once`,
    ),
  badUrl: new HttpError(400, 'bad_url', 'the URL has bad percent-encoding'),
  badRequest: (detail: string) => new HttpError(400, 'bad_request', detail),
  unauthorized: new HttpError(
    401,
    'unauthorized',
    'this server needs an "Authorization: Bearer <token>" header',
    { 'www-authenticate': 'Bearer realm="fanout-kv"' },
  ),
  keyNotFound: new HttpError(
    404,
    'key_not_found',
    'no live value is stored under this key',
  ),
  routeNotFound: (method: string, url: string) =>
    new HttpError(
      404,
      'route_not_found',
      `no route for ${method} ${url.split('?')[0]}`,
    ),
  requestTimeout: new HttpError(
    408,
    'request_timeout',
    'the request took too long to arrive',
  ),
  keyExists: new HttpError(
    409,
    'key_exists',
    'the key already holds a value; use PUT to replace it',
  ),
  txnFailed: (failures: readonly TxnFailureBody[], ops: number) =>
    new HttpError(
      409,
      'txn_failed',
      `${failures.length} of the ${ops} operations did not meet their condition; nothing was applied`,
      {},
      { failures },
    ),
  historyCompacted: (oldest: number) =>
    new HttpError(
      410,
      'history_compacted',
      `the changes asked for are no longer kept: resume from revision ${oldest - 1} or later, or read the current values again`,
      {},
      { oldest },
    ),
  preconditionFailed: new HttpError(
    412,
    'precondition_failed',
    "the key's current ETag does not satisfy If-Match / If-None-Match",
  ),
  valueTooLarge: (limit: number) =>
    new HttpError(
      413,
      'value_too_large',
      `the value is over the limit of ${limit} bytes`,
    ),
  keyTooLong: (limit: number) =>
    new HttpError(
      414,
      'key_too_long',
      `the key is over the limit of ${limit} bytes of UTF-8`,
    ),
  prefixTooLong: (limit: number) =>
    new HttpError(
      414,
      'key_too_long',
      `the prefix is over the limit of ${limit} bytes of UTF-8 that a key can have`,
    ),
  txnBodyTooLarge: (limit: number) =>
    new HttpError(
      413,
      'body_too_large',
      `the transaction body is over the limit of ${limit} bytes`,
    ),
  unsupportedMediaType: new HttpError(
    415,
    'unsupported_media_type',
    'the body must be sent as Content-Type: application/json',
  ),
  headersTooLarge: new HttpError(
    431,
    'headers_too_large',
    'the request line or headers are over the server limit',
  ),
  unavailable: (detail: string) => new HttpError(503, 'unavailable', detail),
  /** A write or transaction refused by the worker: its queue to the primary is full. */
  writesBacklogged: new HttpError(
    503,
    'unavailable',
    'too many writes are waiting for the primary',
  ),
  notConfirmed: (revision: number) =>
    new HttpError(
      503,
      'not_confirmed',
      `the write was applied at revision ${revision} but not every replica confirmed it in time`,
    ),
  storeFull: new HttpError(
    507,
    'store_full',
    'the store holds KV_MAX_KEYS keys: a new key cannot be added (updates and deletes still work)',
  ),
  internal: new HttpError(
    500,
    'internal_error',
    'the server failed to handle this request',
  ),
} as const;

/**
 * The error for a write or transaction the primary answered with a {@link ReplyStatus} rather
 * than with the store's decision: applied but not confirmed by every replica in time, or not
 * taken at all.
 */
export function replyStatusError(
  status: ReplyStatus,
  revision: number,
): HttpError {
  return status === ReplyStatus.Unconfirmed
    ? Errors.notConfirmed(revision)
    : Errors.unavailable('the primary cannot take writes now');
}
