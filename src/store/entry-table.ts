import { Entry } from './entry';
import { hashString } from './key-hash';
import { Milliseconds, Revision } from './types';

/** Default number of shards: 4096 shards hold 10 million keys at about 2,400 each. */
export const DEFAULT_SHARD_BITS = 12;

/**
 * A record: revision (float64), deadline (float64), value length in bytes (uint32), 4 spare
 * bytes, then the value's UTF-8 bytes, padded to a multiple of 8 so the next header is aligned.
 */
const HEADER_BYTES = 24;
/** The smallest arena a shard holds, in bytes. */
const MIN_ARENA_BYTES = 256;
/** An arena is sized to this many times its live bytes when it is rebuilt. */
const ARENA_SLACK = 1.5;

/** Strings up to this many UTF-16 units are encoded straight into the arena. */
const ENCODE_IN_PLACE_CHARS = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The live entries of one shard in a form that is cheap to build, ship and load: the records
 * laid end to end exactly as an arena holds them, and the keys' UTF-8 bytes, each after its
 * length as a little-endian uint32, in the same order. A replica loads one by adopting the
 * records as its arena and indexing the keys, without a string or an object per value.
 */
export interface ShardImage {
  /** Which shard (0 to shardCount - 1) of a table with the same shard count. */
  readonly shard: number;
  /** How many entries. */
  readonly count: number;
  readonly keys: Uint8Array;
  readonly records: Uint8Array;
}

/**
 * Writes `text` as UTF-8 at `at` in `out`, which must have room for 3 bytes per UTF-16 unit;
 * returns the bytes written. Keys and JSON texts are mostly ASCII, which a plain loop writes
 * faster than `TextEncoder.encodeInto` (and the view it needs) can for short strings.
 */
function writeUtf8(text: string, out: Uint8Array, at: number): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) {
      return (
        i +
        encoder.encodeInto(
          text.slice(i),
          out.subarray(at + i, at + text.length * 3),
        ).written
      );
    }
    out[at + i] = code;
  }
  return text.length;
}

const scratch = new Uint8Array(4096);

/**
 * A copy of `text` that shares no memory with any other string. A key decoded from a message
 * can be a slice of one string that holds the whole message (msgpackr decodes a run of
 * strings at once, values included); kept as a Map key, the slice would pin all of that for
 * as long as the key lives. About 100 ns for a short ASCII key.
 */
export function ownedCopy(text: string): string {
  const copy =
    text.length * 3 > scratch.length
      ? decoder.decode(encoder.encode(text))
      : decoder.decode(scratch.subarray(0, writeUtf8(text, scratch, 0)));
  // A lone surrogate has no UTF-8 form and comes back as U+FFFD: keep such a text as it is.
  return copy === text ? copy : text;
}

/** Rounds `bytes` up to a multiple of 8. */
function align8(bytes: number): number {
  return Math.ceil(bytes / 8) * 8;
}

/** One shard: an index from key to record offset, and the arena the records live in. */
class Shard {
  readonly index = new Map<string, number>();
  bytes: Uint8Array;
  /** The arena as float64s, for the revision and deadline of a record. */
  numbers: Float64Array;
  /** The arena as uint32s, for lengths and for copying whole records. */
  words: Uint32Array;
  /** The arena's size in bytes, kept as a field: reading `byteLength` is a builtin call. */
  capacity: number;
  /** Bytes of the arena in use, live records and dead ones. */
  used = 0;
  /** Bytes of records no key points at any more. */
  dead = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    const buffer = new ArrayBuffer(capacity);
    this.bytes = new Uint8Array(buffer);
    this.numbers = new Float64Array(buffer);
    this.words = new Uint32Array(buffer);
  }

  recordBytes(offset: number): number {
    return align8(HEADER_BYTES + this.words[offset / 4 + 4]!);
  }

  entryAt(offset: number): Entry {
    return new Entry(
      this.numbers[offset / 8]!,
      this.numbers[offset / 8 + 1]!,
      this.bytes,
      offset + HEADER_BYTES,
      this.words[offset / 4 + 4]!,
    );
  }

  /** Copies every live record into a new arena with room for `extra` more bytes. */
  rebuild(extra: number): void {
    const live = this.used - this.dead;
    const capacity = Math.max(
      MIN_ARENA_BYTES,
      align8(Math.ceil((live + extra) * ARENA_SLACK)),
    );
    const old = this.words;
    const next = new Shard(capacity);
    let to = 0;
    for (const [key, from] of this.index) {
      const words = this.recordBytes(from) / 4;
      const src = from / 4;
      const dst = to / 4;
      for (let w = 0; w < words; w++) next.words[dst + w] = old[src + w]!;
      // Setting a key that exists keeps its place, so this does not disturb the iteration.
      this.index.set(key, to);
      to += words * 4;
    }
    this.bytes = next.bytes;
    this.numbers = next.numbers;
    this.words = next.words;
    this.capacity = capacity;
    this.used = to;
    this.dead = 0;
  }
}

/**
 * The entries of a key-value table: string keys spread over many shards by a hash of the key,
 * each shard a small V8 `Map` from key to the offset of a record in that shard's arena (one
 * `ArrayBuffer`), where the value's bytes, revision and deadline live.
 *
 * Why shards: one V8 `Map` holds at most 2^24 entries and rehashes all of them at once when it
 * grows (hundreds of milliseconds at a few million entries). With 2^bits shards the capacity is
 * 2^(24+bits) and each rehash or arena copy touches one small shard.
 *
 * Why arenas: an entry costs the heap one key string and one `Map` slot, instead of also a
 * value string and an entry object. The garbage collector then has a third of the objects to
 * trace and copy, and a value never passes through the young generation of the heap.
 *
 * Keys are expected to be well-formed Unicode, as HTTP paths decode to: a shard image carries
 * keys as UTF-8, where a lone surrogate becomes U+FFFD.
 *
 * Records are append-only: a write appends a new record and leaves the old one dead; a shard's
 * arena is rebuilt (live records copied into a new one, {@link ARENA_SLACK} times their size)
 * when it fills up or when more than half of the bytes of its records are dead. So an
 * {@link Entry} read earlier keeps its bytes.
 */
export class EntryTable {
  private readonly shards: Shard[];
  private readonly mask: number;
  private count = 0;

  /** @param shardBits log2 of the number of shards, from 0 (one shard) to 20. */
  constructor(shardBits: number = DEFAULT_SHARD_BITS) {
    if (!Number.isInteger(shardBits) || shardBits < 0 || shardBits > 20) {
      throw new RangeError(
        `shardBits must be an integer from 0 to 20, got ${shardBits}`,
      );
    }
    this.shards = Array.from(
      { length: 1 << shardBits },
      () => new Shard(MIN_ARENA_BYTES),
    );
    this.mask = (1 << shardBits) - 1;
  }

  /** Number of keys held, across all shards. */
  get size(): number {
    return this.count;
  }

  /** Number of shards. */
  get shardCount(): number {
    return this.shards.length;
  }

  /** The most keys this table can hold: 2^24 per shard. */
  get capacity(): number {
    return this.shards.length * 2 ** 24;
  }

  /** Bytes of every arena, live records, dead records and free space. */
  get arenaBytes(): number {
    let bytes = 0;
    for (const shard of this.shards) bytes += shard.capacity;
    return bytes;
  }

  /** The entry of `key`, or undefined when there is none. */
  get(key: string): Entry | undefined {
    const shard = this.shardOf(key);
    const offset = shard.index.get(key);
    return offset === undefined ? undefined : shard.entryAt(offset);
  }

  /**
   * Stores `json` (JSON text, or its UTF-8 bytes) under `key`, replacing any entry it had.
   * Returns true when the key is new.
   *
   * @param revision the revision of the write
   * @param deadline ms since the epoch, or {@link NO_DEADLINE}
   */
  set(
    key: string,
    json: string | Uint8Array,
    revision: Revision,
    deadline: Milliseconds,
  ): boolean {
    const shard = this.shardOf(key);
    // A string takes at most 3 UTF-8 bytes per UTF-16 unit. Short ones are encoded straight
    // into that much room; long ones first, so a rebuild does not size an arena for 3 times
    // a large value.
    const value =
      typeof json === 'string' && json.length > ENCODE_IN_PLACE_CHARS
        ? encoder.encode(json)
        : json;
    const most =
      HEADER_BYTES +
      (typeof value === 'string' ? value.length * 3 : value.length);
    if (shard.used + most > shard.capacity) shard.rebuild(most);
    const offset = shard.used;
    const start = offset + HEADER_BYTES;
    let length: number;
    if (typeof value === 'string') {
      length = writeUtf8(value, shard.bytes, start);
    } else {
      shard.bytes.set(value, start);
      length = value.length;
    }
    shard.numbers[offset / 8] = revision;
    shard.numbers[offset / 8 + 1] = deadline;
    shard.words[offset / 4 + 4] = length;
    shard.used = offset + align8(HEADER_BYTES + length);
    const previous = shard.index.get(key);
    if (previous === undefined) {
      shard.index.set(ownedCopy(key), offset);
      this.count++;
      return true;
    }
    shard.index.set(key, offset);
    this.retire(shard, previous);
    return false;
  }

  /** Removes `key`. Returns false when it was absent. */
  delete(key: string): boolean {
    const shard = this.shardOf(key);
    const offset = shard.index.get(key);
    if (offset === undefined) return false;
    shard.index.delete(key);
    this.count--;
    this.retire(shard, offset);
    return true;
  }

  /** Removes every key and gives back every arena. */
  clear(): void {
    for (let i = 0; i < this.shards.length; i++)
      this.shards[i] = new Shard(MIN_ARENA_BYTES);
    this.count = 0;
  }

  /**
   * The entries of shard `index` (0 to {@link shardCount} - 1), in insertion order. Must be
   * consumed before the table is written to.
   */
  *shardEntries(index: number): Generator<[string, Entry]> {
    const shard = this.shards[index];
    if (shard === undefined) throw new RangeError(`no shard ${index}`);
    for (const [key, offset] of shard.index) yield [key, shard.entryAt(offset)];
  }

  /** Every entry, shard by shard. Must be consumed before the table is written to. */
  *entries(): Generator<[string, Entry]> {
    for (let i = 0; i < this.shards.length; i++) yield* this.shardEntries(i);
  }

  /**
   * The entries of shard `index` live at `now` (deadline 0 or after `now`), as a
   * {@link ShardImage} that owns its bytes; undefined when there are none.
   */
  exportShard(index: number, now: Milliseconds): ShardImage | undefined {
    const shard = this.shards[index];
    if (shard === undefined) throw new RangeError(`no shard ${index}`);
    let keyRoom = 0;
    for (const key of shard.index.keys()) keyRoom += 4 + key.length * 3;
    const keys = new Uint8Array(keyRoom);
    const records = new Uint32Array((shard.used - shard.dead) / 4);
    const from32 = shard.words;
    let recordWords = 0;
    let keyBytes = 0;
    let count = 0;
    // forEach rather than for-of: no [key, offset] array per entry.
    shard.index.forEach((from, key) => {
      const deadline = shard.numbers[from / 8 + 1]!;
      if (deadline !== 0 && deadline <= now) return;
      const written = writeUtf8(key, keys, keyBytes + 4);
      keys[keyBytes] = written & 0xff;
      keys[keyBytes + 1] = (written >>> 8) & 0xff;
      keys[keyBytes + 2] = (written >>> 16) & 0xff;
      keys[keyBytes + 3] = written >>> 24;
      keyBytes += 4 + written;
      const words = shard.recordBytes(from) / 4;
      const src = from / 4;
      for (let w = 0; w < words; w++)
        records[recordWords + w] = from32[src + w]!;
      recordWords += words;
      count++;
    });
    if (count === 0) return undefined;
    return {
      shard: index,
      count,
      keys: keys.subarray(0, keyBytes),
      records: new Uint8Array(records.buffer, 0, recordWords * 4),
    };
  }

  /**
   * Loads `image` into its shard, which must be empty (a replica loads a snapshot into a fresh
   * table). Throws a RangeError for an image that does not fit this table or is malformed.
   */
  importShard(image: ShardImage): void {
    const shard = this.shards[image.shard];
    if (shard === undefined) throw new RangeError(`no shard ${image.shard}`);
    if (shard.index.size > 0)
      throw new RangeError(`shard ${image.shard} is not empty`);
    const next = new Shard(
      Math.max(
        MIN_ARENA_BYTES,
        align8(Math.ceil(image.records.length * ARENA_SLACK)),
      ),
    );
    next.bytes.set(image.records);
    const keys = image.keys;
    let keyAt = 0;
    let offset = 0;
    let count = 0;
    while (offset < image.records.length) {
      if (
        offset + HEADER_BYTES > image.records.length ||
        keyAt + 4 > keys.length
      )
        throw new RangeError(`shard ${image.shard}: image cut short`);
      const keyLength =
        (keys[keyAt]! |
          (keys[keyAt + 1]! << 8) |
          (keys[keyAt + 2]! << 16) |
          (keys[keyAt + 3]! << 24)) >>>
        0;
      const key = decoder.decode(
        keys.subarray(keyAt + 4, keyAt + 4 + keyLength),
      );
      keyAt += 4 + keyLength;
      if (this.shardOf(key) !== shard)
        throw new RangeError(`shard ${image.shard}: key out of place`);
      next.index.set(key, offset);
      offset += next.recordBytes(offset);
      count++;
    }
    if (
      offset !== image.records.length ||
      keyAt !== keys.length ||
      count !== image.count
    )
      throw new RangeError(`shard ${image.shard}: image does not add up`);
    if (next.index.size !== count)
      throw new RangeError(`shard ${image.shard}: a key appears twice`);
    next.used = offset;
    this.shards[image.shard] = next;
    this.count += count;
  }

  private retire(shard: Shard, offset: number): void {
    shard.dead += shard.recordBytes(offset);
    // Against the bytes written, not the arena's size: an arena sized for a large value must
    // shrink once that value is gone, even though its free space keeps it from filling up.
    if (shard.dead * 2 > shard.used && shard.capacity > MIN_ARENA_BYTES)
      shard.rebuild(0);
  }

  private shardOf(key: string): Shard {
    // The mask keeps the index inside the array, so the lookup cannot miss.
    return this.shards[hashString(key) & this.mask]!;
  }
}
