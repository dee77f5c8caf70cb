/**
 * A JSON text, as sent to or received from the server: values are stored and served byte for
 * byte, so the client hands them over as text and never re-encodes one.
 */
export type JsonText = string;

/** `eventual` reads a worker's replica; `strong` reads the primary / waits for every replica. */
export type Consistency = 'eventual' | 'strong';

/** A condition on a key's current ETag: a revision, or `*` (the key exists). */
export type Precondition = number | '*';

export interface ReadOptions {
  readonly consistency?: Consistency;
}

export interface WriteOptions {
  readonly consistency?: Consistency;
}

export interface PutOptions extends WriteOptions {
  /** Time to live in milliseconds (1 to 315360000000); without it, any TTL is removed. */
  readonly ttl?: number;
  /** Write only if the key's ETag is this revision, or for `*` only if it exists. */
  readonly ifMatch?: Precondition;
  /** `*`: write only if the key is absent; a revision: only if its ETag is not that one. */
  readonly ifNoneMatch?: Precondition;
}

export interface CreateOptions extends WriteOptions {
  /** Time to live in milliseconds (1 to 315360000000). */
  readonly ttl?: number;
}

export interface DeleteOptions extends WriteOptions {
  readonly ifMatch?: Precondition;
}

/** A key as read: its value's JSON text, its revision (ETag) and its deadline. */
export interface KvEntry {
  readonly key: string;
  readonly value: JsonText;
  readonly revision: number;
  /** Unix epoch milliseconds; null when the key has no deadline (or the server predates v1.1). */
  readonly expiresAt: number | null;
}

/** A write's acknowledgement. */
export interface WriteResult {
  readonly key: string;
  readonly revision: number;
}

export interface ListOptions {
  /** Only keys that begin with this text; empty or absent: every key. */
  readonly prefix?: string;
  /** The previous page's cursor. */
  readonly cursor?: string;
  /** Keys per page, 1 to 1000 (the server's default is 100). */
  readonly limit?: number;
  /** Whether each key comes with its value. */
  readonly values?: boolean;
  readonly consistency?: Consistency;
}

export interface ListedKey {
  readonly key: string;
  readonly revision: number;
  readonly expiresAt: number | null;
  /** Only when listed with `values: true`: the stored JSON text, exactly as the server sent it. */
  readonly value?: JsonText;
}

export interface ListPage {
  readonly keys: readonly ListedKey[];
  /** Pass it as `cursor` for the next page; null when this page was the last. */
  readonly cursor: string | null;
  /** The revision the page was read at. */
  readonly revision: number;
}

/** One operation of a transaction; values are JSON texts, embedded in the request as they are. */
export type TxnOp =
  | {
      readonly op: 'put';
      readonly key: string;
      readonly value: JsonText;
      readonly ttl?: number;
      readonly ifMatch?: Precondition;
      readonly ifNoneMatch?: '*';
    }
  | {
      readonly op: 'create';
      readonly key: string;
      readonly value: JsonText;
      readonly ttl?: number;
    }
  | {
      readonly op: 'delete' | 'check';
      readonly key: string;
      readonly ifMatch?: Precondition;
      readonly ifNoneMatch?: '*';
    };

export interface TxnResult {
  /** The one revision of the whole transaction. */
  readonly revision: number;
  readonly results: readonly WriteResult[];
}

/** Why one op of a failed transaction failed. */
export interface TxnFailure {
  readonly index: number;
  readonly key: string;
  readonly reason: 'precondition_failed' | 'key_exists' | 'key_not_found';
  /** The key's current revision, or null when it is absent. */
  readonly revision: number | null;
}

export interface WatchOptions {
  /** Only changes to keys that begin with this text. */
  readonly prefix?: string;
  /**
   * Replay every change after this revision first. Without it, the watch starts at the
   * revision of the moment it is called (read with a one-key listing), so that a resume after
   * a disconnect that came before any event misses nothing either.
   */
  readonly from?: number;
  /** Whether `put` changes carry the value (default true). */
  readonly values?: boolean;
  /** Ends the watch: the iterator returns. */
  readonly signal?: AbortSignal;
  /** Called before each reconnection, with the error that ended the stream (if any). */
  readonly onReconnect?: (attempt: number, error: unknown) => void;
  /** A stream silent for this long is treated as broken and resumed (default 45000 ms). */
  readonly idleTimeoutMs?: number;
}

export interface WatchChange {
  readonly key: string;
  readonly type: 'put' | 'delete' | 'expire';
  /** On `put` with values: the stored JSON text, exactly as the server sent it. */
  readonly value?: JsonText;
  /** On `put`: the deadline in unix epoch milliseconds, or null. */
  readonly expiresAt?: number | null;
}

/** The changes of one revision. */
export interface WatchEvent {
  readonly revision: number;
  readonly changes: readonly WatchChange[];
}

export interface WorkerStats {
  readonly pid: number;
  readonly live: boolean;
  readonly revision: number;
  readonly lag: { readonly revisions: number; readonly ms: number };
  readonly [field: string]: unknown;
}

export interface Stats {
  /** Live keys in the authoritative store. */
  readonly keys: number;
  /** The primary's revision. */
  readonly revision: number;
  /** The answering worker's pid. */
  readonly pid: number;
  readonly primaryPid: number;
  readonly workers: readonly WorkerStats[];
  readonly [field: string]: unknown;
}

export interface Digest {
  readonly revision: number;
  readonly digest: string;
  readonly workers: readonly {
    readonly pid: number;
    readonly revision: number;
    readonly digest: string;
  }[];
}
