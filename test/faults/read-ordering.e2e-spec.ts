import { KvCluster, waitFor } from '../support/cluster';
import {
  expectAck,
  expectValue,
  getSequentially,
} from '../support/expectations';
import {
  closeAll,
  etagRevision,
  KeepAliveConnection,
  mismatch,
  pinConnection,
  pinOnePerWorker,
  scenarioCluster,
  summary,
} from '../support/faults';

/** Read monotonicity on one connection, and contended writes to one key. */

describe('read ordering and contended writes (2 workers)', () => {
  let kv: KvCluster;

  scenarioCluster({ workers: 2 }, (started) => (kv = started));

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
