import { Module } from '@nestjs/common';
import { ListRoute } from './http/list-route';
import { ReadRoute } from './http/read-route';
import { SystemController } from './http/system.controller';
import { TxnRoute } from './http/txn-route';
import { WatchHub } from './http/watch-hub';
import { WatchRoute } from './http/watch-route';
import { WriteRoutes } from './http/write-routes';
import { PrimaryLink } from './primary-link';
import { ReplicaService } from './replica-service';
import { WorkerMetrics } from './worker-metrics';
import { WorkerState } from './worker-state';

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
