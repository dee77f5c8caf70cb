import { Milliseconds, NO_DEADLINE, Revision } from './types';

const decoder = new TextDecoder();

/**
 * One stored value as read from an {@link EntryTable}: a view of a record in a shard's arena.
 * Immutable, and valid for as long as it is held: a table never changes the bytes of a record
 * it has written (a new write appends a new record; compaction copies into a new arena), so a
 * view taken before a write still reads what was stored when it was taken.
 */
export class Entry {
  /**
   * @param revision the revision of the write that set this entry
   * @param deadline when the entry stops existing, in ms since the epoch; {@link NO_DEADLINE} for never
   * @param arena the bytes of the shard that holds the record
   * @param start where the value's UTF-8 bytes begin in `arena`
   * @param byteLength how many bytes the value has
   */
  constructor(
    readonly revision: Revision,
    readonly deadline: Milliseconds,
    private readonly arena: Uint8Array,
    private readonly start: number,
    readonly byteLength: number,
  ) {}

  /** The JSON text exactly as the client sent it (never re-encoded), decoded on each call. */
  get value(): string {
    return decoder.decode(this.bytes);
  }

  /** The value's UTF-8 bytes: a view of the arena, not a copy. */
  get bytes(): Uint8Array {
    return this.arena.subarray(this.start, this.start + this.byteLength);
  }
}

/**
 * Whether `entry` still exists at time `now`. An entry is gone from its deadline on (a deadline
 * equal to `now` is already past), even before anyone deletes it.
 */
export function isLive(
  entry: { readonly deadline: Milliseconds },
  now: Milliseconds,
): boolean {
  return entry.deadline === NO_DEADLINE || entry.deadline > now;
}
