import type { TxnFailure } from './types';

/**
 * An error answer of the server: its HTTP status and its stable `error` code (`key_not_found`,
 * `precondition_failed`, `txn_failed`, ...), with the whole JSON body for the fields some codes
 * add (`failures` of `txn_failed`, `oldest` of `history_compacted`).
 */
export class KvError extends Error {
  override readonly name = 'KvError';

  constructor(
    /** The HTTP status: 400 to 599. */
    readonly status: number,
    /** The `error` code of the body; `http_<status>` when the body had none. */
    readonly code: string,
    message: string,
    /** The parsed JSON body; empty when the answer had none (HEAD) or it was not JSON. */
    readonly body: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  /** Builds the error of an answer from its status and body bytes. */
  static fromAnswer(status: number, body: string): KvError {
    let parsed: Record<string, unknown> = {};
    try {
      const value: unknown = JSON.parse(body);
      if (typeof value === 'object' && value !== null && !Array.isArray(value))
        parsed = value as Record<string, unknown>;
    } catch {
      // Not JSON (a proxy's page, or no body): the status alone tells what happened.
    }
    const code =
      typeof parsed.error === 'string' ? parsed.error : `http_${status}`;
    const message =
      typeof parsed.message === 'string'
        ? parsed.message
        : `the server answered ${status}`;
    return new KvError(status, code, message, parsed);
  }

  /** For `txn_failed`: every op whose condition failed; otherwise undefined. */
  get failures(): readonly TxnFailure[] | undefined {
    return Array.isArray(this.body.failures)
      ? (this.body.failures as TxnFailure[])
      : undefined;
  }

  /**
   * For `history_compacted`: the oldest revision whose changes the server still keeps, so a
   * watch can start from `oldest - 1` on.
   */
  get oldest(): number | undefined {
    return typeof this.body.oldest === 'number' ? this.body.oldest : undefined;
  }
}

/** The server could not be reached, or did not answer in time. */
export class KvConnectionError extends Error {
  override readonly name = 'KvConnectionError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
