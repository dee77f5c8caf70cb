import { Change } from './change';
import {
  CHANGE_OVERHEAD_BYTES,
  ChangeHistory,
  changeCost,
} from './change-history';
import { NO_DEADLINE } from './types';
import { prng } from './seeded-random.spec-support';

const put = (key: string, revision: number, value = 'v'): Change => ({
  key,
  value,
  deadline: NO_DEADLINE,
  revision,
  expired: false,
});

/** One change per revision, `from` to `to`. */
const run = (from: number, to: number, value = 'v'): Change[] =>
  Array.from({ length: to - from + 1 }, (_, i) =>
    put(`k${from + i}`, from + i, value),
  );

const revisions = (changes: readonly Change[]): number[] =>
  changes.map((c) => c.revision);

const unlimited = { maxRevisions: 1_000_000, maxBytes: 2 ** 50 };

describe('ChangeHistory', () => {
  it('starts empty after its start revision', () => {
    const history = new ChangeHistory(unlimited, 40);
    expect(history.oldest).toBe(41);
    expect(history.newest).toBe(40);
    expect(history.covers(40)).toBe(true);
    expect(history.covers(39)).toBe(false);
    expect(history.slice(40, 40, 1000)).toEqual([]);
  });

  it('keeps the change objects it is given, in revision order', () => {
    const history = new ChangeHistory(unlimited);
    const first = run(1, 3);
    const second = run(4, 5);
    history.append(first);
    history.append(second);
    const all = history.slice(0, 5, Infinity);
    expect(revisions(all)).toEqual([1, 2, 3, 4, 5]);
    expect(all[0]).toBe(first[0]);
    expect(all[4]).toBe(second[1]);
    expect(revisions(history.slice(2, 4, Infinity))).toEqual([3, 4]);
    expect(revisions(history.slice(5, 5, Infinity))).toEqual([]);
  });

  it('skips changes it already holds and refuses a gap', () => {
    const history = new ChangeHistory(unlimited);
    expect(history.append(run(1, 3))).toBe(true);
    expect(history.append(run(2, 4))).toBe(true);
    expect(revisions(history.slice(0, 10, Infinity))).toEqual([1, 2, 3, 4]);
    expect(history.append(run(6, 7))).toBe(false);
    expect(history.newest).toBe(4);
    expect(history.append([])).toBe(true);
  });

  it('keeps the last maxRevisions revisions', () => {
    const history = new ChangeHistory({ maxRevisions: 3, maxBytes: 2 ** 50 });
    for (let r = 1; r <= 5; r++) history.append([put('k', r)]);
    expect(history.oldest).toBe(3);
    expect(history.covers(2)).toBe(true);
    expect(history.covers(1)).toBe(false);
    expect(revisions(history.slice(2, 5, Infinity))).toEqual([3, 4, 5]);
  });

  it('counts a transaction as one revision and drops it whole', () => {
    const history = new ChangeHistory({ maxRevisions: 2, maxBytes: 2 ** 50 });
    history.append([put('a', 1), put('b', 1), put('c', 1)]);
    history.append([put('d', 2)]);
    expect(history.oldest).toBe(1);
    expect(revisions(history.slice(0, 2, Infinity))).toEqual([1, 1, 1, 2]);
    history.append([put('e', 3), put('f', 3)]);
    expect(history.oldest).toBe(2);
    expect(revisions(history.slice(1, 3, Infinity))).toEqual([2, 3, 3]);
    expect(history.byteSize).toBe(
      changeCost(put('d', 2)) + changeCost(put('e', 3)) * 2,
    );
  });

  it('drops the oldest revisions past maxBytes but always keeps the newest', () => {
    const cost = changeCost(put('k1', 1, 'x'.repeat(100)));
    const history = new ChangeHistory({
      maxRevisions: 100,
      maxBytes: cost * 3,
    });
    history.append(run(1, 5, 'x'.repeat(100)));
    expect(history.oldest).toBe(3);
    expect(history.byteSize).toBe(cost * 3);
    const huge = put('big', 6, 'y'.repeat(10_000));
    history.append([huge]);
    expect(history.oldest).toBe(6);
    expect(history.slice(5, 6, 0)).toEqual([huge]);
  });

  it('estimates a change as its characters plus a fixed overhead', () => {
    expect(changeCost(put('abc', 1, '[1,2]'))).toBe(CHANGE_OVERHEAD_BYTES + 8);
    expect(changeCost({ ...put('abc', 1), value: null, expired: true })).toBe(
      CHANGE_OVERHEAD_BYTES + 3,
    );
  });

  it('slices whole revisions up to the byte budget, at least one', () => {
    const history = new ChangeHistory(unlimited);
    history.append([put('a', 1), put('b', 1), put('c', 1)]);
    history.append(run(2, 4));
    const cost = changeCost(put('a', 1));
    expect(revisions(history.slice(0, 4, 1))).toEqual([1, 1, 1]);
    expect(revisions(history.slice(0, 4, cost * 3))).toEqual([1, 1, 1]);
    expect(revisions(history.slice(0, 4, cost * 3 + 1))).toEqual([1, 1, 1, 2]);
    expect(revisions(history.slice(1, 3, 0))).toEqual([2]);
    expect(revisions(history.slice(1, 3, Infinity))).toEqual([2, 3]);
  });

  it('starts over from a revision on reset', () => {
    const history = new ChangeHistory(unlimited);
    history.append(run(1, 3));
    history.reset(10);
    expect(history.oldest).toBe(11);
    expect(history.byteSize).toBe(0);
    expect(history.append(run(11, 12))).toBe(true);
    expect(revisions(history.slice(10, 20, Infinity))).toEqual([11, 12]);
  });

  it('agrees with a plain array over many random batches', () => {
    const random = prng(16);
    const limits = {
      maxRevisions: 200,
      maxBytes: 160 * (CHANGE_OVERHEAD_BYTES + 8),
    };
    const history = new ChangeHistory(limits);
    // The same changes fed from revision 1500 on, as to a replica bootstrapped later.
    const late = new ChangeHistory(limits, 1500);
    let model: Change[] = [];
    let revision = 0;
    for (let b = 0; b < 2500; b++) {
      const batch: Change[] = [];
      const size = 1 + Math.floor(random() * 4);
      for (let i = 0; i < size; i++) {
        // Now and then a transaction: several changes share one revision.
        if (i === 0 || random() < 0.7) revision++;
        const value = 'x'.repeat(Math.floor(random() * 16));
        batch.push(put(`key${Math.floor(random() * 100)}`, revision, value));
      }
      history.append(batch);
      late.append(batch);
      model.push(...batch);
      // What the model says is kept: the last 200 revisions, less the oldest past the bytes.
      const expected = model.filter((c) => c.revision >= history.oldest);
      expect(history.oldest).toBeGreaterThan(revision - 200);
      expect(expected.reduce((sum, c) => sum + changeCost(c), 0)).toBe(
        history.byteSize,
      );
      expect(history.byteSize).toBeLessThanOrEqual(limits.maxBytes);
      // ...and no more than it had to: keeping the revision before would break a limit.
      const before = model.filter((c) => c.revision === history.oldest - 1);
      if (before.length > 0) {
        const bytes = before.reduce((sum, c) => sum + changeCost(c), 0);
        expect(
          revision - (history.oldest - 1) >= 200 ||
            history.byteSize + bytes > limits.maxBytes,
        ).toBe(true);
      }
      if (b % 97 === 0) {
        const after = history.oldest - 1 + Math.floor(random() * 50);
        const upTo = after + Math.floor(random() * 100);
        expect(history.slice(after, upTo, Infinity)).toEqual(
          expected.filter((c) => c.revision > after && c.revision <= upTo),
        );
      }
      expect(late.oldest).toBeGreaterThanOrEqual(history.oldest);
      model = model.filter((c) => c.revision >= history.oldest - 1);
    }
    expect(history.oldest).toBeGreaterThan(3000);
    expect(history.slice(history.oldest - 1, revision, Infinity)).toEqual(
      model.filter((c) => c.revision >= history.oldest),
    );
  });
});
