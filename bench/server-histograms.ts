/**
 * Quantiles from the cluster's own Prometheus histograms (replication lag, request duration),
 * over what was observed between two scrapes of /_/metrics.
 */

/** Cumulative count per upper bound (seconds), summed over the matching series. */
export type Buckets = Map<number, number>;

export interface Quantiles {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  samples: number;
}

/** The /_/metrics text, aggregated over every process of the cluster. */
export async function scrapeMetrics(origin: string): Promise<string> {
  return (await fetch(`${origin}/_/metrics`)).text();
}

/**
 * The buckets of histogram `name` in `metrics`, summed over the series whose labels include
 * every one of `labels` (each written `name="value"`).
 */
export function readHistogram(
  metrics: string,
  name: string,
  labels: string[] = [],
): Buckets {
  const buckets: Buckets = new Map();
  const series = new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\d+)`, 'gm');
  for (const match of metrics.matchAll(series)) {
    const set = match[1]!;
    if (!labels.every((label) => set.includes(label))) continue;
    const bound = /le="([^"]+)"/.exec(set)?.[1];
    if (bound === undefined) continue;
    const le = bound === '+Inf' ? Infinity : Number(bound);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
  }
  return buckets;
}

/**
 * p50, p95 and p99 of the observations made between two readings, in milliseconds,
 * interpolated linearly inside a bucket as Prometheus's histogram_quantile does.
 */
export function quantilesBetween(before: Buckets, after: Buckets): Quantiles {
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
  return {
    p50Ms: quantile(0.5),
    p95Ms: quantile(0.95),
    p99Ms: quantile(0.99),
    samples: total,
  };
}
