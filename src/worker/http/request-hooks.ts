import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/config';
import type { WorkerMetrics } from '../worker-metrics';
import { bearerAuthorizer, isOpenUrl } from './bearer-auth';
import { Errors } from './http-errors';
import { sendError } from './http-reply';
import { WATCH_PATH } from './watch-route';

/**
 * The hooks every route runs, raw Fastify routes and Nest's alike: the bearer token (when
 * `KV_AUTH_TOKEN` is set), the `X-Request-Id` answer header, and with `httpMetrics` the
 * in-flight gauge and the duration histogram.
 */
export function installRequestHooks(
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
