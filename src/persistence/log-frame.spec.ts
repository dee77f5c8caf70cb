import {
  decodeBatch,
  encodeBatchFrame,
  encodeFrame,
  FormatError,
  packPayload,
  readFrame,
} from './log-frame';

const change = (
  key: string,
  value: string | null,
  deadline: number,
  revision: number,
  expired = false,
) => ({ key, value, deadline, revision, expired });

const TINY = { from: 7, changes: [change('k', '1', 0, 7)] };
// u32 LE length 11, u32 LE CRC-32 0x6b8ee66b, msgpack ["b2", 7, "k", "1", 0, 0].
const TINY_BYTES = '0b000000' + '6be68e6b' + '96a2623207a16ba1310000';
// The first format: u32 LE length 7, CRC-32 0x24694b28, msgpack [7, "k", "1", 0].
const V1_TINY_BYTES = '07000000' + '284b6924' + '9407a16ba13100';

describe('log frames', () => {
  it('lays out a tiny batch byte for byte', () => {
    expect(encodeBatchFrame(TINY).toString('hex')).toBe(TINY_BYTES);
  });

  it('still reads a batch of the first format, one revision per change', () => {
    const v1 = readFrame(Buffer.from(V1_TINY_BYTES, 'hex'), 0);
    if (v1.kind !== 'frame') throw new Error(v1.kind);
    expect(decodeBatch(v1.payload)).toEqual(TINY);
    const two = readFrame(
      encodeFrame(packPayload([3, 'a', '1', 0, 'b', null, 0])),
      0,
    );
    if (two.kind !== 'frame') throw new Error(two.kind);
    expect(decodeBatch(two.payload)).toEqual({
      from: 3,
      changes: [change('a', '1', 0, 3), change('b', null, 0, 4)],
    });
  });

  it("carries a transaction's shared revision and an expiry in each change's flags", () => {
    const batch = {
      from: 4,
      changes: [
        change('gone', null, 0, 4, true),
        change('a', '1', 0, 5),
        change('b', null, 0, 5),
        change('c', '2', 9, 5),
        change('d', '3', 0, 6),
      ],
    };
    const frame = readFrame(encodeBatchFrame(batch), 0);
    if (frame.kind !== 'frame') throw new Error(frame.kind);
    // Flags: 2 (expired), 0, 1 (same revision), 1, 0.
    expect(frame.payload.toString('hex')).toBe(
      'dc0016a2623204' +
        'a4676f6e65c00002' +
        'a161a1310000' +
        'a162c00001' +
        'a163a1320901' +
        'a164a1330000',
    );
    expect(decodeBatch(frame.payload)).toEqual(batch);
  });

  it('reads back what it wrote, frame after frame', () => {
    const second = {
      from: 8,
      changes: [
        change('a/b \u0000 🗝', null, 0, 8),
        change('__proto__', '{"x":[1]}', 1_700_000_000_123, 9),
      ],
    };
    const bytes = Buffer.concat([
      encodeBatchFrame(TINY),
      encodeBatchFrame(second),
    ]);
    const first = readFrame(bytes, 0);
    if (first.kind !== 'frame') throw new Error(first.kind);
    expect(decodeBatch(first.payload)).toEqual(TINY);
    const next = readFrame(bytes, first.next);
    if (next.kind !== 'frame') throw new Error(next.kind);
    expect(decodeBatch(next.payload)).toEqual(second);
    expect(next.next).toBe(bytes.length);
  });

  it('detects a flipped bit in the payload or in the checksum', () => {
    for (const at of [5, 9, 14]) {
      const bytes = Buffer.from(TINY_BYTES, 'hex');
      bytes[at]! ^= 0x10;
      expect(readFrame(bytes, 0)).toEqual({
        kind: 'corrupt',
        reason: 'checksum mismatch',
        end: 19,
      });
    }
  });

  it('reports a frame cut anywhere as incomplete (a torn tail)', () => {
    const bytes = Buffer.from(TINY_BYTES, 'hex');
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(readFrame(bytes.subarray(0, cut), 0)).toEqual({
        kind: 'incomplete',
      });
    }
  });

  it('calls a zero or absurd length corrupt', () => {
    expect(readFrame(Buffer.alloc(16), 0)).toMatchObject({
      kind: 'corrupt',
      reason: 'impossible frame length 0',
    });
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(0xffffffff, 0);
    expect(readFrame(huge, 0)).toMatchObject({ kind: 'corrupt' });
  });

  it('refuses a well-framed payload that is not a batch', () => {
    for (const value of [
      { a: 1 },
      [],
      [0, 'k', '1', 0],
      [1, 'k', '1'],
      [1, 2, '1', 0],
      ['b2', 1, 'k', '1', 0],
      ['b2', 1, 'k', '1', 0, 'x'],
      ['b2', 0, 'k', '1', 0, 0],
    ]) {
      const frame = readFrame(encodeFrame(packPayload(value)), 0);
      if (frame.kind !== 'frame') throw new Error(frame.kind);
      expect(() => decodeBatch(frame.payload)).toThrow(FormatError);
    }
  });
});
