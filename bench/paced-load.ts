/**
 * An open-loop load generator: request i is due at start + i / rate, whatever happened to the
 * requests before it. Its latency counts from when it was due, so time spent waiting for a free
 * connection is latency too (autocannon's overallRate is closed-loop: each connection sends its
 * quota back to back, then idles, which measures a burst and hides queueing).
 */
import { Pool } from 'undici';

export interface PacedRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: string;
}

export interface PacedOptions {
  origin: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  connections: number;
  /** Builds request number `i`. */
  request: (i: number) => PacedRequest;
}

export interface LoadSummary {
  requests: number;
  reqPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
}

/** Runs the schedule, waits for the last response, and summarizes latencies in milliseconds. */
export async function pacedLoad(options: PacedOptions): Promise<LoadSummary> {
  const pool = new Pool(options.origin, {
    connections: options.connections,
    pipelining: 1,
  });
  const total = Math.floor((options.rate * options.durationMs) / 1000);
  const latencies = new Float64Array(total);
  const interval = 1000 / options.rate;
  let issued = 0;
  let done = 0;
  let errors = 0;
  let non2xx = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const finishOne = (i: number): void => {
      latencies[i] = performance.now() - (start + i * interval);
      if (++done === total) resolve();
    };
    const tick = (): void => {
      const due = Math.min(
        total,
        Math.floor((performance.now() - start) / interval) + 1,
      );
      while (issued < due) {
        const i = issued++;
        const { method, path, body } = options.request(i);
        pool
          .request({
            method,
            path,
            body,
            headers:
              body === undefined ? {} : { 'content-type': 'application/json' },
          })
          .then(async (response) => {
            if (response.statusCode < 200 || response.statusCode > 299)
              non2xx++;
            await response.body.dump();
            finishOne(i);
          })
          .catch(() => {
            errors++;
            finishOne(i);
          });
      }
      if (issued < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = performance.now() - start;
  await pool.close();
  const sorted = latencies.sort();
  const at = (q: number): number =>
    sorted[Math.min(total - 1, Math.floor(q * total))] ?? 0;
  return {
    requests: total,
    reqPerSec: (total * 1000) / elapsed,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: sorted[total - 1] ?? 0,
    errors,
    non2xx,
  };
}
