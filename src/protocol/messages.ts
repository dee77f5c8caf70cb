import type {
  Change,
  Milliseconds,
  Precondition,
  Revision,
  ShardImage,
  TxnFailure,
  TxnOperation,
  TxnStatus,
  WriteOp,
  WriteStatus,
} from '../store';

/**
 * Every message between the primary and a worker. The numeric tag is the first element of the
 * encoded array (see `codec.ts`), so values here are part of the wire format: never renumber.
 */
export const MessageType = {
  // worker -> primary
  Hello: 1,
  Writes: 2,
  StrongRead: 3,
  Applied: 4,
  Query: 5,
  ProbeAnswer: 6,
  Txn: 7,
  HistoryRequest: 8,
  ListRequest: 9,
  // primary -> worker
  SnapshotBegin: 20,
  SnapshotChunk: 21,
  SnapshotEnd: 22,
  Batch: 23,
  WriteResults: 24,
  ReadResult: 25,
  QueryResult: 26,
  Probe: 27,
  Shutdown: 28,
  TxnResult: 29,
  HistoryChanges: 30,
  ListResult: 32,
} as const;

/** A write forwarded by a worker; `id` is the worker's own, echoed in the {@link WriteResult}. */
export interface WriteRequest {
  readonly id: number;
  readonly op: WriteOp;
  readonly key: string;
  /** The JSON text to store; empty for deletes. */
  readonly value: string;
  /** Time-to-live in ms; 0 for none. */
  readonly ttl: Milliseconds;
  readonly ifMatch: Precondition | undefined;
  readonly ifNoneMatch: Precondition | undefined;
  /** Answer only once every live worker has applied the write. */
  readonly strong: boolean;
}

/**
 * How the primary answered a write: a store {@link WriteStatus}, or one of the two statuses the
 * store cannot give (values from 10 up).
 */
export const ReplyStatus = {
  /** Applied, but not every live replica confirmed it within the strong-write timeout. */
  Unconfirmed: 10,
  /** Not applied: the primary is shutting down or its queue is full. */
  Unavailable: 11,
} as const;
export type ReplyStatus = (typeof ReplyStatus)[keyof typeof ReplyStatus];

/** The primary's answer to one {@link WriteRequest}. `revision` is 0 when nothing was applied. */
export interface WriteResult {
  readonly id: number;
  readonly status: WriteStatus | ReplyStatus;
  readonly revision: Revision;
}

/** A process's memory, in bytes, as `process.memoryUsage()` reports it. */
export interface MemoryFigures {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
}

/** What a worker answers to a `stats` {@link Probe}: its own view of itself. */
export interface WorkerStats {
  readonly memory: MemoryFigures;
}

/** What a {@link MessageType.Query} or {@link MessageType.Probe} asks for. */
export type QueryKind = 'stats' | 'digest' | 'metrics';

/** Worker -> primary: ready for a snapshot (on start, and again after a gap). */
export interface Hello {
  readonly type: typeof MessageType.Hello;
}
/** Worker -> primary: the writes that arrived in one event-loop turn, in arrival order. */
export interface Writes {
  readonly type: typeof MessageType.Writes;
  readonly requests: readonly WriteRequest[];
}
/** Worker -> primary: read `key` from the authoritative store (`consistency=strong`). */
export interface StrongRead {
  readonly type: typeof MessageType.StrongRead;
  readonly id: number;
  readonly key: string;
}
/** Worker -> primary: every change up to `revision` is applied and visible here. */
export interface Applied {
  readonly type: typeof MessageType.Applied;
  readonly revision: Revision;
}
/**
 * Worker -> primary: a transaction (`POST /_/txn`), sent on its own rather than with the
 * writes of its turn. `id` comes from the same sequence as write ids and is echoed in the
 * {@link TxnResult}.
 */
export interface Txn {
  readonly type: typeof MessageType.Txn;
  readonly id: number;
  /** Answer only once every live worker has applied the transaction. */
  readonly strong: boolean;
  /** 1 to 128 operations on distinct keys, in body order. */
  readonly ops: readonly TxnOperation[];
}
/**
 * Worker -> primary: a page of keys read from the authoritative store (`GET /_/keys` with
 * `consistency=strong`). `id` comes from the same sequence as strong reads and is echoed in
 * the {@link ListResult}.
 */
export interface ListRequest {
  readonly type: typeof MessageType.ListRequest;
  readonly id: number;
  /** Only keys that start with it; empty for every key. */
  readonly prefix: string;
  /** Only keys after it in UTF-8 byte order (a key held or not); undefined: from the start. */
  readonly after: string | undefined;
  /** At most this many keys, 1 to 1000. */
  readonly limit: number;
  /** Send each key's value too; otherwise every value is null. */
  readonly values: boolean;
}
/** Worker -> primary: a cluster-wide question for a system endpoint. */
export interface Query {
  readonly type: typeof MessageType.Query;
  readonly id: number;
  readonly kind: QueryKind;
}
/** Worker -> primary: this worker's part of the answer to a {@link Probe}. */
export interface ProbeAnswer {
  readonly type: typeof MessageType.ProbeAnswer;
  readonly id: number;
  readonly body: unknown;
}
/**
 * Worker -> primary: the changes with revisions in (`after`, `upTo`] from the primary's watch
 * history, for a watcher resuming from before what this worker's own history holds (a worker
 * forked a moment ago holds nothing from before its snapshot). `upTo` = `after` asks only for
 * the primary's revision and oldest available revision.
 */
export interface HistoryRequest {
  readonly type: typeof MessageType.HistoryRequest;
  readonly id: number;
  readonly after: Revision;
  readonly upTo: Revision;
}
/** Primary -> worker: a snapshot taken from revision `revision` on starts; batches from revision + 1 follow. */
export interface SnapshotBegin {
  readonly type: typeof MessageType.SnapshotBegin;
  readonly revision: Revision;
}
/** Primary -> worker: the live entries of some whole shards of the snapshot. */
export interface SnapshotChunk {
  readonly type: typeof MessageType.SnapshotChunk;
  readonly shards: readonly ShardImage[];
}
/** Primary -> worker: the snapshot is complete. */
export interface SnapshotEnd {
  readonly type: typeof MessageType.SnapshotEnd;
}
/** Primary -> worker: committed changes with revisions from `from` on. */
export interface Batch {
  readonly type: typeof MessageType.Batch;
  readonly from: Revision;
  /** When the primary published the batch, in ms since the epoch with sub-ms precision. */
  readonly publishedAt: Milliseconds;
  /**
   * A strong write is waiting on this batch: report it applied at once. Otherwise a worker
   * reports its revision lazily, which saves one message per batch under load.
   */
  readonly ack: boolean;
  readonly changes: readonly Change[];
}
/** Primary -> worker: answers to forwarded writes. */
export interface WriteResults {
  readonly type: typeof MessageType.WriteResults;
  readonly results: readonly WriteResult[];
}
/** Primary -> worker: the answer to a {@link StrongRead}; `value` null when absent. */
export interface ReadResult {
  readonly type: typeof MessageType.ReadResult;
  readonly id: number;
  readonly value: string | null;
  /** The entry's revision; 0 when absent. */
  readonly revision: Revision;
  /** The entry's deadline in ms since the epoch; NO_DEADLINE (0) when it has none or is absent. */
  readonly deadline: Milliseconds;
}
/** Primary -> worker: the answer to a {@link Query}. */
export interface QueryResult {
  readonly type: typeof MessageType.QueryResult;
  readonly id: number;
  readonly body: unknown;
}
/** Primary -> worker: report this worker's own view (its digest, its metrics). */
export interface Probe {
  readonly type: typeof MessageType.Probe;
  readonly id: number;
  readonly kind: QueryKind;
}
/**
 * Primary -> worker: the answer to a {@link Txn}, sent after the batch that holds its changes
 * (or, for a strong one, once every live replica applied them). `status` is the store's
 * decision, or Unconfirmed for a strong transaction committed but not confirmed in time.
 * `revision`: the transaction's revision when committed (Unconfirmed included), else 0.
 * `failures`: in operation order, empty unless the status is Failed.
 */
export interface TxnResult {
  readonly type: typeof MessageType.TxnResult;
  readonly id: number;
  readonly status: TxnStatus | ReplyStatus;
  readonly revision: Revision;
  readonly failures: readonly TxnFailure[];
}
/**
 * Primary -> worker: the answer to a {@link HistoryRequest}. `changes` are the first whole
 * revisions of the range asked for, in order, as many as fit in about a MiB (at least one):
 * the worker asks again for the rest. Empty when `after` + 1 < `oldest`: those changes are gone.
 */
export interface HistoryChanges {
  readonly type: typeof MessageType.HistoryChanges;
  readonly id: number;
  /** The primary's revision: the last change it applied. */
  readonly revision: Revision;
  /** The first revision the primary's history still holds. */
  readonly oldest: Revision;
  readonly changes: readonly Change[];
}
/** One key of a {@link ListResult}, live when the primary read it. */
export interface ListedKey {
  readonly key: string;
  /** The stored JSON text; null unless the request asked for values. */
  readonly value: string | null;
  /** The revision of the key's last write (its ETag). */
  readonly revision: Revision;
  /** The key's deadline in ms since the epoch; NO_DEADLINE (0) for none. */
  readonly deadline: Milliseconds;
}
/**
 * Primary -> worker: the answer to a {@link ListRequest}: the keys in ascending UTF-8 byte
 * order, read in one step at `revision` (the primary's), so a transaction is in it whole or
 * not at all. `more`: a live key with the prefix follows the last one.
 */
export interface ListResult {
  readonly type: typeof MessageType.ListResult;
  readonly id: number;
  readonly revision: Revision;
  readonly more: boolean;
  readonly keys: readonly ListedKey[];
}
/** Primary -> worker: stop accepting connections, finish what is in flight, exit 0. */
export interface Shutdown {
  readonly type: typeof MessageType.Shutdown;
}

/** Any message a worker sends. */
export type WorkerMessage =
  | Hello
  | Writes
  | StrongRead
  | Applied
  | Query
  | ProbeAnswer
  | Txn
  | HistoryRequest
  | ListRequest;
/** Any message the primary sends. */
export type PrimaryMessage =
  | SnapshotBegin
  | SnapshotChunk
  | SnapshotEnd
  | Batch
  | WriteResults
  | ReadResult
  | QueryResult
  | Probe
  | Shutdown
  | TxnResult
  | HistoryChanges
  | ListResult;
/** Any message of the protocol. */
export type Message = WorkerMessage | PrimaryMessage;
