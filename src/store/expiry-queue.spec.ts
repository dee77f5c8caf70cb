import { ExpiryQueue } from './expiry-queue';
import { prng } from './seeded-random.spec-support';

interface HeapInternals {
  deadlines: number[];
  keys: string[];
}

/** Checks the min-heap property on the queue's private arrays. */
function expectHeap(queue: ExpiryQueue): void {
  const { deadlines, keys } = queue as unknown as HeapInternals;
  expect(keys).toHaveLength(deadlines.length);
  expect(queue.size).toBe(keys.length);
  for (let i = 1; i < deadlines.length; i++) {
    const parent = (i - 1) >> 1;
    if (deadlines[parent]! > deadlines[i]!) {
      throw new Error(
        `heap broken at ${i}: parent ${deadlines[parent]} > ${deadlines[i]}`,
      );
    }
  }
}

/** Pops everything (with `now` at +Infinity) and returns the keys in order. */
function drain(queue: ExpiryQueue): string[] {
  const out: string[] = [];
  for (
    let key = queue.popExpired(Infinity);
    key !== undefined;
    key = queue.popExpired(Infinity)
  ) {
    out.push(key);
  }
  return out;
}

describe('ExpiryQueue', () => {
  it('is empty at first', () => {
    const queue = new ExpiryQueue();
    expect(queue.size).toBe(0);
    expect(queue.peekDeadline()).toBeUndefined();
    expect(queue.popExpired(Infinity)).toBeUndefined();
  });

  it('pops only pairs whose deadline is at or before now, earliest first', () => {
    const queue = new ExpiryQueue();
    queue.push(300, 'c');
    queue.push(100, 'a');
    queue.push(200, 'b');
    expect(queue.size).toBe(3);
    expect(queue.peekDeadline()).toBe(100);

    expect(queue.popExpired(99)).toBeUndefined();
    expect(queue.size).toBe(3);
    expect(queue.popExpired(100)).toBe('a');
    expect(queue.popExpired(250)).toBe('b');
    expect(queue.popExpired(250)).toBeUndefined();
    expect(queue.peekDeadline()).toBe(300);
    expect(queue.popExpired(1e15)).toBe('c');
    expect(queue.size).toBe(0);
    expect(queue.peekDeadline()).toBeUndefined();
  });

  it('handles deadlines beyond 2^31 ms and ten years away', () => {
    const queue = new ExpiryQueue();
    const now = 1_700_000_000_000;
    queue.push(now + 315_360_000_000, 'ten-years');
    queue.push(now + 2 ** 31 + 1, 'past-2^31');
    queue.push(now + 1, 'soon');
    expect(queue.popExpired(now)).toBeUndefined();
    expect(queue.popExpired(now + 1)).toBe('soon');
    expect(queue.popExpired(now + 2 ** 31)).toBeUndefined();
    expect(queue.popExpired(now + 2 ** 31 + 1)).toBe('past-2^31');
    expect(queue.popExpired(now + 315_359_999_999)).toBeUndefined();
    expect(queue.popExpired(now + 315_360_000_000)).toBe('ten-years');
  });

  it('keeps the heap property and pops in deadline order under random pushes and pops', () => {
    const random = prng(0xc0ffee);
    const queue = new ExpiryQueue();
    const reference: { deadline: number; key: string }[] = [];
    let now = 0;
    let serial = 0;
    const minDeadline = () => {
      let min: number | undefined;
      for (const pair of reference) {
        if (min === undefined || pair.deadline < min) min = pair.deadline;
      }
      return min;
    };
    // Plain checks in the hot loop, one assertion at the end: thousands of matcher calls are slow.
    const problems: string[] = [];
    for (let step = 0; step < 5000; step++) {
      if (random() < 0.6) {
        // Many ties on purpose: deadlines from a small range.
        const deadline = now + 1 + Math.floor(random() * 50);
        const key = `k${serial++}`;
        queue.push(deadline, key);
        reference.push({ deadline, key });
      } else {
        now += Math.floor(random() * 10);
        const min = minDeadline();
        const key = queue.popExpired(now);
        if (min === undefined || min > now) {
          if (key !== undefined)
            problems.push(`step ${step}: popped ${key} early`);
        } else {
          // Ties come out in any order, but the pair popped must hold the least deadline.
          const index = reference.findIndex((pair) => pair.key === key);
          if (index < 0) {
            problems.push(
              `step ${step}: popped ${key}, expected a pair at ${min}`,
            );
          } else {
            if (reference[index]!.deadline !== min) {
              problems.push(
                `step ${step}: popped ${reference[index]!.deadline}, min ${min}`,
              );
            }
            reference.splice(index, 1);
          }
        }
      }
      if (queue.size !== reference.length) {
        problems.push(
          `step ${step}: size ${queue.size}, expected ${reference.length}`,
        );
      }
      if (queue.peekDeadline() !== minDeadline()) {
        problems.push(
          `step ${step}: peek ${queue.peekDeadline()}, min ${minDeadline()}`,
        );
      }
      if (step % 50 === 0) expectHeap(queue);
      if (problems.length > 5) break;
    }
    expect(problems).toEqual([]);
    expect(serial).toBeGreaterThan(2500);
    expect(reference.length).toBeLessThan(serial); // pops did happen
    expectHeap(queue);

    // Draining yields every remaining key, in non-decreasing deadline order.
    const deadlineOf = new Map(
      reference.map((pair) => [pair.key, pair.deadline]),
    );
    const drained = drain(queue);
    expect(new Set(drained)).toEqual(new Set(deadlineOf.keys()));
    for (let i = 1; i < drained.length; i++) {
      expect(deadlineOf.get(drained[i]!)!).toBeGreaterThanOrEqual(
        deadlineOf.get(drained[i - 1]!)!,
      );
    }
  });

  it('compact keeps exactly the current pairs and rebuilds a valid heap', () => {
    const random = prng(42);
    const queue = new ExpiryQueue();
    // The "store": each key's current deadline; pairs with another deadline are stale.
    const current = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const key = `k${Math.floor(random() * 400)}`;
      const deadline = 1 + Math.floor(random() * 100_000);
      queue.push(deadline, key);
      current.set(key, deadline);
      if (random() < 0.1) current.delete(key); // deleted: every pair of it is stale
    }
    expect(queue.size).toBe(3000);

    const seen: [number, string][] = [];
    queue.compact((deadline, key) => {
      seen.push([deadline, key]);
      return current.get(key) === deadline;
    });
    // The predicate saw every pair once.
    expect(seen).toHaveLength(3000);

    // Deadlines are drawn from a wide range, so a key's pairs hardly ever share a deadline: keep
    // that assumption explicit, then exactly one pair per current key is left.
    expect(queue.size).toBe(current.size);
    expectHeap(queue);

    const popped: [number, string][] = [];
    for (;;) {
      const deadline = queue.peekDeadline();
      const key = queue.popExpired(Infinity);
      if (key === undefined) break;
      popped.push([deadline!, key]);
    }
    expect(popped.map(([, key]) => key).sort()).toEqual(
      [...current.keys()].sort(),
    );
    for (const [deadline, key] of popped)
      expect(current.get(key)).toBe(deadline);
    for (let i = 1; i < popped.length; i++) {
      expect(popped[i]![0]).toBeGreaterThanOrEqual(popped[i - 1]![0]);
    }
  });

  it('compact can drop everything, and the queue still works afterwards', () => {
    const queue = new ExpiryQueue();
    for (let i = 0; i < 10; i++) queue.push(i + 1, `k${i}`);
    queue.compact(() => false);
    expect(queue.size).toBe(0);
    expect(queue.peekDeadline()).toBeUndefined();
    expect(queue.popExpired(Infinity)).toBeUndefined();
    queue.push(5, 'again');
    expect(queue.popExpired(5)).toBe('again');
  });

  it('compact keeping everything preserves the pop order', () => {
    const queue = new ExpiryQueue();
    const deadlines = [50, 10, 40, 20, 30, 60, 5];
    deadlines.forEach((deadline) => queue.push(deadline, `d${deadline}`));
    queue.compact(() => true);
    expectHeap(queue);
    expect(drain(queue)).toEqual([
      'd5',
      'd10',
      'd20',
      'd30',
      'd40',
      'd50',
      'd60',
    ]);
  });
});
