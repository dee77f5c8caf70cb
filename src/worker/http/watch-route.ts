import { Inject, Injectable } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Config } from '../../config/config';
import { CONFIG } from '../../config/config.module';
import type { HistoryChanges } from '../../protocol';
import type { Revision } from '../../store';
import { PrimaryLink } from '../primary-link';
import { ReplicaService } from '../replica-service';
import { WorkerState } from '../worker-state';
import { Errors, HttpError } from './http-errors';
import { sendError } from './http-reply';
import { WatchHub } from './watch-hub';
import { parseWatchQuery, WatchQuery } from './watch-query';

/** The path of the watch route (its requests are left out of the HTTP request metrics). */
export const WATCH_PATH = '/_/watch';

/**
 * `GET /_/watch`: a Server-Sent Events stream of committed changes (see {@link WatchHub}).
 *
 * Every error is answered before the stream starts. Without `from`, the stream starts at the
 * store's revision, asked of the primary: this replica may not yet hold a write the client saw
 * acknowledged before it subscribed. A `from` within this worker's history starts at once; one
 * older than it, or ahead of this replica, is first checked with the primary, whose history
 * goes back further (a worker forked a moment ago has none from before its snapshot) and whose
 * revision is the store's: too old gets 410 with the oldest revision still available, ahead of
 * the store gets 400.
 */
@Injectable()
export class WatchRoute {
  constructor(
    private readonly replica: ReplicaService,
    private readonly primary: PrimaryLink,
    private readonly hub: WatchHub,
    private readonly state: WorkerState,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Adds the route to `fastify`; call before the application listens. */
  register(fastify: FastifyInstance): void {
    fastify.get(WATCH_PATH, { exposeHeadRoute: false }, (request, reply) =>
      this.watch(request, reply),
    );
  }

  private watch(request: FastifyRequest, reply: FastifyReply): void {
    const lastEventId = request.headers['last-event-id'];
    const query = parseWatchQuery(
      request.raw.url ?? '',
      Array.isArray(lastEventId) ? lastEventId.join(',') : lastEventId,
      this.config.maxKeyBytes,
    );
    if (query instanceof HttpError) return sendError(reply, query);
    const history = this.replica.history;
    const from = query.from;
    if (from !== undefined && from <= history.newest && history.covers(from))
      return this.start(reply, request.id, query, from);
    // From now: only the primary's revision is needed, and so for a from ahead of this
    // replica. Older than this history: the changes up to where it starts come with it.
    const after = from ?? history.newest;
    const upTo = after >= history.newest ? after : history.oldest - 1;
    void this.primary.history(after, upTo).then((answer) => {
      if (from === undefined)
        return this.start(
          reply,
          request.id,
          query,
          Math.max(answer.revision, this.replica.history.newest),
        );
      const error = refusal(from, answer);
      if (error !== undefined) return sendError(reply, error);
      this.start(reply, request.id, query, from, {
        changes: answer.changes,
        upTo,
      });
    });
  }

  private start(
    reply: FastifyReply,
    requestId: string,
    query: WatchQuery,
    cursor: Revision,
    prefetched?: Parameters<WatchHub['open']>[3],
  ): void {
    // Streams are ended when the worker stops: one that starts after that would hold it up.
    if (this.state.stopping)
      return sendError(
        reply,
        Errors.unavailable('this worker is shutting down'),
      );
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-request-id': requestId,
    });
    res.flushHeaders();
    this.hub.open(res, query, cursor, prefetched);
  }
}

/** Why a `from` is refused, by the primary's answer; undefined when it is fine. */
function refusal(
  from: Revision,
  answer: HistoryChanges,
): HttpError | undefined {
  if (from > answer.revision) return Errors.fromAhead(from, answer.revision);
  if (from < answer.oldest - 1) return Errors.historyCompacted(answer.oldest);
  return undefined;
}
