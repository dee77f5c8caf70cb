import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks `Authorization: Bearer <token>` in constant time: both sides are hashed first, so
 * neither the token's length nor its bytes leak through timing.
 */
export function bearerAuthorizer(
  token: string,
): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(`Bearer ${token}`).digest();
  return (header) =>
    header !== undefined &&
    timingSafeEqual(createHash('sha256').update(header).digest(), expected);
}
