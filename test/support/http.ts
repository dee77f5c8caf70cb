/**
 * HTTP exchanges and polling for the e2e tests and benches: one request on a fresh connection,
 * the whole response as text and bytes, and a poll with a deadline instead of a fixed sleep.
 */
import {
  IncomingHttpHeaders,
  IncomingMessage,
  request as httpRequest,
} from 'node:http';

/** Every server under test listens on loopback only. */
export const HOST = '127.0.0.1';

/** One HTTP exchange: status, headers, the body as text and as the exact bytes received. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly raw: Buffer;
}

export interface RequestOptions {
  readonly headers?: Record<string, string | string[]>;
  /** Sent as is; a Content-Length is added unless `chunked`. */
  readonly body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked instead of a Content-Length. */
  readonly chunked?: boolean;
  readonly timeoutMs?: number;
}

/** A request body as the bytes to send: a string as UTF-8. */
export function bodyBytes(
  body: string | Buffer | undefined,
): Buffer | undefined {
  if (body === undefined || Buffer.isBuffer(body)) return body;
  return Buffer.from(body, 'utf8');
}

/**
 * Sends one request on a FRESH TCP connection (`agent: false`, `Connection: close`), so that
 * consecutive requests are spread over the workers by the cluster's round-robin. The path is
 * written on the request line verbatim: `/%2E%2E` stays `/%2E%2E` (no URL normalization).
 */
export function request(
  port: number,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<HttpResponse> {
  const headers: Record<string, string | string[]> = {
    connection: 'close',
    ...options.headers,
  };
  const body = bodyBytes(options.body);
  if (body !== undefined) {
    if (options.chunked === true) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(body.length);
  }
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = httpRequest(
      { host: HOST, port, method, path, headers, agent: false },
      (res) => void readResponse(res).then(resolve, reject),
    );
    req.setTimeout(options.timeoutMs ?? 15_000, () =>
      req.destroy(new Error(`${method} ${path}: no answer in time`)),
    );
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (options.chunked === true) {
      // Two chunks, so the server cannot know the length up front.
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else req.end(body);
  });
}

/** Reads a whole response: status, headers and the body as bytes and as UTF-8 text. */
export function readResponse(res: IncomingMessage): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', reject);
    res.on('end', () => {
      const raw = Buffer.concat(chunks);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: raw.toString('utf8'),
        raw,
      });
    });
  });
}

/** Parses a JSON response body; throws with the body when it is not JSON. */
export function json<T = Record<string, unknown>>(response: HttpResponse): T {
  try {
    return JSON.parse(response.body) as T;
  } catch {
    throw new Error(
      `expected a JSON body, got ${response.status}: ${JSON.stringify(response.body)}`,
    );
  }
}

/** Resolves after `ms` milliseconds (only for waiting out a deadline: poll everything else). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Resolves once the clock has passed `epochMs` (a TTL deadline, say). */
export async function waitUntil(epochMs: number): Promise<void> {
  while (Date.now() <= epochMs) await delay(epochMs - Date.now() + 1);
}

/**
 * Polls `predicate` every `intervalMs` until it returns true; rejects after `timeoutMs` with
 * `description` and the last error the predicate threw, if any.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  description = 'condition',
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why =
        lastError === undefined
          ? ''
          : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${description}${why}`,
      );
    }
    await delay(intervalMs);
  }
}
