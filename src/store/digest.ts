import { hashString } from './key-hash';
import { Milliseconds } from './types';

const SEED_LOW = 0x811c9dc5;
const SEED_HIGH = 0x01234567;

/**
 * An order-independent digest of a set of (key, value, deadline) triples, like Redis's
 * DEBUG DIGEST: each triple is hashed on its own and the hashes are added, so two stores hold
 * the same live data exactly when (up to hash collisions) their digests are equal, whatever
 * order their keys were written in.
 */
export class Digest {
  private low = 0;
  private high = 0;

  add(key: string, value: string, deadline: Milliseconds): void {
    this.low = (this.low + hashTriple(key, value, deadline, SEED_LOW)) >>> 0;
    this.high = (this.high + hashTriple(key, value, deadline, SEED_HIGH)) >>> 0;
  }

  /** 16 lowercase hex digits; all zeros for the empty set. */
  toString(): string {
    return hex8(this.high) + hex8(this.low);
  }
}

function hashTriple(
  key: string,
  value: string,
  deadline: Milliseconds,
  seed: number,
): number {
  // The key and the value each go in after their length and a ':' (which no length contains),
  // so the fields cannot run into each other: ("ab", "c") and ("a", "bc") hash apart, and so do
  // ("k", "1", 23) and ("k", "12", 3), or keys that start with digits.
  let hash = hashString(`${key.length}:`, seed);
  hash = hashString(key, hash);
  hash = hashString(`${value.length}:`, hash);
  hash = hashString(value, hash);
  return hashString(String(deadline), hash);
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
