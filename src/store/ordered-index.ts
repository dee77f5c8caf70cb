import { compareUtf8 } from './utf8';

/**
 * Where an {@link OrderedIndex} reads the bytes of a key, given the locator it holds for it.
 * The index keeps no key of its own: only 32-bit locators, which mean something to the source
 * alone (in an {@link EntryTable}, a shard and a slot).
 */
export interface KeySource {
  /** After {@link read}: the array that holds the key's UTF-8 bytes. */
  keyBytes: Uint8Array;
  /** After {@link read}: where the key's bytes begin in {@link keyBytes}. */
  keyStart: number;
  /** After {@link read}: how many bytes the key has. */
  keyLength: number;
  /**
   * Points {@link keyBytes}, {@link keyStart} and {@link keyLength} at the key of `locator`.
   * Fields rather than a returned object, so a comparison allocates nothing.
   */
  read(locator: number): void;
  /**
   * Told whenever the key of `locator` lands in leaf `leaf` (an id from 0 up): the source keeps
   * it and hands it back to {@link OrderedIndex.remove} and {@link OrderedIndex.positionOf},
   * which then find the key without a search.
   */
  placed(locator: number, leaf: number): void;
}

/** Node sizes of an {@link OrderedIndex}. */
export interface OrderedIndexOptions {
  /** Most keys a leaf holds, at least 4; default {@link DEFAULT_LEAF_CAPACITY}. */
  readonly leafCapacity?: number;
  /** Most children a branch holds, at least 4; default {@link DEFAULT_BRANCH_CAPACITY}. */
  readonly branchCapacity?: number;
}

/** Default most keys a leaf holds. */
const DEFAULT_LEAF_CAPACITY = 128;
/** Default most children a branch holds. */
const DEFAULT_BRANCH_CAPACITY = 64;
/** Leaves (and their cells) are allocated this many at a time, in one typed array. */
const LEAVES_PER_CHUNK = 64;
/** Rough bytes of a small JS object with a few fields, for {@link OrderedIndex.bytes}. */
const OBJECT_BYTES = 64;
/** Most bytes turned into a string by one call of `String.fromCharCode`. */
const TEXT_CHUNK = 4096;
/** Keys read to guess the prefix that all keys of a bulk load share. */
const SAMPLE = 256;
/** Ranges shorter than this are sorted by comparison rather than by radix. */
const RADIX_MIN = 64;
/**
 * A split raises a leaf's prefix only by this many bytes or more: its hints (4 bytes) still
 * tell most keys apart when it lags by less, and each raise reads every key of the leaf.
 */
const PREFIX_RAISE = 2;
/** Bulk loading fills nodes to this fraction, leaving room for inserts before splits. */
const LOAD_FILL = 7 / 8;

/**
 * A leaf: `count` locators in ascending key order, each with a hint (see {@link hintAt}), in
 * `cells` from `base`: locators at base..base+stride, hints at base+stride..base+2*stride.
 * Leaves are linked in key order.
 */
class Leaf {
  count = 0;
  /**
   * Every key of the leaf, padded with zero bytes past its end, has the same first `prefix`
   * bytes: these, one char per byte. Hints are the 4 bytes that follow them. Kept so that a
   * key is checked against the prefix without reading a key of the leaf.
   */
  prefixText = '';
  /** `prefixText.length`, in a field of its own. */
  prefix = 0;
  next: Leaf | null = null;
  prev: Leaf | null = null;

  constructor(
    readonly id: number,
    readonly cells: Uint32Array,
    readonly base: number,
  ) {}
}

/**
 * A branch: `children` in key order, and `separators[i]` between children i and i + 1 (every
 * key of child i is below it, every key of child i + 1 at or above it): key bytes as a string of
 * one char per byte, cheap to hold and to compare. Like a leaf, it keeps what all separators
 * begin with and a 4-byte head of each after that, so that a search reads few separators.
 * {@link refresh} after changing `separators`.
 */
class Branch {
  /** What every separator begins with, one char per byte. */
  prefixText = '';
  /** Per separator: its 4 bytes after {@link prefixText}, zero past its end, big-endian. */
  heads = new Uint32Array(0);

  constructor(
    public children: Node[],
    public separators: string[],
  ) {
    this.refresh();
  }

  /** Recomputes {@link prefixText} and {@link heads} from `separators`. */
  refresh(): void {
    const separators = this.separators;
    const n = separators.length;
    if (n === 0) {
      this.prefixText = '';
      return;
    }
    const first = separators[0]!;
    const common = sharedLength(first, separators[n - 1]!);
    this.prefixText = first.slice(0, common);
    if (this.heads.length < n) this.heads = new Uint32Array(n * 2);
    for (let i = 0; i < n; i++) this.heads[i] = headOf(separators[i]!, common);
  }
}

/** How many first chars `a` and `b` (one char per byte) have in common. */
function sharedLength(a: string, b: string): number {
  const most = Math.min(a.length, b.length);
  let common = 0;
  while (common < most && a.charCodeAt(common) === b.charCodeAt(common))
    common++;
  return common;
}

/** The 4 chars of `text` (one per byte) from `at`, zero past its end, big-endian. */
function headOf(text: string, at: number): number {
  let head = 0;
  for (let i = at; i < at + 4; i++)
    head = head * 256 + (i < text.length ? text.charCodeAt(i) : 0);
  return head;
}

type Node = Leaf | Branch;

/**
 * The 4 bytes of a key from `at` on, zero past its end, as a big-endian unsigned integer: two
 * keys whose hints differ are ordered as their hints are (a key that ends is below one that
 * goes on), so most comparisons in a leaf read no key.
 */
function hintAt(
  bytes: Uint8Array,
  start: number,
  length: number,
  at: number,
): number {
  if (at + 4 <= length) {
    const from = start + at;
    return (
      ((bytes[from]! << 24) |
        (bytes[from + 1]! << 16) |
        (bytes[from + 2]! << 8) |
        bytes[from + 3]!) >>>
      0
    );
  }
  let hint = 0;
  for (let i = at; i < at + 4; i++)
    hint = hint * 256 + (i < length ? bytes[start + i]! : 0);
  return hint;
}

/** Byte order of a key and a separator (one char per byte). */
function compareToSeparator(
  bytes: Uint8Array,
  start: number,
  length: number,
  separator: string,
): number {
  const common = length < separator.length ? length : separator.length;
  for (let i = 0; i < common; i++) {
    const d = bytes[start + i]! - separator.charCodeAt(i);
    if (d !== 0) return d;
  }
  return length - separator.length;
}

/**
 * How many first bytes two keys share once padded with zero bytes past their ends, counting
 * no further than `limit`.
 */
function paddedCommon(
  a: Uint8Array,
  aStart: number,
  aLength: number,
  b: Uint8Array,
  bStart: number,
  bLength: number,
  limit: number,
): number {
  for (let i = 0; i < limit; i++) {
    const x = i < aLength ? a[aStart + i]! : 0;
    const y = i < bLength ? b[bStart + i]! : 0;
    if (x !== y) return i;
  }
  return limit;
}

/**
 * `bytes[start..end)` as a string of one char per byte: made in one call, as a concatenation
 * per byte would leave a rope, slower to read.
 */
function textOf(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= TEXT_CHUNK)
    return String.fromCharCode.apply(
      null,
      bytes.subarray(start, end) as unknown as number[],
    );
  // Long keys in pieces, as a call takes a bounded number of arguments; join makes it flat.
  const pieces: string[] = [];
  for (let at = start; at < end; at += TEXT_CHUNK)
    pieces.push(textOf(bytes, at, Math.min(end, at + TEXT_CHUNK)));
  return pieces.join('');
}

/** The first `count` bytes of a key padded with zero bytes past its end, one char per byte. */
function paddedText(
  bytes: Uint8Array,
  start: number,
  length: number,
  count: number,
): string {
  if (count <= length) return textOf(bytes, start, start + count);
  const padded = new Uint8Array(count);
  padded.set(bytes.subarray(start, start + length));
  return textOf(padded, 0, count);
}

/** How many first bytes a key, zero-padded, shares with `text` (one char per byte). */
function sharedWithText(
  bytes: Uint8Array,
  start: number,
  length: number,
  text: string,
): number {
  for (let i = 0; i < text.length; i++) {
    if ((i < length ? bytes[start + i]! : 0) !== text.charCodeAt(i)) return i;
  }
  return text.length;
}

/**
 * Which child of `branch` a key belongs in: how many separators are at or below it. Its heads
 * settle most comparisons; a separator is read only when its head ties with the key's.
 */
function childFor(
  branch: Branch,
  bytes: Uint8Array,
  start: number,
  length: number,
): number {
  const separators = branch.separators;
  const text = branch.prefixText;
  const prefix = text.length;
  for (let i = 0; i < prefix; i++) {
    const d = (i < length ? bytes[start + i]! : 0) - text.charCodeAt(i);
    // Below (or above) what every separator begins with: below (or above) them all.
    if (d < 0) return 0;
    if (d > 0) return separators.length;
  }
  const head = hintAt(bytes, start, length, prefix);
  const heads = branch.heads;
  let low = 0;
  let high = separators.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const other = heads[mid]!;
    const atOrAbove =
      other !== head
        ? head > other
        : compareToSeparator(bytes, start, length, separators[mid]!) >= 0;
    if (atOrAbove) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** A position in the index, moving forward in key order. */
export class OrderedCursor {
  /** @internal made by {@link OrderedIndex.seek} */
  constructor(
    private leaf: Leaf | null,
    private position: number,
  ) {}

  /**
   * The locator of the next key in ascending order, or -1 past the last. Valid only while the
   * index is not written to.
   */
  next(): number {
    let leaf = this.leaf;
    while (leaf !== null && this.position >= leaf.count) {
      leaf = leaf.next;
      this.leaf = leaf;
      this.position = 0;
    }
    if (leaf === null) return -1;
    return leaf.cells[leaf.base + this.position++]!;
  }
}

/**
 * An ordered index of keys by ascending byte order (for UTF-8 keys, code point order): a
 * B+tree whose leaves hold 32-bit locators, never keys, and read a key's bytes from a
 * {@link KeySource} when they must compare it. Each locator carries a 4-byte hint of its key
 * (the bytes after the leaf's common prefix), which settles most comparisons inside a leaf
 * without reading the key. Branches hold short separators (the fewest bytes that tell two
 * leaves apart) as strings, with 4-byte heads that settle most comparisons the same way.
 *
 * Memory: per key, 8 bytes of cells in leaves filled from a quarter to full (to 7/8 by
 * {@link load}); a leaf's object and prefix, and the branches, are shared by a leaf's keys. No
 * heap object per key: leaves are slices of typed arrays shared by 64 leaves.
 *
 * Lookups cost O(log n) comparisons, of which O(log n) read a key at most. Inserts and removes
 * may move up to a leaf of locators, and tell the source where each moved one went.
 *
 * Keys must be distinct; the index trusts its caller on that.
 */
export class OrderedIndex {
  private readonly leafCapacity: number;
  private readonly branchCapacity: number;
  /** Cells per leaf for each of locators and hints (one spare for an insert before a split). */
  private readonly stride: number;
  private readonly leafMinimum: number;
  private readonly branchMinimum: number;
  private chunks: Uint32Array[] = [];
  private leaves: (Leaf | undefined)[] = [];
  private freeLeaves: number[] = [];
  private root: Node;
  /** Levels of branches above the leaves. */
  private height = 0;
  private count = 0;
  /** The branches and child indexes of the last descent that recorded its path. */
  private readonly pathNodes: Branch[] = [];
  private readonly pathIndexes: number[] = [];
  /**
   * The separators around the leaf that the last recording descent reached: each of its keys
   * is at or above the low one and below the high one; null past the first or last leaf.
   */
  private fenceLow: string | null = null;
  private fenceHigh: string | null = null;

  constructor(
    private readonly source: KeySource,
    options: OrderedIndexOptions = {},
  ) {
    this.leafCapacity = options.leafCapacity ?? DEFAULT_LEAF_CAPACITY;
    this.branchCapacity = options.branchCapacity ?? DEFAULT_BRANCH_CAPACITY;
    for (const [name, value] of [
      ['leafCapacity', this.leafCapacity],
      ['branchCapacity', this.branchCapacity],
    ] as const) {
      if (!Number.isInteger(value) || value < 4 || value > 65536)
        throw new RangeError(
          `${name} must be an integer from 4 to 65536, got ${value}`,
        );
    }
    this.stride = this.leafCapacity + 1;
    this.leafMinimum = this.leafCapacity >> 2;
    this.branchMinimum = Math.max(2, this.branchCapacity >> 2);
    this.root = this.newLeaf();
  }

  /** Number of keys held. */
  get size(): number {
    return this.count;
  }

  /**
   * Bytes the index holds: its typed arrays exactly, plus an estimate of its objects (leaves
   * and their prefixes, branches and their arrays, separators). The source's record of leaf
   * ids is not included.
   */
  get bytes(): number {
    let bytes = 0;
    for (const leaf of this.leaves)
      bytes += OBJECT_BYTES + 8 + (leaf === undefined ? 0 : leaf.prefix);
    for (const chunk of this.chunks) bytes += chunk.byteLength + OBJECT_BYTES;
    const branches: Branch[] = this.root instanceof Branch ? [this.root] : [];
    while (branches.length > 0) {
      const branch = branches.pop()!;
      bytes +=
        4 * OBJECT_BYTES +
        8 * this.branchCapacity * 2 +
        branch.heads.byteLength +
        branch.prefixText.length;
      for (const separator of branch.separators)
        bytes += OBJECT_BYTES / 4 + separator.length;
      for (const child of branch.children)
        if (child instanceof Branch) branches.push(child);
    }
    return bytes;
  }

  /** Removes every key and gives back the memory of every leaf. */
  clear(): void {
    this.chunks = [];
    this.leaves = [];
    this.freeLeaves = [];
    this.height = 0;
    this.count = 0;
    this.root = this.newLeaf();
  }

  /**
   * Adds `locator`, whose key the source must already read, and which must not be held yet.
   */
  insert(locator: number): void {
    const source = this.source;
    source.read(locator);
    const bytes = source.keyBytes;
    const start = source.keyStart;
    const length = source.keyLength;
    const leaf = this.descend(bytes, start, length, true);
    const cells = leaf.cells;
    const base = leaf.base;
    if (leaf.count === 0) {
      this.setPrefix(leaf, paddedText(bytes, start, length, length));
    } else {
      const common = sharedWithText(bytes, start, length, leaf.prefixText);
      if (common < leaf.prefix)
        this.setPrefix(leaf, leaf.prefixText.slice(0, common));
    }
    const position = this.positionIn(leaf, bytes, start, length, false, true);
    const end = base + leaf.count;
    const hints = base + this.stride;
    cells.copyWithin(base + position + 1, base + position, end);
    cells.copyWithin(
      hints + position + 1,
      hints + position,
      hints + leaf.count,
    );
    cells[base + position] = locator;
    cells[hints + position] = hintAt(bytes, start, length, leaf.prefix);
    leaf.count++;
    this.count++;
    source.placed(locator, leaf.id);
    if (leaf.count > this.leafCapacity) this.splitLeaf(leaf, position);
  }

  /**
   * Removes `locator`, held in leaf `leaf` (as last told to {@link KeySource.placed}). Its key
   * must still read as it was inserted. Throws when the leaf does not hold it.
   */
  remove(locator: number, leaf: number): void {
    const node = this.leafAt(leaf);
    const position = this.positionOf(leaf, locator);
    if (this.height > 0 && node.count - 1 < this.leafMinimum) {
      // The leaf will need a neighbour: find the path to it by its key, while it still reads.
      const source = this.source;
      source.read(locator);
      if (
        this.descend(
          source.keyBytes,
          source.keyStart,
          source.keyLength,
          true,
        ) !== node
      )
        throw new Error(
          `ordered index: locator ${locator} is not where its key leads`,
        );
    }
    const cells = node.cells;
    const base = node.base;
    const hints = base + this.stride;
    cells.copyWithin(base + position, base + position + 1, base + node.count);
    cells.copyWithin(
      hints + position,
      hints + position + 1,
      hints + node.count,
    );
    node.count--;
    this.count--;
    if (this.height > 0 && node.count < this.leafMinimum) this.rebalanceLeaf();
  }

  /**
   * Where `locator` sits in leaf `leaf`, for {@link relocate}. Throws when it is not there.
   */
  positionOf(leaf: number, locator: number): number {
    const node = this.leafAt(leaf);
    const at = node.cells.indexOf(locator, node.base);
    if (at < 0 || at >= node.base + node.count)
      throw new Error(
        `ordered index: leaf ${leaf} does not hold locator ${locator}`,
      );
    return at - node.base;
  }

  /**
   * Replaces the locator at `position` of leaf `leaf` with `locator`, for a key that stays the
   * same but is found elsewhere now. Positions hold until the next insert or remove, so a
   * caller that moves many keys at once takes every position first and then relocates them.
   */
  relocate(leaf: number, position: number, locator: number): void {
    const node = this.leafAt(leaf);
    node.cells[node.base + position] = locator;
  }

  /**
   * A cursor at the first key at or after (`strict`: strictly after) the `length` bytes of
   * `bytes` from `start`.
   */
  seek(
    bytes: Uint8Array,
    start: number,
    length: number,
    strict: boolean,
  ): OrderedCursor {
    const leaf = this.descend(bytes, start, length, false);
    return new OrderedCursor(
      leaf,
      this.positionIn(leaf, bytes, start, length, strict, false),
    );
  }

  /**
   * Replaces the whole content with `locators` (in any order, all distinct keys), built
   * bottom-up: about n log n cheap steps (a radix sort on 8 bytes of each key), and nodes filled
   * to 7/8. Sorting `locators` in place.
   */
  load(locators: Uint32Array): void {
    this.clear();
    const n = locators.length;
    if (n === 0) return;
    const hi = new Uint32Array(n);
    const lo = new Uint32Array(n);
    // What every key begins with, guessed from a sample and checked on every key while its
    // window is read: one pass over the keys instead of two, unless the guess was wrong.
    let offset = this.sampledCommonLength(locators);
    this.source.read(locators[0]!);
    const reference = this.source.keyBytes.slice(
      this.source.keyStart,
      this.source.keyStart + offset,
    );
    let longest = this.fillWindows(locators, hi, lo, 0, n, offset, reference);
    if (longest < 0) {
      offset = this.commonLength(locators, 0, n, 0);
      longest = this.fillWindows(locators, hi, lo, 0, n, offset, null);
    }
    this.sortRange(locators, hi, lo, 0, n, offset, longest);
    this.buildFromSorted(locators, hi, lo, offset);
  }

  /**
   * Checks every invariant of the tree: order, separators, fill, prefixes and hints, links
   * and size. For tests; O(n). Throws an Error naming the first broken one.
   */
  check(): void {
    const source = this.source;
    const keys: { bytes: Uint8Array; locator: number }[] = [];
    const leavesInOrder: Leaf[] = [];
    const walk = (
      node: Node,
      depth: number,
      low: string | null,
      high: string | null,
    ): void => {
      if (node instanceof Leaf) {
        if (depth !== this.height)
          throw new Error('leaves at different depths');
        if (node !== this.root && node.count < this.leafMinimum)
          throw new Error(`leaf ${node.id} underfull: ${node.count}`);
        if (node.count > this.leafCapacity)
          throw new Error(`leaf ${node.id} overfull`);
        if (this.leaves[node.id] !== node)
          throw new Error(`leaf ${node.id} not registered`);
        leavesInOrder.push(node);
        for (let i = 0; i < node.count; i++) {
          const locator = node.cells[node.base + i]!;
          source.read(locator);
          const bytes = source.keyBytes.slice(
            source.keyStart,
            source.keyStart + source.keyLength,
          );
          if (
            node.prefixText.length !== node.prefix ||
            sharedWithText(bytes, 0, bytes.length, node.prefixText) !==
              node.prefix
          )
            throw new Error(`leaf ${node.id}: a key does not share the prefix`);
          if (
            node.cells[node.base + this.stride + i] !==
            hintAt(bytes, 0, bytes.length, node.prefix)
          )
            throw new Error(`leaf ${node.id}: stale hint at ${i}`);
          if (
            low !== null &&
            compareToSeparator(bytes, 0, bytes.length, low) < 0
          )
            throw new Error(`leaf ${node.id}: key below its low separator`);
          if (
            high !== null &&
            compareToSeparator(bytes, 0, bytes.length, high) >= 0
          )
            throw new Error(
              `leaf ${node.id}: key at or above its high separator`,
            );
          keys.push({ bytes, locator });
        }
        return;
      }
      if (node.children.length !== node.separators.length + 1)
        throw new Error('branch children and separators disagree');
      const prefixText = node.prefixText;
      const heads = Array.from(node.heads.subarray(0, node.separators.length));
      node.refresh();
      if (
        prefixText !== node.prefixText ||
        heads.join() !== Array.from(node.heads.subarray(0, heads.length)).join()
      )
        throw new Error('branch prefix or heads stale');
      if (node !== this.root && node.children.length < this.branchMinimum)
        throw new Error('branch underfull');
      if (node === this.root && node.children.length < 2)
        throw new Error('root branch with one child');
      if (node.children.length > this.branchCapacity)
        throw new Error('branch overfull');
      node.children.forEach((child, i) =>
        walk(
          child,
          depth + 1,
          i === 0 ? low : node.separators[i - 1]!,
          i === node.separators.length ? high : node.separators[i]!,
        ),
      );
    };
    walk(this.root, 0, null, null);
    for (let i = 1; i < keys.length; i++) {
      const a = keys[i - 1]!.bytes;
      const b = keys[i]!.bytes;
      if (compareUtf8(a, 0, a.length, b, 0, b.length) >= 0)
        throw new Error(`keys out of order at ${i}`);
    }
    if (keys.length !== this.count)
      throw new Error(`size ${this.count}, found ${keys.length}`);
    let leaf: Leaf | null = leavesInOrder[0] ?? null;
    if (leaf?.prev !== null) throw new Error('first leaf has a previous one');
    for (let i = 0; i < leavesInOrder.length; i++, leaf = leaf.next) {
      if (leaf !== leavesInOrder[i]) throw new Error('leaf links out of order');
      if (leaf.next !== null && leaf.next.prev !== leaf)
        throw new Error('leaf back link broken');
    }
  }

  private newLeaf(): Leaf {
    const id = this.freeLeaves.pop() ?? this.leaves.length;
    const chunkSize = LEAVES_PER_CHUNK * 2 * this.stride;
    const chunkIndex = Math.floor(id / LEAVES_PER_CHUNK);
    let chunk = this.chunks[chunkIndex];
    if (chunk === undefined) {
      chunk = new Uint32Array(chunkSize);
      this.chunks.push(chunk);
    }
    const leaf = new Leaf(id, chunk, (id % LEAVES_PER_CHUNK) * 2 * this.stride);
    this.leaves[id] = leaf;
    return leaf;
  }

  private freeLeaf(leaf: Leaf): void {
    this.leaves[leaf.id] = undefined;
    this.freeLeaves.push(leaf.id);
  }

  private leafAt(id: number): Leaf {
    const leaf = this.leaves[id];
    if (leaf === undefined) throw new Error(`ordered index: no leaf ${id}`);
    return leaf;
  }

  /**
   * The leaf where a key belongs; with `record`, keeps the branches passed and the child taken
   * in each in {@link pathNodes} and {@link pathIndexes}.
   */
  private descend(
    bytes: Uint8Array,
    start: number,
    length: number,
    record: boolean,
  ): Leaf {
    let node = this.root;
    if (record) {
      this.fenceLow = null;
      this.fenceHigh = null;
    }
    for (let level = 0; level < this.height; level++) {
      const branch = node as Branch;
      const separators = branch.separators;
      const low = childFor(branch, bytes, start, length);
      if (record) {
        this.pathNodes[level] = branch;
        this.pathIndexes[level] = low;
        if (low > 0) this.fenceLow = separators[low - 1]!;
        if (low < separators.length) this.fenceHigh = separators[low]!;
      }
      node = branch.children[low]!;
    }
    return node as Leaf;
  }

  /**
   * The first position of `leaf` whose key is at or above (`strict`: above) the given key;
   * `sharesPrefix` when the key is known to share the leaf's prefix.
   */
  private positionIn(
    leaf: Leaf,
    bytes: Uint8Array,
    start: number,
    length: number,
    strict: boolean,
    sharesPrefix: boolean,
  ): number {
    const count = leaf.count;
    if (count === 0) return 0;
    const source = this.source;
    const cells = leaf.cells;
    const base = leaf.base;
    const prefix = leaf.prefix;
    if (prefix > 0 && !sharesPrefix) {
      // Every key of the leaf shares its first bytes: the key sorts before or after them all
      // unless it shares them too.
      const text = leaf.prefixText;
      for (let i = 0; i < prefix; i++) {
        const d = (i < length ? bytes[start + i]! : 0) - text.charCodeAt(i);
        if (d < 0) return 0;
        if (d > 0) return count;
      }
    }
    const hint = hintAt(bytes, start, length, prefix);
    const hints = base + this.stride;
    let low = 0;
    let high = count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const other = cells[hints + mid]!;
      let below: boolean;
      if (other !== hint) {
        below = other < hint;
      } else {
        source.read(cells[base + mid]!);
        const order = compareUtf8(
          source.keyBytes,
          source.keyStart,
          source.keyLength,
          bytes,
          start,
          length,
        );
        below = strict ? order <= 0 : order < 0;
      }
      if (below) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Gives `leaf` the prefix `text` and recomputes every hint from its keys. */
  private setPrefix(leaf: Leaf, text: string): void {
    leaf.prefixText = text;
    leaf.prefix = text.length;
    this.rehint(leaf);
  }

  /** Recomputes every hint of `leaf` from its keys, for its prefix. */
  private rehint(leaf: Leaf): void {
    const source = this.source;
    const cells = leaf.cells;
    const hints = leaf.base + this.stride;
    for (let i = 0; i < leaf.count; i++) {
      source.read(cells[leaf.base + i]!);
      cells[hints + i] = hintAt(
        source.keyBytes,
        source.keyStart,
        source.keyLength,
        leaf.prefix,
      );
    }
  }

  /**
   * Raises the prefix of `leaf`, between separators `low` and `high` (null: no bound), to what
   * all keys between them share, or with a bound missing to what its first and last keys share
   * (all its keys do, being between them); only by {@link PREFIX_RAISE} bytes or more.
   */
  private tighten(leaf: Leaf, low: string | null, high: string | null): void {
    if (leaf.count === 0) return;
    let text: string;
    if (low !== null && high !== null) {
      const common = sharedLength(low, high);
      if (common < leaf.prefix + PREFIX_RAISE) return;
      text = low.slice(0, common);
    } else {
      text = this.keysShare(leaf);
      if (text.length < leaf.prefix + PREFIX_RAISE) return;
    }
    this.setPrefix(leaf, text);
  }

  /** What the first and last keys of `leaf` (so all of them), zero-padded, begin with. */
  private keysShare(leaf: Leaf): string {
    const source = this.source;
    source.read(leaf.cells[leaf.base]!);
    const bytes = source.keyBytes;
    const start = source.keyStart;
    const length = source.keyLength;
    source.read(leaf.cells[leaf.base + leaf.count - 1]!);
    const common = paddedCommon(
      bytes,
      start,
      length,
      source.keyBytes,
      source.keyStart,
      source.keyLength,
      Math.max(length, source.keyLength),
    );
    return paddedText(bytes, start, length, common);
  }

  /**
   * The shortest separator between the last key of `left` and the first key of `right`: the
   * first bytes of the right one, up to and including the first that differs.
   */
  private separatorBetween(left: Leaf, right: Leaf): string {
    const source = this.source;
    source.read(left.cells[left.base + left.count - 1]!);
    const a = source.keyBytes;
    const aStart = source.keyStart;
    const aLength = source.keyLength;
    source.read(right.cells[right.base]!);
    const b = source.keyBytes;
    const bStart = source.keyStart;
    let same = 0;
    while (same < aLength && a[aStart + same] === b[bStart + same]) same++;
    return textOf(b, bStart, bStart + same + 1);
  }

  /** Moves `n` entries from position `from` of leaf `a` to position `to` of leaf `b`. */
  private moveEntries(
    a: Leaf,
    from: number,
    b: Leaf,
    to: number,
    n: number,
  ): void {
    b.cells.set(
      a.cells.subarray(a.base + from, a.base + from + n),
      b.base + to,
    );
    const aHints = a.base + this.stride;
    b.cells.set(
      a.cells.subarray(aHints + from, aHints + from + n),
      b.base + this.stride + to,
    );
    for (let i = 0; i < n; i++)
      this.source.placed(b.cells[b.base + to + i]!, b.id);
  }

  /** Splits a leaf one over capacity; the new key went in at `inserted`. */
  private splitLeaf(leaf: Leaf, inserted: number): void {
    const count = leaf.count;
    // Keys written in ascending (or descending) order leave the fuller side as full as a
    // leaf after a split may be, instead of halving every leaf.
    const least = Math.max(1, this.leafMinimum);
    const keep =
      inserted === count - 1
        ? count - least
        : inserted === 0
          ? least
          : count >> 1;
    const right = this.newLeaf();
    this.moveEntries(leaf, keep, right, 0, count - keep);
    right.count = count - keep;
    right.prefixText = leaf.prefixText;
    right.prefix = leaf.prefix;
    leaf.count = keep;
    right.next = leaf.next;
    if (right.next !== null) right.next.prev = right;
    right.prev = leaf;
    leaf.next = right;
    const separator = this.separatorBetween(leaf, right);
    this.tighten(leaf, this.fenceLow, separator);
    this.tighten(right, separator, this.fenceHigh);
    this.insertIntoParent(this.height, separator, right);
  }

  /**
   * Puts `node`, just split off the node at `level` of the last recorded path, right of it
   * in its parent with `separator` before it.
   */
  private insertIntoParent(level: number, separator: string, node: Node): void {
    if (level === 0) {
      this.root = new Branch([this.root, node], [separator]);
      this.height++;
      return;
    }
    const parent = this.pathNodes[level - 1]!;
    const index = this.pathIndexes[level - 1]!;
    parent.children.splice(index + 1, 0, node);
    parent.separators.splice(index, 0, separator);
    if (parent.children.length <= this.branchCapacity) {
      parent.refresh();
      return;
    }
    const middle = parent.children.length >> 1;
    const right = new Branch(
      parent.children.slice(middle),
      parent.separators.slice(middle),
    );
    const up = parent.separators[middle - 1]!;
    parent.children.length = middle;
    parent.separators.length = middle - 1;
    parent.refresh();
    this.insertIntoParent(level - 1, up, right);
  }

  /**
   * Gives `into`, after keys with hints for prefix length `fromPrefix` moved into it, the
   * prefix that all its keys share now, and hints to match, unless it has them already.
   */
  private mergedPrefix(into: Leaf, fromPrefix: number): void {
    const text = this.keysShare(into);
    if (text !== into.prefixText || fromPrefix !== into.prefix)
      this.setPrefix(into, text);
  }

  /** Refills the leaf at the end of the last recorded path, under its minimum, from a neighbour. */
  private rebalanceLeaf(): void {
    const level = this.height - 1;
    const parent = this.pathNodes[level]!;
    const index = this.pathIndexes[level]!;
    const at = index + 1 < parent.children.length ? index : index - 1;
    const left = parent.children[at] as Leaf;
    const right = parent.children[at + 1] as Leaf;
    const total = left.count + right.count;
    if (total <= this.leafCapacity) {
      this.moveEntries(right, 0, left, left.count, right.count);
      left.count = total;
      if (total > 0) this.mergedPrefix(left, right.prefix);
      left.next = right.next;
      if (left.next !== null) left.next.prev = left;
      this.freeLeaf(right);
      parent.children.splice(at + 1, 1);
      parent.separators.splice(at, 1);
      parent.refresh();
      this.rebalanceBranch(level);
      return;
    }
    const keep = total >> 1;
    if (left.count > keep) {
      const n = left.count - keep;
      const hints = right.base + this.stride;
      right.cells.copyWithin(
        right.base + n,
        right.base,
        right.base + right.count,
      );
      right.cells.copyWithin(hints + n, hints, hints + right.count);
      this.moveEntries(left, keep, right, 0, n);
      left.count = keep;
      right.count += n;
      this.mergedPrefix(right, left.prefix);
    } else {
      const n = keep - left.count;
      this.moveEntries(right, 0, left, left.count, n);
      left.count = keep;
      const hints = right.base + this.stride;
      right.cells.copyWithin(
        right.base,
        right.base + n,
        right.base + right.count,
      );
      right.cells.copyWithin(hints, hints + n, hints + right.count);
      right.count -= n;
      this.mergedPrefix(left, right.prefix);
    }
    parent.separators[at] = this.separatorBetween(left, right);
    parent.refresh();
  }

  /**
   * Refills the branch at `level` of the last recorded path if under its minimum; at the root,
   * drops a level when one child is left.
   */
  private rebalanceBranch(level: number): void {
    const node = this.pathNodes[level]!;
    if (level === 0) {
      if (node.children.length === 1) {
        this.root = node.children[0]!;
        this.height--;
      }
      return;
    }
    if (node.children.length >= this.branchMinimum) return;
    const parent = this.pathNodes[level - 1]!;
    const index = this.pathIndexes[level - 1]!;
    const at = index + 1 < parent.children.length ? index : index - 1;
    const left = parent.children[at] as Branch;
    const right = parent.children[at + 1] as Branch;
    const children = left.children.concat(right.children);
    const separators = left.separators.concat(
      parent.separators[at]!,
      right.separators,
    );
    if (children.length <= this.branchCapacity) {
      left.children = children;
      left.separators = separators;
      left.refresh();
      parent.children.splice(at + 1, 1);
      parent.separators.splice(at, 1);
      parent.refresh();
      this.rebalanceBranch(level - 1);
      return;
    }
    const middle = children.length >> 1;
    left.children = children.slice(0, middle);
    left.separators = separators.slice(0, middle - 1);
    left.refresh();
    parent.separators[at] = separators[middle - 1]!;
    parent.refresh();
    right.children = children.slice(middle);
    right.separators = separators.slice(middle);
    right.refresh();
  }

  /**
   * How many first bytes, from `from` on, every key of `locators[start..end)` shares (the keys
   * are known to share the bytes before `from`).
   */
  private commonLength(
    locators: Uint32Array,
    start: number,
    end: number,
    from: number,
  ): number {
    const source = this.source;
    source.read(locators[start]!);
    const reference = source.keyBytes.slice(
      source.keyStart,
      source.keyStart + source.keyLength,
    );
    let common = reference.length;
    for (let i = start + 1; i < end && common > from; i++) {
      source.read(locators[i]!);
      const bytes = source.keyBytes;
      const keyStart = source.keyStart;
      const limit = Math.min(common, source.keyLength);
      let same = from;
      while (same < limit && bytes[keyStart + same] === reference[same]) same++;
      common = same;
    }
    return Math.max(common, from);
  }

  /**
   * Sets `hi` and `lo` of `locators[start..end)` to the 8 bytes of each key from `offset`, and
   * returns the length of the longest key; -1 as soon as a key does not begin with
   * `reference` (null: no check), leaving the windows half filled.
   */
  private fillWindows(
    locators: Uint32Array,
    hi: Uint32Array,
    lo: Uint32Array,
    start: number,
    end: number,
    offset: number,
    reference: Uint8Array | null,
  ): number {
    const source = this.source;
    let longest = 0;
    for (let i = start; i < end; i++) {
      source.read(locators[i]!);
      const bytes = source.keyBytes;
      const keyStart = source.keyStart;
      const length = source.keyLength;
      if (length > longest) longest = length;
      if (reference !== null) {
        if (length < offset) return -1;
        for (let b = 0; b < offset; b++)
          if (bytes[keyStart + b] !== reference[b]) return -1;
      }
      hi[i] = hintAt(bytes, keyStart, length, offset);
      lo[i] = hintAt(bytes, keyStart, length, offset + 4);
    }
    return longest;
  }

  /**
   * How many first bytes the keys of a sample of `locators` share: at least as many as all of
   * them share.
   */
  private sampledCommonLength(locators: Uint32Array): number {
    const sample = new Uint32Array(Math.min(locators.length, SAMPLE));
    for (let i = 0; i < sample.length; i++)
      sample[i] = locators[Math.floor((i * locators.length) / sample.length)]!;
    return this.commonLength(sample, 0, sample.length, 0);
  }

  /**
   * Sorts `locators[start..end)`, whose keys share their first `offset` bytes and whose `hi`
   * and `lo` hold each key's 8 bytes from `offset` (`longest`: the longest key's length), by
   * key, moving `hi` and `lo` along; leaves them as they were for each key.
   */
  private sortRange(
    locators: Uint32Array,
    hi: Uint32Array,
    lo: Uint32Array,
    start: number,
    end: number,
    offset: number,
    longest: number,
  ): void {
    if (end - start < RADIX_MIN) {
      this.sortByKey(locators, hi, lo, start, end);
      return;
    }
    radixSort(locators, hi, lo, start, end);
    // Keys whose 8 bytes tie: sort them further on the bytes that follow.
    let run = start;
    for (let i = start + 1; i <= end; i++) {
      if (i < end && hi[i] === hi[run] && lo[i] === lo[run]) continue;
      if (i - run > 1) {
        if (longest <= offset + 8 || i - run < RADIX_MIN) {
          this.sortByKey(locators, hi, lo, run, i);
        } else {
          const h = hi[run]!;
          const l = lo[run]!;
          const deeper = this.commonLength(locators, run, i, offset + 8);
          const runLongest = this.fillWindows(
            locators,
            hi,
            lo,
            run,
            i,
            deeper,
            null,
          );
          this.sortRange(locators, hi, lo, run, i, deeper, runLongest);
          hi.fill(h, run, i);
          lo.fill(l, run, i);
        }
      }
      run = i;
    }
  }

  /** Sorts a short range by comparing whole keys, moving `hi` and `lo` along. */
  private sortByKey(
    locators: Uint32Array,
    hi: Uint32Array,
    lo: Uint32Array,
    start: number,
    end: number,
  ): void {
    const source = this.source;
    const order = Array.from({ length: end - start }, (_, i) => start + i);
    const keys = order.map((i) => {
      source.read(locators[i]!);
      return source.keyBytes.subarray(
        source.keyStart,
        source.keyStart + source.keyLength,
      );
    });
    order.sort((a, b) => {
      const x = keys[a - start]!;
      const y = keys[b - start]!;
      return compareUtf8(x, 0, x.length, y, 0, y.length);
    });
    const sortedLocators = order.map((i) => locators[i]!);
    const sortedHi = order.map((i) => hi[i]!);
    const sortedLo = order.map((i) => lo[i]!);
    locators.set(sortedLocators, start);
    hi.set(sortedHi, start);
    lo.set(sortedLo, start);
  }

  /**
   * Builds leaves and branches over sorted `locators`, whose keys share their first `offset`
   * bytes and whose next 8 bytes are in `hi` and `lo`: those give every leaf its prefix and
   * hints without reading a key (a prefix is capped at 4 bytes past `offset` for that).
   */
  private buildFromSorted(
    locators: Uint32Array,
    hi: Uint32Array,
    lo: Uint32Array,
    offset: number,
  ): void {
    const n = locators.length;
    const leafCount = Math.ceil(
      n / Math.max(1, Math.floor(this.leafCapacity * LOAD_FILL)),
    );
    this.freeLeaves = [];
    this.leaves = [];
    this.chunks = [];
    let level: Node[] = [];
    let lows: string[] = [];
    let previous: Leaf | null = null;
    const leafOf = new Uint32Array(n);
    for (let l = 0; l < leafCount; l++) {
      const from = Math.floor((l * n) / leafCount);
      const to = Math.floor(((l + 1) * n) / leafCount);
      const leaf = this.newLeaf();
      const last = to - 1;
      const differ = hi[from]! ^ hi[last]!;
      const shared = differ !== 0 ? Math.clz32(differ) >> 3 : 4;
      this.source.read(locators[from]!);
      leaf.prefixText = paddedText(
        this.source.keyBytes,
        this.source.keyStart,
        this.source.keyLength,
        offset + shared,
      );
      leaf.prefix = offset + shared;
      fillLeaf(leaf, this.stride, locators, hi, lo, from, to, shared);
      leafOf.fill(leaf.id, from, to);
      if (previous !== null) {
        previous.next = leaf;
        leaf.prev = previous;
        lows.push(this.separatorBetween(previous, leaf));
      }
      previous = leaf;
      level.push(leaf);
    }
    this.height = 0;
    const perBranch = Math.max(2, Math.floor(this.branchCapacity * LOAD_FILL));
    while (level.length > 1) {
      const branchCount = Math.ceil(level.length / perBranch);
      const nextLevel: Node[] = [];
      const nextLows: string[] = [];
      for (let b = 0; b < branchCount; b++) {
        const from = Math.floor((b * level.length) / branchCount);
        const to = Math.floor(((b + 1) * level.length) / branchCount);
        // lows[i] separates level[i] from level[i + 1].
        nextLevel.push(
          new Branch(level.slice(from, to), lows.slice(from, to - 1)),
        );
        if (b > 0) nextLows.push(lows[from - 1]!);
      }
      level = nextLevel;
      lows = nextLows;
      this.height++;
    }
    this.root = level[0]!;
    this.count = n;
    // Tell the source where each key went in locator order, not key order: a source keeps
    // these by locator, and writes in its own order touch its memory in sequence.
    const byLocator = locators.slice();
    sortPairs(byLocator, leafOf, hi, lo);
    for (let i = 0; i < n; i++) this.source.placed(byLocator[i]!, leafOf[i]!);
  }
}

/**
 * Fills empty `leaf` (cells `stride` apart) with `locators[from..to)`, whose keys share their
 * first `shared` window bytes: each key's hint is the next 4 bytes of its window `hi:lo`.
 */
function fillLeaf(
  leaf: Leaf,
  stride: number,
  locators: Uint32Array,
  hi: Uint32Array,
  lo: Uint32Array,
  from: number,
  to: number,
  shared: number,
): void {
  const cells = leaf.cells;
  const base = leaf.base;
  cells.set(locators.subarray(from, to), base);
  const hints = base + stride - from;
  if (shared === 0) {
    cells.set(hi.subarray(from, to), base + stride);
  } else if (shared === 4) {
    cells.set(lo.subarray(from, to), base + stride);
  } else {
    const up = 8 * shared;
    const down = 32 - up;
    for (let i = from; i < to; i++)
      cells[hints + i] = ((hi[i]! << up) | (lo[i]! >>> down)) >>> 0;
  }
  leaf.count = to - from;
}

/**
 * Sorts `keys` ascending, moving `values` along, with `spareKeys` and `spareValues` (as long)
 * as scratch: least significant byte first, skipping bytes that are the same throughout.
 */
function sortPairs(
  keys: Uint32Array,
  values: Uint32Array,
  spareKeys: Uint32Array,
  spareValues: Uint32Array,
): void {
  const n = keys.length;
  const counts = new Uint32Array(4 * 256);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    counts[k & 255]!++;
    counts[256 + ((k >>> 8) & 255)]!++;
    counts[512 + ((k >>> 16) & 255)]!++;
    counts[768 + (k >>> 24)]!++;
  }
  let fromKeys = keys;
  let fromValues = values;
  let toKeys = spareKeys;
  let toValues = spareValues;
  const positions = new Uint32Array(256);
  for (let pass = 0; pass < 4; pass++) {
    const table = pass * 256;
    const shift = pass * 8;
    if (counts[table + ((fromKeys[0]! >>> shift) & 255)] === n) continue;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      positions[b] = sum;
      sum += counts[table + b]!;
    }
    for (let i = 0; i < n; i++) {
      const k = fromKeys[i]!;
      const at = positions[(k >>> shift) & 255]!++;
      toKeys[at] = k;
      toValues[at] = fromValues[i]!;
    }
    [fromKeys, toKeys] = [toKeys, fromKeys];
    [fromValues, toValues] = [toValues, fromValues];
  }
  if (fromKeys !== keys) {
    keys.set(fromKeys);
    values.set(fromValues);
  }
}

/**
 * Sorts `locators[start..end)` by the unsigned 64-bit numbers `hi:lo`, moving `hi` and `lo`
 * along: least significant byte first, one stable counting pass per byte that is not the same
 * throughout.
 */
function radixSort(
  locators: Uint32Array,
  hi: Uint32Array,
  lo: Uint32Array,
  start: number,
  end: number,
): void {
  const n = end - start;
  const counts = new Uint32Array(8 * 256);
  for (let i = start; i < end; i++) {
    const l = lo[i]!;
    const h = hi[i]!;
    counts[l & 255]!++;
    counts[256 + ((l >>> 8) & 255)]!++;
    counts[512 + ((l >>> 16) & 255)]!++;
    counts[768 + (l >>> 24)]!++;
    counts[1024 + (h & 255)]!++;
    counts[1280 + ((h >>> 8) & 255)]!++;
    counts[1536 + ((h >>> 16) & 255)]!++;
    counts[1792 + (h >>> 24)]!++;
  }
  let fromLocators: Uint32Array = locators.subarray(start, end);
  let fromHi: Uint32Array = hi.subarray(start, end);
  let fromLo: Uint32Array = lo.subarray(start, end);
  let toLocators: Uint32Array = new Uint32Array(n);
  let toHi: Uint32Array = new Uint32Array(n);
  let toLo: Uint32Array = new Uint32Array(n);
  const positions = new Uint32Array(256);
  for (let pass = 0; pass < 8; pass++) {
    const table = pass * 256;
    const useHi = pass >= 4;
    const shift = (pass % 4) * 8;
    const firstByte = ((useHi ? fromHi[0]! : fromLo[0]!) >>> shift) & 255;
    if (counts[table + firstByte] === n) continue;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      positions[b] = sum;
      sum += counts[table + b]!;
    }
    const digits = useHi ? fromHi : fromLo;
    for (let i = 0; i < n; i++) {
      const at = positions[(digits[i]! >>> shift) & 255]!++;
      toLocators[at] = fromLocators[i]!;
      toHi[at] = fromHi[i]!;
      toLo[at] = fromLo[i]!;
    }
    [fromLocators, toLocators] = [toLocators, fromLocators];
    [fromHi, toHi] = [toHi, fromHi];
    [fromLo, toLo] = [toLo, fromLo];
  }
  if (fromLocators.buffer !== locators.buffer) {
    locators.set(fromLocators, start);
    hi.set(fromHi, start);
    lo.set(fromLo, start);
  }
}
