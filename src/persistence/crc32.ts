import * as zlib from 'node:zlib';

// zlib.crc32 is native from Node 20.15; the engines field allows 20.11, which lacks it.
const native = (
  zlib as { crc32?: (data: Uint8Array, value?: number) => number }
).crc32;

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 (IEEE 802.3, the one of zlib and gzip) in plain JavaScript, one table lookup a byte. */
export function crc32Table(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE) of `data`: zlib's native one where Node has it, {@link crc32Table} otherwise. */
export function crc32(data: Uint8Array): number {
  return native === undefined ? crc32Table(data) : native(data) >>> 0;
}
