import { prng } from '../../src/store/seeded-random.spec-support';
import {
  HttpResponse,
  isAlive,
  KvCluster,
  WorkerStats,
} from '../support/cluster';
import { expectAck, getSequentially, JSON_TYPE } from '../support/expectations';
import {
  Acked,
  delay,
  KeepAliveConnection,
  logLines,
  mismatch,
  quickStats,
  scenarioCluster,
  signal,
  summary,
  verifyEverywhere,
} from '../support/faults';

/**
 * Workers SIGKILLed under write load: no acknowledged write is lost and the survivors keep
 * serving.
 */

describe('worker death: one worker SIGKILLed every 2 s under write load (3 workers), 6 times', () => {
  let kv: KvCluster;

  scenarioCluster({ workers: 3 }, (started) => (kv = started));

  it('loses no acknowledged write; survivors keep serving; every worker converges on the primary', async () => {
    const KILLS = 6;
    const KILL_EVERY_MS = 2_000;
    // Kills wait while fewer than two workers are live, which takes longer on a busy machine:
    // the run lasts until KILLS kills, within a generous deadline, not for a fixed time.
    const KILLS_DEADLINE_MS = 120_000;
    const WRITERS = 8;
    const primaryPid = kv.pid;
    expect(await kv.waitAllLive()).toHaveLength(3);

    const acked: Acked = new Map();
    const ackTimes: number[] = [];
    let unacknowledged = 0;
    let timedOut = 0;
    const statuses = new Map<number, number>();
    let writing = true;

    // Even writers open a fresh connection per PUT (spread over the workers by round-robin);
    // odd ones reuse one keep-alive connection, which dies with its worker and is reopened.
    const writer = async (id: number): Promise<void> => {
      const connection =
        id % 2 === 1 ? new KeepAliveConnection(kv.port) : undefined;
      try {
        for (let j = 0; writing; j++) {
          const key = `death-${id}-${j}`;
          const value = JSON.stringify({
            writer: id,
            j,
            pad: 'x'.repeat(j % 64),
          });
          let response: HttpResponse;
          try {
            response =
              connection === undefined
                ? await kv.request('PUT', `/${key}`, {
                    body: value,
                    headers: JSON_TYPE,
                    timeoutMs: 5_000,
                  })
                : await connection.put(`/${key}`, value, 5_000);
          } catch (error) {
            unacknowledged++;
            if ((error as Error).message.includes('no answer in time'))
              timedOut++;
            continue;
          }
          if (response.status === 200) {
            acked.set(key, { value, revision: expectAck(response, key) });
            ackTimes.push(Date.now());
          } else {
            unacknowledged++;
            statuses.set(
              response.status,
              (statuses.get(response.status) ?? 0) + 1,
            );
          }
        }
      } finally {
        connection?.close();
      }
    };

    const killed: number[] = [];
    let skipped = 0;
    const random = prng(0x5eed);
    const killer = async (): Promise<void> => {
      const started = Date.now();
      for (let tick = 1; killed.length < KILLS; tick++) {
        if (tick * KILL_EVERY_MS > KILLS_DEADLINE_MS)
          throw new Error(
            `only ${killed.length} of ${KILLS} kills in ${KILLS_DEADLINE_MS} ms (${skipped} ticks skipped)`,
          );
        await delay(started + tick * KILL_EVERY_MS - Date.now());
        let workers: (WorkerStats & { uptimeSeconds: number })[];
        try {
          workers = (await quickStats(kv, 3_000)).workers as typeof workers;
        } catch {
          skipped++;
          continue;
        }
        const live = workers.filter((w) => w.live).map((w) => w.pid);
        // Every other kill takes a worker forked less than 8 s ago, live or still loading, so
        // that it dies young (under the primary's 10 s) and restart backoff is exercised,
        // however long workers take to start here. A replacement always comes within the
        // backoff's 10 s cap, so there is one to wait for.
        const young = workers
          .filter((w) => w.uptimeSeconds < 8)
          .sort((a, b) => a.uptimeSeconds - b.uptimeSeconds)[0];
        const victim =
          killed.length % 2 === 0
            ? live[Math.floor(random() * live.length)]
            : young?.pid;
        // Always leave a live survivor: restart backoff may hold replacements back.
        if (victim === undefined || !live.some((pid) => pid !== victim)) {
          skipped++;
          continue;
        }
        if (signal(victim, 'SIGKILL')) killed.push(victim);
      }
    };

    const writers = Array.from({ length: WRITERS }, (_, id) => writer(id));
    const chaosStarted = Date.now();
    let chaosEnded = 0;
    try {
      await killer();
      chaosEnded = Date.now();
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    // The primary never went down.
    expect(kv.exit).toBeUndefined();
    expect(kv.pid).toBe(primaryPid);
    expect(isAlive(primaryPid)).toBe(true);
    expect(killed).toHaveLength(KILLS);
    expect([...statuses.keys()]).toEqual([]);

    // Survivors kept serving: writes were acknowledged all along the run.
    let maxGapMs = 0;
    let maxGapAt = 0;
    const times = [
      chaosStarted,
      ...ackTimes.filter((t) => t <= chaosEnded).sort((a, b) => a - b),
      chaosEnded,
    ];
    for (let i = 1; i < times.length; i++) {
      if (times[i]! - times[i - 1]! > maxGapMs) {
        maxGapMs = times[i]! - times[i - 1]!;
        maxGapAt = times[i - 1]! - chaosStarted;
      }
    }

    // Backoff caps at 10 s: every worker is back, none of the killed pids.
    const pids = await kv.waitAllLive(60_000);
    expect(pids).toHaveLength(3);
    for (const pid of killed) {
      expect(pids).not.toContain(pid);
      expect(isAlive(pid)).toBe(false);
    }
    const metrics = await kv.get('/_/metrics');
    const restarts = Number(
      /^kv_worker_restarts_total (\d+)$/m.exec(metrics.body)?.[1],
    );
    expect(restarts).toBe(killed.length);

    // Restart backoff: workers that die young are forked again after a growing delay, capped.
    const delays = logLines(kv, 'worker died; forking a new one').map((line) =>
      Number(line.restartInMs),
    );
    expect(delays).toHaveLength(killed.length);
    expect(Math.max(...delays)).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(10_000);

    const digest = await kv.waitDigestConverged(15_000);
    expect(digest.workers.map((w) => w.pid).sort()).toEqual([...pids].sort());

    const stats = await kv.stats();
    expect(stats.keys).toBeGreaterThanOrEqual(acked.size);
    expect(stats.keys).toBeLessThanOrEqual(acked.size + unacknowledged);

    // Every acknowledged key: strongly from the primary, eventually from every worker on a
    // connection pinned to it, and on fresh connections for a sample.
    const verified = await verifyEverywhere(kv, acked, pids);
    const lost = new Set(verified.lost);
    const sample = [...acked].filter((_, i) => i % 50 === 0);
    for (const [key, { value, revision }] of sample) {
      for (const response of await getSequentially(kv, `/${key}`, 3)) {
        const problem = mismatch(response, value, revision);
        if (problem !== undefined) lost.add(`fresh ${key}: ${problem}`);
      }
    }
    summary('worker-death', {
      seconds: Math.round((chaosEnded - chaosStarted) / 1000),
      kills: killed.length,
      killsSkippedForBackoff: skipped,
      restarts,
      writesAcknowledged: acked.size,
      writesUnacknowledged: unacknowledged,
      writesTimedOut: timedOut,
      writesLost: lost.size,
      maxAckGapMs: maxGapMs,
      maxAckGapAtMs: maxGapAt,
      restartDelaysMs: delays.join('/'),
      strongReads: verified.strongReads,
      eventualReads: verified.eventualReads,
      freshReads: sample.length * 3,
      digestsCompared: digest.workers.length,
    });
    expect([...lost].slice(0, 20)).toEqual([]);
    // No stall of the whole cluster: below the writers' 5 s request timeout.
    expect(maxGapMs).toBeLessThan(4_000);
  }, 300_000);
});
