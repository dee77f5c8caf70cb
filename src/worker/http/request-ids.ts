import { randomBytes } from 'node:crypto';

/**
 * Makes `X-Request-Id` values for requests that bring none: 36 characters laid out like a UUID,
 * a random prefix drawn once per process and a hexadecimal counter after it. Distinct across the
 * cluster's processes and their restarts with overwhelming odds, at a fraction of `randomUUID`'s
 * cost on a path taken by every request.
 */
export function requestIdGenerator(): () => string {
  const hex = randomBytes(10).toString('hex');
  const prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16)}-`;
  let counter = 0;
  return () => prefix + (counter++).toString(16).padStart(12, '0');
}
