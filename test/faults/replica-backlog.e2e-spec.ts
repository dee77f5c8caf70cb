import { KvCluster } from '../support/cluster';
import { logLines, scenarioCluster } from '../support/faults';

/**
 * KV_MAX_REPLICA_BACKLOG_BYTES at its minimum recycles no healthy worker for one write of the
 * largest value.
 */

describe('KV_MAX_REPLICA_BACKLOG_BYTES=1048576 (its minimum) with healthy workers', () => {
  let kv: KvCluster;

  scenarioCluster(
    {
      workers: 2,
      env: { KV_MAX_REPLICA_BACKLOG_BYTES: String(1_048_576) },
    },
    (started) => (kv = started),
  );

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
