import type { EntryTable, ShardImage } from './entry-table';

/**
 * Every image of `table` live at `now`, shard by shard, as a replica's bootstrap receives them.
 * Test support only: excluded from the build.
 */
export function exportAll(table: EntryTable, now: number): ShardImage[] {
  const images: ShardImage[] = [];
  for (let shard = 0; shard < table.shardCount; shard++) {
    const image = table.exportShard(shard, now);
    if (image !== undefined) images.push(image);
  }
  return images;
}
