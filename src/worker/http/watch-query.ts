import type { Revision } from '../../store';
import { Errors, HttpError } from './http-errors';
import {
  readConsistency,
  readQueryParameters,
  utf8LongerThan,
} from './request-parsing';

/** What a `GET /_/watch` asks for. */
export interface WatchQuery {
  /** Only keys that start with this; empty for every key. */
  readonly prefix: string;
  /** Resume after this revision; undefined: from the moment of subscribing. */
  readonly from: Revision | undefined;
  /** Whether put changes carry their value. */
  readonly values: boolean;
}

const PARAMETERS = new Set(['prefix', 'from', 'values', 'consistency']);

/**
 * Reads the query of a watch request's URL (`prefix`, `from`, `values`, and `consistency`,
 * which a watch accepts and has no use for) and the `Last-Event-ID` header, which, when
 * present and not empty, takes precedence over `from`. Names and values are percent-decoded
 * as a key is, so `+` is a plus sign, as it is for `GET /_/keys`. Other parameters are ignored. Returns
 * the error to answer for a malformed value, bad percent-encoding or a parameter given twice.
 */
export function parseWatchQuery(
  url: string,
  lastEventId: string | undefined,
  maxKeyBytes: number,
): WatchQuery | HttpError {
  const query = readQueryParameters(url, PARAMETERS, true);
  if (!(query instanceof Map))
    return query.fault === 'repeated'
      ? Errors.repeatedParameter(query.name)
      : Errors.badUrl;
  const prefix = query.get('prefix') ?? '';
  // A prefix is held to a key's limit, with the same answer: a longer one could match no key.
  if (utf8LongerThan(prefix, maxKeyBytes))
    return Errors.keyTooLong(maxKeyBytes);
  let from: Revision | undefined;
  if (lastEventId !== undefined && lastEventId !== '') {
    from = parseRevision(lastEventId);
    if (from === undefined) return Errors.invalidFrom('Last-Event-ID');
  } else if (query.has('from')) {
    from = parseRevision(query.get('from')!);
    if (from === undefined) return Errors.invalidFrom('from');
  }
  const values = query.get('values') ?? 'true';
  if (values !== 'true' && values !== 'false') return Errors.invalidValues;
  const consistency = readConsistency(query.get('consistency'));
  if (consistency instanceof HttpError) return consistency;
  return { prefix, from, values: values === 'true' };
}

/** Decimal digits of a safe integer, or undefined. */
function parseRevision(text: string): Revision | undefined {
  if (!/^[0-9]{1,16}$/.test(text)) return undefined;
  const revision = Number(text);
  return Number.isSafeInteger(revision) ? revision : undefined;
}
