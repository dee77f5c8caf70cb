import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthoritativeStore, KvTable, NO_DEADLINE } from '../store';
import { snapshotPath } from './data-dir';
import { scanFrameFile } from './frame-file';
import {
  encodeFrame,
  FormatError,
  packPayload,
  unpackArray,
} from './log-frame';
import { recover, RecoveryError } from './recovery';
import { readSnapshot, writeSnapshot } from './snapshot-file';

const NOW = 1_000_000;
const clock = () => NOW;
const decoder = new TextDecoder();
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kv-snapshot-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const options = {
  clock,
  beforeChunk: () => {},
  beforeCommit: () => Promise.resolve(),
  cancelled: () => false,
};

/** The table every test snapshots: four live entries and two expired at {@link NOW}. */
function sampleTable(): KvTable {
  const table = new KvTable(2);
  table.entries.set('ascii', '"hello"', 3, NO_DEADLINE);
  table.entries.set('clé-🗝', '"é€😀"', 5, NO_DEADLINE);
  table.entries.set('empty', '{}', 7, NO_DEADLINE);
  table.entries.set('ttl', '[1,2]', 8, 1_000_500);
  table.entries.set('expired', '1', 9, NOW); // a deadline equal to now is past
  table.entries.set('long-gone', '2', 2, 999_000);
  return table;
}

/** What {@link sampleTable} holds live at {@link NOW}: key, value, revision, deadline. */
const LIVE = [
  ['ascii', '"hello"', 3, 0],
  ['clé-🗝', '"é€😀"', 5, 0],
  ['empty', '{}', 7, 0],
  ['ttl', '[1,2]', 8, 1_000_500],
];

interface Read {
  revision: number;
  entries: (string | number)[][];
  types: string[];
}

/** Reads `path`, decoding each value inside the callback (a byte value is a borrowed view). */
function read(path: string): Read {
  const entries: (string | number)[][] = [];
  const types = new Set<string>();
  const revision = readSnapshot(path, (key, value, rev, deadline) => {
    types.add(typeof value === 'string' ? 'string' : 'bytes');
    const text = typeof value === 'string' ? value : decoder.decode(value);
    entries.push([key, text, rev, deadline]);
  });
  entries.sort(([a], [b]) => (String(a) < String(b) ? -1 : 1));
  return { revision, entries, types: [...types] };
}

/** Every payload of the file at `path`, decoded. */
function payloads(path: string): unknown[][] {
  const out: unknown[][] = [];
  const scan = scanFrameFile(path, (payload) => {
    // Copied, because the payload is a view of a buffer the scan reuses.
    out.push(unpackArray(Buffer.from(payload)));
  });
  expect(scan.damage).toBeUndefined();
  return out;
}

/** The version-1 file of what {@link LIVE} holds, as the previous release wrote it. */
function writeVersion1(path: string): void {
  const frames = [
    [1, 1, 10],
    [2, 'ascii', '"hello"', 3, 0, 'clé-🗝', '"é€😀"', 5, 0],
    [2, 'empty', '{}', 7, 0, 'ttl', '[1,2]', 8, 1_000_500],
    [3, 4],
  ];
  writeFileSync(
    path,
    Buffer.concat(frames.map((f) => encodeFrame(packPayload(f)))),
  );
}

describe('snapshot files', () => {
  it('round-trip keys, UTF-8 values, revisions and deadlines, leaving expired keys out', async () => {
    const path = join(dir, 'snapshot');
    const written = await writeSnapshot(path, 10, sampleTable(), options);
    expect(written.path).toBe(path);
    expect(written.entries).toBe(4);
    expect(readdirSync(dir)).toEqual(['snapshot']); // no temporary file left
    const got = read(path);
    expect(got.revision).toBe(10);
    expect(got.entries).toEqual(LIVE);
    expect(got.types).toEqual(['bytes']);
  });

  it('stores a value as its exact UTF-8 bytes', async () => {
    const path = join(dir, 'snapshot');
    await writeSnapshot(path, 10, sampleTable(), options);
    const hex = new Map<string, string>();
    readSnapshot(path, (key, value) => {
      hex.set(key, Buffer.from(value).toString('hex'));
    });
    expect(hex.get('clé-🗝')).toBe('22c3a9e282acf09f988022');
    expect(hex.get('empty')).toBe('7b7d');
  });

  it('writes version 2: a version-2 header and values as msgpack bin', async () => {
    const path = join(dir, 'snapshot');
    await writeSnapshot(path, 10, sampleTable(), options);
    const frames = payloads(path);
    expect(frames[0]).toEqual([1, 2, 10]);
    expect(frames.at(-1)).toEqual([3, 4]);
    const fields = frames.slice(1, -1).flatMap((f) => {
      expect(f[0]).toBe(2);
      return f.slice(1);
    });
    expect(fields).toHaveLength(16);
    for (let at = 0; at < fields.length; at += 4) {
      expect(typeof fields[at]).toBe('string');
      expect(fields[at + 1]).toBeInstanceOf(Uint8Array);
      expect(typeof fields[at + 2]).toBe('number');
      expect(typeof fields[at + 3]).toBe('number');
    }
    // On the wire: '{}' as bin 8 (0xc4, length 2), never as a fixstr (0xa2).
    const file = readFileSync(path).toString('hex');
    expect(file).toContain('c4027b7d');
    expect(file).not.toContain('a27b7d');
  });

  it('reads a version-1 file, values as strings', () => {
    const path = join(dir, 'snapshot');
    writeVersion1(path);
    const got = read(path);
    expect(got.revision).toBe(10);
    expect(got.entries).toEqual(LIVE);
    expect(got.types).toEqual(['string']);
  });

  it.each([
    ['version 1', (path: string) => Promise.resolve(writeVersion1(path))],
    [
      'version 2',
      (path: string) => writeSnapshot(path, 10, sampleTable(), options),
    ],
  ])(
    'recovers a store from a %s snapshot with the same values',
    async (_, write) => {
      await write(snapshotPath(dir, 10));
      const store = new AuthoritativeStore({ clock, shardBits: 2 });
      const report = recover(dir, store, false);
      expect(report.snapshotRevision).toBe(10);
      expect(report.snapshotKeys).toBe(4);
      expect(store.revision).toBe(10);
      const entries = ['ascii', 'clé-🗝', 'empty', 'ttl', 'expired'].map(
        (key) => {
          const entry = store.get(key);
          return entry && [key, entry.value, entry.revision, entry.deadline];
        },
      );
      expect(entries).toEqual([...LIVE, undefined]);
    },
  );

  it('hands byte values that read right while onEntry runs, past the first read buffer', () => {
    // Ten 1 MiB values: more than the 8 MiB the frame scanner reads at a time.
    const path = snapshotPath(dir, 10);
    const frames = [encodeFrame(packPayload([1, 2, 10]))];
    for (let i = 0; i < 10; i++) {
      const value = Buffer.alloc(1 << 20, 'a'.charCodeAt(0) + i);
      frames.push(encodeFrame(packPayload([2, `k${i}`, value, i + 1, 0])));
    }
    frames.push(encodeFrame(packPayload([3, 10])));
    writeFileSync(path, Buffer.concat(frames));
    const seen: string[] = [];
    readSnapshot(path, (key, value) => {
      if (typeof value === 'string') throw new Error('expected bytes');
      const text = decoder.decode(value);
      const same = text === text[0]!.repeat(1 << 20);
      seen.push(`${key}:${text[0]}:${text.length}:${same}`);
    });
    expect(seen).toEqual([
      'k0:a:1048576:true',
      'k1:b:1048576:true',
      'k2:c:1048576:true',
      'k3:d:1048576:true',
      'k4:e:1048576:true',
      'k5:f:1048576:true',
      'k6:g:1048576:true',
      'k7:h:1048576:true',
      'k8:i:1048576:true',
      'k9:j:1048576:true',
    ]);
    // Recovery copies each value into the store before the scanner reuses its buffer.
    const store = new AuthoritativeStore({ clock, shardBits: 2 });
    recover(dir, store, false);
    expect(store.get('k0')?.value.slice(0, 3)).toBe('aaa');
    expect(store.get('k0')?.byteLength).toBe(1 << 20);
    expect(store.get('k9')?.value.slice(-3)).toBe('jjj');
  });

  it.each([0, 3, '2'])('refuses a file whose header says version %p', (v) => {
    const path = join(dir, 'snapshot');
    writeFileSync(
      path,
      Buffer.concat([
        encodeFrame(packPayload([1, v, 10])),
        encodeFrame(packPayload([2, 'ascii', '"hello"', 3, 0])),
        encodeFrame(packPayload([3, 1])),
      ]),
    );
    const onEntry = jest.fn();
    expect(() => readSnapshot(path, onEntry)).toThrow(FormatError);
    expect(() => readSnapshot(path, onEntry)).toThrow(
      `${path}: not a snapshot of version 1 or 2`,
    );
    expect(onEntry).not.toHaveBeenCalled();
  });

  it('refuses a version-3 snapshot at recovery', () => {
    writeFileSync(
      snapshotPath(dir, 10),
      Buffer.concat([
        encodeFrame(packPayload([1, 3, 10])),
        encodeFrame(packPayload([3, 0])),
      ]),
    );
    const store = new AuthoritativeStore({ clock, shardBits: 2 });
    expect(() => recover(dir, store, false)).toThrow(RecoveryError);
    expect(() => recover(dir, store, false)).toThrow(
      /cannot load the snapshot: .*not a snapshot of version 1 or 2/,
    );
  });
});
