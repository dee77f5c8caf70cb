/**
 * Helpers shared by the k6 scripts: configuration from `-e NAME=value` / the environment, URLs,
 * headers, and readers for the store's responses (see docs/api.md for the contract).
 *
 * k6 runs each VU in its own JavaScript runtime, so module-level state here is per VU.
 */
import http from 'k6/http';
import type { Params, Response } from 'k6/http';

/** A whole number from the environment; unset or empty gives `fallback`. */
export function envInt(name: string, fallback: number): number {
  const raw = (__ENV[name] ?? '').trim();
  if (raw === '') return fallback;
  if (!/^\d+$/.test(raw))
    throw new Error(
      `${name} must be a whole number, got ${JSON.stringify(raw)}`,
    );
  return Number(raw);
}

/** A string from the environment; unset or empty gives `fallback`. */
export function envString(name: string, fallback: string): string {
  const raw = (__ENV[name] ?? '').trim();
  return raw === '' ? fallback : raw;
}

/** Where the store listens: `BASE_URL`, default http://127.0.0.1:3000 (no trailing slash). */
export const BASE_URL = envString('BASE_URL', 'http://127.0.0.1:3000').replace(
  /\/+$/,
  '',
);

/** The bearer token, when the server runs with `KV_AUTH_TOKEN`. */
export const AUTH_TOKEN = envString('KV_AUTH_TOKEN', '');

/** An integer from `min` to `max`, both included. */
export function randInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

export interface KeyUrlOptions {
  /** Time-to-live in milliseconds: the `/:key/:ttl` form. */
  ttl?: number;
  /** Adds `?consistency=strong`. */
  strong?: boolean;
}

/** The URL of one key, percent-encoded as one path segment. */
export function keyUrl(key: string, options: KeyUrlOptions = {}): string {
  let url = `${BASE_URL}/${encodeURIComponent(key)}`;
  if (options.ttl !== undefined) url += `/${options.ttl}`;
  if (options.strong === true) url += '?consistency=strong';
  return url;
}

export interface RequestOptions {
  /**
   * The metric name tag. Always give one for per-key URLs: k6 otherwise tags every request
   * with its URL, and millions of distinct keys would make millions of time series.
   */
  name: string;
  /** Extra headers (If-Match, Content-Type overrides, ...). */
  headers?: Record<string, string>;
  /** Send a JSON body's Content-Type (default: true). */
  json?: boolean;
  /** Statuses that count as success in `http_req_failed` (default: 200 only). */
  expect?: number[];
  /** Extra metric tags. */
  tags?: Record<string, string>;
}

/** Request params: auth, JSON content type, a fixed `name` tag and the expected statuses. */
export function params(options: RequestOptions): Params {
  const headers: Record<string, string> = {};
  if (options.json !== false) headers['Content-Type'] = 'application/json';
  if (AUTH_TOKEN !== '') headers['Authorization'] = `Bearer ${AUTH_TOKEN}`;
  Object.assign(headers, options.headers);
  return {
    headers,
    tags: { name: options.name, ...options.tags },
    responseCallback: http.expectedStatuses(...(options.expect ?? [200])),
  };
}

/**
 * A response header, looked up without regard to case: k6 hands headers over in Go's
 * canonical form (`Etag`, `Content-Type`, `Www-Authenticate`).
 */
export function header(res: Response, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(res.headers))
    if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The response body as text ('' for none). */
export function text(res: Response): string {
  return typeof res.body === 'string' ? res.body : '';
}

/** The body parsed as JSON, or undefined when it is not JSON. */
export function jsonOf(res: Response): unknown {
  try {
    return JSON.parse(text(res)) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A write's acknowledgement: `{"key": "<key>", "revision": <integer>}`. */
export interface WriteAck {
  key: string;
  revision: number;
}

/** The write acknowledgement in the body, or undefined when the body is not one. */
export function ackOf(res: Response): WriteAck | undefined {
  const body = jsonOf(res);
  if (
    !isRecord(body) ||
    typeof body.key !== 'string' ||
    typeof body.revision !== 'number' ||
    !Number.isInteger(body.revision) ||
    body.revision < 1
  )
    return undefined;
  return { key: body.key, revision: body.revision };
}

/** Whether `res` acknowledges a write of `key` (status 200, the ack names the key). */
export function isAckFor(res: Response, key: string): boolean {
  const ack = ackOf(res);
  return res.status === 200 && ack !== undefined && ack.key === key;
}

/** The error code of an error body (`{"error": code, "message": sentence}`), if it is one. */
export function errorCodeOf(res: Response): string | undefined {
  const body = jsonOf(res);
  if (
    !isRecord(body) ||
    typeof body.error !== 'string' ||
    typeof body.message !== 'string'
  )
    return undefined;
  return body.error;
}

/** The revision in the ETag header (`"<revision>"`), or undefined. */
export function etagRevision(res: Response): number | undefined {
  const match = /^"(\d+)"$/.exec(header(res, 'ETag') ?? '');
  return match === null ? undefined : Number(match[1]);
}

/** A record's field, or undefined when `value` is not a record. */
export function field(value: unknown, name: string): unknown {
  return isRecord(value) ? value[name] : undefined;
}

/** A short id for this test run, so keys never clash with an earlier run's. */
export function newRunId(): string {
  return `${Date.now().toString(36)}${randInt(0, 1295).toString(36)}`;
}
