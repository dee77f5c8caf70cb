import { readFile } from 'node:fs/promises';
import {
  JsonText,
  KvClient,
  KvConnectionError,
  KvEntry,
  KvError,
  ListedKey,
  Stats,
  WatchEvent,
  WriteResult,
} from '../client';
import { Invocation, UsageError } from './args';

/** Where a command writes, and where it reads a value or a transaction from. */
export interface Terminal {
  /** Writes to stdout, resolving once the stream can take more. */
  out(text: string): Promise<void>;
  /** Writes a note or an error to stderr. */
  err(text: string): void;
  /** All of stdin; undefined when stdin is a terminal (nothing was piped in). */
  stdin(): Promise<string | undefined>;
}

/** The exit codes: done, a missing key or failed condition, anything else. */
export const EXIT_OK = 0;
export const EXIT_CONDITION = 1;
export const EXIT_ERROR = 2;

// The answers a script can act on: the key is absent, exists, or a condition did not hold.
const CONDITION_CODES = new Set([
  'key_not_found',
  'key_exists',
  'precondition_failed',
  'txn_failed',
]);

/** The exit code for an error thrown while running a command. */
export function exitCodeOf(error: unknown): number {
  return error instanceof KvError && CONDITION_CODES.has(error.code)
    ? EXIT_CONDITION
    : EXIT_ERROR;
}

/**
 * A stored JSON text on one line: a raw line break in JSON is whitespace between tokens (one
 * inside a string is always escaped), so spaces in their place leave the value as it was.
 */
function oneLine(json: JsonText): string {
  return json.replace(/[\r\n]/g, ' ');
}

/** A key as text: as it is, or JSON-quoted when it holds whitespace or control characters. */
function showKey(key: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0020\u007f-\u009f]/.test(key) || key === ''
    ? JSON.stringify(key)
    : key;
}

function showDeadline(expiresAt: number | null | undefined): string {
  if (expiresAt === null || expiresAt === undefined) return 'no deadline';
  const seconds = (expiresAt - Date.now()) / 1000;
  return `expires ${new Date(expiresAt).toISOString()} (in ${seconds.toFixed(1)} s)`;
}

/** `{"key":..,"revision":..,"expiresAt":..,"value":<the value's text>}` */
function entryJson(entry: {
  key: string;
  revision: number;
  expiresAt?: number | null;
  value?: JsonText;
}): string {
  const fields = [
    `"key":${JSON.stringify(entry.key)}`,
    `"revision":${entry.revision}`,
    `"expiresAt":${JSON.stringify(entry.expiresAt ?? null)}`,
  ];
  if (entry.value !== undefined) fields.push(`"value":${oneLine(entry.value)}`);
  return `{${fields.join(',')}}`;
}

/** The value of `put` or `create`: the argument, or stdin; it must be one JSON text. */
async function valueArgument(
  invocation: Invocation,
  terminal: Terminal,
): Promise<JsonText> {
  const given = invocation.args[1];
  const value =
    given === undefined || given === '-' ? await terminal.stdin() : given;
  if (value === undefined)
    throw new UsageError(
      `${invocation.command} needs a JSON value: as an argument, or piped to stdin`,
    );
  try {
    JSON.parse(value);
  } catch (error) {
    throw new UsageError(
      `the value is not one JSON text (${(error as Error).message}); a string needs its quotes: '"text"'`,
    );
  }
  return value;
}

/** Runs one parsed command; resolves with its exit code. Errors are the caller's to report. */
export async function runCommand(
  invocation: Invocation,
  client: KvClient,
  terminal: Terminal,
  signal: AbortSignal,
): Promise<number> {
  const json = invocation.output === 'json';
  const consistency = invocation.strong ? 'strong' : undefined;
  const key = invocation.args[0] ?? '';
  const acknowledge = (verb: string, result: WriteResult): Promise<void> =>
    terminal.out(
      json
        ? `${JSON.stringify(result)}\n`
        : `${verb} ${showKey(result.key)} at revision ${result.revision}\n`,
    );

  switch (invocation.command) {
    case 'get': {
      const entry: KvEntry = await client.get(key, { consistency });
      if (invocation.raw) await terminal.out(entry.value);
      else if (json) await terminal.out(`${entryJson(entry)}\n`);
      else
        await terminal.out(
          `${entry.value}${entry.value.endsWith('\n') ? '' : '\n'}` +
            `(revision ${entry.revision}, ${showDeadline(entry.expiresAt)})\n`,
        );
      return EXIT_OK;
    }
    case 'put': {
      const value = await valueArgument(invocation, terminal);
      await acknowledge(
        'put',
        await client.put(key, value, {
          consistency,
          ttl: invocation.ttl,
          ifMatch: invocation.ifMatch,
        }),
      );
      return EXIT_OK;
    }
    case 'create': {
      const value = await valueArgument(invocation, terminal);
      await acknowledge(
        'created',
        await client.create(key, value, { consistency, ttl: invocation.ttl }),
      );
      return EXIT_OK;
    }
    case 'del':
      await acknowledge(
        'deleted',
        await client.delete(key, { consistency, ifMatch: invocation.ifMatch }),
      );
      return EXIT_OK;
    case 'ls':
      return list(invocation, client, terminal);
    case 'txn': {
      const file = invocation.args[0];
      const body =
        file === undefined || file === '-'
          ? await terminal.stdin()
          : await readFile(file, 'utf8');
      if (body === undefined)
        throw new UsageError(
          'txn needs a transaction: a file, or {"ops": [...]} piped to stdin',
        );
      try {
        JSON.parse(body);
      } catch (error) {
        throw new UsageError(
          `the transaction is not JSON: ${(error as Error).message}`,
        );
      }
      const result = await client.txnText(body, { consistency });
      await terminal.out(
        json
          ? `${JSON.stringify(result)}\n`
          : `committed at revision ${result.revision}: ${result.results.map((r) => showKey(r.key)).join(', ')}\n`,
      );
      return EXIT_OK;
    }
    case 'watch':
      return watch(invocation, client, terminal, signal);
    case 'stats': {
      const stats = await client.stats();
      await terminal.out(
        json ? `${JSON.stringify(stats)}\n` : showStats(stats),
      );
      return EXIT_OK;
    }
    case 'health': {
      const health = await client.health();
      await terminal.out(json ? `${JSON.stringify(health)}\n` : 'ok\n');
      return EXIT_OK;
    }
  }
}

async function list(
  invocation: Invocation,
  client: KvClient,
  terminal: Terminal,
): Promise<number> {
  const json = invocation.output === 'json';
  const limit = invocation.limit ?? Infinity;
  let printed = 0;
  const show = (entry: ListedKey): string => {
    if (json) return `${entryJson(entry)}\n`;
    const deadline =
      entry.expiresAt === null ? '' : `  (${showDeadline(entry.expiresAt)})`;
    const value = entry.value === undefined ? '' : `  ${oneLine(entry.value)}`;
    return `${showKey(entry.key)}${value}${deadline}\n`;
  };
  if (limit === 0) return EXIT_OK;
  for await (const entry of client.listAll({
    prefix: invocation.args[0],
    values: invocation.values === true ? true : undefined,
    consistency: invocation.strong ? 'strong' : undefined,
    limit: Math.min(invocation.pageSize ?? 1000, limit),
  })) {
    await terminal.out(show(entry));
    if (++printed >= limit) break;
  }
  return EXIT_OK;
}

async function watch(
  invocation: Invocation,
  client: KvClient,
  terminal: Terminal,
  signal: AbortSignal,
): Promise<number> {
  const json = invocation.output === 'json';
  let last: number | undefined;
  const show = (event: WatchEvent): string => {
    if (json) {
      const changes = event.changes.map((change) => {
        const fields = [
          `"key":${JSON.stringify(change.key)}`,
          `"type":${JSON.stringify(change.type)}`,
        ];
        if (change.value !== undefined)
          fields.push(`"value":${oneLine(change.value)}`);
        if (change.expiresAt !== undefined)
          fields.push(`"expiresAt":${JSON.stringify(change.expiresAt)}`);
        return `{${fields.join(',')}}`;
      });
      return `{"revision":${event.revision},"changes":[${changes.join(',')}]}\n`;
    }
    return event.changes
      .map((change) => {
        const value =
          change.value === undefined ? '' : `  ${oneLine(change.value)}`;
        const deadline =
          change.type === 'put' && change.expiresAt !== null
            ? `  (${showDeadline(change.expiresAt)})`
            : '';
        return `${event.revision}  ${change.type.padEnd(6)} ${showKey(change.key)}${value}${deadline}\n`;
      })
      .join('');
  };
  for await (const event of client.watch({
    prefix: invocation.args[0],
    from: invocation.from,
    values: invocation.values,
    signal,
    onReconnect: (attempt, error) =>
      terminal.err(
        `fanout-kv: the stream ended${error === undefined ? '' : ` (${(error as Error).message})`}; ` +
          `resuming after revision ${last ?? invocation.from ?? 'the start'} (attempt ${attempt})\n`,
      ),
  })) {
    last = event.revision;
    await terminal.out(show(event));
  }
  return EXIT_OK;
}

function showStats(stats: Stats): string {
  const lines = [
    `${stats.keys} key${stats.keys === 1 ? '' : 's'} at revision ${stats.revision}; primary pid ${stats.primaryPid}, answered by worker pid ${stats.pid}`,
  ];
  for (const worker of stats.workers)
    lines.push(
      `  worker ${worker.pid}: ${worker.live ? 'live' : 'loading'}, revision ${worker.revision}, ` +
        `lag ${worker.lag.revisions} revisions / ${worker.lag.ms} ms`,
    );
  return `${lines.join('\n')}\n`;
}

/** The message for an error that ended a command, as text or as one JSON line. */
export function describeError(error: unknown, json: boolean): string {
  if (error instanceof KvError) {
    if (json)
      return `${JSON.stringify({ ...error.body, error: error.code, message: error.message, status: error.status })}\n`;
    const failures = (error.failures ?? []).map(
      (failure) =>
        `\n  op ${failure.index} (${showKey(failure.key)}): ${failure.reason}, current revision ${failure.revision ?? 'none'}`,
    );
    const oldest =
      error.oldest === undefined
        ? ''
        : `\n  the oldest revision kept is ${error.oldest}`;
    return `fanout-kv: ${error.code} (${error.status}): ${error.message}${failures.join('')}${oldest}\n`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError)
    return `fanout-kv: ${message}\nRun "fanout-kv --help" for the commands and options.\n`;
  const code =
    error instanceof KvConnectionError ? 'connection_failed' : 'client_error';
  return json
    ? `${JSON.stringify({ error: code, message })}\n`
    : `fanout-kv: ${message}\n`;
}
