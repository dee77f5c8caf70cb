/**
 * Read-heavy mixed traffic with ramping VUs. Every VU owns its own keys (no other VU writes
 * them), so it knows what each key must hold and checks every answer against that:
 *
 *   ~56% eventual GET      200 or 404; a body other than the last write counts in
 *                          `eventual_stale_reads` (replicas trail the primary by milliseconds)
 *   ~14% strong GET        200, the body byte-for-byte as last written, ETag = its revision
 *    ~9% create (POST)     200 {"key", "revision"}, ETag = "<revision>"
 *    ~7% update (PUT)      with If-Match: the last ETag; 200 and a higher revision
 *    ~4% TTL write         PUT /:key/:ttl; once the TTL has run out a strong GET answers 404
 *    ~4% delete            200 ack, then a strong GET answers 404
 *    ~3% listing           GET /_/keys of the VU's own prefix, page after page (limit
 *                          LIST_LIMIT): keys in order, each once; with consistency=strong every
 *                          key without a TTL is listed at its last revision, and with
 *                          values=true its value is in the page byte-for-byte
 *    ~3% transaction       POST /_/txn: two creates and a put with ifMatch its last revision,
 *                          200 at one revision; or, one time in four, the same with a stale
 *                          ifMatch: 409 txn_failed, and a strong GET shows nothing changed
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 k6/mixed.ts
 *
 * Settings (-e or environment): BASE_URL, VUS (peak, default 32), RAMP_UP (30s), HOLD (2m),
 * RAMP_DOWN (30s), KEYS_PER_VU (200), VALUE_BYTES (largest padding, 512), TTL_MS (largest
 * TTL, 5000), THINK_MS (pause after each iteration, 0), LIST_LIMIT (keys per listed page, 50),
 * KV_AUTH_TOKEN.
 */
import { check, sleep } from 'k6';
import http from 'k6/http';
import type { Response } from 'k6/http';
import { Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import {
  ackOf,
  BASE_URL,
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
  randInt,
  text,
} from './lib.ts';

const VUS = envInt('VUS', 32);
const KEYS_PER_VU = envInt('KEYS_PER_VU', 200);
const VALUE_BYTES = envInt('VALUE_BYTES', 512);
const TTL_MS = Math.max(envInt('TTL_MS', 5000), 100);
const THINK_MS = envInt('THINK_MS', 0);
const LIST_LIMIT = Math.min(Math.max(envInt('LIST_LIMIT', 50), 1), 1000);
/** Slack around a TTL deadline for the clocks of k6 and the server. */
const TTL_SLACK_MS = 250;

/** 1 for an eventual read that did not return the last acknowledged write. */
const staleReads = new Rate('eventual_stale_reads');

export const options: Options = {
  scenarios: {
    mixed: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: envString('RAMP_UP', '30s'), target: VUS },
        { duration: envString('HOLD', '2m'), target: VUS },
        { duration: envString('RAMP_DOWN', '30s'), target: 0 },
      ],
      gracefulRampDown: '10s',
    },
  },
  thresholds: {
    checks: ['rate>0.999'],
    http_req_failed: ['rate<0.001'],
    'http_req_duration{kind:read}': ['p(99)<25'],
    'http_req_duration{kind:write}': ['p(99)<50'],
    eventual_stale_reads: ['rate<0.05'],
  },
};

/** What this VU last wrote to one of its keys. */
interface Owned {
  key: string;
  /** The JSON text, exactly as sent. */
  value: string;
  revision: number;
  /** For a key with a TTL: the earliest and latest moment its deadline can be. */
  expiresFrom?: number;
  expiresBy?: number;
}

const owned: Owned[] = [];
let counter = 0;

interface SetupData {
  runId: string;
}

export function setup(): SetupData {
  return { runId: newRunId() };
}

export default function mixed(data: SetupData): void {
  dropExpired();
  const roll = Math.random();
  const target =
    owned.length === 0 ? undefined : owned[randInt(0, owned.length - 1)];
  if (target === undefined || roll < 0.09) {
    if (owned.length >= KEYS_PER_VU) remove(owned[0]!);
    else create(data.runId);
  } else if (roll < 0.65) eventualRead(target);
  else if (roll < 0.79) strongRead(target);
  else if (roll < 0.86) update(target);
  else if (roll < 0.9) writeWithTtl(target);
  else if (roll < 0.94) remove(target);
  else if (roll < 0.97) listOwn(data.runId, roll < 0.955);
  else if (owned.length + 2 > KEYS_PER_VU) remove(owned[0]!);
  else transact(data.runId, target);
  if (THINK_MS > 0) sleep(THINK_MS / 1000);
}

/** A JSON value with spacing and padding of random length: stored and served byte-for-byte. */
function newValue(key: string): string {
  const pad = 'x'.repeat(randInt(0, VALUE_BYTES));
  return `{ "key": ${JSON.stringify(key)}, "at": ${Date.now()},  "pad": "${pad}" }`;
}

const READ = { kind: 'read' };
const WRITE = { kind: 'write' };

/** The prefix of every key this VU writes; no other VU's key starts with it. */
function ownPrefix(runId: string): string {
  return `mixed-${runId}-${__VU}-`;
}

function create(runId: string): void {
  const key = ownPrefix(runId) + String(counter++);
  const value = newValue(key);
  const res = http.post(
    keyUrl(key),
    value,
    params({ name: 'POST /:key', tags: WRITE }),
  );
  if (checkWrite('create', res, key)) {
    owned.push({ key, value, revision: ackOf(res)!.revision });
  }
}

function update(entry: Owned): void {
  if (mayBeExpired(entry)) return strongRead(entry);
  const value = newValue(entry.key);
  const res = http.put(
    keyUrl(entry.key),
    value,
    params({
      name: 'PUT /:key',
      headers: { 'If-Match': `"${entry.revision}"` },
      tags: WRITE,
    }),
  );
  const ok = checkWrite('update (If-Match)', res, entry.key);
  const revision = ackOf(res)?.revision ?? 0;
  check(res, {
    'update: the revision grew': () => revision > entry.revision,
  });
  if (ok) {
    entry.value = value;
    entry.revision = revision;
    // PUT without a TTL removes any TTL.
    entry.expiresFrom = entry.expiresBy = undefined;
  } else forget(entry);
}

function writeWithTtl(entry: Owned): void {
  if (mayBeExpired(entry)) return strongRead(entry);
  const value = newValue(entry.key);
  const ttl = randInt(100, TTL_MS);
  const sentAt = Date.now();
  const res = http.put(
    keyUrl(entry.key, { ttl }),
    value,
    params({ name: 'PUT /:key/:ttl', tags: WRITE }),
  );
  if (checkWrite('TTL write', res, entry.key)) {
    entry.value = value;
    entry.revision = ackOf(res)!.revision;
    entry.expiresFrom = sentAt + ttl;
    entry.expiresBy = Date.now() + ttl;
  } else forget(entry);
}

function remove(entry: Owned): void {
  forget(entry);
  if (mayBeExpired(entry)) return;
  const res = http.del(
    keyUrl(entry.key),
    null,
    params({ name: 'DELETE /:key', json: false, tags: WRITE }),
  );
  check(res, {
    'delete: 200 with the ack': (r) => isAckFor(r, entry.key),
  });
  const after = http.get(
    keyUrl(entry.key, { strong: true }),
    params({
      name: 'GET /:key strong',
      json: false,
      expect: [404],
      tags: READ,
    }),
  );
  check(after, {
    'delete: a strong GET then answers 404 key_not_found': (r) =>
      r.status === 404 && errorCodeOf(r) === 'key_not_found',
  });
}

function eventualRead(entry: Owned): void {
  if (mayBeExpired(entry)) return strongRead(entry);
  const res = http.get(
    keyUrl(entry.key),
    params({
      name: 'GET /:key',
      json: false,
      expect: [200, 404],
      tags: READ,
    }),
  );
  check(res, {
    'eventual GET: 200 with a JSON value, or 404 while the replica catches up':
      (r) =>
        (r.status === 200 && isJsonValue(r)) ||
        (r.status === 404 && errorCodeOf(r) === 'key_not_found'),
  });
  staleReads.add(!(res.status === 200 && text(res) === entry.value));
}

function strongRead(entry: Owned): void {
  const now = Date.now();
  const res = http.get(
    keyUrl(entry.key, { strong: true }),
    params({
      name: 'GET /:key strong',
      json: false,
      expect: [200, 404],
      tags: READ,
    }),
  );
  if (entry.expiresBy !== undefined && now > entry.expiresBy + TTL_SLACK_MS) {
    check(res, {
      'strong GET after the TTL ran out: 404': (r) => r.status === 404,
    });
    forget(entry);
    return;
  }
  if (mayBeExpired(entry, now)) {
    // Too close to the deadline to tell; both answers are right.
    check(res, {
      'strong GET near the TTL deadline: 200 or 404': (r) =>
        r.status === 200 || r.status === 404,
    });
    if (res.status === 404) forget(entry);
    return;
  }
  check(res, {
    'strong GET: 200 with the last value byte-for-byte': (r) =>
      r.status === 200 && text(r) === entry.value,
    'strong GET: ETag is the last revision': (r) =>
      etagRevision(r) === entry.revision,
    'strong GET: Content-Type application/json': (r) =>
      (header(r, 'Content-Type') ?? '').startsWith('application/json'),
  });
}

/** One key of a `GET /_/keys` page. */
interface ListedKey {
  key: string;
  revision: number;
}

/**
 * Lists this VU's keys page after page. Keys are ASCII, so their UTF-8 byte order is the order
 * of JavaScript strings. With `strong`, the pages come from the primary, which holds every
 * acknowledged write: each owned key without a TTL is listed at its last revision, its value
 * in the page byte for byte.
 */
function listOwn(runId: string, strong: boolean): void {
  const prefix = ownPrefix(runId);
  const listed = new Map<string, number>();
  const pageTexts: string[] = [];
  let previous = '';
  let cursor: string | null = null;
  let ordered = true;
  for (
    let pages = 0;
    pages < 1 + Math.ceil(KEYS_PER_VU / LIST_LIMIT);
    pages++
  ) {
    let url = `${BASE_URL}/_/keys?prefix=${encodeURIComponent(prefix)}&limit=${LIST_LIMIT}`;
    if (strong) url += '&consistency=strong&values=true';
    if (cursor !== null) url += `&cursor=${cursor}`;
    const res = http.get(
      url,
      params({
        name: strong ? 'GET /_/keys strong' : 'GET /_/keys',
        json: false,
        tags: READ,
      }),
    );
    const body = jsonOf(res);
    const keys = field(body, 'keys');
    const next = field(body, 'cursor');
    const pageOk = check(res, {
      'list: 200 {"keys", "cursor", "revision"}': (r) =>
        r.status === 200 &&
        Array.isArray(keys) &&
        (next === null || typeof next === 'string') &&
        typeof field(body, 'revision') === 'number',
      'list: a short page has no cursor': () =>
        !Array.isArray(keys) || keys.length === LIST_LIMIT || next === null,
    });
    if (!pageOk || !Array.isArray(keys)) return;
    pageTexts.push(text(res));
    for (const item of keys as ListedKey[]) {
      if (!item.key.startsWith(prefix) || item.key <= previous) ordered = false;
      previous = item.key;
      listed.set(item.key, item.revision);
    }
    cursor = next as string | null;
    if (cursor === null) break;
  }
  check(null, {
    'list: keys in ascending order, each once, all with the prefix': () =>
      ordered,
  });
  // A listing cut short by the page bound proves nothing about the keys it did not reach.
  if (!strong || cursor !== null) return;
  const lasting = owned.filter((entry) => entry.expiresFrom === undefined);
  const all = pageTexts.join('');
  check(null, {
    'strong list: every owned key at its last revision': () =>
      lasting.every((entry) => listed.get(entry.key) === entry.revision),
    'strong list: every value byte-for-byte': () =>
      lasting.every((entry) => all.includes(entry.value)),
  });
}

/**
 * A transaction on this VU's keys: two creates and a put of `target` with `ifMatch` its last
 * revision, committed at one revision; or, one time in four, the same put with a revision the
 * key does not have, which fails with 409 and applies nothing.
 */
function transact(runId: string, target: Owned): void {
  if (mayBeExpired(target)) return strongRead(target);
  const created = [0, 1].map(() => {
    const key = ownPrefix(runId) + String(counter++);
    return { key, value: newValue(key) };
  });
  const value = newValue(target.key);
  const stale = Math.random() < 0.25;
  const ifMatch = stale ? target.revision + 1_000_000_000 : target.revision;
  const body =
    '{"ops":[' +
    created
      .map(
        (c) =>
          `{"op":"create","key":${JSON.stringify(c.key)},"value":${c.value}}`,
      )
      .join(',') +
    `,{"op":"put","key":${JSON.stringify(target.key)},"ifMatch":${ifMatch},"value":${value}}]}`;
  const res = http.post(
    `${BASE_URL}/_/txn`,
    body,
    params({
      name: 'POST /_/txn',
      expect: stale ? [409] : [200],
      tags: WRITE,
    }),
  );
  if (stale) {
    check(res, {
      'failed txn: 409 txn_failed': (r) =>
        r.status === 409 && errorCodeOf(r) === 'txn_failed',
    });
    strongRead(target);
    return;
  }
  const revision = field(jsonOf(res), 'revision');
  const ok = check(res, {
    'txn: 200 {"revision", "results"} at one revision': (r) =>
      r.status === 200 &&
      typeof revision === 'number' &&
      revision > target.revision,
  });
  if (!ok) return forget(target);
  for (const c of created)
    owned.push({ key: c.key, value: c.value, revision: revision as number });
  target.value = value;
  target.revision = revision as number;
  // A put without a ttl removes any TTL.
  target.expiresFrom = target.expiresBy = undefined;
}

/** Checks a write's answer: 200, the ack names the key, and the ETag is its revision. */
function checkWrite(what: string, res: Response, key: string): boolean {
  return check(res, {
    [`${what}: 200 with {"key", "revision"} and ETag = "<revision>"`]: (r) =>
      isAckFor(r, key) && etagRevision(r) === ackOf(r)!.revision,
  });
}

function isJsonValue(res: Response): boolean {
  try {
    JSON.parse(text(res));
    return true;
  } catch {
    return false;
  }
}

/** Whether a TTL'd key may already have expired at `now` (or will within the slack). */
function mayBeExpired(entry: Owned, now = Date.now()): boolean {
  return (
    entry.expiresFrom !== undefined && now >= entry.expiresFrom - TTL_SLACK_MS
  );
}

/** Forgets keys whose TTL has surely run out (the store dropped them). */
function dropExpired(): void {
  const now = Date.now();
  for (let i = owned.length - 1; i >= 0; i--) {
    const by = owned[i]!.expiresBy;
    if (by !== undefined && now > by + TTL_SLACK_MS * 4) owned.splice(i, 1);
  }
}

function forget(entry: Owned): void {
  const index = owned.indexOf(entry);
  if (index >= 0) owned.splice(index, 1);
}
