import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  FastifyAdapter,
  NestFastifyApplication,
} from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isUtf8 } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { ConfigModule, LOGGER } from '../config/config.module';
import { EXIT_CANNOT_LISTEN } from '../config/exit-codes';
import { tuneHeapGrowth } from '../config/heap-growth';
import { memoryFigures, MessageType, Probe, WorkerStats } from '../protocol';
import { bearerAuthorizer, isOpenUrl } from './http/bearer-auth';
import { JsonErrorFilter, toHttpError } from './http/error-mapping';
import { Errors, HttpError } from './http/http-errors';
import { sendError } from './http/http-reply';
import { ListRoute } from './http/list-route';
import { ReadRoute } from './http/read-route';
import { requestIdGenerator } from './http/request-ids';
import { TxnRoute } from './http/txn-route';
import { WATCH_PATH, WatchRoute } from './http/watch-route';
import { WriteRoutes } from './http/write-routes';
import { PrimaryLink } from './primary-link';
import { ReplicaService } from './replica-service';
import { WorkerMetrics } from './worker-metrics';
import { WorkerState } from './worker-state';
import { WorkerModule } from './worker.module';

// How long a socket refused by the HTTP parser may linger after its error answer.
const CLIENT_ERROR_LINGER_MS = 1000;

/**
 * Starts a worker: loads the replica from the primary, then serves HTTP on the shared port.
 * Exits at once if the primary goes away, so it never serves stale data on its own.
 */
export async function runWorker(config: Config): Promise<void> {
  tuneHeapGrowth();
  process.on('disconnect', () => process.exit(1));

  @Module({ imports: [ConfigModule.register(config, 'worker'), WorkerModule] })
  class WorkerRootModule {}

  const adapter = new FastifyAdapter({
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
  const app = await NestFactory.create<NestFastifyApplication>(
    WorkerRootModule,
    adapter,
    {
      bodyParser: false,
      logger: false,
    },
  );
  const logger = app.get<Logger>(LOGGER);
  app.useGlobalFilters(new JsonErrorFilter(config, logger));
  const fastify = app.getHttpAdapter().getInstance();
  const routes = routeTable(fastify);
  installJsonParser(fastify);
  installHooks(fastify, config, app.get(WorkerMetrics));
  app.get(ReadRoute).register(fastify);
  app.get(WriteRoutes).register(fastify);
  app.get(TxnRoute).register(fastify);
  app.get(WatchRoute).register(fastify);
  app.get(ListRoute).register(fastify);

  const link = app.get(PrimaryLink);
  const replica = app.get(ReplicaService);
  const metrics = app.get(WorkerMetrics);
  const state = app.get(WorkerState);
  link.on<Probe>(MessageType.Probe, (probe) => {
    const answer = (body: unknown): void =>
      link.send({ type: MessageType.ProbeAnswer, id: probe.id, body });
    switch (probe.kind) {
      case 'metrics':
        void metrics.registry.getMetricsAsJSON().then(answer);
        return;
      case 'digest':
        void replica
          .digest()
          .then((digest) => answer({ pid: process.pid, ...digest }));
        return;
      case 'stats':
        return answer({ memory: memoryFigures() } satisfies WorkerStats);
    }
  });

  const stop = (): void => {
    if (state.stopping) return;
    state.stopping = true;
    logger.info(
      { pendingWrites: link.pendingWrites, revision: replica.revision },
      'worker stopping: finishing in-flight requests',
    );
    setTimeout(() => process.exit(0), config.shutdownTimeoutMs).unref();
    void app.close().then(() => process.exit(0));
  };
  link.on(MessageType.Shutdown, stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  await app.init();
  await replica.start();
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    process.stderr.write(`fanout-kv: worker cannot listen: ${String(error)}\n`);
    process.exit(EXIT_CANNOT_LISTEN);
  }
  logger.info({ revision: replica.revision }, 'worker listening');
  logger.debug({ routes }, 'worker routes');
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

/**
 * Values are JSON texts kept exactly as sent: the parser checks that the body is UTF-8 and one
 * valid JSON text, and hands the handler the text itself. Every other media type is refused
 * with 415 by Fastify, since no other parser is registered.
 */
function installJsonParser(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    (
      _request: FastifyRequest,
      body: Buffer,
      done: (error: Error | null, value?: string) => void,
    ) => {
      // No body at all: a DELETE sent with the header is fine; a write answers empty_body.
      if (body.length === 0) return done(null, undefined);
      if (!isUtf8(body))
        return done(Errors.invalidJson('it is not valid UTF-8'));
      const text = body.toString('utf8');
      try {
        JSON.parse(text);
      } catch (error) {
        return done(Errors.invalidJson((error as Error).message));
      }
      done(null, text);
    },
  );
}

function installHooks(
  fastify: FastifyInstance,
  config: Config,
  metrics: WorkerMetrics,
): void {
  if (config.authToken !== undefined) {
    const authorized = bearerAuthorizer(config.authToken);
    fastify.addHook(
      'onRequest',
      (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
        if (isOpenUrl(request.url) || authorized(request.headers.authorization))
          return done();
        sendError(reply, Errors.unauthorized);
      },
    );
  }
  if (!config.httpMetrics) {
    fastify.addHook(
      'onRequest',
      (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
        reply.header('x-request-id', request.id);
        done();
      },
    );
    return;
  }
  // A watch stream is no request in flight, and its duration says nothing of the server's
  // speed; it has metrics of its own. Its response is hijacked, so onResponse would run only
  // when the server ends the stream, not when the client does.
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      reply.header('x-request-id', request.id);
      if (request.routeOptions.url !== WATCH_PATH) metrics.inFlight.inc();
      done();
    },
  );
  fastify.addHook(
    'onResponse',
    (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      if (request.routeOptions.url === WATCH_PATH) return done();
      metrics.inFlight.dec();
      metrics.observeRequest(
        request.routeOptions.url ?? 'unmatched',
        request.method,
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      done();
    },
  );
}

/** Answers a request Node's HTTP parser refused (oversized headers, bad framing) and closes. */
function answerClientError(
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const httpError: HttpError =
    error.code === 'HPE_HEADER_OVERFLOW' || error.code === 'HPE_URI_TOO_LONG'
      ? Errors.headersTooLarge
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new HttpError(
            408,
            'request_timeout',
            'the request took too long to arrive',
          )
        : Errors.badRequest('the request is not valid HTTP/1.1');
  const body = httpError.body;
  socket.end(
    `HTTP/1.1 ${httpError.status} ${STATUS_CODES[httpError.status]}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
  // Server sockets allow half-open connections: a client that never closes its side would
  // keep this one forever, so it goes once the answer had a moment to leave.
  const timer = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
