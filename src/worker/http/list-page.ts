import { Milliseconds, NO_DEADLINE, Revision } from '../../store';

const decoder = new TextDecoder();

/**
 * The JSON text of a `GET /_/keys` page, written by hand: keys through `JSON.stringify`, each
 * value spliced in as the stored text itself, never parsed or encoded again.
 *
 * The text is one string while it can be: Node sends a string body in one write with the head.
 * A value of more than `decodedValueBytes` (bytes, or UTF-16 units for one given as text) goes
 * in as its bytes, not decoded to be encoded again, and from then on the page is a list of
 * buffers, so a page of large values never has to fit in one string (it can hold 1000 values
 * of up to `KV_MAX_VALUE_BYTES`).
 */
export class ListPageWriter {
  private text = '{"keys":[';
  private chunks: Buffer[] | undefined;
  private count = 0;

  constructor(private readonly decodedValueBytes: number) {}

  /**
   * Adds one key. `deadline` in ms since the epoch, NO_DEADLINE for none (`"expiresAt":null`).
   * `value`: the stored JSON text, as text or as its UTF-8 bytes; undefined when the page
   * has no values.
   */
  add(
    key: string,
    revision: Revision,
    deadline: Milliseconds,
    value: string | Uint8Array | undefined,
  ): void {
    this.text +=
      (this.count++ === 0 ? '{"key":' : ',{"key":') +
      JSON.stringify(key) +
      ',"revision":' +
      revision +
      ',"expiresAt":' +
      (deadline === NO_DEADLINE ? 'null' : deadline);
    if (value === undefined) {
      this.text += '}';
    } else if (value.length <= this.decodedValueBytes) {
      this.text +=
        ',"value":' +
        (typeof value === 'string' ? value : decoder.decode(value)) +
        '}';
    } else {
      this.text += ',"value":';
      (this.chunks ??= []).push(
        Buffer.from(this.text, 'utf8'),
        typeof value === 'string'
          ? Buffer.from(value, 'utf8')
          : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
      );
      this.text = '}';
    }
  }

  /** The whole page, with its `cursor` (null for none) and the `revision` it was read at. */
  finish(cursor: string | null, revision: Revision): string | Buffer {
    this.text +=
      '],"cursor":' +
      (cursor === null ? 'null' : '"' + cursor + '"') +
      ',"revision":' +
      revision +
      '}';
    if (this.chunks === undefined) return this.text;
    this.chunks.push(Buffer.from(this.text, 'utf8'));
    return Buffer.concat(this.chunks);
  }
}
