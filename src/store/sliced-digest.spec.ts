import { KvTable } from './kv-table';
import { SlicedDigest, TableDigest } from './sliced-digest';
import { NO_DEADLINE } from './types';

/** A pause the test releases by hand, one slice at a time. */
class Turns {
  private waiting: (() => void)[] = [];
  count = 0;

  readonly pause = (): Promise<void> => {
    this.count++;
    return new Promise((resolve) => this.waiting.push(resolve));
  };

  get pending(): number {
    return this.waiting.length;
  }

  /** Lets every paused scan take one more slice. */
  async step(): Promise<void> {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resume of waiting) resume();
    // Let the resumed scans run to their next pause (or their end).
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }

  async runOut(): Promise<void> {
    while (this.pending > 0) await this.step();
  }
}

function filled(shardBits: number, keys: number): KvTable {
  const table = new KvTable(shardBits);
  for (let i = 0; i < keys; i++)
    table.applyChange({
      key: `k${i}`,
      value: JSON.stringify({ i }),
      deadline: i % 5 === 0 ? 1000 + i : NO_DEADLINE,
      revision: i + 1,
      expired: false,
    });
  return table;
}

describe('SlicedDigest', () => {
  let now: number;
  const clock = () => now;
  beforeEach(() => (now = 500));

  it('gives the one-pass digest, a bounded slice per turn', async () => {
    const table = filled(4, 2000);
    const turns = new Turns();
    const sliced = new SlicedDigest(
      () => ({ table, revision: 2000 }),
      clock,
      turns.pause,
      100,
    );
    let answer: TableDigest | undefined;
    void sliced.request().then((a) => (answer = a));
    // 16 shards of about 125 entries: a slice ends after the first shard past 100 entries.
    expect(turns.pending).toBe(1);
    await turns.runOut();
    expect(turns.count).toBeGreaterThanOrEqual(8);
    expect(turns.count).toBeLessThanOrEqual(15);
    expect(answer).toEqual({ revision: 2000, digest: table.digest(500) });
  });

  it('counts entries live when the scan began', async () => {
    const table = filled(2, 50);
    now = 1010;
    const at1010 = table.digest(1010);
    expect(at1010).not.toBe(table.digest(500));
    const turns = new Turns();
    const sliced = new SlicedDigest(
      () => ({ table, revision: 50 }),
      clock,
      turns.pause,
      5,
    );
    const answer = sliced.request();
    now = 5000; // the clock moves on while the scan runs
    await turns.runOut();
    expect((await answer).digest).toBe(at1010);
  });

  it('runs one scan at a time; requests made meanwhile share the next one, which sees their writes', async () => {
    const table = filled(4, 500);
    let revision = 500;
    const reads: number[] = [];
    const turns = new Turns();
    const sliced = new SlicedDigest(
      () => {
        reads.push(revision);
        return { table, revision };
      },
      clock,
      turns.pause,
      10,
    );
    const first = sliced.request();
    await turns.step();
    table.applyChange({
      key: 'late',
      value: '1',
      deadline: NO_DEADLINE,
      revision: 501,
      expired: false,
    });
    revision = 501;
    const second = sliced.request();
    const third = sliced.request();
    expect(third).toBe(second);
    // Only the first scan pauses while it runs.
    expect(turns.pending).toBe(1);
    expect(reads).toEqual([500]);
    await turns.runOut();
    expect((await first).revision).toBe(500);
    expect(await second).toEqual({ revision: 501, digest: table.digest(500) });
    expect(reads).toEqual([500, 501]);
    // With nothing running, a request starts its own scan at once.
    const fourth = sliced.request();
    expect(fourth).not.toBe(second);
    await turns.runOut();
    expect(await fourth).toEqual(await second);
  });

  it('needs no pause for a table that fits one slice', async () => {
    const table = filled(3, 20);
    const turns = new Turns();
    const sliced = new SlicedDigest(
      () => ({ table, revision: 20 }),
      clock,
      turns.pause,
    );
    expect(await sliced.request()).toEqual({
      revision: 20,
      digest: table.digest(500),
    });
    expect(turns.count).toBe(0);
  });
});
