import { Packr } from 'msgpackr';
import { WriteOp, WriteStatus } from '../store';
import { decodeFrame, encodeMessage, ProtocolError } from './codec';
import { Message, MessageType, ReplyStatus } from './messages';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const roundTrip = (message: Message): Message[] =>
  decodeFrame(encodeMessage(message));

describe('protocol codec', () => {
  describe('wire bytes', () => {
    it('encodes a message as a msgpack array that starts with its type tag', () => {
      // fixarray of 1 (0x91), positive fixint 1
      expect(hex(encodeMessage({ type: MessageType.Hello }))).toBe('9101');
      // fixarray of 2, fixint 4, uint16 300 (0xcd 0x012c)
      expect(
        hex(encodeMessage({ type: MessageType.Applied, revision: 300 })),
      ).toBe('9204cd012c');
    });

    it('flattens the records of a batch into one array: key, value, deadline, flags per change', () => {
      const bytes = encodeMessage({
        type: MessageType.Batch,
        from: 7,
        publishedAt: 1,
        ack: false,
        changes: [
          { key: 'a', value: '1', deadline: 0, revision: 7, expired: false },
          { key: 'b', value: null, deadline: 0, revision: 8, expired: true },
          { key: 'c', value: '2', deadline: 0, revision: 9, expired: false },
          { key: 'd', value: null, deadline: 0, revision: 9, expired: false },
        ],
      });
      // fixarray 20: 23, 7, 1, false, then "a" "1" 0 0, "b" nil 0 2 (expired), "c" "2" 0 0,
      // "d" nil 0 1 (shares revision 9 with "c": one transaction).
      expect(hex(bytes)).toBe(
        'dc0014170701c2' +
          'a161a1310000' +
          'a162c00002' +
          'a163a1320000' +
          'a164c00001',
      );
      const [decoded] = decodeFrame(bytes);
      expect(decoded).toMatchObject({
        changes: [
          { key: 'a', revision: 7, expired: false },
          { key: 'b', revision: 8, expired: true },
          { key: 'c', revision: 9, expired: false },
          { key: 'd', revision: 9, expired: false },
        ],
      });
    });

    it('carries a shard image as shard, count and one msgpack bin field', () => {
      const bytes = encodeMessage({
        type: MessageType.SnapshotChunk,
        shards: [{ shard: 2, count: 1, records: new Uint8Array([0xff, 0]) }],
      });
      // fixarray 4: 21, 2, 1, bin8 of 2 bytes
      expect(hex(bytes)).toBe('94150201c402ff00');
    });

    it('carries keys and values as exact UTF-8 strings, whatever they hold', () => {
      const key = '\u0000../__proto__/😀';
      const value = '{"__proto__": {"x": 1}, "s": "\\u0000"}';
      const [decoded] = roundTrip({ type: MessageType.StrongRead, id: 1, key });
      expect(decoded).toEqual({ type: MessageType.StrongRead, id: 1, key });
      const [batch] = roundTrip({
        type: MessageType.Batch,
        from: 1,
        publishedAt: 0,
        ack: true,
        changes: [{ key, value, deadline: 0, revision: 1, expired: false }],
      });
      expect(batch).toMatchObject({ changes: [{ key, value, deadline: 0 }] });
    });
  });

  describe('round trips', () => {
    const messages: Message[] = [
      { type: MessageType.Hello },
      {
        type: MessageType.Writes,
        requests: [
          {
            id: 1,
            op: WriteOp.Put,
            key: 'k',
            value: '{"a":1}',
            ttl: 315_360_000_000,
            ifMatch: [3, 4],
            ifNoneMatch: undefined,
            strong: true,
          },
          {
            id: 2,
            op: WriteOp.Delete,
            key: 'j',
            value: '',
            ttl: 0,
            ifMatch: '*',
            ifNoneMatch: undefined,
            strong: false,
          },
        ],
      },
      { type: MessageType.StrongRead, id: 9, key: 'x' },
      { type: MessageType.Applied, revision: 2 ** 40 },
      { type: MessageType.Query, id: 3, kind: 'digest' },
      { type: MessageType.ProbeAnswer, id: 3, body: { pid: 1, digest: 'ab' } },
      { type: MessageType.SnapshotBegin, revision: 12 },
      {
        type: MessageType.SnapshotChunk,
        shards: [
          { shard: 7, count: 1, records: new Uint8Array(32).fill(9) },
          { shard: 4095, count: 2, records: new Uint8Array(48) },
        ],
      },
      { type: MessageType.SnapshotChunk, shards: [] },
      { type: MessageType.SnapshotEnd },
      {
        type: MessageType.Batch,
        from: 5,
        publishedAt: 1_795_000_000_000.25,
        ack: true,
        changes: [
          {
            key: 'k',
            value: 'true',
            deadline: 1_795_000_000_123,
            revision: 5,
            expired: false,
          },
        ],
      },
      {
        type: MessageType.WriteResults,
        results: [
          { id: 1, status: WriteStatus.Ok, revision: 5 },
          { id: 2, status: ReplyStatus.Unconfirmed, revision: 6 },
        ],
      },
      { type: MessageType.ReadResult, id: 4, value: null, revision: 0 },
      { type: MessageType.QueryResult, id: 5, body: 'text' },
      { type: MessageType.Probe, id: 6, kind: 'metrics' },
      { type: MessageType.Shutdown },
      { type: MessageType.HistoryRequest, id: 7, after: 40, upTo: 2 ** 40 },
      {
        type: MessageType.HistoryChanges,
        id: 7,
        revision: 60,
        oldest: 10,
        changes: [
          { key: 'a', value: '1', deadline: 9, revision: 41, expired: false },
          { key: 'b', value: null, deadline: 0, revision: 41, expired: false },
          { key: 'c', value: null, deadline: 0, revision: 42, expired: true },
        ],
      },
      {
        type: MessageType.HistoryChanges,
        id: 8,
        revision: 60,
        oldest: 50,
        changes: [],
      },
    ];
    it.each(messages.map((m) => [m.type, m]))(
      'type %d decodes to what was encoded',
      (_t, message) => {
        expect(roundTrip(message)).toEqual([message]);
      },
    );
  });

  it('decodes a frame of several messages laid end to end, in order', () => {
    const batch = encodeMessage({
      type: MessageType.Batch,
      from: 1,
      publishedAt: 0,
      ack: false,
      changes: [],
    });
    const results = encodeMessage({
      type: MessageType.WriteResults,
      results: [{ id: 1, status: 0, revision: 1 }],
    });
    expect(
      decodeFrame(Buffer.concat([batch, results])).map((m) => m.type),
    ).toEqual([MessageType.Batch, MessageType.WriteResults]);
  });

  describe('refuses what is not a message of this protocol', () => {
    const raw = new Packr({ useRecords: false });
    it.each([
      ['an unknown type tag', raw.pack([99])],
      ['a value that is not an array', raw.pack({ type: 1 })],
      ['an array without a numeric tag', raw.pack(['hello'])],
      ['a truncated record list', raw.pack([MessageType.WriteResults, 1, 0])],
      [
        'a snapshot chunk with a partial shard image',
        raw.pack([MessageType.SnapshotChunk, 1, 1]),
      ],
      [
        'a snapshot chunk whose records are not bytes',
        raw.pack([MessageType.SnapshotChunk, 1, 1, 'k']),
      ],
      [
        'a snapshot chunk whose shard is not a number',
        raw.pack([MessageType.SnapshotChunk, '1', 1, new Uint8Array(24)]),
      ],
      ['bytes that are not msgpack', Buffer.from([0xc1])],
    ])('%s', (_what, bytes) => {
      expect(() => decodeFrame(bytes)).toThrow(ProtocolError);
    });
  });
});
