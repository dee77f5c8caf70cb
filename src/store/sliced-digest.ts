import { Digest } from './digest';
import { KvTable } from './kv-table';
import { Clock, Revision } from './types';

/** Entries a slice looks at, at most, before the next shard would start. */
const DIGEST_SLICE_ENTRIES = 4096;
/** Characters of keys and bytes of values a slice hashes, at most, before the next shard. */
const DIGEST_SLICE_CHARS = 1 << 20;

/** A digest of a table's live data, with the revision the table held when the scan began. */
export interface TableDigest {
  readonly revision: Revision;
  /** 16 lowercase hex digits (see {@link Digest}). */
  readonly digest: string;
}

/** What a scan reads: the table, and the revision it holds at that moment. */
export interface DigestSource {
  readonly table: KvTable;
  readonly revision: Revision;
}

/**
 * Digests a table a slice at a time, so that a large table never holds the event loop for
 * long: whole shards until more than `sliceEntries` entries were looked at (or
 * {@link DIGEST_SLICE_CHARS} hashed), then `pause()` (the caller's "next event-loop turn"),
 * and on. An entry counts if it is live at the clock's time when the scan began.
 *
 * At most one scan runs at a time. A request made while one runs gets the next scan, which
 * starts when the running one ends and serves every request made meanwhile: an answer always
 * comes from a scan that began after it was asked for.
 *
 * While writes go on, a scan sees each shard as it is when the scan gets there, so the digest
 * is a best-effort view of a moving table; once writes stop, tables that hold the same live
 * data give the same digest.
 */
export class SlicedDigest {
  private running: Promise<TableDigest> | undefined;
  private next: Promise<TableDigest> | undefined;

  /**
   * @param source read when a scan begins
   * @param pause resolves when the scan may go on (on the next event-loop turn)
   */
  constructor(
    private readonly source: () => DigestSource,
    private readonly clock: Clock,
    private readonly pause: () => Promise<void>,
    private readonly sliceEntries: number = DIGEST_SLICE_ENTRIES,
  ) {}

  /** The digest of a scan that begins now, or after the one running now. */
  request(): Promise<TableDigest> {
    if (this.running === undefined) {
      this.running = this.scan().finally(() => (this.running = undefined));
      return this.running;
    }
    const after = (): Promise<TableDigest> => {
      this.next = undefined;
      return this.request();
    };
    this.next ??= this.running.then(after, after);
    return this.next;
  }

  private async scan(): Promise<TableDigest> {
    const { table, revision } = this.source();
    const now = this.clock();
    const digest = new Digest();
    let shard = 0;
    for (;;) {
      shard = table.digestShards(
        shard,
        now,
        digest,
        this.sliceEntries,
        DIGEST_SLICE_CHARS,
      );
      if (shard >= table.entries.shardCount) break;
      await this.pause();
    }
    return { revision, digest: digest.toString() };
  }
}
