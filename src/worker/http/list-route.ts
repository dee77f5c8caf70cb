import { Inject, Injectable } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Config } from '../../config/config';
import { CONFIG } from '../../config/config.module';
import { PrimaryLink } from '../primary-link';
import { ReplicaService } from '../replica-service';
import { WorkerMetrics } from '../worker-metrics';
import { HttpError } from './http-errors';
import { sendError, sendJson } from './http-reply';
import { writeCursor } from './list-cursor';
import { ListPageWriter } from './list-page';
import { ListQuery, parseListQuery } from './list-query';
import { DECODED_VALUE_BYTES } from './read-route';

/** The path of the listing route. */
export const LIST_PATH = '/_/keys';

/**
 * `GET /_/keys` (docs/api.md): a page of live keys in ascending UTF-8 byte order, by
 * prefix, from this worker's replica, or from the primary for `consistency=strong`. The page
 * is read in one synchronous call, as a batch is applied, so it never holds part of a
 * transaction. Its cursor names its last key (see {@link writeCursor}); it is null when the
 * page is short, or full with no live key with the prefix after it.
 *
 * Registered on Fastify itself like the other data routes; the server's hooks (the bearer
 * token, request ids, metrics) apply as to every route.
 */
@Injectable()
export class ListRoute {
  constructor(
    private readonly replica: ReplicaService,
    private readonly primary: PrimaryLink,
    private readonly metrics: WorkerMetrics,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Adds the route to `fastify`; call before the application listens. */
  register(fastify: FastifyInstance): void {
    fastify.get(LIST_PATH, (request, reply) => this.list(request, reply));
  }

  private list(request: FastifyRequest, reply: FastifyReply): void {
    const query = parseListQuery(request.url, this.config.maxKeyBytes);
    if (query instanceof HttpError) return sendError(reply, query);
    const writer = new ListPageWriter(DECODED_VALUE_BYTES);
    if (query.consistency === 'strong') {
      const { prefix, after, limit, values } = query;
      this.primary.list({ prefix, after, limit, values }, (result) => {
        for (const k of result.keys)
          writer.add(k.key, k.revision, k.deadline, k.value ?? undefined);
        this.send(
          reply,
          query,
          writer,
          result.keys,
          result.more,
          result.revision,
        );
      });
      return;
    }
    const { page, revision } = this.replica.list(
      query.prefix,
      query.after,
      query.limit,
    );
    for (const { key, entry } of page.entries)
      writer.add(
        key,
        entry.revision,
        entry.deadline,
        query.values ? entry.bytes : undefined,
      );
    this.send(reply, query, writer, page.entries, page.more, revision);
  }

  /**
   * Answers the page `writer` holds: `keys` as listed, `more` whether a live key with the
   * prefix follows the last of them, `revision` the revision they were read at.
   */
  private send(
    reply: FastifyReply,
    query: ListQuery,
    writer: ListPageWriter,
    keys: readonly { readonly key: string }[],
    more: boolean,
    revision: number,
  ): void {
    const last = keys[keys.length - 1];
    const cursor =
      more && keys.length === query.limit && last !== undefined
        ? writeCursor(last.key)
        : null;
    this.metrics.listPages.inc({ consistency: query.consistency });
    this.metrics.listKeys.inc({ consistency: query.consistency }, keys.length);
    sendJson(reply, 200, writer.finish(cursor, revision));
  }
}
