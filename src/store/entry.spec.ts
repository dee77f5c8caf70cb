import { batchEnd } from './change';
import { Entry, isLive } from './entry';
import { MAX_TTL, NO_DEADLINE } from './types';

describe('Entry / isLive', () => {
  it('keeps an entry without a deadline live forever', () => {
    const entry = new Entry('1', 1, NO_DEADLINE);
    expect(isLive(entry, 0)).toBe(true);
    expect(isLive(entry, Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it('treats an entry as gone from its deadline on', () => {
    const entry = new Entry('"v"', 3, 1000);
    expect(isLive(entry, 999)).toBe(true);
    expect(isLive(entry, 1000)).toBe(false);
    expect(isLive(entry, 1001)).toBe(false);
  });

  it('is mutable in place', () => {
    const entry = new Entry('1', 1, NO_DEADLINE);
    entry.value = '2';
    entry.revision = 7;
    entry.deadline = 50;
    expect(entry).toEqual({ value: '2', revision: 7, deadline: 50 });
    expect(isLive(entry, 50)).toBe(false);
  });

  it('defines NO_DEADLINE as 0 and MAX_TTL as ten years', () => {
    expect(NO_DEADLINE).toBe(0);
    expect(MAX_TTL).toBe(10 * 365 * 24 * 60 * 60 * 1000);
  });
});

describe('batchEnd', () => {
  it('is the revision of the last change', () => {
    const change = { key: 'k', value: '1', deadline: 0 };
    expect(batchEnd({ from: 5, changes: [change] })).toBe(5);
    expect(batchEnd({ from: 5, changes: [change, change, change] })).toBe(7);
  });

  it('is from - 1 for an empty batch', () => {
    expect(batchEnd({ from: 5, changes: [] })).toBe(4);
  });
});
