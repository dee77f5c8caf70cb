import { PendingWrites } from './pending-writes';

describe('PendingWrites', () => {
  it('holds values by id until taken, and counts them', () => {
    const pending = new PendingWrites<string>(4);
    expect(pending.add(1, 'a')).toBe(true);
    expect(pending.add(2, 'b')).toBe(true);
    expect(pending.size).toBe(2);
    expect(pending.take(2)).toBe('b');
    expect(pending.take(2)).toBeUndefined();
    expect(pending.take(1)).toBe('a');
    expect(pending.size).toBe(0);
  });

  it('reuses slots as ids move on past the capacity', () => {
    const pending = new PendingWrites<number>(4);
    for (let id = 1; id <= 100; id++) {
      expect(pending.add(id, id * 10)).toBe(true);
      if (id > 3) expect(pending.take(id - 3)).toBe((id - 3) * 10);
    }
    expect(pending.size).toBe(3);
  });

  it('refuses an id whose slot an older write still holds', () => {
    const pending = new PendingWrites<string>(3);
    expect(pending.add(1, 'stuck')).toBe(true);
    expect(pending.add(5, 'newer')).toBe(false);
    expect(pending.size).toBe(1);
    expect(pending.take(1)).toBe('stuck');
    expect(pending.add(5, 'newer')).toBe(true);
  });

  it('answers nothing for an id it does not hold, even when its slot is taken', () => {
    const pending = new PendingWrites<string>(4);
    pending.add(6, 'six');
    expect(pending.take(2)).toBeUndefined();
    expect(pending.take(7)).toBeUndefined();
    expect(pending.take(6)).toBe('six');
  });
});
