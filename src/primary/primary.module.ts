import { Module } from '@nestjs/common';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { AuthoritativeStore } from '../store';
import { ReconcileLoop } from './reconcile-loop';
import { ClusterQueries } from './cluster-queries';
import { ClusterSupervisor } from './cluster-supervisor';
import { Durability } from './durability';
import { ExpiryLoop } from './expiry-loop';
import { LogRewriter } from './log-rewriter';
import { PrimaryMetrics } from './primary-metrics';
import { ReplicaLag } from './replica-lag';
import { ReplicaSet } from './replica-set';
import { SnapshotStreamer } from './snapshot-streamer';
import { StrongWriteWaiters } from './strong-write-waiters';
import { WatchHistory } from './watch-history';
import { WorkerMessages } from './worker-messages';

/**
 * The primary: the authoritative store, its durability on disk (KV_DATA_DIR), its loops, and
 * the workers it feeds. {@link Durability} loads the data directory in onModuleInit, so the
 * store is whole before {@link ClusterSupervisor} forks a worker in onApplicationBootstrap.
 */
@Module({
  providers: [
    {
      provide: AuthoritativeStore,
      inject: [CONFIG],
      useFactory: (config: Config) =>
        new AuthoritativeStore({ clock: Date.now, maxKeys: config.maxKeys }),
    },
    PrimaryMetrics,
    Durability,
    ReplicaSet,
    ReplicaLag,
    StrongWriteWaiters,
    WatchHistory,
    ReconcileLoop,
    SnapshotStreamer,
    ClusterQueries,
    WorkerMessages,
    ExpiryLoop,
    LogRewriter,
    ClusterSupervisor,
  ],
})
export class PrimaryModule {}
