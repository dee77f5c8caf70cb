import { Injectable } from '@nestjs/common';
import { MAX_UNWRITTEN_BYTES } from '../persistence';
import { AuthoritativeStore } from '../store';
import { Durability } from './durability';
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
} from 'prom-client';

/** The primary's own Prometheus metrics; the workers' are merged in when /_/metrics is asked. */
@Injectable()
export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly writes = new Counter({
    name: 'kv_writes_total',
    help: 'Writes decided by the primary, by outcome.',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly txnCommitted = new Counter({
    name: 'kv_txn_committed_total',
    help: 'Transactions (POST /_/txn) committed by the primary.',
    registers: [this.registry],
  });
  readonly txnFailed = new Counter({
    name: 'kv_txn_failed_total',
    help: 'Transactions the primary refused, applying nothing: a condition did not hold (conditions), or KV_MAX_KEYS (full).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly batchChanges = new Histogram({
    name: 'kv_batch_changes',
    help: 'Changes per published batch.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
    registers: [this.registry],
  });
  /** One run of the reconcile loop (`reconcile-loop.ts`) that published a batch. */
  readonly reconcileSeconds = new Histogram({
    name: 'kv_reconcile_duration_seconds',
    help: 'Time to encode and send one batch and its write results.',
    buckets: [
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
    ],
    registers: [this.registry],
  });
  readonly snapshots = new Counter({
    name: 'kv_snapshot_transfers_total',
    help: 'Snapshots streamed to workers.',
    registers: [this.registry],
  });
  readonly snapshotSeconds = new Histogram({
    name: 'kv_snapshot_duration_seconds',
    help: 'Time to stream one snapshot to a worker.',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly restarts = new Counter({
    name: 'kv_worker_restarts_total',
    help: 'Workers forked again after one exited.',
    registers: [this.registry],
  });
  readonly workerApplied = new Gauge({
    name: 'kv_worker_applied_revision',
    help: 'Last revision each worker reported applied.',
    labelNames: ['pid'],
    registers: [this.registry],
  });
  readonly workerLagSeconds = new Gauge({
    name: 'kv_worker_lag_seconds',
    help: 'How long ago the oldest batch each worker has not yet confirmed was published.',
    labelNames: ['pid'],
    registers: [this.registry],
  });
  readonly workerLagRevisions = new Gauge({
    name: 'kv_worker_lag_revisions',
    help: 'Revisions each worker is behind the primary.',
    labelNames: ['pid'],
    registers: [this.registry],
  });

  constructor(store: AuthoritativeStore, durability: Durability) {
    const registers = [this.registry];
    new Gauge({
      name: 'kv_log_unwritten_bytes',
      help: `Bytes of batches queued for the log file and not yet written (0 without KV_DATA_DIR); past ${MAX_UNWRITTEN_BYTES / 1_048_576} MiB the primary holds batches back.`,
      registers,
      collect() {
        this.set(durability.log?.unwritten ?? 0);
      },
    });
    new Gauge({
      name: 'kv_keys',
      help: 'Keys in the authoritative store (expired keys count until reaped, at most one TTL interval).',
      registers,
      collect() {
        this.set(store.table.size);
      },
    });
    new Gauge({
      name: 'kv_revision',
      help: 'Revision of the last applied change.',
      registers,
      collect() {
        this.set(store.revision);
      },
    });
    new Gauge({
      name: 'kv_ordered_index_bytes',
      help: 'Bytes the ordered index of keys (for GET /_/keys) takes in each process.',
      labelNames: ['role', 'pid'],
      registers,
      collect() {
        this.set(
          { role: 'primary', pid: String(process.pid) },
          store.table.entries.orderedIndexBytes,
        );
      },
    });
    let reportedExpired = 0;
    new Counter({
      name: 'kv_keys_expired_total',
      help: 'Keys deleted because their TTL ran out.',
      registers,
      collect() {
        this.inc(store.expiredCount - reportedExpired);
        reportedExpired = store.expiredCount;
      },
    });
    // Both series exist from the start, so a rate over them is defined before the first failure.
    for (const reason of ['conditions', 'full'])
      this.txnFailed.inc({ reason }, 0);
    collectDefaultMetrics({
      register: this.registry,
      labels: { role: 'primary', pid: String(process.pid) },
    });
  }
}
