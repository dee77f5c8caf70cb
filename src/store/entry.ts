import { Milliseconds, NO_DEADLINE, Revision } from './types';

/**
 * One stored value. Mutable on purpose: a replica updates entries in place rather than
 * allocating one object per applied change.
 */
export class Entry {
  /**
   * @param value the JSON text exactly as the client sent it (never re-encoded)
   * @param revision the revision of the write that last set this entry
   * @param deadline when the entry stops existing, in ms since the epoch; {@link NO_DEADLINE} for never
   */
  constructor(
    public value: string,
    public revision: Revision,
    public deadline: Milliseconds,
  ) {}
}

/**
 * Whether `entry` still exists at time `now`. An entry is gone from its deadline on (a deadline
 * equal to `now` is already past), even before anyone deletes it.
 */
export function isLive(entry: Entry, now: Milliseconds): boolean {
  return entry.deadline === NO_DEADLINE || entry.deadline > now;
}
