const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a over the UTF-16 code units of `text`, as an unsigned integer. Fast and well
 * spread for short keys; not cryptographic. `seed` picks an independent hash family.
 */
export function hashString(text: string, seed = FNV_OFFSET): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/**
 * 32-bit FNV-1a over `length` bytes of `bytes` from `start`, as an unsigned integer: the same
 * hash as {@link hashString} over bytes instead of UTF-16 units (equal for ASCII text).
 */
export function hashBytes(
  bytes: Uint8Array,
  start: number,
  length: number,
): number {
  let hash = FNV_OFFSET;
  for (let i = start; i < start + length; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}
