import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Errors, HttpError } from './http-errors';

// How long a socket refused by the HTTP parser may linger after its error answer.
const CLIENT_ERROR_LINGER_MS = 1000;

/**
 * Answers a request Node's HTTP parser refused (oversized headers, bad framing, a request that
 * took too long to arrive) and closes. There is no request for Fastify to reply to, so the
 * answer is written to the socket as it stands.
 */
export function answerClientError(
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
        ? Errors.requestTimeout
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
