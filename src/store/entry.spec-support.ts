import type { Entry } from './entry';

/** '"é€😀"' (1, 2, 3 and 4 UTF-8 bytes a character) and its UTF-8 bytes, written out. */
export const MULTI = '"\u00e9\u20ac\u{1f600}"';
export const MULTI_BYTES = Uint8Array.of(
  0x22,
  0xc3,
  0xa9,
  0xe2,
  0x82,
  0xac,
  0xf0,
  0x9f,
  0x98,
  0x80,
  0x22,
);

/** What an {@link Entry} holds, as plain data that `toEqual` compares field by field. */
export interface PlainEntry {
  value: string;
  revision: number;
  deadline: number;
}

/**
 * `entry` as plain `{ value, revision, deadline }`, or undefined. An Entry is a view of an arena
 * (its own fields are the arena and offsets), so specs compare this instead of the Entry.
 * Test support only: excluded from the build.
 */
export function plain(entry: Entry | undefined): PlainEntry | undefined {
  if (entry === undefined) return undefined;
  return {
    value: entry.value,
    revision: entry.revision,
    deadline: entry.deadline,
  };
}
