/**
 * Smoke test: 30 s of light traffic (2 VUs, one tour a second each) that touches every route
 * of the API and the error cases, checking each answer. Every check must pass, and no request
 * may answer other than the status it expects.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 k6/smoke.ts
 *
 * Settings (-e or environment): BASE_URL, VUS (2), DURATION (30s), KV_AUTH_TOKEN (when the
 * server has one: the tour then also checks that a request without it answers 401), and the
 * server's KV_MAX_KEY_BYTES (512) and KV_MAX_VALUE_BYTES (1048576) when they are not the defaults.
 */
import { check, group, sleep } from 'k6';
import http from 'k6/http';
import type { Response } from 'k6/http';
import type { Options } from 'k6/options';
import {
  AUTH_TOKEN,
  BASE_URL,
  ackOf,
  envInt,
  envString,
  errorCodeOf,
  etagRevision,
  field,
  header,
  isAckFor,
  jsonOf,
  keyUrl,
  newRunId,
  params,
  text,
} from './lib.ts';

const MAX_KEY_BYTES = envInt('KV_MAX_KEY_BYTES', 512);
const MAX_VALUE_BYTES = envInt('KV_MAX_VALUE_BYTES', 1_048_576);

export const options: Options = {
  scenarios: {
    smoke: {
      executor: 'constant-vus',
      vus: envInt('VUS', 2),
      duration: envString('DURATION', '30s'),
    },
  },
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
  },
};

interface SetupData {
  runId: string;
}

export function setup(): SetupData {
  const res = http.get(
    `${BASE_URL}/_/health`,
    params({ name: 'GET /_/health', json: false }),
  );
  if (res.status !== 200)
    throw new Error(
      `${BASE_URL}/_/health answered ${res.status} ${res.error}: is the store up?`,
    );
  return { runId: newRunId() };
}

/** Checks an error answer: the status and the JSON error body with its code. */
function checkError(
  what: string,
  res: Response,
  status: number,
  code: string,
): void {
  check(res, {
    [`${what}: ${status} ${code}`]: (r) =>
      r.status === status && errorCodeOf(r) === code,
  });
}

/**
 * Checks a write's acknowledgement and returns its revision (0 when it is not one). A create
 * or replace also answers the new ETag; a delete leaves the key without one.
 */
function checkAck(what: string, res: Response, key: string): number {
  check(res, {
    [`${what}: 200 {"key", "revision"}`]: (r) => isAckFor(r, key),
  });
  return ackOf(res)?.revision ?? 0;
}

function checkWriteAck(what: string, res: Response, key: string): number {
  const revision = checkAck(what, res, key);
  check(res, {
    [`${what}: ETag is the new revision`]: (r) =>
      revision > 0 && etagRevision(r) === revision,
  });
  return revision;
}

function isJson(res: Response): boolean {
  return (header(res, 'Content-Type') ?? '').startsWith('application/json');
}

export default function smoke(data: SetupData): void {
  const key = `smoke-${data.runId}-${__VU}-${__ITER}`;
  // Spacing and a non-ASCII character: the store must serve the value byte-for-byte.
  const value = `{ "vu": ${__VU},  "iter": ${__ITER}, "s": "h\u00e9llo" }`;
  let revision = 0;

  group('system endpoints', () => {
    const health = http.get(
      `${BASE_URL}/_/health`,
      params({ name: 'GET /_/health', json: false }),
    );
    check(health, {
      'health: 200 {"status":"ok"}': (r) =>
        r.status === 200 && field(jsonOf(r), 'status') === 'ok',
    });

    const stats = http.get(
      `${BASE_URL}/_/stats`,
      params({ name: 'GET /_/stats', json: false }),
    );
    const body = jsonOf(stats);
    const workers = field(body, 'workers');
    check(stats, {
      'stats: 200 JSON': (r) => r.status === 200 && isJson(r),
      'stats: keys, revision and pid are numbers': () =>
        typeof field(body, 'keys') === 'number' &&
        typeof field(body, 'revision') === 'number' &&
        typeof field(body, 'pid') === 'number',
      'stats: workers lists pid and revision of each': () =>
        Array.isArray(workers) &&
        workers.length > 0 &&
        workers.every(
          (w) =>
            typeof field(w, 'pid') === 'number' &&
            typeof field(w, 'revision') === 'number',
        ),
    });

    const metrics = http.get(
      `${BASE_URL}/_/metrics`,
      params({ name: 'GET /_/metrics', json: false }),
    );
    check(metrics, {
      'metrics: 200 Prometheus text': (r) =>
        r.status === 200 &&
        (header(r, 'Content-Type') ?? '').startsWith('text/plain') &&
        /^# HELP /m.test(text(r)) &&
        /^# TYPE /m.test(text(r)),
    });

    const digest = http.get(
      `${BASE_URL}/_/digest`,
      params({ name: 'GET /_/digest', json: false }),
    );
    const d = jsonOf(digest);
    const dWorkers = field(d, 'workers');
    check(digest, {
      'digest: 200 {revision, digest, workers}': (r) =>
        r.status === 200 &&
        typeof field(d, 'revision') === 'number' &&
        typeof field(d, 'digest') === 'string' &&
        Array.isArray(dWorkers) &&
        dWorkers.every(
          (w) =>
            typeof field(w, 'pid') === 'number' &&
            typeof field(w, 'digest') === 'string',
        ),
    });

    if (AUTH_TOKEN !== '') {
      const anonymous = http.get(`${BASE_URL}/_/stats`, {
        tags: { name: 'GET /_/stats anonymous' },
        responseCallback: http.expectedStatuses(401),
      });
      checkError('no bearer token', anonymous, 401, 'unauthorized');
      check(anonymous, {
        'no bearer token: WWW-Authenticate': (r) =>
          (header(r, 'WWW-Authenticate') ?? '').startsWith('Bearer'),
      });
    }
  });

  group('create and read', () => {
    // A strong write is visible on every worker once acknowledged: the reads below may use
    // any connection.
    const created = http.post(
      keyUrl(key, { strong: true }),
      value,
      params({ name: 'POST /:key strong' }),
    );
    revision = checkWriteAck('create (strong)', created, key);

    checkError(
      'create again',
      http.post(
        keyUrl(key),
        value,
        params({ name: 'POST /:key', expect: [409] }),
      ),
      409,
      'key_exists',
    );

    for (const strong of [false, true]) {
      const res = http.get(
        keyUrl(key, { strong }),
        params({ name: 'GET /:key', json: false }),
      );
      const how = strong ? 'strong' : 'eventual';
      check(res, {
        [`GET ${how}: 200, the value byte-for-byte`]: (r) =>
          r.status === 200 && text(r) === value,
        [`GET ${how}: Content-Type application/json`]: isJson,
        [`GET ${how}: ETag "<revision>"`]: (r) => etagRevision(r) === revision,
      });
    }

    const head = http.head(
      keyUrl(key),
      params({ name: 'HEAD /:key', json: false }),
    );
    check(head, {
      'HEAD: 200, no body, the ETag': (r) =>
        r.status === 200 && text(r) === '' && etagRevision(r) === revision,
    });

    const notModified = http.get(
      keyUrl(key),
      params({
        name: 'GET /:key',
        json: false,
        headers: { 'If-None-Match': `"${revision}"` },
        expect: [304],
      }),
    );
    check(notModified, {
      'GET If-None-Match current ETag: 304': (r) => r.status === 304,
    });
  });

  group('conditional writes', () => {
    checkError(
      'PUT If-Match stale ETag',
      http.put(
        keyUrl(key),
        '{"stale": true}',
        params({
          name: 'PUT /:key',
          headers: { 'If-Match': `"${revision + 1_000_000_000}"` },
          expect: [412],
        }),
      ),
      412,
      'precondition_failed',
    );

    const replaced = http.put(
      keyUrl(key),
      '{"replaced": true}',
      params({ name: 'PUT /:key', headers: { 'If-Match': `"${revision}"` } }),
    );
    const next = checkWriteAck('PUT If-Match current ETag', replaced, key);
    check(replaced, {
      'PUT If-Match: the revision grew': () => next > revision,
    });
    revision = next;

    checkError(
      'PUT If-None-Match * on a present key',
      http.put(
        keyUrl(key),
        '{"again": true}',
        params({
          name: 'PUT /:key',
          headers: { 'If-None-Match': '*' },
          expect: [412],
        }),
      ),
      412,
      'precondition_failed',
    );

    const fresh = `${key}-new`;
    checkWriteAck(
      'PUT If-None-Match * on an absent key',
      http.put(
        keyUrl(fresh),
        '"created"',
        params({ name: 'PUT /:key', headers: { 'If-None-Match': '*' } }),
      ),
      fresh,
    );
    checkAck(
      'DELETE If-Match *',
      http.del(
        keyUrl(fresh),
        null,
        params({
          name: 'DELETE /:key',
          json: false,
          headers: { 'If-Match': '*' },
        }),
      ),
      fresh,
    );
  });

  group('TTL', () => {
    revision = checkWriteAck(
      'PUT /:key/:ttl',
      http.put(
        keyUrl(key, { ttl: 60_000 }),
        '{"ttl": 60000}',
        params({ name: 'PUT /:key/:ttl' }),
      ),
      key,
    );

    const brief = `${key}-ttl`;
    checkWriteAck(
      'POST /:key/:ttl (1 ms)',
      http.post(
        keyUrl(brief, { ttl: 1 }),
        '1',
        params({ name: 'POST /:key/:ttl' }),
      ),
      brief,
    );
    sleep(0.05);
    checkError(
      'GET strong after the TTL ran out',
      http.get(
        keyUrl(brief, { strong: true }),
        params({ name: 'GET /:key', json: false, expect: [404] }),
      ),
      404,
      'key_not_found',
    );
    checkError(
      'GET eventual after the TTL ran out',
      http.get(
        keyUrl(brief),
        params({ name: 'GET /:key', json: false, expect: [404] }),
      ),
      404,
      'key_not_found',
    );
  });

  group('unusual keys and scalar values', () => {
    for (const [odd, scalar] of [
      ['a/b', 'null'],
      ['__proto__', '1'],
      ['..', 'true'],
      ['caf\u00e9 \u{1F600}', '"x"'],
    ] as const) {
      const k = `${key}-${odd}`;
      checkWriteAck(
        `PUT key ${JSON.stringify(odd)}`,
        http.put(keyUrl(k), scalar, params({ name: 'PUT /:key' })),
        k,
      );
      const res = http.get(
        keyUrl(k, { strong: true }),
        params({ name: 'GET /:key', json: false }),
      );
      check(res, {
        [`GET key ${JSON.stringify(odd)}: the scalar ${scalar}`]: (r) =>
          r.status === 200 && text(r) === scalar,
      });
      checkAck(
        `DELETE key ${JSON.stringify(odd)}`,
        http.del(
          keyUrl(k),
          null,
          params({ name: 'DELETE /:key', json: false }),
        ),
        k,
      );
    }
  });

  group('delete', () => {
    checkError(
      'DELETE If-Match stale ETag',
      http.del(
        keyUrl(key),
        null,
        params({
          name: 'DELETE /:key',
          json: false,
          headers: { 'If-Match': `"${revision + 1_000_000_000}"` },
          expect: [412],
        }),
      ),
      412,
      'precondition_failed',
    );
    checkAck(
      'DELETE If-Match current ETag',
      http.del(
        keyUrl(key),
        null,
        params({
          name: 'DELETE /:key',
          json: false,
          headers: { 'If-Match': `"${revision}"` },
        }),
      ),
      key,
    );
    checkError(
      'GET strong after DELETE',
      http.get(
        keyUrl(key, { strong: true }),
        params({ name: 'GET /:key', json: false, expect: [404] }),
      ),
      404,
      'key_not_found',
    );
    checkError(
      'DELETE again',
      http.del(
        keyUrl(key),
        null,
        params({ name: 'DELETE /:key', json: false, expect: [404] }),
      ),
      404,
      'key_not_found',
    );
  });

  group('errors', () => {
    const bad = `${key}-bad`;
    const cases: Array<[string, () => Response, number, string]> = [
      [
        'POST invalid JSON',
        () =>
          http.post(
            keyUrl(bad),
            '{"a":',
            params({ name: 'POST /:key', expect: [400] }),
          ),
        400,
        'invalid_json',
      ],
      [
        'PUT empty body',
        () =>
          http.put(
            keyUrl(bad),
            '',
            params({ name: 'PUT /:key', expect: [400] }),
          ),
        400,
        'empty_body',
      ],
      [
        'PUT bad TTL',
        () =>
          http.put(
            `${keyUrl(bad)}/soon`,
            '1',
            params({ name: 'PUT /:key/:ttl', expect: [400] }),
          ),
        400,
        'invalid_ttl',
      ],
      [
        'GET bad consistency',
        () =>
          http.get(
            `${keyUrl(bad)}?consistency=sometimes`,
            params({ name: 'GET /:key', json: false, expect: [400] }),
          ),
        400,
        'invalid_consistency',
      ],
      [
        'PUT reserved key _',
        () =>
          http.put(
            `${BASE_URL}/_`,
            '1',
            params({ name: 'PUT /_', expect: [400] }),
          ),
        400,
        'reserved_key',
      ],
      [
        'GET absent key',
        () =>
          http.get(
            keyUrl(bad),
            params({ name: 'GET /:key', json: false, expect: [404] }),
          ),
        404,
        'key_not_found',
      ],
      [
        'unknown route',
        () =>
          http.get(
            `${BASE_URL}/a/b/c`,
            params({ name: 'GET /a/b/c', json: false, expect: [404] }),
          ),
        404,
        'route_not_found',
      ],
      [
        'PUT key over the key size limit',
        () =>
          http.put(
            keyUrl('k'.repeat(MAX_KEY_BYTES + 1)),
            '1',
            params({ name: 'PUT /:key', expect: [414] }),
          ),
        414,
        'key_too_long',
      ],
      [
        'PUT text/plain body',
        () =>
          http.put(
            keyUrl(bad),
            '1',
            params({
              name: 'PUT /:key',
              headers: { 'Content-Type': 'text/plain' },
              expect: [415],
            }),
          ),
        415,
        'unsupported_media_type',
      ],
    ];
    if (__ITER === 0) {
      // Once per VU: a value one byte over the limit.
      cases.push([
        'PUT value over the value size limit',
        () =>
          http.put(
            keyUrl(bad),
            `"${'v'.repeat(MAX_VALUE_BYTES - 1)}"`,
            params({ name: 'PUT /:key', expect: [413] }),
          ),
        413,
        'value_too_large',
      ]);
    }
    for (const [what, send, status, code] of cases)
      checkError(what, send(), status, code);
  });

  sleep(1);
}
