import { Inject, Injectable } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Config } from '../../config/config';
import { CONFIG } from '../../config/config.module';
import { Milliseconds, NO_DEADLINE } from '../../store';
import { PrimaryLink } from '../primary-link';
import { ReplicaService } from '../replica-service';
import { Errors, HttpError } from './http-errors';
import { sendError, sendJson } from './http-reply';
import { checkKey, noneMatchHits, parseConsistency } from './request-parsing';

/**
 * Values up to this many bytes are sent as strings. Node's HTTP writes a string body in one
 * write with the head; bytes Fastify first wraps in a Buffer, and Node sends them as a second
 * chunk through `writev`, which costs more than decoding a short value (the A/B runs are in
 * docs/performance.md). Longer values go as bytes, not decoded and encoded again.
 */
export const DECODED_VALUE_BYTES = 1024;

/**
 * `GET /:key` (and the HEAD Fastify derives from it): served from this worker's replica, or
 * from the primary for `consistency=strong`, with the ETag and, for a key with a deadline,
 * `X-Expires-At` (ms since the epoch).
 *
 * Registered on Fastify itself rather than through a Nest controller, like the writes. Nest runs
 * a handler inside a chain of promises (pipes, interceptors, the response handler) whatever it
 * does, and on the hottest route that chain was a measurable share of the throughput (see
 * docs/performance.md). Errors thrown here still reach Nest's exception filter: Nest installs it
 * as Fastify's error handler.
 */
@Injectable()
export class ReadRoute {
  constructor(
    private readonly replica: ReplicaService,
    private readonly primary: PrimaryLink,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Adds the route to `fastify`; call before the application listens. */
  register(fastify: FastifyInstance): void {
    fastify.get('/:key', (request, reply) => this.read(request, reply));
  }

  private read(request: FastifyRequest, reply: FastifyReply): void {
    const { key } = request.params as { key: string };
    // Fastify's router lets `/:key` match `/` with an empty key; `GET /` is no route at all.
    if (key === '') return reply.callNotFound();
    const keyError = checkKey(key, this.config.maxKeyBytes);
    if (keyError !== undefined) return sendError(reply, keyError);
    const consistency = parseConsistency(request.query);
    if (consistency instanceof HttpError) return sendError(reply, consistency);
    if (consistency === 'strong') {
      this.primary.strongRead(key, (value, revision, deadline) =>
        value === null
          ? sendError(reply, Errors.keyNotFound)
          : sendValue(request, reply, value, revision, deadline),
      );
      return;
    }
    const entry = this.replica.read(key);
    if (entry === undefined) return sendError(reply, Errors.keyNotFound);
    sendValue(
      request,
      reply,
      entry.byteLength <= DECODED_VALUE_BYTES ? entry.value : entry.bytes,
      entry.revision,
      entry.deadline,
    );
  }
}

function sendValue(
  request: FastifyRequest,
  reply: FastifyReply,
  value: string | Uint8Array,
  revision: number,
  deadline: Milliseconds,
): void {
  reply.header('etag', `"${revision}"`);
  if (deadline !== NO_DEADLINE) reply.header('x-expires-at', String(deadline));
  if (noneMatchHits(request.headers['if-none-match'], revision)) {
    reply.code(304).send();
    return;
  }
  sendJson(reply, 200, value);
}
