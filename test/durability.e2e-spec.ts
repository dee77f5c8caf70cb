/**
 * Durability over real processes: the built cluster with KV_DATA_DIR, killed and restarted on
 * the same directory. Needs a build first: `npm run build && npx jest --config
 * ./test/jest-e2e.json --runInBand test/durability`.
 */
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, Cluster, digest, launch, start, stop } from './support/durable';
import { delay, waitFor, waitUntil } from './support/http';

jest.setTimeout(120_000);

let dir: string;
const running: Cluster[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kv-durable-e2e-'));
});
afterEach(async () => {
  for (const cluster of running.splice(0)) {
    if (
      cluster.process.exitCode === null &&
      cluster.process.signalCode === null
    )
      await stop(cluster, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

async function up(env: Record<string, string> = {}): Promise<Cluster> {
  const cluster = await start({ KV_DATA_DIR: dir, KV_FSYNC: 'always', ...env });
  running.push(cluster);
  return cluster;
}

function logs(): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.aof'))
    .sort();
}

interface Acked {
  key: string;
  value: string;
  revision: number;
}

/**
 * Writes from `connections` loops until `until()` says stop or a request fails (the primary
 * died); returns every write that was acknowledged, pushed onto `acked` as it is.
 */
async function flood(
  cluster: Cluster,
  connections: number,
  until: () => boolean,
  path: (n: number) => string = (n) => `/flood-${n}${n % 2 ? '/3600000' : ''}`,
  acked: Acked[] = [],
): Promise<Acked[]> {
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (!until()) {
        const n = next++;
        const value = JSON.stringify({ n, pad: 'x'.repeat(n % 50) });
        try {
          const response = await call(cluster, 'PUT', path(n), value);
          if (response.status !== 200) continue;
          const { key, revision } = JSON.parse(response.body) as Acked;
          acked.push({ key, value, revision });
        } catch {
          return;
        }
      }
    }),
  );
  return acked;
}

describe('durability (KV_DATA_DIR)', () => {
  it('keeps every acknowledged write through a SIGKILL during a write flood (KV_FSYNC=always)', async () => {
    const first = await up();
    let killed = false;
    const acked: Acked[] = [];
    const writes = flood(first, 32, () => killed, undefined, acked);
    // Killed mid-flood once enough writes were acknowledged, however long that takes here.
    await waitFor(
      () => acked.length >= 500,
      60_000,
      '500 acknowledged writes',
      20,
    );
    first.process.kill('SIGKILL');
    killed = true;
    await writes;
    await first.exited;
    await first.pool.destroy();
    expect(acked.length).toBeGreaterThanOrEqual(500);

    const second = await up();
    expect(second.output()).toContain('data loaded');
    const missing: string[] = [];
    for (let i = 0; i < acked.length; i += 64) {
      await Promise.all(
        acked.slice(i, i + 64).map(async ({ key, value, revision }) => {
          const got = await call(second, 'GET', `/${key}?consistency=strong`);
          if (
            got.status !== 200 ||
            got.body !== value ||
            got.etag !== `"${revision}"`
          )
            missing.push(`${key}: ${got.status} ${got.etag}`);
        }),
      );
    }
    expect(missing).toEqual([]);
  });

  it('keeps TTLs as absolute deadlines across a restart', async () => {
    const TTL = 8000;
    const first = await up();
    const before = Date.now();
    expect((await call(first, 'PUT', `/ttl/${TTL}`, '1')).status).toBe(200);
    expect((await call(first, 'PUT', '/forever', '2')).status).toBe(200);
    await stop(first, 'SIGKILL');

    const second = await up();
    // Still there before its deadline, when the restart was quicker than the TTL...
    if (Date.now() < before + TTL - 500)
      expect(
        (await call(second, 'GET', '/ttl?consistency=strong')).status,
      ).toBe(200);
    // ...and gone at it, however long the restart took: a deadline counted again from the
    // load would still be ahead by the time the restart took.
    await waitUntil(before + TTL + 50);
    expect((await call(second, 'GET', '/ttl?consistency=strong')).status).toBe(
      404,
    );
    expect(
      (await call(second, 'GET', '/forever?consistency=strong')).body,
    ).toBe('2');
  });

  it('loads a log with a torn tail, and refuses damage in the middle unless told', async () => {
    const first = await up();
    for (let i = 1; i <= 20; i++)
      expect((await call(first, 'PUT', `/k${i}`, `${i}`)).status).toBe(200);
    await stop(first, 'SIGTERM');
    const log = join(dir, logs()[0]!);
    truncateSync(log, statSync(log).size - 3);

    const second = await up();
    expect(second.output()).toContain('cut a damaged log tail off');
    expect((await call(second, 'GET', '/k19?consistency=strong')).body).toBe(
      '19',
    );
    expect((await call(second, 'GET', '/k20?consistency=strong')).status).toBe(
      404,
    );
    await stop(second, 'SIGTERM');

    const bytes = readFileSync(log);
    bytes[12]! ^= 0xff; // inside the first frame
    writeFileSync(log, bytes);
    const refused = await launch({ KV_DATA_DIR: dir });
    expect(await refused.exited).toBe(1);
    await refused.pool.destroy();
    expect(refused.output()).toMatch(
      /damaged at byte 0 .*KV_ALLOW_TRUNCATE=on/,
    );

    const allowed = await up({ KV_ALLOW_TRUNCATE: 'on' });
    expect((await call(allowed, 'GET', '/k1?consistency=strong')).status).toBe(
      404,
    );
  });

  it('rewrites the log under load: snapshot plus log is the live store', async () => {
    const first = await up({
      KV_FSYNC: 'everysec',
      KV_SNAPSHOT_MIN_LOG_BYTES: '200000',
      KV_SNAPSHOT_LOG_RATIO: '1',
    });
    let stopped = false;
    const writes = flood(
      first,
      16,
      () => stopped,
      // Overwrites, long and short TTLs, and deletes all go through snapshots.
      (n) => `/k-${n % 3000}${['', '/3600000', '/200'][n % 3]}`,
    );
    const deletes = (async () => {
      for (let n = 0; !stopped; n += 7)
        await call(first, 'DELETE', `/k-${n % 3000}`);
    })();
    // Two rewrites under load, however long they take to come on this machine.
    const snapshots = () =>
      (first.output().match(/snapshot written/g) ?? []).length;
    try {
      await waitFor(
        () => snapshots() >= 2,
        90_000,
        'two snapshots written',
        20,
      );
    } finally {
      stopped = true;
      await Promise.all([writes, deletes]);
    }
    // Short TTLs expire and are reaped before the comparison.
    await delay(600);
    const live = await digest(first);
    await stop(first, 'SIGKILL');
    expect(
      readdirSync(dir).filter((n) => n.startsWith('snapshot-')),
    ).toHaveLength(1);

    const second = await up({ KV_FSYNC: 'everysec' });
    expect(await digest(second)).toEqual(live);
  });

  it('refuses a second primary on the same directory', async () => {
    const first = await up();
    const second = await launch({ KV_DATA_DIR: dir });
    expect(await second.exited).toBe(1);
    await second.pool.destroy();
    expect(second.output()).toContain(
      `is in use by process ${first.process.pid}`,
    );
    expect((await call(first, 'PUT', '/still', '1')).status).toBe(200);
  });
});
