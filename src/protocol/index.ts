/**
 * The protocol between the primary and its workers, over a Unix socket pair each worker gets
 * as an extra stdio entry (node:cluster's own IPC channel carries only its own messages).
 *
 * Layout:
 * - `messages.ts`: every message type, with its numeric wire tag.
 * - `codec.ts`: the one msgpack codec (msgpackr); every message is one Buffer.
 * - `framing.ts`: frames on the byte stream (a length, then one or more messages).
 * - `channel.ts`: one end of the socket: frames in, frames out, backpressure, close.
 *
 * Flow: a worker says Hello, gets SnapshotBegin, SnapshotChunk... (whole shards as the bytes
 * of their arenas), SnapshotEnd, interleaved with the Batches published meanwhile, and then
 * answers each Batch it applies with Applied. Writes go up as one Writes message per event-loop
 * turn; WriteResults come down after the Batch that holds them, so a worker always serves its
 * own acknowledged writes. A watcher that resumes from before a worker's own history (or asks
 * for the store's revision) sends HistoryRequest; HistoryChanges answers it from the primary's.
 */
export * from './channel';
export * from './codec';
export * from './framing';
export * from './memory-figures';
export * from './messages';
