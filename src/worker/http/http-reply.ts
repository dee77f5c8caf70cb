import type { FastifyReply } from 'fastify';
import { HttpError } from './http-errors';

// With a serializer of its own, Fastify sends a string as it is; otherwise it appends
// "; charset=utf-8" to a JSON content type, and the contract promises exactly application/json.
const asIs = (payload: unknown): string => payload as string;

/**
 * Sends a JSON text that is already serialized (as a string, or as its UTF-8 bytes), with
 * `Content-Type: application/json`.
 */
export function sendJson(
  reply: FastifyReply,
  status: number,
  json: string | Uint8Array,
): void {
  reply
    .code(status)
    .header('content-type', 'application/json')
    .serializer(asIs)
    .send(json);
}

/** Sends `error` as the JSON error body with its status and headers. */
export function sendError(reply: FastifyReply, error: HttpError): void {
  for (const [name, value] of Object.entries(error.headers))
    reply.header(name, value);
  sendJson(reply, error.status, error.body);
}
