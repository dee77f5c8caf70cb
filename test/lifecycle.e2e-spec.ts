import { isAlive, KvCluster, request, waitFor } from './support/cluster';
import { expectAck, expectValue, JSON_TYPE } from './support/expectations';

/**
 * Process lifecycle of the built cluster: a worker killed under write load is replaced with all
 * the data, and the primary's signals stop everything (SIGTERM, SIGINT) or take every worker
 * down with it (SIGKILL).
 */

/** Whether a fresh connection to `port` is refused (nothing listens any more). */
async function refused(port: number): Promise<boolean> {
  try {
    await request(port, 'GET', '/_/health', { timeoutMs: 2000 });
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

describe('a SIGKILLed worker', () => {
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start();
  });

  afterAll(() => kv?.shutdown());

  it('is replaced by a live worker that has all the data, and no acknowledged write is lost', async () => {
    const pids = await kv.waitAllLive();
    expect(pids).toHaveLength(2);
    const [victim, survivor] = pids as [number, number];

    // Data written before the kill: about 2.5 MB, so the replacement's snapshot takes several
    // chunks, and keys with a TTL, so deadlines travel too.
    const expected = new Map<string, string>();
    const pad = 'p'.repeat(8192);
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const n = batch * 20 + i;
          const key = `before-${n}`;
          const withTtl = n % 4 === 3;
          const value = JSON.stringify({ key, pad: withTtl ? '' : pad });
          expectAck(
            await kv.write(
              'PUT',
              withTtl ? `/${key}/600000` : `/${key}`,
              value,
            ),
            key,
          );
          expected.set(key, value);
        }),
      );
    }

    // Writers and a deleter that keep going through the kill. Only a 200 acknowledges; a request
    // whose connection died (it went to the victim) may or may not have been applied.
    const acked = new Map<string, string>();
    const deleted = new Set<string>();
    const uncertain = new Set<string>();
    let writing = true;
    const writer = async (id: number): Promise<void> => {
      for (let j = 0; writing; j++) {
        const key = `during-${id}-${j}`;
        const value = JSON.stringify({ key, j });
        try {
          // A short timeout: a connection accepted as the victim dies can hang (see below).
          const response = await kv.request('PUT', `/${key}`, {
            body: value,
            headers: JSON_TYPE,
            timeoutMs: 3_000,
          });
          if (response.status === 200) {
            expectAck(response, key);
            acked.set(key, value);
          } else uncertain.add(key);
        } catch {
          uncertain.add(key);
        }
      }
    };
    const deleter = async (): Promise<void> => {
      for (let n = 0; writing && n < 400; n += 3) {
        const key = `before-${n}`;
        try {
          const response = await kv.request('DELETE', `/${key}`, {
            timeoutMs: 3_000,
          });
          if (response.status === 200) {
            expectAck(response, key);
            deleted.add(key);
          } else uncertain.add(key);
        } catch {
          uncertain.add(key);
        }
      }
    };
    const writers = [writer(0), writer(1), deleter()];
    try {
      await waitFor(() => acked.size >= 30, 30_000, 'writes before the kill');
      const ackedBeforeKill = acked.size;

      process.kill(victim, 'SIGKILL');
      await waitFor(() => !isAlive(victim), 5_000, 'the victim to die');

      let replacement: number | undefined;
      await waitFor(
        async () => {
          const stats = await kv.stats();
          const current = stats.workers.map((w) => w.pid);
          replacement = current.find(
            (pid) => pid !== survivor && pid !== victim,
          );
          return (
            stats.workers.length === 2 &&
            stats.workers.every((w) => w.live) &&
            !current.includes(victim) &&
            current.includes(survivor) &&
            replacement !== undefined
          );
        },
        60_000,
        'a live replacement worker',
        25,
      );
      expect(isAlive(replacement!)).toBe(true);

      // Keep writing a while with the replacement serving, then stop.
      const ackedAtReplacement = acked.size;
      await waitFor(
        () => acked.size >= ackedAtReplacement + 30,
        30_000,
        'writes after the replacement',
      );
      writing = false;
      await Promise.all(writers);
      expect(ackedAtReplacement).toBeGreaterThan(ackedBeforeKill);
      expect(deleted.size).toBeGreaterThan(0);

      // The replacement is serving: fresh connections reach it.
      const servedBy = new Set<number>();
      await waitFor(
        async () => {
          servedBy.add((await kv.stats()).pid);
          return servedBy.has(replacement!) && servedBy.has(survivor);
        },
        5_000,
        'a request served by each worker',
        0,
      );

      // Every replica equals the primary, the replacement included.
      const digest = await kv.waitDigestConverged();
      expect(digest.workers.map((w) => w.pid).sort()).toEqual(
        [survivor, replacement!].sort(),
      );

      for (const [key, value] of acked) expected.set(key, value);
      for (const key of deleted) expected.delete(key);
      for (const key of uncertain) expected.delete(key);
      const stats = await kv.stats();
      expect(stats.keys).toBeGreaterThanOrEqual(expected.size);
      expect(stats.keys).toBeLessThanOrEqual(expected.size + uncertain.size);

      // Every key, on consecutive fresh connections (so on both workers), eight readers at a time.
      const checks: [string, string | undefined][] = [
        ...expected,
        ...[...deleted].map((key): [string, undefined] => [key, undefined]),
      ];
      const wrong: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, reader) => {
          for (let i = reader; i < checks.length; i += 8) {
            const [key, value] = checks[i]!;
            for (let attempt = 0; attempt < 2; attempt++) {
              const response = await kv.get(`/${key}`);
              const ok =
                value === undefined
                  ? response.status === 404
                  : response.status === 200 && response.body === value;
              if (!ok) wrong.push(`${key}: ${response.status}`);
            }
          }
        }),
      );
      expect(wrong).toEqual([]);
      const [sampleKey, sampleValue] = [...expected][0]!;
      expectValue(await kv.get(`/${sampleKey}`), sampleValue);
    } finally {
      writing = false;
      await Promise.all(writers);
    }
  }, 240_000);
});

describe.each(['SIGTERM', 'SIGINT'] as const)('%s to the primary', (signal) => {
  it('exits 0 within 10 s and no worker process remains', async () => {
    const kv = await KvCluster.start();
    const workers = await kv.waitAllLive();
    expectAck(await kv.write('PUT', '/before-stop', '1'), 'before-stop');
    for (const pid of [kv.pid, ...workers]) expect(isAlive(pid)).toBe(true);

    const exit = await kv.stop(signal, 15_000);
    expect(exit).toEqual({
      code: 0,
      signal: null,
      elapsedMs: expect.any(Number) as number,
    });
    expect(exit.elapsedMs).toBeLessThan(10_000);
    // The primary waits for its workers' exit before its own.
    for (const pid of workers) expect(isAlive(pid)).toBe(false);
    expect(isAlive(kv.pid)).toBe(false);
    expect(await refused(kv.port)).toBe(true);
  });
});

describe('SIGKILL of the primary', () => {
  it('takes every worker down within a few seconds: no orphan keeps serving', async () => {
    const kv = await KvCluster.start();
    const workers = await kv.waitAllLive();
    expectAck(await kv.write('PUT', '/before-kill', '1'), 'before-kill');

    kv.stopRequested = true;
    process.kill(kv.pid, 'SIGKILL');
    const exit = await kv.waitExit(10_000);
    expect(exit.signal).toBe('SIGKILL');

    await waitFor(
      () => workers.every((pid) => !isAlive(pid)),
      10_000,
      'every worker to exit',
    );
    await waitFor(() => refused(kv.port), 10_000, 'the port to stop answering');
    // And it stays that way.
    for (let i = 0; i < 5; i++) expect(await refused(kv.port)).toBe(true);
  });
});
