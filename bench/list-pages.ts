/**
 * The listing workload of `npm run bench` and `npm run bench:scale`: pages of `GET /_/keys` by
 * random prefix, sent by the paced generator, timed by the workers themselves (the
 * kv_http_request_duration_seconds histogram of route /_/keys, from the parsed request to the
 * answer sent): the listing target in docs/performance.md is on that server-side figure, which
 * leaves out the generator's own delays.
 */
import { LoadSummary, pacedLoad } from './paced-load';
import {
  Quantiles,
  quantilesBetween,
  readHistogram,
  scrapeMetrics,
} from './server-histograms';

export interface ListPagesOptions {
  origin: string;
  /** Pages per second. */
  rate: number;
  durationMs: number;
  /** Paced at the same rate before the measured run, not counted. */
  warmupMs: number;
  connections: number;
  /** Keys per page. */
  limit: number;
  /** A prefix for the next page, drawn at random among the loaded keys'. */
  prefix: () => string;
}

export interface ListPagesResult {
  /** Keys per page asked for. */
  limit: number;
  /** As the generator saw them, from when each page was due. */
  client: LoadSummary;
  /** As the workers timed them. */
  server: Quantiles;
  /** Keys in the cluster (/_/stats). */
  keys: number;
  /** Mean keys per page over a sample taken before the run: how full the pages are. */
  keysPerPage: number;
}

const DURATION = 'kv_http_request_duration_seconds';
const LIST_PAGES = ['route="/_/keys"', 'method="GET"', 'status_class="2xx"'];
const SAMPLE_PAGES = 50;

/** Runs the workload against the cluster at `options.origin`. */
export async function measureListPages(
  options: ListPagesOptions,
): Promise<ListPagesResult> {
  const path = (): string =>
    `/_/keys?prefix=${encodeURIComponent(options.prefix())}&limit=${options.limit}`;
  let listed = 0;
  for (let i = 0; i < SAMPLE_PAGES; i++) {
    const response = await fetch(options.origin + path());
    if (response.status !== 200)
      throw new Error(`GET /_/keys answered ${response.status}`);
    listed += ((await response.json()) as { keys: unknown[] }).keys.length;
  }
  const stats = (await (await fetch(`${options.origin}/_/stats`)).json()) as {
    keys: number;
  };
  const run = (durationMs: number): Promise<LoadSummary> =>
    pacedLoad({
      origin: options.origin,
      rate: options.rate,
      durationMs,
      connections: options.connections,
      request: () => ({ method: 'GET', path: path() }),
    });
  if (options.warmupMs > 0) await run(options.warmupMs);
  const before = await scrapeMetrics(options.origin);
  const client = await run(options.durationMs);
  const after = await scrapeMetrics(options.origin);
  return {
    limit: options.limit,
    client,
    server: quantilesBetween(
      readHistogram(before, DURATION, LIST_PAGES),
      readHistogram(after, DURATION, LIST_PAGES),
    ),
    keys: stats.keys,
    keysPerPage: listed / SAMPLE_PAGES,
  };
}

/** One line on a {@link measureListPages} run. */
export function describeListPages(result: ListPagesResult): string {
  const { client, server } = result;
  return (
    `list: pages of up to ${result.limit} keys by random prefix at ${result.keys.toLocaleString()} keys ` +
    `(${result.keysPerPage.toFixed(1)} keys per page on average): ` +
    `server-side p50 ${server.p50Ms.toFixed(3)} ms, p95 ${server.p95Ms.toFixed(3)} ms, p99 ${server.p99Ms.toFixed(3)} ms over ${server.samples} pages; ` +
    `client-side ${client.reqPerSec.toFixed(0)} pages/s, p99 ${client.p99.toFixed(2)} ms, ${client.errors} errors, ${client.non2xx} non-2xx`
  );
}
