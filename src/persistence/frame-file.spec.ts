import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanFrameFile } from './frame-file';
import { encodeFrame, FRAME_HEADER_BYTES } from './log-frame';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'frame-file-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('scanFrameFile', () => {
  it('hands each payload with where its frame starts and ends in the file', () => {
    const path = join(dir, 'frames');
    const sizes = [1, 300, 7];
    writeFileSync(
      path,
      Buffer.concat(sizes.map((size) => encodeFrame(Buffer.alloc(size, size)))),
    );
    const seen: [number, number, number][] = [];
    const scan = scanFrameFile(path, (payload, offset, end) =>
      seen.push([payload.length, offset, end]),
    );
    const a = FRAME_HEADER_BYTES + 1;
    const b = a + FRAME_HEADER_BYTES + 300;
    const c = b + FRAME_HEADER_BYTES + 7;
    expect(seen).toEqual([
      [1, 0, a],
      [300, a, b],
      [7, b, c],
    ]);
    expect(scan).toEqual({ goodBytes: c, fileBytes: c });
  });
});
