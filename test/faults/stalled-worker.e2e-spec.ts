import { HttpResponse, isAlive, KvCluster, waitFor } from '../support/cluster';
import {
  expectAck,
  expectError,
  expectValue,
  JSON_TYPE,
} from '../support/expectations';
import {
  Acked,
  closeAll,
  forgetStopped,
  logLines,
  pinConnection,
  processState,
  quickStats,
  scenarioCluster,
  stopProcess,
  summary,
  verifyEverywhere,
  waitForWorkers,
} from '../support/faults';

/**
 * A SIGSTOPped worker: strong writes stop waiting for it, and the primary recycles it once it lags
 * KV_MAX_REPLICA_LAG or its backlog passes KV_MAX_REPLICA_BACKLOG_BYTES.
 */

describe('a stalled (SIGSTOPped) worker', () => {
  let kv: KvCluster;
  const STRONG_TIMEOUT_MS = 500;
  const MAX_LAG = 2000;

  scenarioCluster(
    {
      workers: 2,
      env: {
        KV_STRONG_WRITE_TIMEOUT_MS: String(STRONG_TIMEOUT_MS),
        KV_MAX_REPLICA_LAG: String(MAX_LAG),
        KV_MAX_REPLICA_BACKLOG_BYTES: String(1_048_576),
        // Pinned connections must not be closed for idleness: a new one could reach the
        // stopped worker and hang.
        KV_KEEP_ALIVE_TIMEOUT_MS: '120000',
      },
    },
    (started) => (kv = started),
  );

  /**
   * SIGSTOPs `victim`, checks strong writes answer 503 not_confirmed in time, then writes values
   * of `valueBytes` through the other worker until the primary recycles the victim. Returns
   * what was acknowledged, and the replacement's pid.
   */
  async function stallUntilRecycled(
    victim: number,
    survivor: number,
    valueBytes: number,
    keysPerLane: number,
    label: string,
    expectedReason: string,
  ): Promise<{
    acked: Acked;
    replacement: number;
    notConfirmed: number;
    hung: number;
    slowestEventualMs: number;
    writesWhileStalled: number;
  }> {
    const acked: Acked = new Map();
    // Pinned before the stop, so no request of ours can be handed to the stopped worker.
    const lanes = await Promise.all(
      Array.from({ length: 4 }, () =>
        pinConnection(kv, (pid) => pid === survivor),
      ),
    );
    const before = await quickStats(kv);
    try {
      stopProcess(victim);
      await waitFor(
        () => processState(victim) === 'T',
        5_000,
        'the victim to be stopped',
      );

      // Strong writes cannot be confirmed by the stopped replica: 503 not_confirmed after the
      // timeout, yet applied (a strong GET sees it, and so does the survivor's replica).
      let notConfirmed = 0;
      for (let i = 0; i < 3; i++) {
        const key = `${label}-strong-${i}`;
        const value = JSON.stringify({ strong: i });
        const sent = Date.now();
        const response = await lanes[0]!.request(
          'PUT',
          `/${key}?consistency=strong`,
          { body: value, headers: JSON_TYPE, timeoutMs: 10_000 },
        );
        const elapsed = Date.now() - sent;
        const error = expectError(response, 503);
        expect(error.error).toBe('not_confirmed');
        expect(elapsed).toBeGreaterThanOrEqual(STRONG_TIMEOUT_MS - 50);
        // Answered at the timeout, not held for the request's own 10 s.
        expect(elapsed).toBeLessThan(STRONG_TIMEOUT_MS + 4_500);
        notConfirmed++;
        const revision = Number(/revision (\d+)/.exec(error.message)?.[1]);
        expectValue(
          await lanes[1]!.get(`/${key}?consistency=strong`),
          value,
          revision,
        );
        expectValue(await lanes[1]!.get(`/${key}`), value, revision);
        acked.set(key, { value, revision });
      }

      // The same on fresh connections, with a short timeout: round-robin may hand one to the
      // stopped worker, where it hangs (not acknowledged). Every answer is 503 not_confirmed.
      let hung = 0;
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const key = `${label}-fresh-strong-${i}`;
          const value = JSON.stringify({ fresh: i });
          let response: HttpResponse;
          try {
            response = await kv.request('PUT', `/${key}?consistency=strong`, {
              body: value,
              headers: JSON_TYPE,
              timeoutMs: 3_000,
            });
          } catch {
            hung++;
            return;
          }
          const error = expectError(response, 503);
          expect(error.error).toBe('not_confirmed');
          notConfirmed++;
          const revision = Number(/revision (\d+)/.exec(error.message)?.[1]);
          expectValue(
            await lanes[1]!.get(`/${key}?consistency=strong`),
            value,
            revision,
          );
          acked.set(key, { value, revision });
        }),
      );
      expect(hung).toBeLessThan(8);

      // Eventual writes go on at full speed until the primary gives up on the victim, however
      // many writes a second this machine manages.
      const pad = 'v'.repeat(Math.max(0, valueBytes - 40));
      let writesWhileStalled = 0;
      let slowest = 0;
      const deadline = Date.now() + 150_000;
      await Promise.all(
        lanes.map(async (lane, l) => {
          for (let j = 0; isAlive(victim) && Date.now() < deadline; j++) {
            // Each lane owns its keys and writes them one at a time: the last ack is the value.
            const key = `${label}-${l}-${j % keysPerLane}`;
            const value = JSON.stringify({ l, j, pad });
            const sent = Date.now();
            const response = await lane.put(`/${key}`, value, 10_000);
            slowest = Math.max(slowest, Date.now() - sent);
            acked.set(key, { value, revision: expectAck(response, key) });
            writesWhileStalled++;
          }
        }),
      );
      expect(isAlive(victim)).toBe(false);
      forgetStopped(victim);
      // Eventual writes never waited for the stopped replica (which answers nothing until it is
      // recycled): each was answered well within its 10 s timeout, even on a busy machine.
      expect(slowest).toBeLessThan(5_000);

      // The primary logged why (its log may reach us a moment later).
      let reasons: unknown[] = [];
      await waitFor(
        () => {
          reasons = logLines(kv, 'recycling a worker whose replica fell behind')
            .filter((line) => line.worker === victim)
            .map((line) => line.reason);
          return reasons.length > 0;
        },
        15_000,
        'the recycle log line',
      );
      expect(reasons).toEqual([expectedReason]);

      const stats = await waitForWorkers(
        kv,
        (s) =>
          s.workers.length === 2 &&
          s.workers.every((w) => w.live) &&
          s.workers.some((w) => w.pid === survivor) &&
          !s.workers.some((w) => w.pid === victim),
        60_000,
        'a live replacement for the recycled worker',
      );
      const replacement = stats.workers.find((w) => w.pid !== survivor)!.pid;
      for (const lane of lanes) expect(lane.socketsOpened).toBe(1);
      expect(stats.revision - before.revision).toBeGreaterThan(
        valueBytes > 10_000 ? 10 : MAX_LAG,
      );

      // With every replica live again, strong writes are confirmed: 200, not 503 not_confirmed
      // at the timeout.
      const key = `${label}-strong-after`;
      const value = '"confirmed"';
      const response = await kv.write(
        'PUT',
        `/${key}?consistency=strong`,
        value,
      );
      acked.set(key, { value, revision: expectAck(response, key) });
      return {
        acked,
        replacement,
        notConfirmed,
        hung,
        slowestEventualMs: slowest,
        writesWhileStalled,
      };
    } finally {
      closeAll(lanes);
    }
  }

  async function verifyConverged(
    acked: Acked,
  ): Promise<{ lost: string[]; digests: number }> {
    const digest = await kv.waitDigestConverged(15_000);
    const { lost } = await verifyEverywhere(
      kv,
      acked,
      digest.workers.map((w) => w.pid),
    );
    return { lost, digests: digest.workers.length };
  }

  it('strong writes answer 503 not_confirmed; past KV_MAX_REPLICA_LAG the primary recycles it; digests converge', async () => {
    const [victim, survivor] = (await kv.waitAllLive()) as [number, number];
    const rssBefore = (
      (await quickStats(kv)) as unknown as {
        primary: { memory: { rss: number } };
      }
    ).primary.memory.rss;
    const result = await stallUntilRecycled(
      victim,
      survivor,
      60,
      Infinity,
      'stall-lag',
      'replica lag over KV_MAX_REPLICA_LAG revisions',
    );
    const rssAfter = (
      (await quickStats(kv)) as unknown as {
        primary: { memory: { rss: number } };
      }
    ).primary.memory.rss;
    const { lost, digests } = await verifyConverged(result.acked);
    summary('stalled-worker/lag', {
      writesAcknowledged: result.acked.size,
      writesWhileStalled: result.writesWhileStalled,
      notConfirmed503: result.notConfirmed,
      hungOnStoppedWorker: result.hung,
      slowestEventualWriteMs: result.slowestEventualMs,
      writesLost: lost.length,
      digestsCompared: digests,
      primaryRssGrowthMB: Math.round((rssAfter - rssBefore) / 1_048_576),
      recycled: victim,
      replacement: result.replacement,
    });
    expect(lost.slice(0, 20)).toEqual([]);
    expect(rssAfter - rssBefore).toBeLessThan(200 * 1_048_576);
  }, 300_000);

  it('a stalled worker whose backlog passes KV_MAX_REPLICA_BACKLOG_BYTES is recycled before it lags KV_MAX_REPLICA_LAG', async () => {
    const [first, second] = (await kv.waitAllLive()) as [number, number];
    const result = await stallUntilRecycled(
      second,
      first,
      32 * 1024,
      // Few keys, overwritten: the store (and so the replacement's snapshot) stays small.
      4,
      'stall-backlog',
      'replication backlog over KV_MAX_REPLICA_BACKLOG_BYTES',
    );
    expect(result.writesWhileStalled).toBeLessThan(MAX_LAG);
    const { lost, digests } = await verifyConverged(result.acked);
    summary('stalled-worker/backlog', {
      writesAcknowledged: result.acked.size,
      writesWhileStalled: result.writesWhileStalled,
      notConfirmed503: result.notConfirmed,
      hungOnStoppedWorker: result.hung,
      slowestEventualWriteMs: result.slowestEventualMs,
      writesLost: lost.length,
      digestsCompared: digests,
      recycled: second,
      replacement: result.replacement,
    });
    expect(lost.slice(0, 20)).toEqual([]);
  }, 300_000);
});
