import { Milliseconds } from './types';

/**
 * A binary min-heap of (deadline, key) pairs: the TTL index of the authoritative store.
 *
 * Why a heap and not timers: one timer per key costs memory per key, and `setTimeout` fires at
 * once for delays above 2^31-1 ms (about 24.8 days), while a TTL may be ten years.
 *
 * Entries are never removed from the middle: when a key's deadline changes or the key is deleted,
 * the old pair stays until it reaches the top, and the caller checks it against the store
 * (a "stale" pair is skipped). {@link compact} drops stale pairs when they pile up.
 */
export class ExpiryQueue {
  private deadlines: Milliseconds[] = [];
  private keys: string[] = [];

  /** Number of pairs held, stale ones included. */
  get size(): number {
    return this.keys.length;
  }

  /** The earliest deadline held, or undefined when empty. */
  peekDeadline(): Milliseconds | undefined {
    return this.deadlines[0];
  }

  push(deadline: Milliseconds, key: string): void {
    this.deadlines.push(deadline);
    this.keys.push(key);
    this.siftUp(this.keys.length - 1);
  }

  /**
   * Removes and returns the key of the earliest pair whose deadline is at or before `now`, or
   * undefined when no deadline has passed. Ties come out in no particular order.
   */
  popExpired(now: Milliseconds): string | undefined {
    const first = this.deadlines[0];
    if (first === undefined || first > now) return undefined;
    const key = this.keys[0]!;
    const lastDeadline = this.deadlines.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.keys.length > 0) {
      this.deadlines[0] = lastDeadline;
      this.keys[0] = lastKey;
      this.siftDown(0);
    }
    return key;
  }

  /**
   * Rebuilds the heap from the pairs for which `isCurrent(deadline, key)` holds, in O(n).
   */
  compact(isCurrent: (deadline: Milliseconds, key: string) => boolean): void {
    const deadlines: Milliseconds[] = [];
    const keys: string[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      const deadline = this.deadlines[i]!;
      const key = this.keys[i]!;
      if (isCurrent(deadline, key)) {
        deadlines.push(deadline);
        keys.push(key);
      }
    }
    this.deadlines = deadlines;
    this.keys = keys;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(index: number): void {
    const deadline = this.deadlines[index]!;
    const key = this.keys[index]!;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentDeadline = this.deadlines[parent]!;
      if (parentDeadline <= deadline) break;
      this.deadlines[index] = parentDeadline;
      this.keys[index] = this.keys[parent]!;
      index = parent;
    }
    this.deadlines[index] = deadline;
    this.keys[index] = key;
  }

  private siftDown(index: number): void {
    const length = this.keys.length;
    const deadline = this.deadlines[index]!;
    const key = this.keys[index]!;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      const right = child + 1;
      if (right < length && this.deadlines[right]! < this.deadlines[child]!)
        child = right;
      if (this.deadlines[child]! >= deadline) break;
      this.deadlines[index] = this.deadlines[child]!;
      this.keys[index] = this.keys[child]!;
      index = child;
    }
    this.deadlines[index] = deadline;
    this.keys[index] = key;
  }
}
