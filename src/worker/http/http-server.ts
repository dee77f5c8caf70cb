import {
  FastifyAdapter,
  NestFastifyApplication,
} from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../../config/config';
import { LOGGER } from '../../config/config.module';
import { WorkerMetrics } from '../worker-metrics';
import { answerClientError } from './client-error-reply';
import { JsonErrorFilter, toHttpError } from './error-mapping';
import { sendError } from './http-reply';
import { installJsonParser } from './json-body-parser';
import { ListRoute } from './list-route';
import { ReadRoute } from './read-route';
import { requestIdGenerator } from './request-ids';
import { installRequestHooks } from './request-hooks';
import { TxnRoute } from './txn-route';
import { WatchRoute } from './watch-route';
import { WriteRoutes } from './write-routes';

/**
 * The Fastify instance a worker serves on: its limits and timeouts, request ids, and the
 * answers to errors raised before a route runs (by Fastify, or by Node's HTTP parser).
 */
export function createHttpAdapter(config: Config): FastifyAdapter {
  return new FastifyAdapter({
    // A 512-byte key percent-encodes to 1,536 characters; longer ones must reach the handler
    // to get a 414 rather than a 404. Set inside routerOptions: at the top level Fastify 5
    // reads it through a deprecation getter on every request.
    routerOptions: { maxParamLength: 65_535 },
    // A value's limit; the transaction route sets a larger one of its own (see TxnRoute).
    bodyLimit: config.maxValueBytes,
    // Slow clients: Fastify leaves requestTimeout at 0 (none), and Node checks the header and
    // request deadlines only every 30 s unless told otherwise.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      // Room for a request line with a 512-byte key percent-encoded many times over, so an
      // over-long key gets 414 from the handler rather than 431 from the parser.
      maxHeaderSize: 65_536,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
    },
    requestIdHeader: 'x-request-id',
    genReqId: requestIdGenerator(),
    frameworkErrors: (
      error: Error,
      request: FastifyRequest,
      reply: FastifyReply,
    ) => sendError(reply, toHttpError(error, request, config)),
    clientErrorHandler: answerClientError,
  });
}

/**
 * Sets up `app`'s HTTP side before it is initialized: the JSON error filter, the body parser,
 * the hooks every route runs, and the raw Fastify routes (the system controller is Nest's to
 * route). Returns the route table, filled in as the routes are registered.
 */
export function setUpHttpServer(
  app: NestFastifyApplication,
  config: Config,
): string[] {
  app.useGlobalFilters(new JsonErrorFilter(config, app.get<Logger>(LOGGER)));
  const fastify = app.getHttpAdapter().getInstance();
  const routes = routeTable(fastify);
  installJsonParser(fastify);
  installRequestHooks(fastify, config, app.get(WorkerMetrics));
  app.get(ReadRoute).register(fastify);
  app.get(WriteRoutes).register(fastify);
  app.get(TxnRoute).register(fastify);
  app.get(WatchRoute).register(fastify);
  app.get(ListRoute).register(fastify);
  return routes;
}

/**
 * Every route registered on `fastify` from now on, as "METHOD /path" (Fastify's own HEAD routes
 * included): logged at debug level once the worker listens, so the route table can be checked
 * against the OpenAPI document.
 */
function routeTable(fastify: FastifyInstance): string[] {
  const routes: string[] = [];
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      routes.push(`${method} ${route.url}`);
  });
  return routes;
}
