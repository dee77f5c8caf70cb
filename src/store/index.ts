/**
 * The store core: plain TypeScript, no Nest, no I/O, no timers; the clock is passed in.
 *
 * Layout:
 * - `types.ts`: units (`Milliseconds`, `Revision`, `Clock`).
 * - `entry.ts`: a read view of one stored value, and when it stops being live.
 * - `entry-table.ts`: 4,096 shards, each an open-addressing index into an arena (one
 *   ArrayBuffer) of records holding key, value, revision and deadline: no `Map` limit, no heap
 *   object per key, and whole shards shipped as bytes to new replicas. The record layout (a
 *   diagram and the named offsets) is at the top of the file.
 * - `utf8.ts`: keys and values as UTF-8 bytes: writing, decoding, byte order, and copying a
 *   key out of the message string it was sliced from.
 * - `key-hash.ts`: the hash of a key's bytes that picks its shard and slot.
 * - `ordered-index.ts`: a B+tree of every key in UTF-8 byte order, holding 32-bit locators
 *   (shard and slot) rather than keys, for listing by prefix with keyset cursors.
 * - `kv-table.ts`: keys -> entries, change application with a revision guard, the digest,
 *   listing pages.
 * - `authoritative-store.ts`: the primary's store: decides writes, reaps TTLs, queues changes.
 * - `replica-store.ts`: a worker's replica: snapshot, then batches applied exactly once.
 * - `expiry-queue.ts`: the deadline min-heap; `digest.ts`: order-independent content hash;
 *   `sliced-digest.ts`: a table's digest a slice per event-loop turn.
 * - `write-command.ts` / `transaction.ts` / `change.ts`: what goes into the primary and what
 *   comes out of it.
 * - `change-history.ts`: the changes of the last revisions, for watchers that resume.
 */
export * from './authoritative-store';
export * from './change';
export * from './change-history';
export * from './digest';
export * from './entry';
export * from './entry-table';
export * from './expiry-queue';
export * from './kv-table';
export * from './ordered-index';
export * from './replica-store';
export * from './sliced-digest';
export * from './transaction';
export * from './types';
export * from './utf8';
export * from './write-command';
