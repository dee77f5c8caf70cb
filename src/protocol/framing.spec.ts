import { encodeFrame, FrameReader } from './framing';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
// Each in an ArrayBuffer of its own (Buffer.from would share a pool), so views can be told apart.
const bytes = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text, 'hex'));

describe('frames', () => {
  describe('encodeFrame', () => {
    it('writes a 4-byte big-endian length, then the parts end to end', () => {
      expect(hex(encodeFrame(bytes('9101')))).toBe('000000029101');
      expect(hex(encodeFrame(bytes('9101'), bytes('9204cd012c')))).toBe(
        '000000079101' + '9204cd012c',
      );
      expect(hex(encodeFrame())).toBe('00000000');
    });

    it('counts lengths past 16 bits and 24 bits in all four bytes', () => {
      const frame = encodeFrame(new Uint8Array(0x01_02_03));
      expect(hex(frame.subarray(0, 4))).toBe('00010203');
      expect(frame.length).toBe(4 + 0x01_02_03);
    });

    it('copies the parts: changing them afterwards leaves the frame as it was', () => {
      const part = bytes('aabb');
      const frame = encodeFrame(part);
      part[0] = 0;
      expect(hex(frame)).toBe('00000002aabb');
    });
  });

  describe('FrameReader', () => {
    const stream = Buffer.concat([
      encodeFrame(bytes('01')),
      encodeFrame(),
      encodeFrame(bytes('020304')),
      encodeFrame(new Uint8Array(300).fill(7)),
    ]);
    const expected = ['01', '', '020304', '07'.repeat(300)];

    it('returns every payload of frames that arrive in one piece', () => {
      expect(new FrameReader().push(stream).map(hex)).toEqual(expected);
    });

    it('returns the same payloads whatever the pieces, down to one byte each', () => {
      for (const size of [1, 2, 3, 4, 5, 7, 64, 301]) {
        const reader = new FrameReader();
        const payloads: string[] = [];
        for (let at = 0; at < stream.length; at += size)
          payloads.push(
            ...reader.push(stream.subarray(at, at + size)).map(hex),
          );
        expect({ size, payloads }).toEqual({ size, payloads: expected });
      }
    });

    it('holds a frame back until its last byte arrives', () => {
      const reader = new FrameReader();
      expect(reader.push(bytes('00000003aa'))).toEqual([]);
      expect(reader.push(bytes('bb'))).toEqual([]);
      expect(reader.push(bytes('cc00')).map(hex)).toEqual(['aabbcc']);
      expect(reader.push(bytes('000001dd')).map(hex)).toEqual(['dd']);
    });

    it('hands back a whole payload as a view of its piece, and a split one as a copy', () => {
      const piece = bytes('00000002aabb');
      const [whole] = new FrameReader().push(piece);
      expect(whole!.buffer).toBe(piece.buffer);

      const reader = new FrameReader();
      const first = bytes('00000002aa');
      reader.push(first);
      const [gathered] = reader.push(bytes('bb'));
      expect(hex(gathered!)).toBe('aabb');
      expect(gathered!.buffer).not.toBe(first.buffer);
    });
  });
});
