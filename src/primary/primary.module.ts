import { Module } from '@nestjs/common';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { AuthoritativeStore } from '../store';
import { ChangePublisher } from './change-publisher';
import { ClusterQueries } from './cluster-queries';
import { ClusterSupervisor } from './cluster-supervisor';
import { ExpiryLoop } from './expiry-loop';
import { PrimaryMetrics } from './primary-metrics';
import { ReplicaSet } from './replica-set';
import { SnapshotStreamer } from './snapshot-streamer';
import { WorkerMessages } from './worker-messages';

/** The primary: the authoritative store, its loops, and the workers it feeds. */
@Module({
  providers: [
    {
      provide: AuthoritativeStore,
      inject: [CONFIG],
      useFactory: (config: Config) =>
        new AuthoritativeStore({ clock: Date.now, maxKeys: config.maxKeys }),
    },
    PrimaryMetrics,
    ReplicaSet,
    ChangePublisher,
    SnapshotStreamer,
    ClusterQueries,
    WorkerMessages,
    ExpiryLoop,
    ClusterSupervisor,
  ],
})
export class PrimaryModule {}
