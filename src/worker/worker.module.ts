import { Module } from '@nestjs/common';
import { ListRoute } from './list-route';
import { PrimaryLink } from './primary-link';
import { ReadRoute } from './read-route';
import { ReplicaService } from './replica.service';
import { SystemController } from './system.controller';
import { TxnRoute } from './txn-route';
import { WatchHub } from './watch-hub';
import { WatchRoute } from './watch-route';
import { WorkerMetrics } from './worker-metrics';
import { WorkerState } from './worker-state';
import { WriteRoutes } from './write-routes';

/** A worker: the HTTP API over this process's read replica. */
@Module({
  controllers: [SystemController],
  providers: [
    ListRoute,
    PrimaryLink,
    ReadRoute,
    ReplicaService,
    TxnRoute,
    WatchHub,
    WatchRoute,
    WorkerMetrics,
    WorkerState,
    WriteRoutes,
  ],
})
export class WorkerModule {}
