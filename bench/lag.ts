/** Replication lag quantiles from the cluster's kv_replication_lag_seconds histogram. */

export type Buckets = Map<number, number>;

/** Reads the cumulative bucket counts of kv_replication_lag_seconds from /_/metrics. */
export async function scrapeLagHistogram(origin: string): Promise<Buckets> {
  const text = await (await fetch(`${origin}/_/metrics`)).text();
  const buckets: Buckets = new Map();
  for (const match of text.matchAll(
    /^kv_replication_lag_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+)/gm,
  )) {
    const le = match[1] === '+Inf' ? Infinity : Number(match[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
  }
  return buckets;
}

/**
 * p50 and p99 of the observations made between two scrapes, in milliseconds, interpolated
 * linearly inside a bucket as Prometheus's histogram_quantile does.
 */
export function lagQuantiles(
  before: Buckets,
  after: Buckets,
): { p50Ms: number; p99Ms: number; samples: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map(
    (le) => (after.get(le) ?? 0) - (before.get(le) ?? 0),
  );
  const total = counts[counts.length - 1] ?? 0;
  const quantile = (q: number): number => {
    const rank = q * total;
    for (let i = 0; i < bounds.length; i++) {
      if (counts[i]! >= rank) {
        const upper = bounds[i]!;
        const lower = i === 0 ? 0 : bounds[i - 1]!;
        const below = i === 0 ? 0 : counts[i - 1]!;
        if (upper === Infinity) return lower * 1000;
        const inBucket = counts[i]! - below;
        return (
          (lower + ((upper - lower) * (rank - below)) / (inBucket || 1)) * 1000
        );
      }
    }
    return NaN;
  };
  return { p50Ms: quantile(0.5), p99Ms: quantile(0.99), samples: total };
}
