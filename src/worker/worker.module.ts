/**
 * A worker: the HTTP API over this process's read replica, which the primary keeps current.
 *
 * Layout:
 * - `run-worker.ts`: start-up: the Nest application on Fastify, the first snapshot, listening.
 * - `worker.module.ts`: `WorkerModule.forRoot(config)`, every provider and the controller.
 * - `primary-link.ts`: the channel to the primary: writes forwarded a turn at a time (their
 *   callbacks held in `pending-writes.ts`), strong reads, listings, queries and history
 *   requests out; everything else the primary sends routed by type to who subscribed.
 * - `replica-service.ts`: the read replica: a snapshot, then batches applied exactly once;
 *   the recent changes for watchers, and what it applied reported back.
 * - `probe-responder.ts`: answers the primary's probes (metrics, digest, memory).
 * - `graceful-shutdown.ts`: stops the worker on the primary's word or a signal, letting requests
 *   in flight finish; `worker-state.ts` tells health and the watch route that it is stopping.
 * - `worker-metrics.ts`: this worker's Prometheus registry, fed by HTTP and replica alike.
 * - `http/`: all that speaks HTTP, and nothing outside it does:
 *   - `http-server.ts`: Fastify's options (limits, timeouts, request ids) and the wiring of the
 *     parser, hooks and routes; `json-body-parser.ts`, `request-hooks.ts` (bearer token,
 *     request ids, metrics), `client-error-reply.ts` (requests Node's HTTP parser refused);
 *   - `http-errors.ts`: the one list of errors; `error-mapping.ts` turns anything thrown into
 *     one of them; `http-reply.ts` sends; `request-parsing.ts`, `bearer-auth.ts`,
 *     `request-ids.ts`;
 *   - one file per route group: `read-route.ts`, `write-routes.ts`, `txn-route.ts` (with
 *     `txn-body.ts`, over `src/json/json-scanner.ts`), `list-route.ts` (with `list-query.ts`,
 *     `list-cursor.ts`, `list-page.ts`), `watch-route.ts` (with `watch-query.ts`,
 *     `watch-hub.ts`, `watch-events.ts`, `prefix-index.ts`);
 *   - `system.controller.ts`: health, stats, digest, metrics and `openapi.json` under `/_/`.
 *
 * The data routes (`/:key`, `POST /_/txn`, `GET /_/keys`, `GET /_/watch`) are raw Fastify
 * routes, each added by its `*-route(s).ts` through `register(fastify)`; only the system
 * endpoints are a Nest controller. Nest runs every controller handler inside a chain of
 * promises (pipes, interceptors, the response handler) even when it has none of them, and on
 * the hot paths that chain was a measurable share of a request's cost (docs/performance.md).
 * Both kinds run the same hooks, and errors from both reach the same filter.
 *
 * The watch hub sits in `http/`: it writes Server-Sent Events to open responses and paces
 * those socket writes; the replica only tells it what it applied, through `ReplicaListener`.
 * Imports flow `run-worker -> http -> (replica, link) -> protocol -> store`, never back:
 * outside `http/`, only `run-worker.ts` and this module import from it.
 */
import { DynamicModule, Module } from '@nestjs/common';
import { Config } from '../config/config';
import { ConfigModule } from '../config/config.module';
import { ListRoute } from './http/list-route';
import { ReadRoute } from './http/read-route';
import { SystemController } from './http/system.controller';
import { TxnRoute } from './http/txn-route';
import { WatchHub } from './http/watch-hub';
import { WatchRoute } from './http/watch-route';
import { WriteRoutes } from './http/write-routes';
import { PrimaryLink } from './primary-link';
import { ProbeResponder } from './probe-responder';
import { ReplicaService } from './replica-service';
import { WorkerMetrics } from './worker-metrics';
import { WorkerState } from './worker-state';

/** A worker's root module: the HTTP API over this process's read replica. */
@Module({})
export class WorkerModule {
  /** The module with `config` (and the logger made from it) provided to every part. */
  static forRoot(config: Config): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ConfigModule.register(config, 'worker')],
      controllers: [SystemController],
      providers: [
        ListRoute,
        PrimaryLink,
        ProbeResponder,
        ReadRoute,
        ReplicaService,
        TxnRoute,
        WatchHub,
        WatchRoute,
        WorkerMetrics,
        WorkerState,
        WriteRoutes,
      ],
    };
  }
}
