import {
  HttpResponse,
  isAlive,
  KvCluster,
  stopAllClusters,
  waitFor,
  WorkerStats,
} from './support/cluster';
import {
  expectAck,
  expectError,
  expectValue,
  getSequentially,
  JSON_TYPE,
} from './support/expectations';
import {
  bearer,
  delay,
  etagRevision,
  forgetStopped,
  KeepAliveConnection,
  openSlowClients,
  parseResponses,
  percentile,
  pinConnection,
  pinOnePerWorker,
  pipelinedParallel,
  pinPipelined,
  processState,
  quickStats,
  rawExchange,
  RawResponse,
  rawRequest,
  releaseStopped,
  seededRandom,
  signal,
  socketCount,
  stopProcess,
  summary,
  waitForWorkers,
} from './support/faults';

/**
 * Fault injection against the built cluster (`node dist/main.js`): workers SIGKILLed under write
 * load, a SIGSTOPped worker, a replacement bootstrapping a large snapshot while writes go on,
 * read monotonicity on one connection, contended writes to one key, and hostile input (bad
 * encodings, request smuggling, oversized and slow requests, KV_MAX_KEYS, KV_AUTH_TOKEN).
 *
 * A write counts as acknowledged only when it was answered 200; one whose connection died may or
 * may not have been applied and is never counted as lost. Each scenario prints one summary line
 * ("[faults] ...") with what was acknowledged, what was lost (always 0) and what was compared.
 */

afterAll(async () => {
  releaseStopped();
  await stopAllClusters();
});

const PUT_JSON = JSON_TYPE;

/** Reads `/${key}` and checks it holds exactly `value` at `revision`; returns a problem or undefined. */
function mismatch(
  response: HttpResponse,
  value: string,
  revision: number,
): string | undefined {
  if (response.status !== 200) return `status ${response.status}`;
  if (response.body !== value) return `body ${response.body}`;
  if (etagRevision(response) !== revision)
    return `etag ${String(response.headers.etag)} instead of "${revision}"`;
  return undefined;
}

type Acked = Map<string, { value: string; revision: number }>;

function rawMismatch(
  response: RawResponse,
  value: string,
  revision: number,
): string | undefined {
  if (response.status !== 200) return `status ${response.status}`;
  if (response.body !== value) return `body ${response.body}`;
  if (response.headers.etag !== `"${revision}"`)
    return `etag ${response.headers.etag} instead of "${revision}"`;
  return undefined;
}

/**
 * Reads every acknowledged key strongly (from the primary), then eventually from each worker in
 * `pids` on a connection pinned to it; returns what did not hold exactly the acknowledged value
 * and revision.
 */
async function verifyEverywhere(
  kv: KvCluster,
  acked: Acked,
  pids: readonly number[],
): Promise<{ lost: string[]; strongReads: number; eventualReads: number }> {
  const entries = [...acked];
  const paths = entries.map(([key]) => `/${encodeURIComponent(key)}`);
  const lost: string[] = [];
  const strong = await pipelinedParallel(
    kv.port,
    paths.map((path) => rawRequest('GET', `${path}?consistency=strong`)),
    4,
  );
  for (const [i, response] of strong.entries()) {
    const [key, { value, revision }] = entries[i]!;
    const problem = rawMismatch(response, value, revision);
    if (problem !== undefined) lost.push(`strong ${key}: ${problem}`);
  }
  for (const pid of pids) {
    const connection = await pinPipelined(kv, pid);
    try {
      const eventual = await connection.send(
        paths.map((path) => rawRequest('GET', path)),
      );
      for (const [i, response] of eventual.entries()) {
        const [key, { value, revision }] = entries[i]!;
        const problem = rawMismatch(response, value, revision);
        if (problem !== undefined)
          lost.push(`worker ${pid} ${key}: ${problem}`);
      }
    } finally {
      connection.close();
    }
  }
  return {
    lost,
    strongReads: entries.length,
    eventualReads: entries.length * pids.length,
  };
}

function closeAll(connections: Iterable<KeepAliveConnection>): void {
  for (const connection of connections) connection.close();
}

/** The pino lines of the cluster's output that carry `msg`. */
function logLines(kv: KvCluster, msg: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of kv.logs().split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const parsed = JSON.parse(line.replace(/^\[stderr\] /, '')) as Record<
        string,
        unknown
      >;
      if (parsed.msg === msg) lines.push(parsed);
    } catch {
      // Not a JSON line.
    }
  }
  return lines;
}

// =============================================================================================

describe('worker death: one worker SIGKILLed every 2 s under write load (3 workers), 6 times', () => {
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start({ workers: 3 });
  }, 40_000);

  afterAll(async () => {
    releaseStopped();
    await kv?.shutdown();
  });

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
                    headers: PUT_JSON,
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
    const random = seededRandom(0x5eed);
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

// =============================================================================================

describe('a stalled (SIGSTOPped) worker', () => {
  let kv: KvCluster;
  const STRONG_TIMEOUT_MS = 500;
  const MAX_LAG = 2000;

  beforeAll(async () => {
    kv = await KvCluster.start({
      workers: 2,
      env: {
        KV_STRONG_WRITE_TIMEOUT_MS: String(STRONG_TIMEOUT_MS),
        KV_MAX_REPLICA_LAG: String(MAX_LAG),
        KV_MAX_REPLICA_BACKLOG_BYTES: String(1_048_576),
        // Pinned connections must not be closed for idleness: a new one could reach the
        // stopped worker and hang.
        KV_KEEP_ALIVE_TIMEOUT_MS: '120000',
      },
    });
  }, 40_000);

  afterAll(async () => {
    releaseStopped();
    await kv?.shutdown();
  });

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
          { body: value, headers: PUT_JSON, timeoutMs: 10_000 },
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
              headers: PUT_JSON,
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

// =============================================================================================

describe('KV_MAX_REPLICA_BACKLOG_BYTES=1048576 (its minimum) with healthy workers', () => {
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start({
      workers: 2,
      env: { KV_MAX_REPLICA_BACKLOG_BYTES: String(1_048_576) },
    });
  }, 40_000);

  afterAll(() => kv?.shutdown());

  // The backlog is what was still unwritten before a frame, not the frame itself: a batch that
  // carries one legal value of KV_MAX_VALUE_BYTES (1 MiB) is itself over 1 MiB, and counting it
  // would SIGKILL every healthy worker (and each replacement's first snapshot chunk, carrying
  // the same value, would crash-loop them).
  it('one write of a 1 MiB value (the value limit) is acknowledged and no healthy worker is recycled', async () => {
    const pids = await kv.waitAllLive();
    const value = JSON.stringify('x'.repeat(1_048_576 - 2));
    const status = await kv
      .write('PUT', '/big', value)
      .then((r) => r.status)
      .catch((error: Error) => error.message);
    expect(status).toBe(200);
    expect((await kv.waitAllLive(30_000)).sort()).toEqual([...pids].sort());
    expect(
      logLines(kv, 'recycling a worker whose replica fell behind'),
    ).toEqual([]);
  }, 60_000);
});

// =============================================================================================

describe('snapshot race: a replacement bootstraps 50k keys while writes go on', () => {
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start({ workers: 2 });
  }, 40_000);

  afterAll(async () => {
    releaseStopped();
    await kv?.shutdown();
  });

  it('the replacement has every acknowledged write and never serves a value older than one acknowledged before the read', async () => {
    const KEYS = 50_000;
    const HOT = 400;
    const LANES = 4;
    const pad = 'p'.repeat(100);
    const valueOf = (i: number, v: number): string =>
      JSON.stringify({ i, v, pad });
    const [victim, survivor] = (await kv.waitAllLive()) as [number, number];

    // Preload: 50k keys at version 0, pipelined over 8 connections (both workers).
    const preloadStarted = Date.now();
    const revisions = (
      await pipelinedParallel(
        kv.port,
        Array.from({ length: KEYS }, (_, i) =>
          rawRequest('PUT', `/snap-${i}`, valueOf(i, 0)),
        ),
      )
    ).map((response, i) => {
      if (response.status !== 200)
        throw new Error(
          `preload snap-${i}: ${response.status} ${response.body}`,
        );
      const ack = JSON.parse(response.body) as {
        key: string;
        revision: number;
      };
      expect(ack.key).toBe(`snap-${i}`);
      return ack.revision;
    });
    const preloadMs = Date.now() - preloadStarted;

    // Writers: lane l owns hot keys i with i % LANES == l and bumps their version one at a time,
    // so a key's versions follow its revisions. Lanes 0-1 write eventually, 2-3 strongly.
    const acked = new Array<number>(HOT).fill(0);
    const ackedRevision = new Array<number>(HOT).fill(0);
    const sent = new Array<number>(HOT).fill(0);
    const ackTimes: number[] = [];
    let unacknowledged = 0;
    let writing = true;
    const strongLane = (i: number): boolean => i % LANES >= 2;
    const writer = async (lane: number): Promise<void> => {
      const connection = new KeepAliveConnection(kv.port);
      const query = lane >= 2 ? '?consistency=strong' : '';
      try {
        for (let round = 1; writing; round++) {
          for (let i = lane; i < HOT && writing; i += LANES) {
            const key = `snap-${i}`;
            sent[i] = round;
            let response: HttpResponse;
            try {
              response = await connection.put(
                `/${key}${query}`,
                valueOf(i, round),
                5_000,
              );
            } catch {
              unacknowledged++;
              continue;
            }
            if (response.status !== 200) {
              unacknowledged++;
              continue;
            }
            ackedRevision[i] = expectAck(response, key);
            acked[i] = round;
            ackTimes.push(Date.now());
          }
        }
      } finally {
        connection.close();
      }
    };
    const writers = Array.from({ length: LANES }, (_, lane) => writer(lane));

    const stale: string[] = [];
    let staleEventualKeepAlive = 0;
    let freshReads = 0;
    let pinnedReads = 0;
    let killedAt = 0;
    let liveAt = 0;
    let replacement = 0;
    try {
      await waitFor(
        () => ackTimes.length >= 200,
        60_000,
        'writes before the kill',
      );
      killedAt = Date.now();
      expect(signal(victim, 'SIGKILL')).toBe(true);
      const stats = await waitForWorkers(
        kv,
        (s) =>
          s.workers.length === 2 &&
          s.workers.every((w) => w.live) &&
          !s.workers.some((w) => w.pid === victim),
        60_000,
        'a live replacement',
      );
      liveAt = Date.now();
      replacement = stats.workers.find((w) => w.pid !== survivor)!.pid;

      // Reads while the writers go on: fresh connections (round-robin: half reach the
      // replacement) and one keep-alive connection pinned to the replacement.
      const reader = await pinConnection(kv, (pid) => pid === replacement);
      const random = seededRandom(7);
      const readUntil = Date.now() + 3_000;
      const check = (
        i: number,
        floor: number,
        response: HttpResponse,
        where: string,
      ): boolean => {
        const ceiling = sent[i]!;
        const v =
          response.status === 200
            ? (JSON.parse(response.body) as { v: number }).v
            : -1;
        if (v >= floor && v <= ceiling) return true;
        if (where === 'keep-alive' && !strongLane(i)) {
          // An eventual write acknowledged through the other worker may reach this replica a
          // moment after the ack: the contract allows it on a connection that predates the
          // ack. Counted, not failed.
          staleEventualKeepAlive++;
          return true;
        }
        stale.push(
          `${where} snap-${i}: read v${v} (${response.status}), acknowledged v${floor} before the read, sent up to v${ceiling}`,
        );
        return false;
      };
      try {
        await Promise.all([
          ...Array.from({ length: 3 }, async () => {
            while (Date.now() < readUntil) {
              const i = Math.floor(random() * HOT);
              const floor = acked[i]!;
              const response = await kv.get(`/snap-${i}`);
              freshReads++;
              check(i, floor, response, 'fresh');
            }
          }),
          (async () => {
            while (Date.now() < readUntil) {
              const i = Math.floor(random() * HOT);
              const floor = acked[i]!;
              const response = await reader.get(`/snap-${i}`);
              pinnedReads++;
              check(i, floor, response, 'keep-alive');
            }
          })(),
        ]);
        // Keys nobody touched since the preload, straight from the replacement.
        for (let i = HOT; i < KEYS; i += 97) {
          const response = await reader.get(`/snap-${i}`);
          pinnedReads++;
          const problem = mismatch(response, valueOf(i, 0), revisions[i]!);
          if (problem !== undefined)
            stale.push(`untouched snap-${i}: ${problem}`);
        }
        expect(reader.socketsOpened).toBe(1);
      } finally {
        reader.close();
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    // The replacement's snapshot: when it streamed, and how many acks landed meanwhile.
    const started = logLines(kv, 'snapshot started').find(
      (line) => line.worker === replacement,
    );
    const finished = logLines(kv, 'snapshot sent').find(
      (line) => line.worker === replacement,
    );
    expect(started?.keys).toBeGreaterThanOrEqual(KEYS);
    const streamStart = Number(started?.time);
    const streamEnd = Number(finished?.time);
    const acksDuringStream = ackTimes.filter(
      (t) => t >= streamStart && t <= streamEnd,
    ).length;
    const acksDuringBootstrap = ackTimes.filter(
      (t) => t >= killedAt && t <= liveAt,
    ).length;
    expect(acksDuringBootstrap).toBeGreaterThan(0);
    // The race really ran: writes were acknowledged while the snapshot was streaming.
    expect(acksDuringStream).toBeGreaterThan(0);

    // Writes stopped: every replica equals the primary, and the primary has every ack.
    const digest = await kv.waitDigestConverged(20_000);
    expect(digest.workers.map((w) => w.pid).sort()).toEqual(
      [survivor, replacement].sort(),
    );
    const lost: string[] = [];
    const strong = await pipelinedParallel(
      kv.port,
      Array.from({ length: KEYS }, (_, i) =>
        rawRequest('GET', `/snap-${i}?consistency=strong`),
      ),
    );
    for (const [i, response] of strong.entries()) {
      const etag = response.headers.etag;
      if (i >= HOT) {
        if (
          response.status !== 200 ||
          response.body !== valueOf(i, 0) ||
          etag !== `"${revisions[i]}"`
        )
          lost.push(`snap-${i}: ${response.status} ${response.body} ${etag}`);
        continue;
      }
      const v =
        response.status === 200
          ? (JSON.parse(response.body) as { v: number }).v
          : -1;
      if (v < acked[i]! || v > sent[i]!)
        lost.push(`snap-${i}: v${v}, acknowledged v${acked[i]}`);
      if (v === acked[i] && etag !== `"${ackedRevision[i]}"`)
        lost.push(`snap-${i}: etag ${etag}, acknowledged ${ackedRevision[i]}`);
    }
    summary('snapshot-race', {
      preloadedKeys: KEYS,
      preloadMs,
      snapshotMs: streamEnd - streamStart,
      writesAcknowledged: KEYS + ackTimes.length,
      acksDuringBootstrap,
      acksDuringSnapshotStream: acksDuringStream,
      writesUnacknowledged: unacknowledged,
      writesLost: lost.length,
      staleReads: stale.length,
      staleEventualReadsOnOldKeepAlive: staleEventualKeepAlive,
      freshReads,
      pinnedReads,
      strongReads: KEYS,
      digestsCompared: digest.workers.length,
    });
    expect(stale.slice(0, 20)).toEqual([]);
    expect(lost.slice(0, 20)).toEqual([]);
  }, 240_000);
});

// =============================================================================================

describe('read ordering and contended writes (2 workers)', () => {
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start({ workers: 2 });
  }, 40_000);

  afterAll(() => kv?.shutdown());

  it('monotonic reads: one keep-alive connection never reads a key going backwards', async () => {
    // Enough of each to mean something. The writer goes on until every reader has them,
    // however fast this machine is, within a generous deadline.
    const MIN_WRITES = 100;
    const MIN_READS = 150;
    const MIN_DISTINCT = 15;
    const DEADLINE_MS = 90_000;
    const pids = await kv.waitAllLive();
    const readers = [...(await pinOnePerWorker(kv, pids)).values()];
    const strongReader = await pinConnection(kv, () => true);
    let writing = true;
    let written = 0;
    const progress = [...readers, strongReader].map(() => ({
      reads: 0,
      distinct: new Set<number>(),
    }));
    const enough = (): boolean =>
      written >= MIN_WRITES &&
      progress.every(
        (p) => p.reads >= MIN_READS && p.distinct.size >= MIN_DISTINCT,
      );
    const writer = async (): Promise<void> => {
      const deadline = Date.now() + DEADLINE_MS;
      try {
        for (let n = 1; !enough() && Date.now() < deadline; n++) {
          expectAck(await kv.write('PUT', '/mono', String(n)), 'mono');
          written = n;
        }
      } finally {
        writing = false;
      }
    };
    const backwards: string[] = [];
    const read = async (
      connection: KeepAliveConnection,
      query: string,
      seen: { reads: number; distinct: Set<number> },
    ): Promise<void> => {
      let last = 0;
      let lastRevision = 0;
      while (writing) {
        const response = await connection.get(`/mono${query}`);
        seen.reads++;
        if (response.status === 404 && last === 0) continue;
        const value = Number(response.body);
        const revision = etagRevision(response);
        if (
          response.status !== 200 ||
          value < last ||
          revision < lastRevision ||
          (value > last && revision <= lastRevision && last > 0)
        ) {
          backwards.push(
            `${connection.pid}${query}: ${last}@${lastRevision} then ${response.status} ${value}@${revision}`,
          );
        }
        last = value;
        lastRevision = revision;
        seen.distinct.add(value);
      }
    };
    try {
      await Promise.all([
        writer(),
        ...readers.map((connection, i) => read(connection, '', progress[i]!)),
        read(strongReader, '?consistency=strong', progress.at(-1)!),
      ]);
      for (const connection of [...readers, strongReader])
        expect(connection.socketsOpened).toBe(1);
      summary('monotonic-reads', {
        writesAcknowledged: written,
        writesLost: 0,
        readsPerConnection: progress.map((p) => p.reads).join('/'),
        distinctValuesSeen: progress.map((p) => p.distinct.size).join('/'),
        backwardsReads: backwards.length,
      });
      expect(backwards.slice(0, 20)).toEqual([]);
      expect(written).toBeGreaterThanOrEqual(MIN_WRITES);
      for (const p of progress) {
        expect(p.reads).toBeGreaterThanOrEqual(MIN_READS);
        expect(p.distinct.size).toBeGreaterThanOrEqual(MIN_DISTINCT);
      }
      // The last write is served everywhere once it has propagated.
      await waitFor(
        async () =>
          (await getSequentially(kv, '/mono', 4)).every(
            (r) => r.body === String(written),
          ),
        5_000,
        'the last value everywhere',
      );
    } finally {
      closeAll([...readers, strongReader]);
    }
  }, 120_000);

  it.each([
    ['eventual', ''],
    ['strong', '?consistency=strong'],
  ])(
    'many writers, one key (%s): 50 concurrent PUTs; every worker serves the highest acknowledged revision',
    async (mode, query) => {
      const key = `contended-${mode}`;
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          kv.write('PUT', `/${key}${query}`, JSON.stringify({ writer: i })),
        ),
      );
      const acks = responses.map((response, i) => ({
        revision: expectAck(response, key),
        value: JSON.stringify({ writer: i }),
      }));
      expect(new Set(acks.map((a) => a.revision)).size).toBe(50);
      const winner = acks.reduce((a, b) => (b.revision > a.revision ? b : a));
      const pids = (await kv.stats()).workers.map((w) => w.pid);
      const pinned = await pinOnePerWorker(kv, pids);
      try {
        if (mode === 'eventual') {
          await waitFor(
            async () =>
              (await getSequentially(kv, `/${key}`, 4)).every(
                (r) => mismatch(r, winner.value, winner.revision) === undefined,
              ),
            5_000,
            'the winner everywhere',
          );
        }
        // A strong ack means every replica has it: no polling for those.
        const reads = [
          ...(await getSequentially(kv, `/${key}`, 20)),
          ...(await Promise.all(
            [...pinned.values()].map((c) => c.get(`/${key}`)),
          )),
          await kv.get(`/${key}?consistency=strong`),
        ];
        for (const response of reads)
          expectValue(response, winner.value, winner.revision);
        summary(`one-key-many-writers/${mode}`, {
          writesAcknowledged: acks.length,
          writesLost: 0,
          winnerRevision: winner.revision,
          readsCompared: reads.length,
        });
      } finally {
        closeAll(pinned.values());
      }
    },
    30_000,
  );
});

// =============================================================================================

describe('hostile input (KV_HEADERS_TIMEOUT_MS=1000, KV_REQUEST_TIMEOUT_MS=2000)', () => {
  let kv: KvCluster;
  let pids: number[];
  let rejected = 0;

  beforeAll(async () => {
    kv = await KvCluster.start({
      workers: 2,
      env: { KV_HEADERS_TIMEOUT_MS: '1000', KV_REQUEST_TIMEOUT_MS: '2000' },
    });
    pids = await kv.waitAllLive();
  }, 40_000);

  afterAll(async () => {
    summary('hostile-input', { rejectedRequests: rejected, stored: 0 });
    await kv?.shutdown();
  });

  /** The primary's revision: unchanged means nothing was stored anywhere. */
  async function revision(): Promise<number> {
    return (await kv.stats()).revision;
  }

  async function expectAbsent(key: string): Promise<void> {
    expectError(
      await kv.get(`/${encodeURIComponent(key)}?consistency=strong`),
      404,
    );
  }

  it('bad percent-encoding is 400 with a JSON error and stores nothing', async () => {
    const before = await revision();
    for (const path of [
      '/%zz',
      '/%',
      '/abc%2',
      '/%E0%A4%A',
      '/%C3%28',
      '/%FF',
      '/k/%zz',
    ]) {
      for (const method of ['GET', 'PUT', 'POST', 'DELETE']) {
        const response = await kv.request(method, path, {
          body: method === 'PUT' || method === 'POST' ? '1' : undefined,
          headers: PUT_JSON,
        });
        expectError(response, 400);
        rejected++;
      }
    }
    expect(await revision()).toBe(before);
    for (const key of ['%zz', 'zz', '%', 'abc%2', 'abc'])
      await expectAbsent(key);
  });

  it('an empty key is 400 or 404 with a JSON error and stores nothing', async () => {
    const before = await revision();
    for (const [method, path] of [
      ['GET', '/'],
      ['HEAD', '/'],
      ['PUT', '/'],
      ['POST', '/'],
      ['DELETE', '/'],
      ['PUT', '//100'],
      ['POST', '//100'],
      ['PUT', '/?consistency=strong'],
    ] as const) {
      const response = await kv.request(method, path, {
        body: method === 'PUT' || method === 'POST' ? '1' : undefined,
        headers: PUT_JSON,
      });
      expect([400, 404]).toContain(response.status);
      if (method !== 'HEAD') expectError(response, response.status);
      rejected++;
    }
    expect(await revision()).toBe(before);
  });

  it('NUL and other odd characters are ordinary keys that round-trip on every worker', async () => {
    const keys = [
      '\0',
      'a\0b',
      'nul-end\0',
      '\t',
      '\r\n',
      ' ',
      '%',
      '%00',
      '?',
      '#',
      '/',
      '\\',
      '"',
      "'",
      '<script>',
      '.',
      '..',
      '\u00e9',
      '\u{1F600}',
      '\uFEFF',
      '\u202E',
      '__proto__',
      'constructor',
      'prototype',
    ];
    const pinned = await pinOnePerWorker(kv, pids);
    try {
      for (const [n, key] of keys.entries()) {
        // Every byte percent-encoded, so `.`/`..` are not taken as path segments by anyone.
        const path = `/${[...Buffer.from(key, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
        const value = JSON.stringify({ n, key });
        const revision = expectAck(
          await kv.write('PUT', `${path}?consistency=strong`, value),
          key,
        );
        expectValue(
          await kv.get(`${path}?consistency=strong`),
          value,
          revision,
        );
        for (const connection of pinned.values())
          expectValue(await connection.get(path), value, revision);
      }
      const stats = await kv.stats();
      expect(stats.keys).toBeGreaterThanOrEqual(keys.length);
    } finally {
      closeAll(pinned.values());
    }
  });

  it('JSON values with __proto__ and constructor keys are stored and served byte for byte', async () => {
    const values = [
      '{"__proto__":{"polluted":true}}',
      '{ "constructor" : { "prototype" : { "polluted" : 1 } } }',
      '{"__proto__":null,"__proto__":[1,2]}',
      '[{"__proto__":{}},{"constructor":"x"}]',
      '\t{"a":{"__proto__":{"toString":"no"}}}\n',
    ];
    const pinned = await pinOnePerWorker(kv, pids);
    try {
      for (const [i, value] of values.entries()) {
        for (const key of [`proto-value-${i}`, '__proto__', 'constructor']) {
          const revision = expectAck(
            await kv.write('PUT', `/${key}?consistency=strong`, value),
            key,
          );
          expectValue(
            await kv.get(`/${key}?consistency=strong`),
            value,
            revision,
          );
          for (const connection of pinned.values())
            expectValue(await connection.get(`/${key}`), value, revision);
        }
      }
      // Nothing leaked into other objects: an unrelated absent key is still a plain 404.
      await expectAbsent('polluted');
      expectError(await kv.get('/toString'), 404);
    } finally {
      closeAll(pinned.values());
    }
  });

  describe('request smuggling shapes (raw sockets)', () => {
    const H = 'Host: 127.0.0.1\r\nContent-Type: application/json\r\n';
    const smuggled = (key: string): string =>
      `PUT /${key} HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\n9`;
    const cases: [string, string, string[]][] = [
      [
        'duplicate Content-Length (same value)',
        `PUT /sm-dupcl HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\n1`,
        ['sm-dupcl'],
      ],
      [
        'duplicate Content-Length (different values) hiding a request',
        `PUT /sm-dupcl2 HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 72\r\n\r\n1${smuggled('sm-dupcl2-smuggled')}`,
        ['sm-dupcl2', 'sm-dupcl2-smuggled'],
      ],
      [
        'Content-Length with Transfer-Encoding: chunked (CL.TE), a request after the last chunk',
        `PUT /sm-clte HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n0\r\n\r\n${smuggled('sm-clte-smuggled')}`,
        ['sm-clte', 'sm-clte-smuggled'],
      ],
      [
        'Transfer-Encoding: chunked with Content-Length (TE.CL), a request inside the chunk',
        `PUT /sm-tecl HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n4e\r\n${smuggled('sm-tecl-smuggled')}\r\n0\r\n\r\n`,
        ['sm-tecl', 'sm-tecl-smuggled'],
      ],
      [
        'an invalid chunk size',
        `PUT /sm-chunk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n1\r\n0\r\n\r\n${smuggled('sm-chunk-smuggled')}`,
        ['sm-chunk', 'sm-chunk-smuggled'],
      ],
      [
        'an overflowing chunk size',
        `PUT /sm-overflow HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n1\r\n0\r\n\r\n`,
        ['sm-overflow'],
      ],
      [
        'an obfuscated Transfer-Encoding with Content-Length',
        `PUT /sm-xchunked HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\nContent-Length: 1\r\n\r\n1${smuggled('sm-xchunked-smuggled')}`,
        ['sm-xchunked', 'sm-xchunked-smuggled'],
      ],
      [
        'Transfer-Encoding: chunked, identity',
        `PUT /sm-identity HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n1\r\n1\r\n0\r\n\r\n`,
        ['sm-identity'],
      ],
      [
        'a space before the colon of Content-Length',
        `PUT /sm-space HTTP/1.1\r\n${H}Content-Length : 1\r\n\r\n1${smuggled('sm-space-smuggled')}`,
        ['sm-space', 'sm-space-smuggled'],
      ],
      [
        'a folded (obs-fold) Content-Length',
        `PUT /sm-fold HTTP/1.1\r\n${H}Content-Length: 1\r\n 2\r\n\r\n12`,
        ['sm-fold'],
      ],
      [
        'a signed Content-Length',
        `PUT /sm-plus HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\n1`,
        ['sm-plus'],
      ],
      [
        'bare LF line endings',
        `PUT /sm-lf HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 1\n\n1`,
        ['sm-lf'],
      ],
      [
        'a NUL in a header value',
        `PUT /sm-nul HTTP/1.1\r\n${H}X-A: a\0b\r\nContent-Length: 1\r\n\r\n1`,
        ['sm-nul'],
      ],
    ];

    it.each(cases)(
      '%s: 400 JSON, the connection closes, nothing is written',
      async (_name, bytes, keys) => {
        const before = await revision();
        const exchange = await rawExchange(kv.port, bytes, 5_000);
        expect(exchange.closedByServer).toBe(true);
        expect(exchange.elapsedMs).toBeLessThan(2_000);
        const responses = parseResponses(exchange.bytes);
        expect(responses).toHaveLength(1);
        const [response] = responses;
        expect(response!.status).toBe(400);
        expect(response!.headers['content-type']).toBe('application/json');
        expect(
          Object.keys(JSON.parse(response!.body) as object).sort(),
        ).toEqual(['error', 'message']);
        rejected++;
        for (const key of keys) await expectAbsent(key);
        expect(await revision()).toBe(before);
      },
    );

    it('control: correctly framed pipelined PUTs on one connection are both applied', async () => {
      const bytes =
        `PUT /sm-pipelined-1 HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\n1` +
        `PUT /sm-pipelined-2 HTTP/1.1\r\n${H}Content-Length: 1\r\nConnection: close\r\n\r\n2`;
      const exchange = await rawExchange(kv.port, bytes, 5_000);
      const responses = parseResponses(exchange.bytes);
      expect(responses.map((r) => r.status)).toEqual([200, 200]);
      expectValue(await kv.get('/sm-pipelined-1?consistency=strong'), '1');
      expectValue(await kv.get('/sm-pipelined-2?consistency=strong'), '2');
    });
  });

  // The parser's limit on the request line plus headers. Node's default is 16 KiB; commit b962f60
  // raised it to 64 KiB (maxHeaderSize in src/worker/run-worker.ts) so that over-long keys reach
  // the router and get 414. Node cannot limit the URL and the headers separately.
  const HEADER_LIMIT = 65_536;

  it('header blocks and URLs over the parser limit are 431 or 414 with a JSON error, never a crash; same workers after', async () => {
    const before = await revision();
    const over = HEADER_LIMIT + 1_000;
    const refused: [string, string, number[]][] = [
      [
        'one huge header',
        `GET /k HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(over)}\r\n\r\n`,
        [431],
      ],
      [
        'many headers',
        `GET /k HTTP/1.1\r\nHost: x\r\n${Array.from({ length: Math.ceil(over / 60) }, (_, i) => `X-H${i}: ${'b'.repeat(60)}\r\n`).join('')}\r\n`,
        [431],
      ],
      [
        'a PUT with a huge header',
        `PUT /hdr-put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Big: ${'a'.repeat(over)}\r\nContent-Length: 1\r\n\r\n1`,
        [431],
      ],
      [
        'a GET URL over the limit',
        `GET /${'u'.repeat(over)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        [414, 431],
      ],
      [
        'a PUT URL over the limit',
        `PUT /${'u'.repeat(over)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n1`,
        [414, 431],
      ],
      [
        'a key of 4000 bytes, percent-encoded',
        `GET /${'%41'.repeat(4_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        [414, 431],
      ],
      [
        'a PUT of a 20000-byte key',
        `PUT /${'w'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1`,
        [414, 431],
      ],
    ];
    for (const [name, bytes, statuses] of refused) {
      const exchange = await rawExchange(kv.port, bytes, 5_000);
      const responses = parseResponses(exchange.bytes);
      // The name rides along so a failure says which case it was.
      const status = responses.length === 1 ? responses[0]!.status : 0;
      expect({
        name,
        responses: responses.length,
        allowed: statuses.includes(status),
        closed: exchange.closedByServer,
      }).toEqual({ name, responses: 1, allowed: true, closed: true });
      expect(responses[0]!.headers['content-type']).toBe('application/json');
      expect(
        Object.keys(JSON.parse(responses[0]!.body) as object).sort(),
      ).toEqual(['error', 'message']);
      rejected++;
    }
    // Between Node's default and the raised limit: refused, or served like any request.
    const midsize = await rawExchange(
      kv.port,
      `GET /hdr-absent HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\nConnection: close\r\n\r\n`,
      5_000,
    );
    expect([404, 431]).toContain(parseResponses(midsize.bytes)[0]!.status);
    // Through node:http as well (it sends the oversized header as is).
    const viaClient = await kv.get('/k', { 'x-big': 'c'.repeat(over) });
    expectError(viaClient, 431);
    rejected++;
    await expectAbsent('hdr-put');
    expect(await revision()).toBe(before);
    expect((await kv.waitAllLive()).sort()).toEqual([...pids].sort());
    expect(isAlive(kv.pid)).toBe(true);
    expect((await kv.get('/_/health')).status).toBe(200);
  });

  /**
   * Opens slow connections, measures normal requests meanwhile, and waits for the server to
   * end every slow one. Returns the figures.
   */
  async function slowClientRun(
    count: number,
    prefix: string,
    trickle: string,
    halfOpen: boolean,
    limitMs: number,
  ): Promise<{
    latencies: number[];
    maxEndedMs: number;
    statuses: Map<string, number>;
    destroy: () => void;
    baseline: number[];
  }> {
    const baseline = pids.map(socketCount);
    const slow = await openSlowClients(
      kv.port,
      count,
      prefix,
      trickle,
      200,
      halfOpen,
    );
    const latencies: number[] = [];
    try {
      // Normal traffic on fresh connections while the slow ones hang on.
      const until = Date.now() + limitMs;
      for (let i = 0; i < 300 || Date.now() < until; i++) {
        if (i >= 2_000) break;
        const started = Date.now();
        const response = await kv.get(
          i % 2 === 0 ? '/_/health' : '/slow-probe',
        );
        latencies.push(Date.now() - started);
        expect([200, 404]).toContain(response.status);
      }
      await waitFor(
        () => slow.clients.every((c) => c.endedAfterMs !== undefined),
        limitMs + 5_000,
        'the server to end every slow connection',
        20,
      );
    } catch (error) {
      slow.destroy();
      throw error;
    }
    const statuses = new Map<string, number>();
    for (const client of slow.clients) {
      const line = client.firstLine ?? '(nothing)';
      statuses.set(line, (statuses.get(line) ?? 0) + 1);
    }
    return {
      latencies,
      maxEndedMs: Math.max(...slow.clients.map((c) => c.endedAfterMs!)),
      statuses,
      destroy: slow.destroy,
      baseline,
    };
  }

  it('500 clients dribbling header bytes: normal requests stay fast; each slow one gets 408 and is closed within headersTimeout + margin', async () => {
    const run = await slowClientRun(
      500,
      'G',
      `ET /slow-headers HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`,
      false,
      1_000 + 1_000 + 4_000,
    );
    try {
      const p99 = percentile(run.latencies, 99);
      summary('slow-headers', {
        slowConnections: 500,
        normalRequests: run.latencies.length,
        p50Ms: percentile(run.latencies, 50),
        p99Ms: p99,
        maxSlowClosedAfterMs: run.maxEndedMs,
        responses: JSON.stringify(Object.fromEntries(run.statuses)),
      });
      // Held up by the slow clients, a request would wait for their 1 s timeout; a busy
      // machine alone does not come near that.
      expect(p99).toBeLessThan(500);
      // KV_HEADERS_TIMEOUT_MS=1000, checked every second by Node: 2 s, plus a margin for a busy
      // machine.
      expect(run.maxEndedMs).toBeLessThan(1_000 + 1_000 + 4_000);
      expect([...run.statuses.keys()]).toEqual([
        'HTTP/1.1 408 Request Timeout',
      ]);
      // The workers hold no socket for them any more.
      await waitFor(
        () => pids.every((pid, i) => socketCount(pid) <= run.baseline[i]! + 2),
        5_000,
        'the workers to release the slow sockets',
      );
    } finally {
      run.destroy();
    }
    rejected += 500;
  }, 60_000);

  it('200 clients dribbling a PUT body: each is closed within requestTimeout + margin and nothing is stored', async () => {
    const before = await revision();
    const run = await slowClientRun(
      200,
      `PUT /slow-body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"`,
      `${'b'.repeat(398)}"`,
      false,
      2_000 + 1_000 + 4_000,
    );
    try {
      summary('slow-body', {
        slowConnections: 200,
        normalRequests: run.latencies.length,
        p99Ms: percentile(run.latencies, 99),
        maxSlowClosedAfterMs: run.maxEndedMs,
        responses: JSON.stringify(Object.fromEntries(run.statuses)),
      });
      expect(percentile(run.latencies, 99)).toBeLessThan(500);
      expect(run.maxEndedMs).toBeLessThan(2_000 + 1_000 + 4_000);
      expect([...run.statuses.keys()]).toEqual([
        'HTTP/1.1 408 Request Timeout',
      ]);
    } finally {
      run.destroy();
    }
    await expectAbsent('slow-body');
    expect(await revision()).toBe(before);
    rejected += 200;
  }, 60_000);

  // KNOWN SERVER BUG (see the report): after the 408, answerClientError() (src/worker/run-worker.ts)
  // only ends its side of the socket; Node's HTTP server sockets are allowHalfOpen, so a client
  // that keeps its own side open holds the worker's socket forever. Remove `.failing` once fixed.
  it('half-open slow clients: the worker releases their sockets after the 408', async () => {
    const run = await slowClientRun(
      100,
      'G',
      `ET /slow-half HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`,
      true,
      1_000 + 1_000 + 4_000,
    );
    try {
      expect([...run.statuses.keys()]).toEqual([
        'HTTP/1.1 408 Request Timeout',
      ]);
      await waitFor(
        () => pids.every((pid, i) => socketCount(pid) <= run.baseline[i]! + 2),
        5_000,
        'the workers to release the half-open slow sockets',
      );
    } finally {
      run.destroy();
    }
  }, 60_000);

  // KNOWN SERVER BUG (see the report): a client that goes away in the middle of a body makes
  // Fastify reject the request with "aborted" (ECONNRESET); toHttpError()
  // (src/worker/error-mapping.ts) maps it to internal_error and JsonErrorFilter logs it at error
  // level as "unhandled error", so any client can fill the error log. Remove `.failing` once fixed.
  it('a client aborting mid-body is not logged as an unhandled error', async () => {
    const before = logLines(kv, 'unhandled error').length;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        rawExchange(
          kv.port,
          `PUT /aborted HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"abc`,
          200,
        ),
      ),
    );
    await expectAbsent('aborted');
    // Give the workers' logs a moment to arrive, then count.
    await delay(500);
    expect(logLines(kv, 'unhandled error').length - before).toBe(0);
  }, 15_000);

  it('the cluster survived all of it: same workers, same primary, no restarts, no crash logged', async () => {
    expect((await kv.waitAllLive()).sort()).toEqual([...pids].sort());
    expect(kv.exit).toBeUndefined();
    expect(isAlive(kv.pid)).toBe(true);
    const metrics = await kv.get('/_/metrics');
    expect(/^kv_worker_restarts_total (\d+)$/m.exec(metrics.body)?.[1]).toBe(
      '0',
    );
    expect(logLines(kv, 'worker died; forking a new one')).toEqual([]);
  });
});

// =============================================================================================

describe('KV_MAX_KEYS=5', () => {
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start({ workers: 2, env: { KV_MAX_KEYS: '5' } });
  }, 40_000);

  afterAll(() => kv?.shutdown());

  it('507 for a new key past the limit; updates and deletes work; a delete frees a slot; concurrent creates never overshoot', async () => {
    let full = 0;
    for (let i = 0; i < 3; i++)
      expectAck(await kv.write('PUT', `/mk-${i}`, String(i)), `mk-${i}`);

    // Two slots left: 20 concurrent creates of new keys race for them.
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        kv.write('PUT', `/mk-race-${i}`, String(i)),
      ),
    );
    const won = responses.filter((r) => r.status === 200).length;
    for (const response of responses)
      if (response.status !== 200) {
        expect(expectError(response, 507).error).toBe('store_full');
        full++;
      }
    expect(won).toBe(2);
    expect((await kv.stats()).keys).toBe(5);
    for (const [i, response] of responses.entries())
      if (response.status === 507)
        expectError(await kv.get(`/mk-race-${i}?consistency=strong`), 404);

    // At the limit: new keys are refused whatever the method, nothing is stored.
    const before = (await kv.stats()).revision;
    expect(expectError(await kv.write('PUT', '/mk-new', '1'), 507).error).toBe(
      'store_full',
    );
    expect(expectError(await kv.write('POST', '/mk-new', '1'), 507).error).toBe(
      'store_full',
    );
    expectError(await kv.write('PUT', '/mk-new/60000', '1'), 507);
    full += 3;
    expectError(await kv.get('/mk-new?consistency=strong'), 404);
    expect((await kv.stats()).revision).toBe(before);

    // Updates of present keys and deletes still work.
    const updated = expectAck(
      await kv.write('PUT', '/mk-0?consistency=strong', '"updated"'),
      'mk-0',
    );
    expectValue(await kv.get('/mk-0'), '"updated"', updated);
    expectAck(await kv.delete('/mk-1?consistency=strong'), 'mk-1');
    expectError(await kv.get('/mk-1'), 404);

    // The freed slot takes exactly one new key.
    const created = expectAck(
      await kv.write('POST', '/mk-new?consistency=strong', '"fits"'),
      'mk-new',
    );
    expectValue(await kv.get('/mk-new'), '"fits"', created);
    expectError(await kv.write('PUT', '/mk-another', '1'), 507);
    full++;
    expect((await kv.stats()).keys).toBe(5);
    summary('max-keys', {
      writesAcknowledged: 3 + won + 3,
      writesLost: 0,
      refused507: full,
      keys: 5,
    });
  });
});

// =============================================================================================

describe('KV_AUTH_TOKEN set', () => {
  const TOKEN = 'faults-secret-token';
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start({ workers: 2, env: { KV_AUTH_TOKEN: TOKEN } });
  }, 40_000);

  afterAll(() => kv?.shutdown());

  const routes: [string, string, string | undefined][] = [
    ['GET', '/auth-key', undefined],
    ['HEAD', '/auth-key', undefined],
    ['GET', '/auth-key?consistency=strong', undefined],
    ['PUT', '/auth-key', '1'],
    ['PUT', '/auth-key/60000', '1'],
    ['POST', '/auth-key', '1'],
    ['POST', '/auth-key/60000', '1'],
    ['DELETE', '/auth-key', undefined],
    ['GET', '/_/stats', undefined],
    ['GET', '/_/digest', undefined],
    ['GET', '/_/metrics', undefined],
    ['GET', '/no/such/route/here', undefined],
    ['GET', '/_/health/', undefined],
    ['GET', '/_/health?x=1', undefined],
    ['GET', '//_/health', undefined],
  ];
  const badHeaders: [string, Record<string, string>][] = [
    ['no Authorization', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token' }],
    ['a token prefix', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['the token plus a byte', { authorization: `Bearer ${TOKEN}x` }],
    ['the Basic scheme', { authorization: `Basic ${TOKEN}` }],
    ['the bare token', { authorization: TOKEN }],
    ['an empty Bearer', { authorization: 'Bearer ' }],
  ];

  it('every route but /_/health answers 401 with WWW-Authenticate without the right token, and nothing is stored', async () => {
    let refused = 0;
    const before = (await kv.stats(bearer(TOKEN))).revision;
    for (const [method, path, body] of routes) {
      for (const [, headers] of badHeaders) {
        const response = await kv.request(method, path, {
          body,
          headers: { ...headers, ...(body === undefined ? {} : PUT_JSON) },
        });
        expect(response.status).toBe(401);
        expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
        if (method !== 'HEAD')
          expect(expectError(response, 401).error).toBe('unauthorized');
        refused++;
      }
    }
    expect((await kv.stats(bearer(TOKEN))).revision).toBe(before);
    expectError(
      await kv.get('/auth-key?consistency=strong', bearer(TOKEN)),
      404,
    );
    summary('auth', { refused401: refused, stored: 0, writesLost: 0 });
  });

  it('/_/health is open; the right token opens every route', async () => {
    for (let i = 0; i < 4; i++)
      expect((await kv.get('/_/health')).status).toBe(200);
    const auth = bearer(TOKEN);
    const revision = expectAck(
      await kv.write('PUT', '/auth-key?consistency=strong', '{"ok":1}', auth),
      'auth-key',
    );
    for (let i = 0; i < 4; i++)
      expectValue(await kv.get('/auth-key', auth), '{"ok":1}', revision);
    expect(
      (await kv.request('HEAD', '/auth-key', { headers: auth })).status,
    ).toBe(200);
    for (const path of ['/_/stats', '/_/digest', '/_/metrics'])
      expect((await kv.get(path, auth)).status).toBe(200);
    expectError(await kv.write('POST', '/auth-key', '1', auth), 409);
    expectAck(await kv.delete('/auth-key', auth), 'auth-key');
    expectError(await kv.get('/auth-key?consistency=strong', auth), 404);
    // The 401 is a clean answer on a keep-alive connection: the next request on it works.
    const connection = new KeepAliveConnection(kv.port);
    try {
      expect((await connection.get('/_/stats')).status).toBe(401);
      expect(
        (await connection.request('GET', '/_/stats', { headers: auth })).status,
      ).toBe(200);
      expect(connection.socketsOpened).toBe(1);
    } finally {
      connection.close();
    }
  });
});
