import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppendLog } from './append-log';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kv-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fail = (error: Error) => {
  throw error;
};

const written = (log: AppendLog) =>
  new Promise<void>((resolve) => log.afterWritten(resolve));

describe('AppendLog', () => {
  it('appends frames and counts the bytes, across reopening', async () => {
    const path = join(dir, 'a.aof');
    const log = new AppendLog(path, 'no', fail);
    log.append(Buffer.from('abc'));
    log.append(Buffer.from('de'));
    expect(log.size).toBe(5);
    await log.close();
    const again = new AppendLog(path, 'no', fail);
    expect(again.size).toBe(5);
    again.append(Buffer.from('f'));
    await again.close();
    expect(readFileSync(path, 'utf8')).toBe('abcdef');
  });

  it('queues appends off the event loop and writes them in order, coalesced', async () => {
    const path = join(dir, 'a.aof');
    const log = new AppendLog(path, 'no', fail);
    log.append(Buffer.from('a'));
    // The first write is in flight; these queue behind it and leave together.
    for (let i = 0; i < 1000; i++) log.append(Buffer.from(`${i % 10}`));
    expect(log.unwritten).toBe(1001);
    expect(log.overloaded).toBe(false);
    await written(log);
    expect(log.unwritten).toBe(0);
    const expected =
      'a' + Array.from({ length: 1000 }, (_, i) => `${i % 10}`).join('');
    expect(readFileSync(path, 'utf8')).toBe(expected);
    await log.close();
  });

  it('says it is overloaded past its bound until written', async () => {
    // A small bound, so that the test writes kilobytes rather than the default's 64 MiB.
    const log = new AppendLog(join(dir, 'a.aof'), 'no', fail, 4096);
    log.append(Buffer.alloc(4096));
    expect(log.overloaded).toBe(false);
    log.append(Buffer.alloc(1));
    expect(log.overloaded).toBe(true);
    await written(log);
    expect(log.overloaded).toBe(false);
    await log.close();
  });

  it('with always, answers after an fsync, in order, many appends sharing one', async () => {
    const log = new AppendLog(join(dir, 'a.aof'), 'always', fail);
    const order: number[] = [];
    log.append(Buffer.from('1'));
    log.afterDurable(() => order.push(1));
    log.append(Buffer.from('2'));
    log.afterDurable(() => order.push(2));
    log.append(Buffer.from('3'));
    log.afterDurable(() => order.push(3));
    // Nothing is acknowledged before the fsync ends.
    expect(order).toEqual([]);
    await written(log);
    // Written is not enough: the fsync that started after the write has to end.
    expect(order).toEqual([]);
    await log.sync();
    expect(order).toEqual([1, 2, 3]);
    // Nothing new appended: acknowledged at once.
    log.afterDurable(() => order.push(4));
    expect(order).toEqual([1, 2, 3, 4]);
    await log.close();
  });

  it('with always, a batch appended during an fsync waits for the next one', async () => {
    const path = join(dir, 'a.aof');
    const log = new AppendLog(path, 'always', fail);
    const order: string[] = [];
    log.append(Buffer.from('1'));
    log.afterDurable(() => order.push('1'));
    await written(log);
    // The fsync for '1' has started now; '2' is written while it runs (or after it).
    log.append(Buffer.from('2'));
    log.afterDurable(() => {
      order.push('2');
      // Its bytes were written before the fsync that released it started.
      expect(readFileSync(path, 'utf8')).toBe('12');
    });
    const first = log.sync();
    await new Promise<void>((resolve) => log.afterDurable(resolve));
    await first;
    expect(order).toEqual(['1', '2']);
    await log.close();
  });

  it('with no or everysec, acknowledges once written, before any fsync', async () => {
    for (const policy of ['no', 'everysec'] as const) {
      const path = join(dir, `${policy}.aof`);
      const log = new AppendLog(path, policy, fail);
      // Nothing appended: at once.
      let first = false;
      log.afterDurable(() => (first = true));
      expect(first).toBe(true);
      log.append(Buffer.from('1'));
      const seen = await new Promise<string>((resolve) =>
        log.afterDurable(() => resolve(readFileSync(path, 'utf8'))),
      );
      expect(seen).toBe('1');
      await log.close();
    }
  });

  it('with everysec, fsyncs in the background', async () => {
    const log = new AppendLog(join(dir, 'a.aof'), 'everysec', fail);
    log.append(Buffer.from('1'));
    await written(log);
    // sync() waits for an fsync; the timer may have started it already, which is fine.
    await log.sync();
    await log.close();
  });

  it('rotates into a new file, the old one written and fsynced first, answers in order', async () => {
    const log = new AppendLog(join(dir, 'a.aof'), 'always', fail);
    const order: string[] = [];
    log.append(Buffer.from('old'));
    log.afterDurable(() => order.push('old'));
    log.append(Buffer.from('old2'));
    log.afterDurable(() => order.push('old2'));
    log.rotate(join(dir, 'b.aof'));
    expect(log.size).toBe(0);
    log.append(Buffer.from('new'));
    log.afterDurable(() => {
      order.push('new');
      expect(readFileSync(join(dir, 'a.aof'), 'utf8')).toBe('oldold2');
    });
    expect(log.size).toBe(3);
    await log.sync();
    expect(order).toEqual(['old', 'old2', 'new']);
    await log.close();
    expect(readFileSync(join(dir, 'a.aof'), 'utf8')).toBe('oldold2');
    expect(readFileSync(join(dir, 'b.aof'), 'utf8')).toBe('new');
  });

  it('keeps the order across rotations with no, and close drains every file', async () => {
    const log = new AppendLog(join(dir, 'a.aof'), 'no', fail);
    log.append(Buffer.from('a1'));
    log.rotate(join(dir, 'b.aof'));
    log.append(Buffer.from('b1'));
    log.rotate(join(dir, 'c.aof'));
    log.append(Buffer.from('c1'));
    log.append(Buffer.from('c2'));
    await log.close();
    expect(readFileSync(join(dir, 'a.aof'), 'utf8')).toBe('a1');
    expect(readFileSync(join(dir, 'b.aof'), 'utf8')).toBe('b1');
    expect(readFileSync(join(dir, 'c.aof'), 'utf8')).toBe('c1c2');
  });

  it('continues an existing file after a rotation into it', async () => {
    writeFileSync(join(dir, 'b.aof'), 'xy');
    const log = new AppendLog(join(dir, 'a.aof'), 'no', fail);
    log.rotate(join(dir, 'b.aof'));
    expect(log.size).toBe(2);
    log.append(Buffer.from('z'));
    await log.close();
    expect(readFileSync(join(dir, 'b.aof'), 'utf8')).toBe('xyz');
  });

  it('reports a failed write to onError and acknowledges nothing after it', async () => {
    const errors: Error[] = [];
    const log = new AppendLog(join(dir, 'a.aof'), 'always', (error) =>
      errors.push(error),
    );
    // A rotation into a directory that does not exist fails at once.
    log.rotate(join(dir, 'missing', 'b.aof'));
    expect(errors).toHaveLength(1);
    let acked = false;
    log.append(Buffer.from('1'));
    log.afterDurable(() => (acked = true));
    await expect(log.sync()).rejects.toBe(errors[0]);
    expect(acked).toBe(false);
    await log.close();
  });
});
