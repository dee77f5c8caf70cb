/**
 * The original benchmark: creates keys at a constant arrival rate.
 *
 *   POST /{a}-{b}-{c}   body {"prop": "/{d}"}   (a, b, c, d: random integers 1..10000)
 *
 * at RATE requests per second (default 16667, i.e. a million a minute) for DURATION
 * (default 10m), and holds the store to p95 < 1 ms and p99 < 5 ms.
 *
 * Random three-part keys can collide (10^12 of them; about 50 pairs in ten million requests):
 * the second POST of a key answers 409 by contract. That is counted in `key_collisions`
 * rather than failed, and kept under 0.1%.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 -e RATE=2000 -e DURATION=30s k6/seed.ts
 *
 * Settings (-e or environment): BASE_URL, RATE, DURATION, PRE_VUS, MAX_VUS, KV_AUTH_TOKEN.
 */
import { check } from 'k6';
import http from 'k6/http';
import { Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import {
  BASE_URL,
  envInt,
  envString,
  isAckFor,
  params,
  randInt,
} from './lib.ts';

const RATE = envInt('RATE', 16667);
const DURATION = envString('DURATION', '10m');
// At 1 ms a request one VU keeps up with ~1,000 requests/s; keep headroom for slow moments.
const PRE_VUS = envInt('PRE_VUS', Math.max(20, Math.ceil(RATE / 100)));
const MAX_VUS = envInt('MAX_VUS', Math.max(PRE_VUS, Math.ceil(RATE / 10)));

/** 1 for a POST that met an existing key (409), 0 for one that created it. */
const keyCollisions = new Rate('key_collisions');

export const options: Options = {
  scenarios: {
    seed: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: PRE_VUS,
      maxVUs: MAX_VUS,
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<1', 'p(99)<5'],
    checks: ['rate>0.999'],
    key_collisions: ['rate<0.001'],
  },
};

// 409 is the contract's answer to a colliding key, not a failed request.
const requestParams = params({ name: 'POST /:key', expect: [200, 409] });

export default function seed(): void {
  const key = `${randInt(1, 10000)}-${randInt(1, 10000)}-${randInt(1, 10000)}`;
  const res = http.post(
    `${BASE_URL}/${key}`,
    `{"prop": "/${randInt(1, 10000)}"}`,
    requestParams,
  );
  keyCollisions.add(res.status === 409);
  check(res, {
    'POST /:key: 200 with the ack, or 409 for a random-key collision': (r) =>
      isAckFor(r, key) || r.status === 409,
  });
}
