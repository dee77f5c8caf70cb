import { batchEnd } from './change';
import { Entry, isLive } from './entry';
import { MAX_TTL, NO_DEADLINE } from './types';

/** An arena holding `"é"` (22 c3 a9 22) between two bytes that belong to no value. */
const arena = () => Uint8Array.of(0x78, 0x22, 0xc3, 0xa9, 0x22, 0x79);

describe('Entry / isLive', () => {
  it('keeps an entry without a deadline live forever', () => {
    const entry = new Entry(1, NO_DEADLINE, Uint8Array.of(0x31), 0, 1);
    expect(isLive(entry, 0)).toBe(true);
    expect(isLive(entry, Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it('treats an entry as gone from its deadline on', () => {
    const entry = new Entry(3, 1000, arena(), 1, 4);
    expect(isLive(entry, 999)).toBe(true);
    expect(isLive(entry, 1000)).toBe(false);
    expect(isLive(entry, 1001)).toBe(false);
  });

  it('judges anything with a deadline, not only an Entry', () => {
    expect(isLive({ deadline: NO_DEADLINE }, 5)).toBe(true);
    expect(isLive({ deadline: 5 }, 4)).toBe(true);
    expect(isLive({ deadline: 5 }, 5)).toBe(false);
  });

  it('reads its value from its own bytes of the arena, UTF-8 decoded', () => {
    const entry = new Entry(7, 50, arena(), 1, 4);
    expect(entry.revision).toBe(7);
    expect(entry.deadline).toBe(50);
    expect(entry.byteLength).toBe(4);
    expect(entry.value).toBe('"\u00e9"');
    expect(entry.bytes).toEqual(Uint8Array.of(0x22, 0xc3, 0xa9, 0x22));
    expect(isLive(entry, 50)).toBe(false);
  });

  it('gives its bytes as a view of the arena, not a copy', () => {
    const bytes = arena();
    const entry = new Entry(1, NO_DEADLINE, bytes, 1, 4);
    expect(entry.bytes.buffer).toBe(bytes.buffer);
    expect(entry.bytes.byteOffset).toBe(1);
    expect(entry.bytes.length).toBe(4);
    // Whatever is in the arena is what it reads (a table never rewrites a record it wrote).
    bytes[3] = 0xa8;
    expect(entry.value).toBe('"\u00e8"');
  });

  it('reads an empty value as the empty string and no bytes', () => {
    const entry = new Entry(2, NO_DEADLINE, arena(), 3, 0);
    expect(entry.value).toBe('');
    expect(entry.bytes).toEqual(new Uint8Array(0));
  });

  it('defines NO_DEADLINE as 0 and MAX_TTL as ten years', () => {
    expect(NO_DEADLINE).toBe(0);
    expect(MAX_TTL).toBe(10 * 365 * 24 * 60 * 60 * 1000);
  });
});

describe('batchEnd', () => {
  it('is the revision of the last change', () => {
    const change = (revision: number) => ({
      key: 'k',
      value: '1',
      deadline: 0,
      revision,
      expired: false,
    });
    expect(batchEnd({ from: 5, changes: [change(5)] })).toBe(5);
    expect(
      batchEnd({ from: 5, changes: [change(5), change(6), change(7)] }),
    ).toBe(7);
    // A transaction's changes share one revision.
    expect(
      batchEnd({ from: 5, changes: [change(5), change(6), change(6)] }),
    ).toBe(6);
  });

  it('is from - 1 for an empty batch', () => {
    expect(batchEnd({ from: 5, changes: [] })).toBe(4);
  });
});
