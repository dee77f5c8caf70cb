import type { Precondition } from '../../store';
import { MAX_TTL } from '../../store';
import { Errors, HttpError } from './http-errors';

/** A request's `consistency` query parameter. */
export type Consistency = 'eventual' | 'strong';

/** Reads `?consistency=` from Fastify's parsed query, as {@link readConsistency} does. */
export function parseConsistency(query: unknown): Consistency | HttpError {
  return readConsistency(
    (query as Record<string, unknown> | undefined)?.consistency,
  );
}

/**
 * Reads the value of a `consistency` parameter: absent means eventual, anything but the two
 * words is an error.
 */
export function readConsistency(value: unknown): Consistency | HttpError {
  if (value === undefined || value === 'eventual') return 'eventual';
  if (value === 'strong') return 'strong';
  return Errors.invalidConsistency;
}

/**
 * Checks a decoded key: 1 to `maxBytes` bytes of UTF-8, not the reserved `_`. Returns the
 * error to answer, or undefined when the key is fine.
 */
export function checkKey(key: string, maxBytes: number): HttpError | undefined {
  if (key === '')
    return Errors.invalidKey(
      'the key is empty: it must be 1 to ' + maxBytes + ' bytes',
    );
  if (key === '_') return Errors.reservedKey;
  if (utf8LongerThan(key, maxBytes)) return Errors.keyTooLong(maxBytes);
  return undefined;
}

/** Whether `text` takes more than `maxBytes` bytes of UTF-8 (a lone surrogate takes 3). */
export function utf8LongerThan(text: string, maxBytes: number): boolean {
  // A UTF-16 code unit is at most 3 bytes of UTF-8, so short texts skip the exact count.
  return (
    text.length * 3 > maxBytes && Buffer.byteLength(text, 'utf8') > maxBytes
  );
}

/** Parses a `:ttl` path segment: decimal digits only, 1 to {@link MAX_TTL} milliseconds. */
export function parseTtl(raw: string): number | HttpError {
  if (!/^[0-9]+$/.test(raw)) return Errors.invalidTtl;
  const ttl = Number(raw);
  return ttl >= 1 && ttl <= MAX_TTL ? ttl : Errors.invalidTtl;
}

/**
 * Reads the `?ttl=` of a PUT or POST, the same as a `:ttl` segment; undefined when absent. A
 * parameter given twice is refused, like any malformed value.
 */
export function parseQueryTtl(query: unknown): number | HttpError | undefined {
  const value = (query as Record<string, unknown> | undefined)?.ttl;
  if (value === undefined) return undefined;
  return typeof value === 'string' ? parseTtl(value) : Errors.invalidTtl;
}

/**
 * Reads the `?ttl=` of a PATCH: a TTL in ms as {@link parseTtl} reads one, or 0 for `none`
 * (remove the deadline).
 */
export function parsePatchTtl(query: unknown): number | HttpError {
  const value = (query as Record<string, unknown> | undefined)?.ttl;
  if (value === undefined) return Errors.missingTtl;
  if (value === 'none') return 0;
  const ttl = typeof value === 'string' ? parseTtl(value) : Errors.invalidTtl;
  return ttl instanceof HttpError ? Errors.invalidPatchTtl : ttl;
}

/** Whether a request carries a body: one of some length, or one sent in chunks. */
export function hasBody(headers: {
  'content-length'?: string;
  'transfer-encoding'?: string;
}): boolean {
  const length = headers['content-length'];
  return (
    headers['transfer-encoding'] !== undefined ||
    (length !== undefined && Number(length) !== 0)
  );
}

/**
 * Parses an `If-Match` / `If-None-Match` header (RFC 9110): `*`, or a list of entity tags.
 * Only strong tags of the form `"<revision>"` can match; weak or foreign tags are kept out of
 * the list, so they never match. Undefined when the header is absent.
 */
export function parsePrecondition(
  header: string | string[] | undefined,
): Precondition | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return '*';
  const revisions: number[] = [];
  for (const match of text.matchAll(/(W\/)?"([^"]*)"/g)) {
    if (match[1] === undefined && /^[0-9]{1,15}$/.test(match[2]!))
      revisions.push(Number(match[2]));
  }
  return revisions;
}

/** Whether a GET's `If-None-Match` header matches the current revision (RFC 9110 weak compare). */
export function noneMatchHits(
  header: string | undefined,
  revision: number,
): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const tag = `"${revision}"`;
  for (const match of header.matchAll(/(?:W\/)?("[^"]*")/g))
    if (match[1] === tag) return true;
  return false;
}

/**
 * Percent-decodes one query name or value as a key is decoded (`+` stays a plus sign);
 * undefined for a bad escape or bytes that are not UTF-8.
 */
function decodeQueryComponent(text: string): string | undefined {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** What {@link readQueryParameters} found wrong with a query. */
export type QueryFault =
  | { readonly fault: 'bad_escape' }
  | { readonly fault: 'repeated'; readonly name: string };

/**
 * The parameters of the request target `url` whose names are in `known`, percent-decoded by
 * {@link decodeQueryComponent}. Other names are skipped; with `checkEveryValue`, their values
 * must still decode (a watch answers `bad_url` for any bad escape in its query), and without
 * it only the known values are decoded. A known name given twice is a fault: each route
 * answers it with a code of its own.
 */
export function readQueryParameters(
  url: string,
  known: ReadonlySet<string>,
  checkEveryValue: boolean,
): Map<string, string> | QueryFault {
  const given = new Map<string, string>();
  const start = url.indexOf('?');
  if (start < 0) return given;
  for (const pair of url.slice(start + 1).split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decodeQueryComponent(
      equals < 0 ? pair : pair.slice(0, equals),
    );
    if (name === undefined) return { fault: 'bad_escape' };
    const isKnown = known.has(name);
    if (!isKnown && !checkEveryValue) continue;
    const value = decodeQueryComponent(
      equals < 0 ? '' : pair.slice(equals + 1),
    );
    if (value === undefined) return { fault: 'bad_escape' };
    if (!isKnown) continue;
    if (given.has(name)) return { fault: 'repeated', name };
    given.set(name, value);
  }
  return given;
}
