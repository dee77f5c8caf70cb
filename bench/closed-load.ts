/** Closed-loop load with autocannon: a fixed number of connections, each sending back to back. */
import autocannon from 'autocannon';
import type { LoadSummary } from './paced-load';
import type { BenchRequest } from './servers';

export interface ClosedOptions {
  origin: string;
  connections: number;
  durationSeconds: number;
  /** Builds the next request. */
  next: () => BenchRequest;
}

/**
 * Runs autocannon and summarizes it. Latencies come from autocannon's per-response event in
 * fractional milliseconds (its own histogram rounds to whole milliseconds and has no p95).
 */
export function closedLoad(options: ClosedOptions): Promise<LoadSummary> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.origin,
        connections: options.connections,
        duration: options.durationSeconds,
        requests: [
          {
            setupRequest: (request) => {
              const { method, path, body } = options.next();
              return {
                ...request,
                method,
                path,
                body,
                headers:
                  body === undefined
                    ? {}
                    : { 'content-type': 'application/json' },
              };
            },
          },
        ],
      },
      (error, result) => {
        if (error)
          return reject(
            error instanceof Error ? error : new Error(String(error)),
          );
        latencies.sort((a, b) => a - b);
        const at = (q: number): number =>
          latencies[
            Math.min(latencies.length - 1, Math.floor(q * latencies.length))
          ] ?? 0;
        resolve({
          requests: result.requests.total,
          reqPerSec: result.requests.total / options.durationSeconds,
          p50: at(0.5),
          p95: at(0.95),
          p99: at(0.99),
          max: latencies[latencies.length - 1] ?? 0,
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
        });
      },
    );
    instance.on(
      'response',
      (
        _client: unknown,
        _status: number,
        _bytes: number,
        responseTime: number,
      ) => {
        latencies.push(responseTime);
      },
    );
  });
}
