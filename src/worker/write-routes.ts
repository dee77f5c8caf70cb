import { Inject, Injectable } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { ReplyStatus } from '../protocol';
import { WriteOp, WriteStatus } from '../store';
import { Errors, HttpError } from './http-errors';
import { sendError, sendJson } from './http-reply';
import { PrimaryLink } from './primary-link';
import {
  checkKey,
  parseConsistency,
  parsePrecondition,
  parseTtl,
} from './request-parsing';

interface KeyParams {
  key: string;
  ttl?: string;
}

/**
 * The write routes: each write goes to the primary, and its decision is translated to HTTP
 * here. Registered on Fastify itself, like `ReadRoute` and for the same reason: Nest's
 * per-handler promise chain was a measurable share of a write's cost.
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
    const ttl = rawTtl === undefined ? 0 : parseTtl(rawTtl);
    if (ttl instanceof HttpError) return sendError(reply, ttl);
    let value = '';
    if (op !== WriteOp.Delete) {
      if (typeof request.body !== 'string')
        return sendError(reply, Errors.emptyBody);
      value = request.body;
    }
    const headers = request.headers;
    const accepted = this.primary.write(
      {
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
      },
      (status, revision) => answerWrite(reply, op, key, status, revision),
    );
    if (!accepted)
      sendError(
        reply,
        Errors.unavailable('too many writes are waiting for the primary'),
      );
  }
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
      return sendError(reply, Errors.notConfirmed(revision));
    case ReplyStatus.Unavailable:
      return sendError(
        reply,
        Errors.unavailable('the primary cannot take writes now'),
      );
  }
}
