/**
 * 32-bit FNV-1a over the UTF-16 code units of `text`, as an unsigned integer. Fast and well
 * spread for short keys; not cryptographic. `seed` picks an independent hash family.
 */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
