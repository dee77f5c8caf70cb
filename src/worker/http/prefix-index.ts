/**
 * Values filed under string prefixes and found by a key: {@link collect} looks up only the
 * prefix lengths in use, so matching a key costs one map lookup per distinct length, however
 * many prefixes there are. Prefixes and keys compare by UTF-16 code units, which for
 * well-formed strings is the same as comparing their UTF-8 bytes.
 */
export class PrefixIndex<T> {
  private readonly byPrefix = new Map<string, T>();
  /** How many prefixes have each length; `lengths` lists those lengths in ascending order. */
  private readonly lengthCounts = new Map<number, number>();
  private lengths: number[] = [];

  /** How many prefixes are filed. */
  get size(): number {
    return this.byPrefix.size;
  }

  get(prefix: string): T | undefined {
    return this.byPrefix.get(prefix);
  }

  set(prefix: string, value: T): void {
    if (!this.byPrefix.has(prefix)) {
      const count = this.lengthCounts.get(prefix.length) ?? 0;
      this.lengthCounts.set(prefix.length, count + 1);
      if (count === 0)
        this.lengths = [...this.lengths, prefix.length].sort((a, b) => a - b);
    }
    this.byPrefix.set(prefix, value);
  }

  delete(prefix: string): void {
    if (!this.byPrefix.delete(prefix)) return;
    const count = this.lengthCounts.get(prefix.length)! - 1;
    if (count > 0) {
      this.lengthCounts.set(prefix.length, count);
      return;
    }
    this.lengthCounts.delete(prefix.length);
    this.lengths = this.lengths.filter((length) => length !== prefix.length);
  }

  /** Appends to `out` the value of every filed prefix of `key` (the empty one included), shortest first. */
  collect(key: string, out: T[]): void {
    for (const length of this.lengths) {
      if (length > key.length) return;
      const value = this.byPrefix.get(
        length === key.length ? key : key.slice(0, length),
      );
      if (value !== undefined) out.push(value);
    }
  }
}
