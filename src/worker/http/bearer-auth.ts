import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks `Authorization: Bearer <token>` in constant time: both sides are hashed first, so
 * neither the token's length nor its bytes leak through timing.
 */
export function bearerAuthorizer(
  token: string,
): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    // RFC 9110: the scheme name is case-insensitive.
    const match = header === undefined ? null : /^bearer +(.*)$/i.exec(header);
    if (match === null) return false;
    const given = createHash('sha256').update(match[1]!).digest();
    return timingSafeEqual(given, expected);
  };
}

// Served without the token: health for load balancers and orchestrators, and the API
// description for tools that read it before they know any token. Neither holds data. Only
// these exact request targets: another spelling (a query, a trailing slash) needs the token.
const OPEN_URLS: ReadonlySet<string> = new Set([
  '/_/health',
  '/_/openapi.json',
]);

/** Whether a request target (path and query, as sent) is served without the bearer token. */
export function isOpenUrl(url: string): boolean {
  return OPEN_URLS.has(url);
}
