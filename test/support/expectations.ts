import { HttpResponse, json, KvCluster, waitFor } from './cluster';

export const JSON_TYPE = { 'content-type': 'application/json' };

/** A write acknowledgement: 200 and exactly `{"key": key, "revision": <integer>}`. */
export function expectAck(response: HttpResponse, key: string): number {
  if (response.status !== 200) {
    throw new Error(
      `expected 200 for ${key}, got ${response.status}: ${response.body}`,
    );
  }
  expect(response.headers['content-type']).toBe('application/json');
  const body = json<{ key: unknown; revision: unknown }>(response);
  expect(Object.keys(body)).toEqual(['key', 'revision']);
  expect(body.key).toBe(key);
  expect(Number.isSafeInteger(body.revision)).toBe(true);
  expect(body.revision as number).toBeGreaterThan(0);
  return body.revision as number;
}

/** An error: `status`, Content-Type application/json, body exactly `{error, message}`. */
export function expectError(
  response: HttpResponse,
  status: number,
): { error: string; message: string } {
  if (response.status !== status) {
    throw new Error(
      `expected ${status}, got ${response.status}: ${response.body}`,
    );
  }
  expect(response.headers['content-type']).toBe('application/json');
  const body = json<{ error: unknown; message: unknown }>(response);
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(typeof body.error).toBe('string');
  expect(body.error).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof body.message).toBe('string');
  expect((body.message as string).length).toBeGreaterThan(0);
  expect(Number(response.headers['content-length'])).toBe(response.raw.length);
  return body as { error: string; message: string };
}

/** A value: 200, exactly `value`'s bytes, Content-Type exactly application/json, the ETag. */
export function expectValue(
  response: HttpResponse,
  value: string | Buffer,
  revision?: number,
): void {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  if (response.status !== 200) {
    throw new Error(`expected 200, got ${response.status}: ${response.body}`);
  }
  expect(response.headers['content-type']).toBe('application/json');
  expect(response.raw.equals(bytes)).toBe(true);
  expect(Number(response.headers['content-length'])).toBe(bytes.length);
  expect(response.headers.etag).toMatch(/^"[0-9]+"$/);
  if (revision !== undefined)
    expect(response.headers.etag).toBe(`"${revision}"`);
}

/** `count` GETs of `path`, one after another, each on a fresh connection (so on every worker). */
export async function getSequentially(
  kv: KvCluster,
  path: string,
  count: number,
  headers?: Record<string, string>,
): Promise<HttpResponse[]> {
  const responses: HttpResponse[] = [];
  for (let i = 0; i < count; i++) responses.push(await kv.get(path, headers));
  return responses;
}

/**
 * Polls until `count` consecutive fresh-connection GETs of `path` (round-robin: every worker)
 * all satisfy `accept`. Returns the milliseconds it took.
 */
export async function waitEverywhere(
  kv: KvCluster,
  path: string,
  accept: (response: HttpResponse) => boolean,
  description: string,
  count = 4,
  timeoutMs = 5_000,
): Promise<number> {
  const started = Date.now();
  let last: HttpResponse[] = [];
  await waitFor(
    async () => {
      last = await getSequentially(kv, path, count);
      return last.every(accept);
    },
    timeoutMs,
    `${description} on every worker (${path})`,
    2,
  ).catch((error: Error) => {
    throw new Error(
      `${error.message}; last answers: ${JSON.stringify(last.map((r) => [r.status, r.body]))}`,
    );
  });
  return Date.now() - started;
}

/** Polls until every worker serves exactly `value` under `path`. */
export function waitValueEverywhere(
  kv: KvCluster,
  path: string,
  value: string,
): Promise<number> {
  const bytes = Buffer.from(value, 'utf8');
  return waitEverywhere(
    kv,
    path,
    (r) => r.status === 200 && r.raw.equals(bytes),
    'the value',
  );
}

/** Polls until every worker answers 404 for `path`. */
export function waitAbsentEverywhere(
  kv: KvCluster,
  path: string,
): Promise<number> {
  return waitEverywhere(kv, path, (r) => r.status === 404, 'a 404');
}
