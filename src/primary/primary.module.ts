import { DynamicModule, Module } from '@nestjs/common';
import { Config } from '../config/config';
import { ConfigModule } from '../config/config.module';
import { AuthoritativeStore } from '../store';
import { ClusterQueries } from './cluster-queries';
import { ClusterSupervisor } from './cluster-supervisor';
import { Durability } from './durability';
import { ExpiryLoop } from './expiry-loop';
import { LogRewriter } from './log-rewriter';
import { PrimaryMetrics } from './primary-metrics';
import { ReconcileLoop } from './reconcile-loop';
import { ReplicaLag } from './replica-lag';
import { ReplicaSet } from './replica-set';
import { SnapshotStreamer } from './snapshot-streamer';
import { StrongWriteWaiters } from './strong-write-waiters';
import { WatchHistory } from './watch-history';
import { WorkerMessages } from './worker-messages';

/**
 * The primary: the authoritative store, its durability on disk (KV_DATA_DIR), its loops, and
 * the workers it feeds. A Nest application context with no HTTP: every request reaches it as a
 * message from the worker that took it.
 *
 * Layout:
 * - `run-primary.ts`: starts the application context; SIGTERM and SIGINT stop it gracefully.
 * - `primary.module.ts`: {@link PrimaryModule.forRoot}, which provides everything below.
 * - `cluster-supervisor.ts`: forks the workers, forks a new one for each that dies (backing off
 *   while they die young), and runs the graceful shutdown.
 * - `replica-set.ts`: each worker's link and the one way to send to it: batches held back for
 *   bystanders, a worker recycled once its unread backlog is too large.
 * - `replica-lag.ts`: how far each replica is behind, in milliseconds, and the recycling of
 *   those more than KV_MAX_REPLICA_LAG revisions behind.
 * - `worker-messages.ts`: everything a worker sends; writes and transactions are decided here,
 *   one by one in arrival order.
 * - `reconcile-loop.ts`: the reconcile loop: takes what the store committed, appends it to the
 *   log, sends it to every worker as one batch, then answers the writes.
 * - `strong-write-waiters.ts`: strong writes and transactions, held until every live replica
 *   has applied them, or answered Unconfirmed at KV_STRONG_WRITE_TIMEOUT_MS.
 * - `snapshot-streamer.ts`: streams the store to a new worker in chunks while it keeps serving.
 * - `watch-history.ts`: the primary's copy of the watch history, for watchers that resume on a
 *   worker forked after the revision they ask for.
 * - `cluster-queries.ts`: /_/stats, /_/digest and /_/metrics: probes every live worker and
 *   merges the answers with the primary's own.
 * - `expiry-loop.ts`: the TTL loop: reaps expired keys and publishes the deletes.
 * - `durability.ts`: KV_DATA_DIR: locks and loads it at start-up, then holds the log; the files
 *   themselves are handled in `src/persistence`, the only area that touches files.
 * - `log-rewriter.ts`: writes a snapshot in the background once the log outgrows the last one.
 * - `primary-metrics.ts`: the primary's Prometheus metrics.
 *
 * Imports flow `primary -> persistence | protocol -> store`, and `primary -> config`.
 *
 * {@link Durability} loads the data directory in onModuleInit, so the store is whole before
 * {@link ClusterSupervisor} forks a worker in onApplicationBootstrap.
 */
@Module({})
export class PrimaryModule {
  /** The primary's root module, with `config` (read once by `main.ts`) and its logger. */
  static forRoot(config: Config): DynamicModule {
    return {
      module: PrimaryModule,
      imports: [ConfigModule.register(config, 'primary')],
      providers: [
        {
          provide: AuthoritativeStore,
          useFactory: () =>
            new AuthoritativeStore({
              clock: Date.now,
              maxKeys: config.maxKeys,
            }),
        },
        PrimaryMetrics,
        Durability,
        ReplicaSet,
        ReplicaLag,
        WatchHistory,
        StrongWriteWaiters,
        ReconcileLoop,
        SnapshotStreamer,
        ClusterQueries,
        WorkerMessages,
        ExpiryLoop,
        LogRewriter,
        ClusterSupervisor,
      ],
    };
  }
}
