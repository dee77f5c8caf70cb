import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Errors, HttpError } from './http-errors';
import { sendError } from './http-reply';
import type { TxnLimits } from './txn-body';
import { TXN_PATH, txnBodyLimit } from './txn-route';

/**
 * Turns anything thrown while handling a request into one of {@link Errors}. Nest hands over
 * Fastify's own errors (body too large, unsupported media type, ...) as HttpExceptions carrying
 * only their status and message, so those are told apart by status. A body over the limit is a
 * value over `maxValueBytes`, except on the transaction route, whose limit is its own.
 */
export function toHttpError(
  error: unknown,
  request: FastifyRequest,
  limits: TxnLimits,
): HttpError {
  if (error instanceof HttpError) return error;
  if ((error as { code?: unknown }).code === 'FST_ERR_BAD_URL')
    return Errors.badUrl;
  if (!(error instanceof HttpException)) return Errors.internal;
  const status = error.getStatus();
  switch (status) {
    case 404:
      return Errors.routeNotFound(request.method, request.url);
    case 413:
      return request.routeOptions.url === TXN_PATH
        ? Errors.txnBodyTooLarge(txnBodyLimit(limits))
        : Errors.valueTooLarge(limits.maxValueBytes);
    case 415:
      return Errors.unsupportedMediaType;
  }
  return status >= 400 && status < 500
    ? new HttpError(status, 'bad_request', error.message)
    : Errors.internal;
}

/** Nest's side of the error path: every exception becomes a JSON error from {@link Errors}. */
@Catch()
export class JsonErrorFilter implements ExceptionFilter {
  constructor(
    private readonly limits: TxnLimits,
    private readonly logger: Logger,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    // A client that went away mid-request (Fastify's "aborted" error) is not the server's
    // fault, and there is nobody left to answer.
    if (request.raw.aborted || request.raw.socket?.destroyed) {
      this.logger.debug({ reqId: request.id }, 'client went away mid-request');
      return;
    }
    const error = toHttpError(exception, request, this.limits);
    if (error === Errors.internal)
      this.logger.error(
        { err: exception, reqId: request.id },
        'unhandled error',
      );
    sendError(reply, error);
  }
}
