import { Inject, Injectable } from '@nestjs/common';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RequestPayload,
} from 'fastify';
import { Config } from '../../config/config';
import { CONFIG } from '../../config/config.module';
import { ReplyStatus, WriteRequest } from '../../protocol';
import { WriteOp, WriteStatus } from '../../store';
import { PrimaryLink } from '../primary-link';
import { Errors, HttpError, replyStatusError } from './http-errors';
import { sendError, sendJson } from './http-reply';
import {
  checkKey,
  hasBody,
  parseConsistency,
  parsePatchTtl,
  parsePrecondition,
  parseQueryTtl,
  parseTtl,
} from './request-parsing';

interface KeyParams {
  key: string;
  ttl?: string;
}

/**
 * The write routes: each write goes to the primary, and its decision is translated to HTTP
 * here. Registered on Fastify itself, like `ReadRoute` and for the same reason: Nest's
 * per-handler promise chain was a measurable share of a write's cost (see docs/performance.md).
 */
@Injectable()
export class WriteRoutes {
  constructor(
    private readonly primary: PrimaryLink,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Adds the routes to `fastify`; call before the application listens. */
  register(fastify: FastifyInstance): void {
    const route =
      (op: WriteOp) =>
      (request: FastifyRequest, reply: FastifyReply): void =>
        this.write(op, request, reply);
    fastify.post('/:key', route(WriteOp.Create));
    fastify.post('/:key/:ttl', route(WriteOp.Create));
    fastify.put('/:key', route(WriteOp.Put));
    fastify.put('/:key/:ttl', route(WriteOp.Put));
    fastify.delete('/:key', route(WriteOp.Delete));
    fastify.patch('/:key', { preParsing: refuseBody }, (request, reply) =>
      this.touch(request, reply),
    );
  }

  private write(
    op: WriteOp,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const { key, ttl: rawTtl } = request.params as KeyParams;
    // Fastify's router lets a parameter match an empty segment (`/`, `//100`, `/key/`); such a
    // path is no route at all, as it was when Nest routed the writes.
    if (key === '' || rawTtl === '') return reply.callNotFound();
    const keyError = checkKey(key, this.config.maxKeyBytes);
    if (keyError !== undefined) return sendError(reply, keyError);
    const consistency = parseConsistency(request.query);
    if (consistency instanceof HttpError) return sendError(reply, consistency);
    const ttl = ttlOf(op, rawTtl, request.query);
    if (ttl instanceof HttpError) return sendError(reply, ttl);
    let value = '';
    if (op !== WriteOp.Delete) {
      if (typeof request.body !== 'string')
        return sendError(reply, Errors.emptyBody);
      value = request.body;
    }
    const headers = request.headers;
    this.forward(reply, {
      op,
      key,
      value,
      ttl,
      ifMatch:
        op === WriteOp.Create
          ? undefined
          : parsePrecondition(headers['if-match']),
      ifNoneMatch:
        op === WriteOp.Put
          ? parsePrecondition(headers['if-none-match'])
          : undefined,
      strong: consistency === 'strong',
    });
  }

  /**
   * `PATCH /:key?ttl=<ms>|none`: a new deadline (or none) for a present key, its value left as
   * it is. A body was already refused by {@link refuseBody}.
   */
  private touch(request: FastifyRequest, reply: FastifyReply): void {
    const { key } = request.params as KeyParams;
    if (key === '') return reply.callNotFound();
    const keyError = checkKey(key, this.config.maxKeyBytes);
    if (keyError !== undefined) return sendError(reply, keyError);
    const consistency = parseConsistency(request.query);
    if (consistency instanceof HttpError) return sendError(reply, consistency);
    const ttl = parsePatchTtl(request.query);
    if (ttl instanceof HttpError) return sendError(reply, ttl);
    this.forward(reply, {
      op: WriteOp.Touch,
      key,
      value: '',
      ttl,
      ifMatch: parsePrecondition(request.headers['if-match']),
      ifNoneMatch: undefined,
      strong: consistency === 'strong',
    });
  }

  private forward(
    reply: FastifyReply,
    request: Omit<WriteRequest, 'id'>,
  ): void {
    const { op, key } = request;
    const accepted = this.primary.write(request, (status, revision) =>
      answerWrite(reply, op, key, status, revision),
    );
    if (!accepted) sendError(reply, Errors.writesBacklogged);
  }
}

/**
 * The PATCH route's `preParsing` hook: a PATCH changes only a deadline, so a body of any kind
 * is refused before Fastify would parse it (or refuse its media type with 415). Without a
 * body, a Content-Type means nothing; it is dropped so that none, not even a foreign one,
 * stands in the way.
 */
function refuseBody(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: RequestPayload,
  done: (error: Error | null, payload?: RequestPayload) => void,
): void {
  if (!hasBody(request.headers)) {
    delete request.raw.headers['content-type'];
    return done(null, payload);
  }
  // `PATCH /` is no route: its handler answers 404 whatever the body.
  if ((request.params as KeyParams).key === '') return done(null, payload);
  sendError(reply, Errors.unexpectedBody);
}

/**
 * The TTL of a write: from the `:ttl` segment or from `?ttl=` (POST and PUT), never both;
 * 0 for none. A DELETE has no TTL, and ignores `?ttl=` as it ignores any unknown parameter.
 */
function ttlOf(
  op: WriteOp,
  segment: string | undefined,
  query: unknown,
): number | HttpError {
  if (op === WriteOp.Delete) return 0;
  const fromQuery = parseQueryTtl(query);
  if (segment === undefined) return fromQuery ?? 0;
  return fromQuery === undefined ? parseTtl(segment) : Errors.duplicateTtl;
}

function answerWrite(
  reply: FastifyReply,
  op: WriteOp,
  key: string,
  status: WriteStatus | ReplyStatus,
  revision: number,
): void {
  switch (status) {
    case WriteStatus.Ok:
      // The new ETag, so a client can chain conditional writes; a deleted key has none.
      if (op !== WriteOp.Delete) reply.header('etag', `"${revision}"`);
      return sendJson(reply, 200, JSON.stringify({ key, revision }));
    case WriteStatus.NotFound:
      return sendError(reply, Errors.keyNotFound);
    case WriteStatus.Exists:
      return sendError(reply, Errors.keyExists);
    case WriteStatus.PreconditionFailed:
      return sendError(reply, Errors.preconditionFailed);
    case WriteStatus.Full:
      return sendError(reply, Errors.storeFull);
    case ReplyStatus.Unconfirmed:
    case ReplyStatus.Unavailable:
      return sendError(reply, replyStatusError(status, revision));
  }
}
