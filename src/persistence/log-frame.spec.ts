import {
  decodeBatch,
  encodeBatchFrame,
  encodeFrame,
  FormatError,
  packPayload,
  readFrame,
} from './log-frame';

const TINY = { from: 7, changes: [{ key: 'k', value: '1', deadline: 0 }] };
// u32 LE length 7, u32 LE CRC-32 0x24694b28, msgpack [7, "k", "1", 0].
const TINY_BYTES = '07000000' + '284b6924' + '9407a16ba13100';

describe('log frames', () => {
  it('lays out a tiny batch byte for byte', () => {
    expect(encodeBatchFrame(TINY).toString('hex')).toBe(TINY_BYTES);
  });

  it('reads back what it wrote, frame after frame', () => {
    const second = {
      from: 8,
      changes: [
        { key: 'a/b \u0000 🗝', value: null, deadline: 0 },
        { key: '__proto__', value: '{"x":[1]}', deadline: 1_700_000_000_123 },
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
        end: 15,
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
    ]) {
      const frame = readFrame(encodeFrame(packPayload(value)), 0);
      if (frame.kind !== 'frame') throw new Error(frame.kind);
      expect(() => decodeBatch(frame.payload)).toThrow(FormatError);
    }
  });
});
