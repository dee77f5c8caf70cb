import { prng } from '../../src/store/seeded-random.spec-support';
import { HttpResponse, KvCluster, waitFor } from '../support/cluster';
import { expectAck } from '../support/expectations';
import {
  KeepAliveConnection,
  logLines,
  mismatch,
  pinConnection,
  pipelinedParallel,
  rawMismatch,
  rawRequest,
  scenarioCluster,
  signal,
  summary,
  waitForReplacement,
} from '../support/faults';

/** A replacement worker bootstraps a large snapshot while writes go on. */

describe('snapshot race: a replacement bootstraps 50k keys while writes go on', () => {
  let kv: KvCluster;

  scenarioCluster({ workers: 2 }, (started) => (kv = started));

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
    let staleEventual = 0;
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
      replacement = await waitForReplacement(
        kv,
        victim,
        survivor,
        60_000,
        'a live replacement',
      );
      liveAt = Date.now();

      // Reads while the writers go on: fresh connections (round-robin: half reach the
      // replacement) and one keep-alive connection pinned to the replacement.
      const reader = await pinConnection(kv, (pid) => pid === replacement);
      const random = prng(7);
      const readUntil = Date.now() + 3_000;
      const check = (
        i: number,
        floor: number,
        response: HttpResponse,
        where: string,
      ): void => {
        const ceiling = sent[i]!;
        const v =
          response.status === 200
            ? (JSON.parse(response.body) as { v: number }).v
            : -1;
        if (v >= floor && v <= ceiling) return;
        if (!strongLane(i)) {
          // An eventual write acknowledged through the other worker may reach this replica a
          // moment after the ack: the contract allows it. Counted, not failed.
          staleEventual++;
          return;
        }
        stale.push(
          `${where} snap-${i}: read v${v} (${response.status}), acknowledged v${floor} before the read, sent up to v${ceiling}`,
        );
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
      if (i >= HOT) {
        const problem = rawMismatch(response, valueOf(i, 0), revisions[i]!);
        if (problem !== undefined) lost.push(`snap-${i}: ${problem}`);
        continue;
      }
      const etag = response.headers.etag;
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
      staleEventualReads: staleEventual,
      freshReads,
      pinnedReads,
      strongReads: KEYS,
      digestsCompared: digest.workers.length,
    });
    expect(stale.slice(0, 20)).toEqual([]);
    expect(lost.slice(0, 20)).toEqual([]);
  }, 240_000);
});
