import { Packr } from 'msgpackr';
import {
  CHANGE_WIRE_FIELDS,
  ChangeFlags,
  flattenChanges,
  revisionFromFlags,
} from '../store';
import type {
  Change,
  Precondition,
  ShardImage,
  TxnFailure,
  TxnFailureReason,
  TxnOperation,
  TxnOpKind,
  TxnStatus,
  WriteOp,
  WriteStatus,
} from '../store';
import {
  ListedKey,
  Message,
  MessageType,
  QueryKind,
  ReplyStatus,
  WriteRequest,
  WriteResult,
} from './messages';

/**
 * The one msgpack codec of the protocol. A message goes on the wire as a msgpack array whose
 * first element is its {@link MessageType}; lists of records are flattened into one array
 * (`[id, op, key, ...]` repeated) so a batch of many writes costs one small array, not one map
 * per write. Records (msgpackr's shared structures) are off: each message decodes on its own.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Thrown when bytes do not decode to a message of this protocol. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

const WRITE_FIELDS = 8;
const RESULT_FIELDS = 3;
const SHARD_IMAGE_FIELDS = 3;
const TXN_OP_FIELDS = 6;
const TXN_FAILURE_FIELDS = 4;
const LISTED_KEY_FIELDS = 4;

/** Encodes `message`. The payload of a frame (see `framing.ts`) is one or more of these end to end. */
export function encodeMessage(message: Message): Buffer {
  return packr.pack(toWire(message));
}

/**
 * Decodes the payload of one frame: one or more encoded messages laid end to end (the primary
 * sends a batch and the sender's write results as one frame, to save a message). Throws
 * {@link ProtocolError} on anything else.
 */
export function decodeFrame(bytes: Uint8Array): Message[] {
  let values: unknown[];
  try {
    values = packr.unpackMultiple(bytes);
  } catch (error) {
    throw new ProtocolError(`undecodable frame: ${(error as Error).message}`);
  }
  return values.map((wire) => {
    if (!Array.isArray(wire) || typeof wire[0] !== 'number') {
      throw new ProtocolError(
        'a message must be an array that starts with its type',
      );
    }
    return fromWire(wire as unknown[]);
  });
}

function toWire(message: Message): unknown[] {
  switch (message.type) {
    case MessageType.Hello:
    case MessageType.SnapshotEnd:
    case MessageType.Shutdown:
      return [message.type];
    case MessageType.Writes: {
      const wire: unknown[] = [message.type];
      for (const r of message.requests) {
        wire.push(
          r.id,
          r.op,
          r.key,
          r.value,
          r.ttl,
          r.ifMatch ?? null,
          r.ifNoneMatch ?? null,
          r.strong,
        );
      }
      return wire;
    }
    case MessageType.StrongRead:
      return [message.type, message.id, message.key];
    case MessageType.Applied:
      return [message.type, message.revision];
    case MessageType.Query:
    case MessageType.Probe:
      return [message.type, message.id, message.kind];
    case MessageType.ProbeAnswer:
    case MessageType.QueryResult:
      return [message.type, message.id, message.body];
    case MessageType.SnapshotBegin:
      return [message.type, message.revision];
    case MessageType.SnapshotChunk: {
      const wire: unknown[] = [message.type];
      for (const s of message.shards) wire.push(s.shard, s.count, s.records);
      return wire;
    }
    case MessageType.Batch:
      return flattenChanges(
        [message.type, message.from, message.publishedAt, message.ack],
        message.changes,
      );
    case MessageType.HistoryRequest:
      return [message.type, message.id, message.after, message.upTo];
    case MessageType.HistoryChanges:
      return flattenChanges(
        [
          message.type,
          message.id,
          message.revision,
          message.oldest,
          message.changes[0]?.revision ?? 0,
        ],
        message.changes,
      );
    case MessageType.WriteResults: {
      const wire: unknown[] = [message.type];
      for (const r of message.results) wire.push(r.id, r.status, r.revision);
      return wire;
    }
    case MessageType.ReadResult:
      return [
        message.type,
        message.id,
        message.value,
        message.revision,
        message.deadline,
      ];
    case MessageType.Txn: {
      const wire: unknown[] = [message.type, message.id, message.strong];
      for (const op of message.ops) {
        wire.push(
          op.kind,
          op.key,
          op.value,
          op.ttl,
          op.ifMatch ?? null,
          op.ifNoneMatch ?? null,
        );
      }
      return wire;
    }
    case MessageType.TxnResult: {
      const wire: unknown[] = [
        message.type,
        message.id,
        message.status,
        message.revision,
      ];
      for (const f of message.failures)
        wire.push(f.index, f.key, f.reason, f.revision);
      return wire;
    }
    case MessageType.ListRequest:
      return [
        message.type,
        message.id,
        message.prefix,
        message.after ?? null,
        message.limit,
        message.values,
      ];
    case MessageType.ListResult: {
      const wire: unknown[] = [
        message.type,
        message.id,
        message.revision,
        message.more,
      ];
      for (const k of message.keys)
        wire.push(k.key, k.value, k.revision, k.deadline);
      return wire;
    }
  }
}

function fromWire(wire: unknown[]): Message {
  const type = wire[0] as number;
  switch (type) {
    case MessageType.Hello:
    case MessageType.SnapshotEnd:
    case MessageType.Shutdown:
      return { type };
    case MessageType.Writes:
      return { type, requests: records(wire, 1, WRITE_FIELDS, toWriteRequest) };
    case MessageType.StrongRead:
      return { type, id: wire[1] as number, key: wire[2] as string };
    case MessageType.Applied:
    case MessageType.SnapshotBegin:
      return { type, revision: wire[1] as number };
    case MessageType.Query:
    case MessageType.Probe:
      return { type, id: wire[1] as number, kind: wire[2] as QueryKind };
    case MessageType.ProbeAnswer:
    case MessageType.QueryResult:
      return { type, id: wire[1] as number, body: wire[2] };
    case MessageType.SnapshotChunk:
      return {
        type,
        shards: records(wire, 1, SHARD_IMAGE_FIELDS, toShardImage),
      };
    case MessageType.Batch:
      return {
        type,
        from: wire[1] as number,
        publishedAt: wire[2] as number,
        ack: wire[3] as boolean,
        changes: readChanges(wire, 4, wire[1] as number),
      };
    case MessageType.HistoryRequest:
      return {
        type,
        id: wire[1] as number,
        after: wire[2] as number,
        upTo: wire[3] as number,
      };
    case MessageType.HistoryChanges:
      return {
        type,
        id: wire[1] as number,
        revision: wire[2] as number,
        oldest: wire[3] as number,
        changes: readChanges(wire, 5, wire[4] as number),
      };
    case MessageType.WriteResults:
      return { type, results: records(wire, 1, RESULT_FIELDS, toWriteResult) };
    case MessageType.ReadResult:
      return {
        type,
        id: wire[1] as number,
        value: wire[2] as string | null,
        revision: wire[3] as number,
        deadline: wire[4] as number,
      };
    case MessageType.Txn:
      return {
        type,
        id: wire[1] as number,
        strong: wire[2] as boolean,
        ops: records(wire, 3, TXN_OP_FIELDS, toTxnOperation),
      };
    case MessageType.TxnResult:
      return {
        type,
        id: wire[1] as number,
        status: wire[2] as TxnStatus | ReplyStatus,
        revision: wire[3] as number,
        failures: records(wire, 4, TXN_FAILURE_FIELDS, toTxnFailure),
      };
    case MessageType.ListRequest:
      return {
        type,
        id: wire[1] as number,
        prefix: wire[2] as string,
        after: (wire[3] as string | null) ?? undefined,
        limit: wire[4] as number,
        values: wire[5] as boolean,
      };
    case MessageType.ListResult:
      return {
        type,
        id: wire[1] as number,
        revision: wire[2] as number,
        more: wire[3] as boolean,
        keys: records(wire, 4, LISTED_KEY_FIELDS, toListedKey),
      };
    default:
      throw new ProtocolError(`unknown message type ${type}`);
  }
}

function records<T>(
  wire: unknown[],
  start: number,
  fields: number,
  read: (wire: unknown[], at: number) => T,
): T[] {
  if ((wire.length - start) % fields !== 0) {
    throw new ProtocolError(
      `message type ${String(wire[0])} has a truncated record`,
    );
  }
  const out: T[] = [];
  for (let at = start; at < wire.length; at += fields) out.push(read(wire, at));
  return out;
}

function toWriteRequest(wire: unknown[], at: number): WriteRequest {
  return {
    id: wire[at] as number,
    op: wire[at + 1] as WriteOp,
    key: wire[at + 2] as string,
    value: wire[at + 3] as string,
    ttl: wire[at + 4] as number,
    ifMatch: (wire[at + 5] as Precondition | null) ?? undefined,
    ifNoneMatch: (wire[at + 6] as Precondition | null) ?? undefined,
    strong: wire[at + 7] as boolean,
  };
}

function toWriteResult(wire: unknown[], at: number): WriteResult {
  return {
    id: wire[at] as number,
    status: wire[at + 1] as WriteStatus | ReplyStatus,
    revision: wire[at + 2] as number,
  };
}

function toTxnOperation(wire: unknown[], at: number): TxnOperation {
  return {
    kind: wire[at] as TxnOpKind,
    key: wire[at + 1] as string,
    value: wire[at + 2] as string,
    ttl: wire[at + 3] as number,
    ifMatch: (wire[at + 4] as Precondition | null) ?? undefined,
    ifNoneMatch: (wire[at + 5] as Precondition | null) ?? undefined,
  };
}

function toTxnFailure(wire: unknown[], at: number): TxnFailure {
  return {
    index: wire[at] as number,
    key: wire[at + 1] as string,
    reason: wire[at + 2] as TxnFailureReason,
    revision: wire[at + 3] as number | null,
  };
}

function toListedKey(wire: unknown[], at: number): ListedKey {
  return {
    key: wire[at] as string,
    value: wire[at + 1] as string | null,
    revision: wire[at + 2] as number,
    deadline: wire[at + 3] as number,
  };
}

function readChanges(wire: unknown[], start: number, from: number): Change[] {
  let previous: number | undefined;
  return records(wire, start, CHANGE_WIRE_FIELDS, (w, at) => {
    const flags = w[at + 3] as number;
    const revision = revisionFromFlags(previous, from, flags);
    previous = revision;
    return {
      key: w[at] as string,
      value: w[at + 1] as string | null,
      deadline: w[at + 2] as number,
      revision,
      expired: (flags & ChangeFlags.Expired) !== 0,
    };
  });
}

function toShardImage(wire: unknown[], at: number): ShardImage {
  const [shard, count, records] = wire.slice(at, at + SHARD_IMAGE_FIELDS);
  if (
    !Number.isSafeInteger(shard) ||
    !Number.isSafeInteger(count) ||
    !(records instanceof Uint8Array)
  ) {
    throw new ProtocolError('a snapshot chunk holds a malformed shard image');
  }
  return { shard: shard as number, count: count as number, records };
}
