import * as zlib from 'node:zlib';
import { crc32, crc32Table } from './crc32';

describe('crc32', () => {
  it('gives the standard check value for "123456789"', () => {
    const check = Buffer.from('123456789', 'ascii');
    expect(crc32Table(check)).toBe(0xcbf43926);
    expect(crc32(check)).toBe(0xcbf43926);
  });

  it('is 0 for no bytes', () => {
    expect(crc32Table(new Uint8Array(0))).toBe(0);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('agrees with the native one on every byte value', () => {
    const data = Buffer.alloc(1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    expect(crc32Table(data)).toBe(crc32(data));
    const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
    if (native !== undefined) expect(crc32Table(data)).toBe(native(data));
  });
});
