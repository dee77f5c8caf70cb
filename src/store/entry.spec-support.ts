import type { Entry } from './entry';

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
