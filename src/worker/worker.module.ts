import { Module } from '@nestjs/common';
import { KvController } from './kv.controller';
import { PrimaryLink } from './primary-link';
import { ReadRoute } from './read-route';
import { ReplicaService } from './replica.service';
import { SystemController } from './system.controller';
import { WorkerMetrics } from './worker-metrics';
import { WorkerState } from './worker-state';

/** A worker: the HTTP API over this process's read replica. */
@Module({
  controllers: [SystemController, KvController],
  providers: [
    PrimaryLink,
    ReadRoute,
    ReplicaService,
    WorkerMetrics,
    WorkerState,
  ],
})
export class WorkerModule {}
