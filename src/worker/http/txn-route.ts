import { Inject, Injectable } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Config } from '../../config/config';
import { CONFIG } from '../../config/config.module';
import { ReplyStatus, TxnResult } from '../../protocol';
import {
  TxnFailureReason,
  TxnOperation,
  TxnOpKind,
  TxnStatus,
  WriteStatus,
} from '../../store';
import { PrimaryLink } from '../primary-link';
import {
  Errors,
  HttpError,
  replyStatusError,
  TxnFailureBody,
} from './http-errors';
import { sendError, sendJson } from './http-reply';
import { textBodyParser } from './json-body-parser';
import { parseConsistency } from './request-parsing';
import { parseTxnBody, TXN_MAX_OPS, TxnLimits, TxnOp } from './txn-body';

/** The path of the transaction route. */
export const TXN_PATH = '/_/txn';

/**
 * Room per op beyond its value: the rest of an op object with every member at its longest
 * (`{"op":"create","key":…,"value":…,"ttl":315360000000,"ifMatch":…}` is under 100 bytes),
 * with room to spare for whitespace between its tokens.
 */
const OP_OVERHEAD_BYTES = 1024;
/** The longest a key can be written in JSON: every UTF-16 unit as a `\uXXXX` escape. */
const ESCAPED_BYTES_PER_KEY_BYTE = 6;

/**
 * The largest `POST /_/txn` body accepted, in bytes: room for {@link TXN_MAX_OPS} ops, each
 * with a value of `maxValueBytes` and a key of `maxKeyBytes` written with every character
 * escaped. A body within the per-op limits therefore always fits, and anything over this is
 * refused with 413 `body_too_large` before it is read into memory. With the defaults (1 MiB
 * values, 512-byte keys) about 128.5 MiB.
 */
export function txnBodyLimit(limits: TxnLimits): number {
  return (
    TXN_MAX_OPS *
      (limits.maxValueBytes +
        ESCAPED_BYTES_PER_KEY_BYTE * limits.maxKeyBytes +
        OP_OVERHEAD_BYTES) +
    OP_OVERHEAD_BYTES
  );
}

const KINDS: Record<TxnOp['op'], TxnOpKind> = {
  put: TxnOpKind.Put,
  create: TxnOpKind.Create,
  delete: TxnOpKind.Delete,
  check: TxnOpKind.Check,
};

const REASONS: Record<TxnFailureReason, TxnFailureBody['reason']> = {
  [WriteStatus.PreconditionFailed]: 'precondition_failed',
  [WriteStatus.Exists]: 'key_exists',
  [WriteStatus.NotFound]: 'key_not_found',
};

/**
 * `POST /_/txn` (docs/api.md): up to {@link TXN_MAX_OPS} operations decided by the
 * primary all or nothing, at one revision.
 *
 * Registered in a Fastify scope of its own, for a body parser of its own: the body is handed
 * over as text, checked as UTF-8 only, because {@link parseTxnBody} validates the JSON and
 * keeps each value's exact text in one pass (the server-wide parser would parse it once more
 * with `JSON.parse`), and with a body limit of {@link txnBodyLimit} rather than one value's.
 * The server's hooks (the bearer token, request ids, metrics) and error handler apply as to
 * every route.
 */
@Injectable()
export class TxnRoute {
  private readonly bodyLimit: number;

  constructor(
    private readonly primary: PrimaryLink,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    this.bodyLimit = txnBodyLimit(config);
  }

  /** Adds the route to `fastify`; call before the application listens. */
  register(fastify: FastifyInstance): void {
    void fastify.register((scope, _options, done) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser(
        'application/json',
        { parseAs: 'buffer', bodyLimit: this.bodyLimit },
        textBodyParser(),
      );
      scope.post(TXN_PATH, { bodyLimit: this.bodyLimit }, (request, reply) =>
        this.transact(request, reply),
      );
      done();
    });
  }

  private transact(request: FastifyRequest, reply: FastifyReply): void {
    const consistency = parseConsistency(request.query);
    if (consistency instanceof HttpError) return sendError(reply, consistency);
    if (typeof request.body !== 'string')
      return sendError(reply, Errors.emptyBody);
    const parsed = parseTxnBody(request.body, this.config);
    if (!parsed.ok) return sendError(reply, parsed.error);
    const ops = parsed.ops;
    const accepted = this.primary.transact(
      ops.map(toOperation),
      consistency === 'strong',
      (result) => answerTxn(reply, ops, result),
    );
    if (!accepted) sendError(reply, Errors.writesBacklogged);
  }
}

function toOperation(op: TxnOp): TxnOperation {
  const write = op.op === 'put' || op.op === 'create';
  return {
    kind: KINDS[op.op],
    key: op.key,
    value: write ? op.value : '',
    ttl: (write ? op.ttl : undefined) ?? 0,
    ifMatch: op.ifMatch,
    ifNoneMatch: op.ifNoneMatch,
  };
}

function answerTxn(
  reply: FastifyReply,
  ops: readonly TxnOp[],
  result: TxnResult,
): void {
  const revision = result.revision;
  switch (result.status) {
    case TxnStatus.Committed:
      // Every op is listed, checks included, each at the transaction's revision.
      return sendJson(
        reply,
        200,
        JSON.stringify({
          revision,
          results: ops.map((op) => ({ key: op.key, revision })),
        }),
      );
    case TxnStatus.Failed:
      return sendError(
        reply,
        Errors.txnFailed(
          result.failures.map((f) => ({
            index: f.index,
            key: f.key,
            reason: REASONS[f.reason],
            revision: f.revision,
          })),
          ops.length,
        ),
      );
    case TxnStatus.Full:
      return sendError(reply, Errors.storeFull);
    case ReplyStatus.Unconfirmed:
    case ReplyStatus.Unavailable:
      return sendError(reply, replyStatusError(result.status, revision));
  }
}
