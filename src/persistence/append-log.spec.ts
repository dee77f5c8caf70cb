import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

describe('AppendLog', () => {
  it('appends frames and counts the bytes, across reopening', () => {
    const path = join(dir, 'a.aof');
    const log = new AppendLog(path, 'no', fail);
    log.append(Buffer.from('abc'));
    log.append(Buffer.from('de'));
    expect(log.size).toBe(5);
    log.close();
    const again = new AppendLog(path, 'no', fail);
    expect(again.size).toBe(5);
    again.append(Buffer.from('f'));
    again.close();
    expect(readFileSync(path, 'utf8')).toBe('abcdef');
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
    await log.sync();
    expect(order).toEqual([1, 2, 3]);
    // Nothing new appended: acknowledged at once.
    log.afterDurable(() => order.push(4));
    expect(order).toEqual([1, 2, 3, 4]);
    log.close();
  });

  it('with no or everysec, acknowledges at once', () => {
    for (const policy of ['no', 'everysec'] as const) {
      const log = new AppendLog(join(dir, `${policy}.aof`), policy, fail);
      log.append(Buffer.from('1'));
      let done = false;
      log.afterDurable(() => (done = true));
      expect(done).toBe(true);
      log.close();
    }
  });

  it('rotates into a new file, the old one fsynced, pending answers released', async () => {
    const log = new AppendLog(join(dir, 'a.aof'), 'always', fail);
    const order: string[] = [];
    log.append(Buffer.from('old'));
    log.afterDurable(() => order.push('old'));
    log.append(Buffer.from('old2'));
    log.afterDurable(() => order.push('old2'));
    log.rotate(join(dir, 'b.aof'));
    expect(log.size).toBe(0);
    log.append(Buffer.from('new'));
    log.afterDurable(() => order.push('new'));
    await log.sync();
    expect(order).toEqual(['old', 'old2', 'new']);
    log.close();
    expect(readFileSync(join(dir, 'a.aof'), 'utf8')).toBe('oldold2');
    expect(readFileSync(join(dir, 'b.aof'), 'utf8')).toBe('new');
  });
});
