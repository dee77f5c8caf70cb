/**
 * Durability on disk: the append-only log and snapshots. Node's fs is used here and in no
 * other area; the store core stays pure. Nothing here knows Nest: `src/primary/durability.ts`
 * wires it in.
 *
 * Layout:
 * - `crc32.ts`: the frame checksum.
 * - `log-frame.ts`: a frame (u32 length, u32 CRC-32, msgpack payload) and a batch as one.
 * - `frame-file.ts`: reads a file of frames, telling a torn tail from damage in the middle.
 * - `append-log.ts`: the log the primary appends every batch to; fsync policy, group commit.
 * - `snapshot-file.ts`: writes the whole store in chunks while it keeps serving; reads it back.
 * - `data-dir.ts`: file names (revisions, never keys), the listing, removing what a snapshot
 *   replaces, the pid lock file.
 * - `recovery.ts`: start-up: newest snapshot, then the logs after it, tail repair.
 *
 * Imports flow `primary -> persistence -> store`; the one setting type it takes, the fsync
 * policy, comes from `config`, which imports from no other area.
 */
export * from './append-log';
export * from './data-dir';
export * from './log-frame';
export * from './recovery';
export * from './snapshot-file';
