import { Errors, HttpError } from './http-errors';
import { readCursor } from './list-cursor';
import {
  Consistency,
  readConsistency,
  readQueryParameters,
  utf8LongerThan,
} from './request-parsing';

/** Keys per page when `limit` is absent. */
export const DEFAULT_LIST_LIMIT = 100;
/** The largest `limit` a page may ask for. */
export const MAX_LIST_LIMIT = 1000;

/** The query of a `GET /_/keys`, checked. */
export interface ListQuery {
  /** Only keys that start with it; empty for every key. */
  readonly prefix: string;
  /** 1 to {@link MAX_LIST_LIMIT}. */
  readonly limit: number;
  /** The key the cursor names: the page starts strictly after it. Undefined without a cursor. */
  readonly after: string | undefined;
  readonly values: boolean;
  readonly consistency: Consistency;
}

const KNOWN = new Set(['prefix', 'limit', 'cursor', 'values', 'consistency']);

/**
 * Reads the query of a `GET /_/keys` from the request target `url` (path and query, as sent).
 *
 * The query is split and percent-decoded here rather than by Fastify's parser, so the prefix
 * is decoded exactly like a key in a path: `%XX` escapes only, a `+` stays a plus sign (a
 * space is `%20`). Parameters other than the five are ignored, as on every route; a known one
 * given twice, or with a malformed value, is an error: `invalid_limit`, `invalid_values`,
 * `invalid_cursor`, `invalid_prefix` (twice), `invalid_consistency`, 414 `key_too_long` for a
 * prefix longer than a key can be, `bad_url` for bad percent-encoding.
 */
export function parseListQuery(
  url: string,
  maxKeyBytes: number,
): ListQuery | HttpError {
  const given = readQueryParameters(url, KNOWN, false);
  if (!(given instanceof Map))
    return given.fault === 'repeated' ? twice(given.name) : Errors.badUrl;

  const prefix = given.get('prefix') ?? '';
  if (utf8LongerThan(prefix, maxKeyBytes))
    return Errors.prefixTooLong(maxKeyBytes);

  const limitText = given.get('limit');
  let limit = DEFAULT_LIST_LIMIT;
  if (limitText !== undefined) {
    if (!/^[0-9]{1,4}$/.test(limitText)) return Errors.invalidLimit;
    limit = Number(limitText);
    if (limit < 1 || limit > MAX_LIST_LIMIT) return Errors.invalidLimit;
  }

  const cursor = given.get('cursor');
  let after: string | undefined;
  if (cursor !== undefined) {
    after = readCursor(cursor, maxKeyBytes);
    if (after === undefined) return Errors.invalidCursor;
  }

  const valuesText = given.get('values') ?? 'false';
  if (valuesText !== 'true' && valuesText !== 'false')
    return Errors.invalidValues;

  const consistency = readConsistency(given.get('consistency'));
  if (consistency instanceof HttpError) return consistency;

  return { prefix, limit, after, values: valuesText === 'true', consistency };
}

function twice(name: string): HttpError {
  switch (name) {
    case 'prefix':
      return Errors.invalidPrefix;
    case 'limit':
      return Errors.invalidLimit;
    case 'cursor':
      return Errors.invalidCursor;
    case 'values':
      return Errors.invalidValues;
    default:
      return Errors.invalidConsistency;
  }
}
