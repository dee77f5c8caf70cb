/**
 * The callbacks of forwarded writes that the primary has not answered yet, by request id.
 *
 * Ids are handed out in sequence, so a fixed array indexed by `id & mask` holds them: adding
 * and removing one is a store into an array that never moves. A `Map` here, rehashing as it grew
 * and shrank with every burst of writes, made each in-flight request's objects (its reply, its
 * socket's buffers) survive scavenges and reach old space, where only a full collection frees
 * them (the measurements are in docs/performance.md).
 */
export class PendingWrites<T> {
  private readonly slots: (T | undefined)[];
  private readonly ids: Float64Array;
  private readonly mask: number;
  private count = 0;

  /** Room for `capacity` writes in flight (rounded up to a power of two). */
  constructor(capacity: number) {
    let size = 1;
    while (size < capacity) size *= 2;
    this.slots = new Array<T | undefined>(size).fill(undefined);
    this.ids = new Float64Array(size);
    this.mask = size - 1;
  }

  /** Writes held now. */
  get size(): number {
    return this.count;
  }

  /**
   * Holds `value` under `id`. Returns false, holding nothing, when the slot is still taken by
   * a write that many ids older (one stuck while a whole array of newer ones came and went).
   */
  add(id: number, value: T): boolean {
    const slot = id & this.mask;
    if (this.slots[slot] !== undefined) return false;
    this.slots[slot] = value;
    this.ids[slot] = id;
    this.count++;
    return true;
  }

  /** Removes and returns what is held under `id`, or undefined when nothing is. */
  take(id: number): T | undefined {
    const slot = id & this.mask;
    const value = this.slots[slot];
    if (value === undefined || this.ids[slot] !== id) return undefined;
    this.slots[slot] = undefined;
    this.count--;
    return value;
  }
}
