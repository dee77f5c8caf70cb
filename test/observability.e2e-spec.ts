import { json, KvCluster, stopAllClusters, waitFor } from './support/cluster';

/** Sample values of a Prometheus text exposition, by series (name plus labels, as printed). */
function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** The sum of every series of `name` whose labels include all of `labels`. */
function total(
  series: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const [key, value] of series) {
    const brace = key.indexOf('{');
    if ((brace === -1 ? key : key.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`)))
      sum += value;
  }
  return sum;
}

describe('observability', () => {
  let kv: KvCluster;

  beforeAll(async () => {
    kv = await KvCluster.start({ workers: 2 });
  });
  afterAll(stopAllClusters);

  const scrape = async (): Promise<Map<string, number>> => {
    const response = await kv.get('/_/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    return parseMetrics(response.body);
  };

  it('exposes every metric, aggregated over the primary and all workers, whichever worker answers', async () => {
    const names = [
      'kv_http_request_duration_seconds_count',
      'kv_http_requests_in_flight',
      'kv_keys',
      'kv_revision',
      'kv_worker_applied_revision',
      'kv_worker_lag_revisions',
      'kv_worker_lag_seconds',
      'kv_replication_lag_seconds_count',
      'kv_batch_changes_count',
      'kv_reconcile_duration_seconds_count',
      'kv_keys_expired_total',
      'kv_forward_queue_depth',
      'kv_snapshot_transfers_total',
      'kv_snapshot_duration_seconds_count',
      'kv_worker_restarts_total',
      'kv_log_unwritten_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ];
    await kv.write('PUT', '/metric-seed', '1');
    const stats = await kv.stats();
    const pids = [
      String(stats.primaryPid),
      ...stats.workers.map((w) => String(w.pid)),
    ];
    for (let i = 0; i < 4; i++) {
      const series = await scrape();
      for (const name of names) {
        expect([
          name,
          [...series.keys()].some(
            (k) => k === name || k.startsWith(`${name}{`),
          ),
        ]).toEqual([name, true]);
      }
      // Per-process series carry the pid of every process.
      for (const pid of pids) {
        expect([
          pid,
          total(series, 'process_resident_memory_bytes', { pid }),
        ]).toEqual([pid, expect.any(Number) as number]);
        expect(
          total(series, 'process_resident_memory_bytes', { pid }),
        ).toBeGreaterThan(0);
        expect(
          total(series, 'nodejs_eventloop_lag_p99_seconds', { pid }),
        ).toBeGreaterThanOrEqual(0);
      }
      // One snapshot per worker was streamed at start.
      expect(
        total(series, 'kv_snapshot_transfers_total'),
      ).toBeGreaterThanOrEqual(2);
    }
  });

  it('counts exactly the requests sent, by route, method and status class', async () => {
    const labels = { route: '/:key', method: 'PUT', status_class: '2xx' };
    const missLabels = { route: '/:key', method: 'GET', status_class: '4xx' };
    const before = await scrape();
    for (let i = 0; i < 25; i++)
      expect((await kv.write('PUT', `/counted-${i}`, String(i))).status).toBe(
        200,
      );
    for (let i = 0; i < 7; i++)
      expect((await kv.get(`/never-written-${i}`)).status).toBe(404);
    const after = await scrape();
    const name = 'kv_http_request_duration_seconds_count';
    expect(total(after, name, labels) - total(before, name, labels)).toBe(25);
    expect(
      total(after, name, missLabels) - total(before, name, missLabels),
    ).toBe(7);
    expect(total(after, 'kv_revision') - total(before, 'kv_revision')).toBe(25);
    expect(total(after, 'kv_keys') - total(before, 'kv_keys')).toBe(25);
    expect(
      total(after, 'kv_batch_changes_sum') -
        total(before, 'kv_batch_changes_sum'),
    ).toBe(25);
  });

  it('counts expired keys, and lag returns to 0 when the cluster is idle', async () => {
    const before = await scrape();
    for (let i = 0; i < 5; i++)
      expect((await kv.write('PUT', `/short-${i}/50`, '"x"')).status).toBe(200);
    await waitFor(
      async () =>
        total(await scrape(), 'kv_keys_expired_total') -
          total(before, 'kv_keys_expired_total') ===
        5,
      10_000,
      'five expiries to be counted',
    );
    await waitFor(
      async () => {
        const series = await scrape();
        return (
          total(series, 'kv_worker_lag_revisions') === 0 &&
          total(series, 'kv_worker_lag_seconds') === 0 &&
          total(series, 'kv_forward_queue_depth') === 0
        );
      },
      10_000,
      'lag to return to 0',
    );
    const stats = await kv.stats();
    for (const worker of stats.workers) {
      expect(worker).toMatchObject({
        lag: { revisions: 0, ms: 0 },
        revision: stats.revision,
      });
    }
  });

  it('reports uptime, memory and lag of every process in /_/stats', async () => {
    const stats = json<{
      primary: {
        uptimeSeconds: number;
        memory: { rss: number; heapUsed: number };
      };
      workers: {
        uptimeSeconds: number;
        memory: { rss: number; heapUsed: number };
        lag: object;
      }[];
    }>(await kv.get('/_/stats'));
    expect(stats.primary.uptimeSeconds).toBeGreaterThan(0);
    expect(stats.primary.memory.rss).toBeGreaterThan(
      stats.primary.memory.heapUsed,
    );
    expect(stats.workers).toHaveLength(2);
    for (const worker of stats.workers) {
      expect(worker.uptimeSeconds).toBeGreaterThan(0);
      expect(worker.memory.rss).toBeGreaterThan(0);
      expect(worker.lag).toEqual({
        revisions: expect.any(Number) as number,
        ms: expect.any(Number) as number,
      });
    }
  });

  it('echoes X-Request-Id, and makes one up when the request has none', async () => {
    const given = await kv.get('/anything', { 'x-request-id': 'trace-123' });
    expect(given.headers['x-request-id']).toBe('trace-123');
    const made = await kv.get('/anything');
    const other = await kv.get('/anything');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(other.headers['x-request-id']).not.toBe(
      made.headers['x-request-id'],
    );
  });

  it('logs JSON lines with lifecycle figures and no line per request at info', () => {
    const logged = kv
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'));
    const messages = logged.map(
      (line) => (JSON.parse(line) as { msg: string }).msg,
    );
    expect(messages).toEqual(
      expect.arrayContaining([
        'snapshot sent',
        'replica loaded',
        'worker listening',
      ]),
    );
    const snapshot = logged
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'snapshot sent');
    expect(snapshot).toMatchObject({
      keys: expect.any(Number) as number,
      seconds: expect.any(Number) as number,
      worker: expect.any(Number) as number,
    });
    // Dozens of requests were served above; none of them left a log line.
    expect(logged.length).toBeLessThan(30);
  });
});

describe('logs', () => {
  afterAll(stopAllClusters);

  const servingLine = (kv: KvCluster): string =>
    `fanout-kv serving on http://127.0.0.1:${kv.port}`;

  /** A cluster of 2 workers with `env`, and its log lines once it logged its serving URL. */
  async function startLogging(
    env?: Record<string, string>,
  ): Promise<{ kv: KvCluster; lines: string[] }> {
    const kv = await KvCluster.start({ workers: 2, env });
    await kv.waitForLine(servingLine(kv), 10_000);
    const lines = kv
      .output()
      .split('\n')
      .filter((line) => line !== '');
    return { kv, lines };
  }

  it('are JSON lines when stdout is not a terminal, with the serving URL once', async () => {
    const { kv, lines } = await startLogging();
    for (const line of lines) expect(line).toMatch(/^\{.*\}$/);
    const serving = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.msg === servingLine(kv));
    expect(serving).toEqual([
      expect.objectContaining({
        level: 30,
        role: 'primary',
        pid: kv.pid,
        port: kv.port,
        workers: 2,
      }),
    ]);
    await kv.shutdown();
  });

  it('are readable lines with KV_LOG_FORMAT=pretty', async () => {
    const { kv, lines } = await startLogging({ KV_LOG_FORMAT: 'pretty' });
    for (const line of lines)
      expect(line).toMatch(
        /^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN ) (primary|worker)\[\d+\] \S/,
      );
    expect(
      lines.filter((line) =>
        line.includes(`primary[${kv.pid}] ${servingLine(kv)} host=127.0.0.1`),
      ),
    ).toHaveLength(1);
    expect(
      lines.some((line) => / worker listening revision=\d+$/.test(line)),
    ).toBe(true);
    await kv.shutdown();
  });
});
