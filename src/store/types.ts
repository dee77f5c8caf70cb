/**
 * A count of milliseconds. Where it is a point in time it counts from the Unix epoch (as
 * `Date.now()` does); where it is a duration the name says so (`ttl`, `interval`).
 */
export type Milliseconds = number;

/**
 * The store's global commit counter: 0 before the first write, then +1 for every write and
 * every expiry delete the primary applies, and +1 for a whole transaction (its changes share
 * one). A key's ETag is the revision of its last write.
 */
export type Revision = number;

/**
 * Returns the current time in {@link Milliseconds} since the epoch. The store never reads a
 * clock of its own: it is passed in, so tests can move time by hand.
 */
export type Clock = () => Milliseconds;

/** The deadline of an entry that never expires. */
export const NO_DEADLINE: Milliseconds = 0;

/** The longest time-to-live a write may ask for: ten years, in milliseconds. */
export const MAX_TTL: Milliseconds = 315_360_000_000;
