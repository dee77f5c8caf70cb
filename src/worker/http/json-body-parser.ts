import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isUtf8 } from 'node:buffer';
import { Errors, HttpError } from './http-errors';

/** A Fastify content-type parser (`parseAs: 'buffer'`) that hands the handler text. */
export type TextBodyParser = (
  request: FastifyRequest,
  body: Buffer,
  done: (error: Error | null, value?: string) => void,
) => void;

/**
 * A parser that hands the handler the body as text, once it is UTF-8 and `check` (when given)
 * finds nothing wrong with it. No body at all is handed over as undefined, for the route to
 * judge: a DELETE sent with the header is fine; a write answers `empty_body`.
 */
export function textBodyParser(
  check?: (text: string) => HttpError | undefined,
): TextBodyParser {
  return (_request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    if (!isUtf8(body)) return done(Errors.invalidJson('it is not valid UTF-8'));
    const text = body.toString('utf8');
    const error = check?.(text);
    if (error !== undefined) return done(error);
    done(null, text);
  };
}

/**
 * Values are JSON texts kept exactly as sent: the parser checks that the body is UTF-8 and one
 * valid JSON text, and hands the handler the text itself. Every other media type is refused
 * with 415 by Fastify, since no other parser is registered.
 */
export function installJsonParser(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    textBodyParser(jsonTextError),
  );
}

function jsonTextError(text: string): HttpError | undefined {
  try {
    JSON.parse(text);
  } catch (error) {
    return Errors.invalidJson((error as Error).message);
  }
  return undefined;
}
