import { Entry, isLive } from './entry';
import { hashBytes } from './key-hash';
import { KeySource, OrderedIndex, OrderedIndexOptions } from './ordered-index';
import { Milliseconds, NO_DEADLINE, Revision } from './types';
import { compareUtf8, decodeUtf8, encodeUtf8, writeUtf8 } from './utf8';

/** Default number of shards: 4096 shards hold 10 million keys at about 2,400 each. */
export const DEFAULT_SHARD_BITS = 12;
/** Most shard bits a table takes: 2^20 shards. */
const MAX_SHARD_BITS = 20;

/*
 * The layout of a record. Every index into an arena's typed-array views is one of the names
 * below, so that the layout is read and changed in one place. Module-level `const` numbers,
 * because the optimizing compiler folds them into the code as it does a literal.
 */

/** Bytes of a float64: the arena's {@link Shard.numbers} view indexes a record at offset / this. */
const FLOAT64_BYTES = 8;
/** Bytes of a uint32: the arena's {@link Shard.words} view indexes a record at offset / this. */
const UINT32_BYTES = 4;

/**
 * A record in a shard's arena: a 24-byte header, then the key's UTF-8 bytes and the value's,
 * padded to a multiple of {@link RECORD_ALIGN} bytes so that the next header is aligned for
 * the float64 view. `k` is the key's length and `v` the value's, in bytes:
 *
 * ```text
 * byte       0          8          16         20         24         24+k       24+k+v
 *            +----------+----------+----------+----------+----------+----------+---------+
 *            | revision | deadline | value    | key      | key      | value    | padding |
 *            |          | (ms)     | length v | length k | (UTF-8)  | (UTF-8)  | to 8    |
 *            +----------+----------+----------+----------+----------+----------+---------+
 * type       float64    float64    uint32     uint32     k bytes    v bytes    0 to 7
 * float64    +0         +1
 * uint32     +0, +1     +2, +3     +4         +5
 * ```
 *
 * The last two rows are each field's index in the float64 and uint32 views, counted from the
 * record's own (offset / 8 and offset / 4): {@link REVISION_FLOAT64}, {@link DEADLINE_FLOAT64},
 * {@link VALUE_LENGTH_UINT32}, {@link KEY_LENGTH_UINT32}. A {@link ShardImage} holds records
 * laid out the same way, end to end.
 */
const HEADER_BYTES = 24;
/** The revision of a record, a float64: its index in float64s from the record's start. */
const REVISION_FLOAT64 = 0;
/**
 * The deadline of a record, a float64 in ms since the epoch or {@link NO_DEADLINE}: its index in
 * float64s from the record's start.
 */
const DEADLINE_FLOAT64 = 1;
/** The value's length in bytes, a uint32: its index in uint32s from the record's start. */
const VALUE_LENGTH_UINT32 = 4;
/** The key's length in bytes, a uint32: its index in uint32s from the record's start. */
const KEY_LENGTH_UINT32 = 5;
/**
 * Records start at multiples of this many bytes (the float64 width, for the header), and a
 * record's bytes are a multiple of it; so a slot stores an offset in units of it.
 */
const RECORD_ALIGN = 8;

/**
 * Index slots ({@link Shard.slots}, int32): {@link EMPTY}, {@link DELETED} for a deleted key, or
 * a record's offset / {@link RECORD_ALIGN} + 1 (so 1 or more: offset 0 is not {@link EMPTY}).
 */
const EMPTY = 0;
/** The slot of a deleted key: probing goes on past it, an insert may take it. */
const DELETED = -1;

/**
 * Bits of a key's hash and of a locator (shard and slot; see {@link ShardKeys}). Their top
 * `shardBits` pick the shard, the other `HASH_BITS - shardBits` the slot. With one shard
 * (a shift of all `HASH_BITS`) the shard is 0: JavaScript shifts by the count mod 32, so
 * `x >>> 32` would be `x`.
 */
const HASH_BITS = 32;

/** The smallest arena a shard holds, in bytes. */
const MIN_ARENA_BYTES = 256;
/** An arena is sized to this many times its live bytes when it is rebuilt. */
const ARENA_SLACK = 1.5;
/** The smallest index a shard holds, in slots (a power of 2). */
const MIN_SLOTS = 8;

/** The ordered index takes the key of a new shard image one by one below this share of its size. */
const IMPORT_ONE_BY_ONE = 1 / 8;

/** Strings up to this many UTF-16 units are encoded straight into the arena. */
const ENCODE_IN_PLACE_CHARS = 4096;

/**
 * The live entries of one shard in a form that is cheap to build, ship and load: the records
 * laid end to end exactly as an arena holds them, keys and values included. A replica loads one
 * by adopting the records as its arena and indexing them, without a string or an object per
 * entry.
 */
export interface ShardImage {
  /** Which shard (0 to shardCount - 1) of a table with the same shard count. */
  readonly shard: number;
  /** How many entries. */
  readonly count: number;
  readonly records: Uint8Array;
}

/** One key of a {@link ListPage}. */
export interface ListedEntry {
  readonly key: string;
  readonly entry: Entry;
}

/** A page of keys in ascending UTF-8 byte order, from {@link EntryTable.list}. */
export interface ListPage {
  /** At most the limit asked for, live ones only, in ascending UTF-8 byte order of the key. */
  readonly entries: ListedEntry[];
  /**
   * Whether a live key with the prefix follows the last one of `entries` (or, with a limit of
   * 0, exists at all): a page asked for from that last key on would not be empty.
   */
  readonly more: boolean;
}

/** Rounds `bytes` up to a multiple of {@link RECORD_ALIGN}. */
function alignRecord(bytes: number): number {
  return Math.ceil(bytes / RECORD_ALIGN) * RECORD_ALIGN;
}

/** Where a key is encoded to be hashed and looked up; grown to 3 bytes per UTF-16 unit. */
let keyScratch = new Uint8Array(4096);

/** Writes `key` as UTF-8 into the shared key scratch buffer; returns its length in bytes. */
function encodeKey(key: string): number {
  if (key.length * 3 > keyScratch.length)
    keyScratch = new Uint8Array(key.length * 3);
  return writeUtf8(key, keyScratch, 0);
}

/** Slots of an index for `keys` keys: a power of 2, at most 3/4 full. */
function slotsFor(keys: number): number {
  let size = MIN_SLOTS;
  while (size * 3 < keys * 4 + 4) size *= 2;
  return size;
}

/**
 * One shard: an open-addressing index (linear probing) from a key's hash to its record, and
 * the arena the records live in.
 */
class Shard {
  bytes: Uint8Array;
  /**
   * The arena as float64s, for the revision and deadline of a record (see
   * {@link HEADER_BYTES}).
   */
  numbers: Float64Array;
  /** The arena as uint32s, for the lengths of a record and for copying whole records. */
  words: Uint32Array;
  /** The arena's size in bytes, kept as a field: reading `byteLength` is a builtin call. */
  capacity: number;
  /** Bytes of the arena in use, live records and dead ones. */
  used = 0;
  /** Bytes of records no key points at any more. */
  dead = 0;
  /**
   * Per slot: {@link EMPTY}, {@link DELETED}, or a record's offset / {@link RECORD_ALIGN} + 1.
   */
  slots: Int32Array = new Int32Array(MIN_SLOTS);
  /** Per slot: the hash of its key, so probing and resizing rarely touch the records. */
  hashes: Uint32Array = new Uint32Array(MIN_SLOTS);
  /** Per slot: the leaf of the table's {@link OrderedIndex} that holds its key. */
  leafIds: Int32Array = new Int32Array(MIN_SLOTS);
  /** Keys held. */
  live = 0;
  /** Slots marked {@link DELETED}. */
  deleted = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    const buffer = new ArrayBuffer(capacity);
    this.bytes = new Uint8Array(buffer);
    this.numbers = new Float64Array(buffer);
    this.words = new Uint32Array(buffer);
  }

  /** Makes `buffer` the arena (the caller sets {@link used} and {@link dead}). */
  adoptArena(buffer: ArrayBuffer): void {
    this.capacity = buffer.byteLength;
    this.bytes = new Uint8Array(buffer);
    this.numbers = new Float64Array(buffer);
    this.words = new Uint32Array(buffer);
  }

  valueLength(offset: number): number {
    return this.words[offset / UINT32_BYTES + VALUE_LENGTH_UINT32]!;
  }

  keyLength(offset: number): number {
    return this.words[offset / UINT32_BYTES + KEY_LENGTH_UINT32]!;
  }

  recordBytes(offset: number): number {
    return alignRecord(
      HEADER_BYTES + this.valueLength(offset) + this.keyLength(offset),
    );
  }

  keyAt(offset: number): string {
    return decodeUtf8(
      this.bytes,
      offset + HEADER_BYTES,
      this.keyLength(offset),
    );
  }

  entryAt(offset: number): Entry {
    return new Entry(
      this.numbers[offset / FLOAT64_BYTES + REVISION_FLOAT64]!,
      this.numbers[offset / FLOAT64_BYTES + DEADLINE_FLOAT64]!,
      this.bytes,
      offset + HEADER_BYTES + this.keyLength(offset),
      this.valueLength(offset),
    );
  }

  /**
   * The slot of the key whose `length` UTF-8 bytes are in `key` and whose hash is `hash`, or,
   * when absent, -(slot to insert at) - 1. The index always has an empty slot.
   */
  find(key: Uint8Array, length: number, hash: number): number {
    const mask = this.slots.length - 1;
    let free = -1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const at = this.slots[slot]!;
      if (at === EMPTY) return -(free >= 0 ? free : slot) - 1;
      if (at === DELETED) {
        if (free < 0) free = slot;
        continue;
      }
      if (this.hashes[slot] !== hash) continue;
      const offset = (at - 1) * RECORD_ALIGN;
      if (this.keyLength(offset) !== length) continue;
      const start = offset + HEADER_BYTES;
      let same = true;
      for (let i = 0; i < length; i++) {
        if (this.bytes[start + i] !== key[i]) {
          same = false;
          break;
        }
      }
      if (same) return slot;
    }
  }

  /**
   * Whether one more key needs a larger index: it stays at most 3/4 full, deleted slots
   * included.
   */
  fullForOneMore(): boolean {
    return (this.live + this.deleted + 1) * 4 > this.slots.length * 3;
  }

  /** Makes room for one more key. */
  reserveSlot(): void {
    if (this.fullForOneMore()) this.resizeIndex(this.live + 1);
  }

  /**
   * Rebuilds the index for `keys` keys, dropping deleted slots. With `moves` (as long as the
   * index was), sets moves[old slot] to the new slot of each key.
   */
  resizeIndex(keys: number, moves?: Int32Array): void {
    const size = slotsFor(keys);
    const slots = this.slots;
    const hashes = this.hashes;
    const leafIds = this.leafIds;
    this.slots = new Int32Array(size);
    this.hashes = new Uint32Array(size);
    this.leafIds = new Int32Array(size);
    this.deleted = 0;
    const mask = size - 1;
    for (let from = 0; from < slots.length; from++) {
      const at = slots[from]!;
      if (at <= 0) continue;
      let slot = hashes[from]! & mask;
      while (this.slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.slots[slot] = at;
      this.hashes[slot] = hashes[from]!;
      this.leafIds[slot] = leafIds[from]!;
      if (moves !== undefined) moves[from] = slot;
    }
  }

  /** Copies every live record into a new arena with room for `extra` more bytes. */
  rebuild(extra: number): void {
    const live = this.used - this.dead;
    const capacity = Math.max(
      MIN_ARENA_BYTES,
      alignRecord(Math.ceil((live + extra) * ARENA_SLACK)),
    );
    const old = this.words;
    const next = new Uint32Array(capacity / UINT32_BYTES);
    let to = 0;
    for (let slot = 0; slot < this.slots.length; slot++) {
      const at = this.slots[slot]!;
      if (at <= 0) continue;
      const from = (at - 1) * RECORD_ALIGN;
      const words = this.recordBytes(from) / UINT32_BYTES;
      const src = from / UINT32_BYTES;
      const dst = to / UINT32_BYTES;
      for (let w = 0; w < words; w++) next[dst + w] = old[src + w]!;
      this.slots[slot] = to / RECORD_ALIGN + 1;
      to += words * UINT32_BYTES;
    }
    this.adoptArena(next.buffer);
    this.used = to;
    this.dead = 0;
  }
}

/**
 * The keys of an {@link EntryTable} as an {@link OrderedIndex} reads them: a locator is a shard
 * number in its top bits and a slot of that shard's index in the rest (as many as a hash
 * leaves the slot after picking the shard).
 */
class ShardKeys implements KeySource {
  keyBytes: Uint8Array = new Uint8Array(0);
  keyStart = 0;
  keyLength = 0;
  /** 2 ** slotBits: a shard number times this is the top of its locators. */
  private readonly shardScale: number;

  /**
   * @param slotBits bits of a locator that hold the slot: from 12 ({@link HASH_BITS} less
   *   {@link MAX_SHARD_BITS}) to 32 (one shard)
   */
  constructor(
    private readonly shards: Shard[],
    private readonly slotBits: number,
  ) {
    this.shardScale = 2 ** slotBits;
  }

  /** The locator of `slot` in shard `shard`. */
  locator(shard: number, slot: number): number {
    return shard * this.shardScale + slot;
  }

  read(locator: number): void {
    const shard = this.shardOf(locator);
    const offset = (shard.slots[this.slotOf(locator)]! - 1) * RECORD_ALIGN;
    this.keyBytes = shard.bytes;
    this.keyStart = offset + HEADER_BYTES;
    this.keyLength = shard.words[offset / UINT32_BYTES + KEY_LENGTH_UINT32]!;
  }

  placed(locator: number, leaf: number): void {
    this.shardOf(locator).leafIds[this.slotOf(locator)] = leaf;
  }

  private shardOf(locator: number): Shard {
    return this.shards[
      this.slotBits === HASH_BITS ? 0 : locator >>> this.slotBits
    ]!;
  }

  private slotOf(locator: number): number {
    return this.slotBits === HASH_BITS
      ? locator
      : locator & ((1 << this.slotBits) - 1);
  }
}

/**
 * The entries of a key-value table: keys spread over many shards by a hash of their UTF-8
 * bytes; each shard an open-addressing index into an arena (one `ArrayBuffer`) of records that
 * hold the key, the value, the revision and the deadline.
 *
 * Why no `Map` and no string per key: a V8 `Map` holds at most 2^24 entries and rehashes them
 * all at once, and every string or object kept per key is one more thing for the garbage
 * collector to copy and trace, so collections take longer the more keys there are (see
 * docs/performance.md). Here an entry costs the JS heap nothing: a shard is a few typed arrays whatever it holds, and
 * growing one touches one small shard.
 *
 * Keys are stored as UTF-8, so a key must be well-formed Unicode (as an HTTP path decodes to):
 * a lone surrogate would come back as U+FFFD.
 *
 * Records are append-only: a write appends a new record and leaves the old one dead; a shard's
 * arena is rebuilt (live records copied into a new one, {@link ARENA_SLACK} times their size)
 * when it fills up or when more than half of the bytes of its records are dead. So an
 * {@link Entry} read earlier keeps its bytes.
 *
 * Beside the shards, an {@link OrderedIndex} keeps every key in ascending UTF-8 byte order for
 * {@link list}, as locators (shard and slot) rather than keys: a write that adds or removes a
 * key updates it, a slot that moves in a resize moves its locator, and an overwrite or an arena
 * rebuild (records move, slots stay) leaves it alone. Loading many keys at once
 * ({@link importShard} into a mostly empty table, or after {@link deferOrdering}) drops it, and
 * it is rebuilt in one pass when next needed ({@link ensureOrdered}).
 */
export class EntryTable {
  private readonly shards: Shard[];
  private readonly shift: number;
  private count = 0;
  private readonly keys: ShardKeys;
  private readonly order: OrderedIndex;
  /** Whether {@link order} holds every key; when false it is empty until rebuilt. */
  private orderCurrent = true;

  /**
   * @param shardBits log2 of the number of shards, from 0 (one shard) to {@link MAX_SHARD_BITS}
   *   (20).
   * @param orderOptions node sizes of the ordered index (small ones make deep trees in tests)
   */
  constructor(
    shardBits: number = DEFAULT_SHARD_BITS,
    orderOptions?: OrderedIndexOptions,
  ) {
    if (
      !Number.isInteger(shardBits) ||
      shardBits < 0 ||
      shardBits > MAX_SHARD_BITS
    ) {
      throw new RangeError(
        `shardBits must be an integer from 0 to ${MAX_SHARD_BITS}, got ${shardBits}`,
      );
    }
    this.shards = Array.from(
      { length: 1 << shardBits },
      () => new Shard(MIN_ARENA_BYTES),
    );
    // The top bits of a hash pick the shard, the low bits the slot within it.
    this.shift = HASH_BITS - shardBits;
    this.keys = new ShardKeys(this.shards, this.shift);
    this.order = new OrderedIndex(this.keys, orderOptions);
  }

  /**
   * Number of keys held, across all shards: every key set and not deleted since, whatever its
   * deadline (the table never reads a clock, so an expired key counts until it is deleted).
   */
  get size(): number {
    return this.count;
  }

  /** Number of shards. */
  get shardCount(): number {
    return this.shards.length;
  }

  /** Bytes of every arena, live records, dead records and free space. */
  get arenaBytes(): number {
    let bytes = 0;
    for (const shard of this.shards) bytes += shard.capacity;
    return bytes;
  }

  /**
   * Whether the ordered index holds every key now: false from {@link deferOrdering} (or an
   * {@link importShard} that defers it) until {@link ensureOrdered} or {@link list}.
   */
  get ordered(): boolean {
    return this.orderCurrent;
  }

  /**
   * Bytes the ordered index takes (see {@link OrderedIndex.bytes}), with the leaf id each
   * shard keeps per slot for it.
   */
  get orderedIndexBytes(): number {
    let bytes = this.order.bytes;
    for (const shard of this.shards) bytes += shard.leafIds.byteLength;
    return bytes;
  }

  /** The entry of `key`, or undefined when there is none. */
  get(key: string): Entry | undefined {
    const length = encodeKey(key);
    const hash = hashBytes(keyScratch, 0, length);
    const shard = this.shardOf(hash);
    const slot = shard.find(keyScratch, length, hash);
    return slot < 0
      ? undefined
      : shard.entryAt((shard.slots[slot]! - 1) * RECORD_ALIGN);
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
    const keyLength = encodeKey(key);
    const hash = hashBytes(keyScratch, 0, keyLength);
    const index = this.shardIndexOf(hash);
    const shard = this.shards[index]!;
    if (shard.fullForOneMore()) this.resizeShard(index, shard, shard.live + 1);
    let slot = shard.find(keyScratch, keyLength, hash);
    // A string takes at most 3 UTF-8 bytes per UTF-16 unit. Short ones are encoded straight
    // into that much room; long ones first, so a rebuild does not size an arena for 3 times
    // a large value.
    const value =
      typeof json === 'string' && json.length > ENCODE_IN_PLACE_CHARS
        ? encodeUtf8(json)
        : json;
    const most =
      HEADER_BYTES +
      keyLength +
      (typeof value === 'string' ? value.length * 3 : value.length);
    // A rebuild moves records but leaves every slot where it is.
    if (shard.used + most > shard.capacity) shard.rebuild(most);
    const offset = shard.used;
    const keyStart = offset + HEADER_BYTES;
    shard.bytes.set(keyScratch.subarray(0, keyLength), keyStart);
    const valueStart = keyStart + keyLength;
    let length: number;
    if (typeof value === 'string') {
      length = writeUtf8(value, shard.bytes, valueStart);
    } else {
      shard.bytes.set(value, valueStart);
      length = value.length;
    }
    shard.numbers[offset / FLOAT64_BYTES + REVISION_FLOAT64] = revision;
    shard.numbers[offset / FLOAT64_BYTES + DEADLINE_FLOAT64] = deadline;
    shard.words[offset / UINT32_BYTES + VALUE_LENGTH_UINT32] = length;
    shard.words[offset / UINT32_BYTES + KEY_LENGTH_UINT32] = keyLength;
    shard.used = offset + alignRecord(HEADER_BYTES + keyLength + length);
    if (slot < 0) {
      slot = -slot - 1;
      if (shard.slots[slot] === DELETED) shard.deleted--;
      shard.slots[slot] = offset / RECORD_ALIGN + 1;
      shard.hashes[slot] = hash;
      shard.live++;
      this.count++;
      if (this.orderCurrent) this.order.insert(this.keys.locator(index, slot));
      return true;
    }
    const previous = (shard.slots[slot]! - 1) * RECORD_ALIGN;
    shard.slots[slot] = offset / RECORD_ALIGN + 1;
    this.retire(shard, previous);
    return false;
  }

  /** Removes `key`. Returns false when it was absent. */
  delete(key: string): boolean {
    const length = encodeKey(key);
    const hash = hashBytes(keyScratch, 0, length);
    const index = this.shardIndexOf(hash);
    const shard = this.shards[index]!;
    const slot = shard.find(keyScratch, length, hash);
    if (slot < 0) return false;
    // While the slot still leads to the key: the index may have to read it.
    if (this.orderCurrent)
      this.order.remove(this.keys.locator(index, slot), shard.leafIds[slot]!);
    const offset = (shard.slots[slot]! - 1) * RECORD_ALIGN;
    shard.slots[slot] = DELETED;
    shard.deleted++;
    shard.live--;
    this.count--;
    this.retire(shard, offset);
    if (shard.live * 8 < shard.slots.length && shard.slots.length > MIN_SLOTS)
      this.resizeShard(index, shard, shard.live);
    return true;
  }

  /** Removes every key and gives back every arena and the ordered index's memory. */
  clear(): void {
    for (let i = 0; i < this.shards.length; i++)
      this.shards[i] = new Shard(MIN_ARENA_BYTES);
    this.count = 0;
    this.order.clear();
    this.orderCurrent = true;
  }

  /**
   * Stops keeping the ordered index up to date and gives back its memory, until
   * {@link ensureOrdered} (or {@link list}) rebuilds it in one pass: for loading many keys,
   * where one sort costs far less than an insert per key.
   */
  deferOrdering(): void {
    if (!this.orderCurrent) return;
    this.orderCurrent = false;
    this.order.clear();
  }

  /**
   * Rebuilds the ordered index if {@link deferOrdering} or {@link importShard} dropped it:
   * O(n) reads of keys and a radix sort, in one synchronous call that takes a while for
   * millions of keys, with transient arrays of up to 32 bytes a key. Call it when a load ends,
   * so that no later read pays for it.
   */
  ensureOrdered(): void {
    if (this.orderCurrent) return;
    const locators = new Uint32Array(this.count);
    let at = 0;
    for (let index = 0; index < this.shards.length; index++) {
      const slots = this.shards[index]!.slots;
      for (let slot = 0; slot < slots.length; slot++)
        if (slots[slot]! > 0) locators[at++] = this.keys.locator(index, slot);
    }
    this.order.load(locators);
    this.orderCurrent = true;
  }

  /**
   * Up to `limit` keys live at `now` that start with `prefix` and sort strictly after `after`
   * (any string, held or not; undefined: from the first key with the prefix), in ascending
   * order of their UTF-8 bytes (not of their UTF-16 units: U+E000 to U+FFFF sort before the
   * characters beyond U+FFFF here). An empty prefix matches every key.
   *
   * Costs O(log n + limit) key comparisons, plus one step for each expired entry it passes
   * over; never a scan of the table. Rebuilds the ordered index first if it was dropped.
   *
   * @param limit an integer, 0 or more
   * @throws RangeError for a negative or fractional limit
   */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
    now: Milliseconds,
  ): ListPage {
    if (!Number.isInteger(limit) || limit < 0)
      throw new RangeError(`limit must be an integer, 0 or more, got ${limit}`);
    this.ensureOrdered();
    const prefixBytes = keyScratch.slice(0, encodeKey(prefix));
    let cursor;
    if (after !== undefined) {
      const afterLength = encodeKey(after);
      if (
        compareUtf8(
          keyScratch,
          0,
          afterLength,
          prefixBytes,
          0,
          prefixBytes.length,
        ) >= 0
      )
        cursor = this.order.seek(keyScratch, 0, afterLength, true);
    }
    cursor ??= this.order.seek(prefixBytes, 0, prefixBytes.length, false);
    const entries: ListedEntry[] = [];
    const keys = this.keys;
    for (let locator = cursor.next(); locator >= 0; locator = cursor.next()) {
      keys.read(locator);
      const bytes = keys.keyBytes;
      const start = keys.keyStart;
      if (
        keys.keyLength < prefixBytes.length ||
        compareUtf8(
          bytes,
          start,
          prefixBytes.length,
          prefixBytes,
          0,
          prefixBytes.length,
        ) !== 0
      )
        break;
      // A locator splits into shard and slot as a hash does.
      const shard = this.shards[this.shardIndexOf(locator)]!;
      const entry = shard.entryAt(start - HEADER_BYTES);
      if (!isLive(entry, now)) continue;
      if (entries.length === limit) return { entries, more: true };
      entries.push({ key: shard.keyAt(start - HEADER_BYTES), entry });
    }
    return { entries, more: false };
  }

  /**
   * The entries of shard `index` (0 to {@link shardCount} - 1), in index order. Must be
   * consumed before the table is written to.
   */
  *shardEntries(index: number): Generator<[string, Entry]> {
    const shard = this.shards[index];
    if (shard === undefined) throw new RangeError(`no shard ${index}`);
    for (let slot = 0; slot < shard.slots.length; slot++) {
      const at = shard.slots[slot]!;
      if (at <= 0) continue;
      const offset = (at - 1) * RECORD_ALIGN;
      yield [shard.keyAt(offset), shard.entryAt(offset)];
    }
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
    const records = new Uint32Array((shard.used - shard.dead) / UINT32_BYTES);
    const from32 = shard.words;
    let recordWords = 0;
    let count = 0;
    for (let slot = 0; slot < shard.slots.length; slot++) {
      const at = shard.slots[slot]!;
      if (at <= 0) continue;
      const from = (at - 1) * RECORD_ALIGN;
      const deadline = shard.numbers[from / FLOAT64_BYTES + DEADLINE_FLOAT64]!;
      if (deadline !== NO_DEADLINE && deadline <= now) continue;
      const words = shard.recordBytes(from) / UINT32_BYTES;
      const src = from / UINT32_BYTES;
      for (let w = 0; w < words; w++)
        records[recordWords + w] = from32[src + w]!;
      recordWords += words;
      count++;
    }
    if (count === 0) return undefined;
    return {
      shard: index,
      count,
      records: new Uint8Array(records.buffer, 0, recordWords * UINT32_BYTES),
    };
  }

  /**
   * Loads `image` into its shard, which must be empty (a replica loads a snapshot into a fresh
   * table). Throws a RangeError, leaving the table as it was, for an image that does not fit
   * this table or is malformed.
   */
  importShard(image: ShardImage): void {
    const shard = this.shards[image.shard];
    if (shard === undefined) throw new RangeError(`no shard ${image.shard}`);
    if (shard.live > 0)
      throw new RangeError(`shard ${image.shard} is not empty`);
    const size = image.records.length;
    if (size % RECORD_ALIGN !== 0)
      throw new RangeError(`shard ${image.shard}: image cut short`);
    const next = new Shard(
      Math.max(MIN_ARENA_BYTES, alignRecord(Math.ceil(size * ARENA_SLACK))),
    );
    next.bytes.set(image.records);
    // Every record takes at least a header, which bounds what a bad count can make us allocate.
    next.resizeIndex(Math.min(image.count, size / HEADER_BYTES));
    let offset = 0;
    while (offset < size) {
      if (offset + HEADER_BYTES > size)
        throw new RangeError(`shard ${image.shard}: image cut short`);
      const keyLength = next.keyLength(offset);
      const end = offset + next.recordBytes(offset);
      if (end > size)
        throw new RangeError(`shard ${image.shard}: image cut short`);
      const hash = hashBytes(next.bytes, offset + HEADER_BYTES, keyLength);
      if (this.shardOf(hash) !== shard)
        throw new RangeError(`shard ${image.shard}: key out of place`);
      next.reserveSlot();
      const slot = next.find(
        next.bytes.subarray(offset + HEADER_BYTES),
        keyLength,
        hash,
      );
      if (slot >= 0)
        throw new RangeError(`shard ${image.shard}: a key appears twice`);
      next.slots[-slot - 1] = offset / RECORD_ALIGN + 1;
      next.hashes[-slot - 1] = hash;
      next.live++;
      offset = end;
    }
    if (next.live !== image.count)
      throw new RangeError(`shard ${image.shard}: image does not add up`);
    next.used = size;
    this.shards[image.shard] = next;
    this.count += next.live;
    if (!this.orderCurrent) return;
    if (next.live > (this.count - next.live) * IMPORT_ONE_BY_ONE) {
      this.deferOrdering();
      return;
    }
    for (let slot = 0; slot < next.slots.length; slot++)
      if (next.slots[slot]! > 0)
        this.order.insert(this.keys.locator(image.shard, slot));
  }

  /**
   * Resizes the index of shard `index` for `keys` keys, moving the locators of the keys whose
   * slots move.
   */
  private resizeShard(index: number, shard: Shard, keys: number): void {
    if (slotsFor(keys) > 2 ** this.shift)
      throw new RangeError(`shard ${index} cannot hold ${keys} keys`);
    if (!this.orderCurrent || shard.live === 0) {
      shard.resizeIndex(keys);
      return;
    }
    // Where each key will go, then where each that moves sits in its leaf, then the moves: a
    // key's new locator can be another's old one, so no leaf is written before all are found.
    const old = shard.slots;
    const oldLeafIds = shard.leafIds;
    const moves = new Int32Array(old.length);
    shard.resizeIndex(keys, moves);
    const positions = new Int32Array(old.length);
    for (let slot = 0; slot < old.length; slot++) {
      if (old[slot]! > 0 && moves[slot] !== slot)
        positions[slot] = this.order.positionOf(
          oldLeafIds[slot]!,
          this.keys.locator(index, slot),
        );
    }
    for (let slot = 0; slot < old.length; slot++) {
      if (old[slot]! <= 0) continue;
      const to = moves[slot]!;
      if (to === slot) continue;
      this.order.relocate(
        shard.leafIds[to]!,
        positions[slot]!,
        this.keys.locator(index, to),
      );
    }
  }

  private retire(shard: Shard, offset: number): void {
    shard.dead += shard.recordBytes(offset);
    // Rebuild once more than half of the bytes written are dead: a rebuild copies fewer bytes
    // than were freed since the last one, so its cost per write stays constant on average.
    if (shard.dead * 2 > shard.used && shard.capacity > MIN_ARENA_BYTES)
      shard.rebuild(0);
  }

  private shardOf(hash: number): Shard {
    // The shift keeps the index inside the array, so the lookup cannot miss.
    return this.shards[this.shardIndexOf(hash)]!;
  }

  private shardIndexOf(hash: number): number {
    return this.shift === HASH_BITS ? 0 : hash >>> this.shift;
  }
}
