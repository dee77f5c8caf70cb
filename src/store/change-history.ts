import { Change } from './change';
import { Revision } from './types';

/** How much a {@link ChangeHistory} keeps. */
export interface ChangeHistoryLimits {
  /** Most revisions kept, at least 1: the oldest revisions go first. */
  readonly maxRevisions: number;
  /**
   * Most bytes kept, as {@link changeCost} estimates them. The newest revision is kept
   * whatever its size, so one revision larger than this is still available.
   */
  readonly maxBytes: number;
}

/**
 * The fixed part of what a kept change costs in bytes: the change object, its array slot and
 * the headers of its strings and numbers on a 64-bit V8 heap.
 */
export const CHANGE_OVERHEAD_BYTES = 128;

/**
 * An estimate of the bytes a change kept in a history holds: {@link CHANGE_OVERHEAD_BYTES}
 * plus one per UTF-16 code unit of its key and value. Strings with characters past U+00FF take
 * two bytes per code unit, so for them this is low by up to half their length.
 */
export function changeCost(change: Change): number {
  return (
    CHANGE_OVERHEAD_BYTES + change.key.length + (change.value?.length ?? 0)
  );
}

/** The changes of one batch as appended: `changes[start]` on are kept. */
interface Segment {
  readonly changes: readonly Change[];
  start: number;
}

// Removed segments are cut off the front of the array once this many have piled up there.
const COMPACT_SEGMENTS = 1024;

/**
 * The changes of the most recent revisions, in revision order, for watchers that resume from a
 * revision. It keeps the change objects it is given (references, no copies), batch by batch,
 * and drops the oldest whole revisions once it holds more than `maxRevisions` revisions or
 * more than `maxBytes` bytes.
 *
 * Two histories fed the same changes from the same start agree on what they keep; one fed a
 * suffix of those changes (a replica bootstrapped later) keeps a subset of the other's
 * revisions, never a revision the other has dropped.
 */
export class ChangeHistory {
  private segments: Segment[] = [];
  private head = 0;
  private compacted: Revision;
  private last: Revision;
  private bytes = 0;

  /** An empty history whose first revision will be `after` + 1. */
  constructor(
    private readonly limits: ChangeHistoryLimits,
    after: Revision = 0,
  ) {
    this.compacted = after;
    this.last = after;
  }

  /** The first revision still available: every change of a revision below it is gone. */
  get oldest(): Revision {
    return this.compacted + 1;
  }

  /** The revision of the last change appended (the start revision while nothing was). */
  get newest(): Revision {
    return this.last;
  }

  /** The estimated bytes held (see {@link changeCost}). */
  get byteSize(): number {
    return this.bytes;
  }

  /** Whether every change with a revision above `after` up to {@link newest} is here. */
  covers(after: Revision): boolean {
    return after >= this.compacted;
  }

  /** Drops everything; the history starts again after `after`. */
  reset(after: Revision): void {
    this.segments = [];
    this.head = 0;
    this.compacted = after;
    this.last = after;
    this.bytes = 0;
  }

  /**
   * Appends the changes of `changes` newer than {@link newest} (a batch, in revision order),
   * keeping the array itself. Returns false, appending nothing, when the first newer change
   * is past {@link newest} + 1: revisions in between are missing.
   */
  append(changes: readonly Change[]): boolean {
    let start = 0;
    while (start < changes.length && changes[start]!.revision <= this.last)
      start++;
    const first = changes[start];
    if (first === undefined) return true;
    if (first.revision > this.last + 1) return false;
    for (let i = start; i < changes.length; i++)
      this.bytes += changeCost(changes[i]!);
    this.segments.push({ changes, start });
    this.last = changes[changes.length - 1]!.revision;
    this.evict();
    return true;
  }

  /**
   * The changes with revisions in (`after`, `upTo`], whole revisions only, in order: as many
   * as fit in `maxBytes` (by {@link changeCost}), and at least one revision when there is one.
   * Call only when {@link covers}(`after`).
   */
  slice(after: Revision, upTo: Revision, maxBytes: number): Change[] {
    const out: Change[] = [];
    let bytes = 0;
    const first = this.segmentAfter(after);
    if (first < 0) return out;
    for (let s = first; s < this.segments.length; s++) {
      const segment = this.segments[s]!;
      const changes = segment.changes;
      let i = s === first ? firstAfter(segment, after) : segment.start;
      for (; i < changes.length; i++) {
        const change = changes[i]!;
        if (change.revision > upTo) return out;
        const previous = out[out.length - 1];
        // Stop only between revisions, so a transaction is never split.
        if (
          bytes >= maxBytes &&
          previous !== undefined &&
          previous.revision !== change.revision
        )
          return out;
        out.push(change);
        bytes += changeCost(change);
      }
    }
    return out;
  }

  /** The index of the segment that holds the first change after `after`, or -1 when none does. */
  private segmentAfter(after: Revision): number {
    // The first segment whose first change is past `after`; the one before it may hold more.
    let lo = this.head;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (firstRevision(this.segments[mid]!) > after) hi = mid;
      else lo = mid + 1;
    }
    if (lo > this.head) {
      const before = this.segments[lo - 1]!;
      if (before.changes[before.changes.length - 1]!.revision > after)
        return lo - 1;
    }
    return lo < this.segments.length ? lo : -1;
  }

  private evict(): void {
    const floor = this.last - this.limits.maxRevisions;
    if (floor > this.compacted) this.dropThrough(floor);
    while (
      this.bytes > this.limits.maxBytes &&
      this.head < this.segments.length
    ) {
      const oldest = firstRevision(this.segments[this.head]!);
      if (oldest >= this.last) break;
      this.dropThrough(oldest);
    }
  }

  /** Drops every change with a revision up to `revision`. */
  private dropThrough(revision: Revision): void {
    this.compacted = Math.max(this.compacted, revision);
    while (this.head < this.segments.length) {
      const segment = this.segments[this.head]!;
      const changes = segment.changes;
      while (
        segment.start < changes.length &&
        changes[segment.start]!.revision <= revision
      ) {
        this.bytes -= changeCost(changes[segment.start]!);
        segment.start++;
      }
      if (segment.start < changes.length) break;
      this.segments[this.head++] = EMPTY_SEGMENT;
    }
    if (
      this.head >= COMPACT_SEGMENTS &&
      this.head * 2 >= this.segments.length
    ) {
      this.segments = this.segments.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY_SEGMENT: Segment = { changes: [], start: 0 };

function firstRevision(segment: Segment): Revision {
  return segment.changes[segment.start]!.revision;
}

/** The index in `segment` of its first kept change past `after`. */
function firstAfter(segment: Segment, after: Revision): number {
  let lo = segment.start;
  let hi = segment.changes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segment.changes[mid]!.revision > after) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
