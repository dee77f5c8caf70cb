import { Packr } from 'msgpackr';
import { TxnOpKind, TxnStatus, WriteOp, WriteStatus } from '../store';
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

    it('flattens the operations of a transaction: kind, key, value, ttl, ifMatch, ifNoneMatch per op', () => {
      const bytes = encodeMessage({
        type: MessageType.Txn,
        id: 1,
        strong: false,
        ops: [
          { kind: TxnOpKind.Put, key: 'a', value: '1', ttl: 0, ifMatch: [3] },
          {
            kind: TxnOpKind.Check,
            key: 'b',
            value: '',
            ttl: 0,
            ifNoneMatch: '*',
          },
        ],
      });
      // fixarray 15: 7, id 1, false, then 1 "a" "1" 0 [3] nil, 3 "b" "" 0 nil "*"
      expect(hex(bytes)).toBe(
        '9f0701c2' + '01a161a131009103c0' + '03a162a000c0a12a',
      );
    });

    it('flattens the failures of a transaction: index, key, reason, revision (nil when absent)', () => {
      const bytes = encodeMessage({
        type: MessageType.TxnResult,
        id: 2,
        status: TxnStatus.Failed,
        revision: 0,
        failures: [
          {
            index: 1,
            key: 'a',
            reason: WriteStatus.PreconditionFailed,
            revision: 5,
          },
          { index: 2, key: 'b', reason: WriteStatus.NotFound, revision: null },
        ],
      });
      // fixarray 12: 29, id 2, status 1, revision 0, then 1 "a" 3 5, 2 "b" 1 nil
      expect(hex(bytes)).toBe('9c1d020100' + '01a1610305' + '02a16201c0');
    });

    it('carries a shard image as shard, count and one msgpack bin field', () => {
      const bytes = encodeMessage({
        type: MessageType.SnapshotChunk,
        shards: [{ shard: 2, count: 1, records: new Uint8Array([0xff, 0]) }],
      });
      // fixarray 4: 21, 2, 1, bin8 of 2 bytes
      expect(hex(bytes)).toBe('94150201c402ff00');
    });

    it("answers a strong read with id, value, revision and the entry's deadline", () => {
      const bytes = encodeMessage({
        type: MessageType.ReadResult,
        id: 3,
        value: '1',
        revision: 9,
        deadline: 1_795_000_000_123,
      });
      // fixarray 5: 25, 3, "1", 9, then the deadline: msgpackr writes an integer above 2^32 as
      // a float64 (0xcb), exact up to 2^53.
      expect(hex(bytes)).toBe('951903a13109' + 'cb427a1ee565e7b000');
      // No deadline: 0, one byte.
      expect(
        hex(
          encodeMessage({
            type: MessageType.ReadResult,
            id: 3,
            value: null,
            revision: 0,
            deadline: 0,
          }),
        ),
      ).toBe('951903c00000');
    });

    it('asks for a page of keys with id, prefix, after (nil for none), limit and values', () => {
      const bytes = encodeMessage({
        type: MessageType.ListRequest,
        id: 1,
        prefix: 'a',
        after: 'b',
        limit: 100,
        values: true,
      });
      // fixarray 6: 9, 1, "a", "b", 100 (positive fixint), true
      expect(hex(bytes)).toBe('960901a161a16264c3');
      expect(
        hex(
          encodeMessage({
            type: MessageType.ListRequest,
            id: 1,
            prefix: '',
            after: undefined,
            limit: 1000,
            values: false,
          }),
        ),
      ).toBe('960901a0c0cd03e8c2');
    });

    it('flattens the keys of a page: key, value (nil without values), revision, deadline per key', () => {
      const bytes = encodeMessage({
        type: MessageType.ListResult,
        id: 2,
        revision: 300,
        more: true,
        keys: [
          { key: 'a', value: '1', revision: 7, deadline: 0 },
          { key: 'b', value: null, revision: 8, deadline: 0 },
        ],
      });
      // fixarray 12: 32, 2, uint16 300, true, then "a" "1" 7 0, "b" nil 8 0
      expect(hex(bytes)).toBe('9c2002cd012cc3' + 'a161a1310700' + 'a162c00800');
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
      {
        type: MessageType.ReadResult,
        id: 4,
        value: null,
        revision: 0,
        deadline: 0,
      },
      {
        type: MessageType.ReadResult,
        id: 5,
        value: '{"a":1}',
        revision: 2 ** 40,
        deadline: 1_795_000_000_123,
      },
      { type: MessageType.QueryResult, id: 5, body: 'text' },
      { type: MessageType.Probe, id: 6, kind: 'metrics' },
      { type: MessageType.Shutdown },
      {
        type: MessageType.Txn,
        id: 7,
        strong: true,
        ops: [
          {
            kind: TxnOpKind.Create,
            key: 'k',
            value: '{"a": [1, 2]}',
            ttl: 60_000,
            ifMatch: undefined,
            ifNoneMatch: '*',
          },
          {
            kind: TxnOpKind.Delete,
            key: 'j',
            value: '',
            ttl: 0,
            ifMatch: [2 ** 40],
            ifNoneMatch: undefined,
          },
        ],
      },
      {
        type: MessageType.TxnResult,
        id: 7,
        status: TxnStatus.Committed,
        revision: 2 ** 40,
        failures: [],
      },
      {
        type: MessageType.TxnResult,
        id: 8,
        status: TxnStatus.Failed,
        revision: 0,
        failures: [
          { index: 127, key: 'x', reason: WriteStatus.Exists, revision: 9 },
        ],
      },
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
      {
        type: MessageType.ListRequest,
        id: 9,
        prefix: 'user/😀',
        after: 'user/😀\uffff',
        limit: 1000,
        values: true,
      },
      {
        type: MessageType.ListRequest,
        id: 10,
        prefix: '',
        after: undefined,
        limit: 1,
        values: false,
      },
      {
        type: MessageType.ListResult,
        id: 9,
        revision: 2 ** 40,
        more: false,
        keys: [
          {
            key: '\u0000../__proto__',
            value: ' {"a" : 1} ',
            revision: 2 ** 40,
            deadline: 1_795_000_000_123,
          },
          { key: 'z', value: null, revision: 1, deadline: 0 },
        ],
      },
      {
        type: MessageType.ListResult,
        id: 10,
        revision: 0,
        more: true,
        keys: [],
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
        'a page with a partial key',
        raw.pack([MessageType.ListResult, 1, 5, false, 'a', null, 5]),
      ],

      [
        'a transaction with a partial operation',
        raw.pack([MessageType.Txn, 1, false, 1, 'k', '1', 0, null]),
      ],
      [
        'a transaction result with a partial failure',
        raw.pack([MessageType.TxnResult, 1, 1, 0, 0, 'k', 3]),
      ],
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
