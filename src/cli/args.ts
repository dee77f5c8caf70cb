import { parseArgs } from 'node:util';
import { DEFAULT_URL } from '../client';

/** A command line that cannot be run as given: exit code 2, with the usage hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type CommandName =
  | 'get'
  | 'put'
  | 'create'
  | 'del'
  | 'ls'
  | 'txn'
  | 'watch'
  | 'stats'
  | 'health';

export type OutputFormat = 'json' | 'text';

/** A parsed command line. */
export interface Invocation {
  readonly command: CommandName;
  /** The command's positional arguments. */
  readonly args: readonly string[];
  readonly url: string;
  readonly token: string | undefined;
  readonly output: OutputFormat;
  readonly strong: boolean;
  readonly ttl: number | undefined;
  readonly ifMatch: number | '*' | undefined;
  readonly raw: boolean;
  readonly values: boolean | undefined;
  readonly limit: number | undefined;
  readonly pageSize: number | undefined;
  readonly from: number | undefined;
}

/** Each command: its positional arguments (min, max) and the options it takes. */
const COMMANDS: Record<
  CommandName,
  {
    readonly args: readonly [number, number];
    readonly options: readonly string[];
  }
> = {
  get: { args: [1, 1], options: ['strong', 'raw'] },
  put: { args: [1, 2], options: ['strong', 'ttl', 'if-match'] },
  create: { args: [1, 2], options: ['strong', 'ttl'] },
  del: { args: [1, 1], options: ['strong', 'if-match'] },
  ls: { args: [0, 1], options: ['strong', 'values', 'limit', 'page-size'] },
  txn: { args: [0, 1], options: ['strong'] },
  watch: { args: [0, 1], options: ['from', 'no-values'] },
  stats: { args: [0, 0], options: [] },
  health: { args: [0, 0], options: [] },
};

const GLOBAL_OPTIONS = ['url', 'token', 'output', 'help'];

export const USAGE = `Usage: fanout-kv [options] <command> [arguments]

Commands:
  get <key>             print a key: its value, revision and deadline
  put <key> [value]     create or replace a key; the JSON value comes from the
                        argument, or from stdin when there is none (or it is -)
  create <key> [value]  create a key that must be absent
  del <key>             delete a key
  ls [prefix]           list keys in byte order, by prefix, every page
  txn [file]            apply a transaction ({"ops": [...]}) from a file or stdin
  watch [prefix]        stream changes; resumes by itself after a disconnect
  stats                 key count, revision and every worker's replication state
  health                whether the answering worker serves

Options:
  --url <url>           server URL (env KV_URL; default ${DEFAULT_URL})
  --token <token>       bearer token (env KV_AUTH_TOKEN)
  -o, --output <format> json or text (default: text on a terminal, json otherwise)
  --strong              consistency=strong: read from the primary, or wait for
                        every replica before a write is acknowledged
  --ttl <ms>            put, create: time to live in milliseconds
  --if-match <rev|*>    put, del: only if the key's revision is <rev> (* : exists)
  --raw                 get: print the stored JSON text alone, byte for byte
  --values              ls: print each key's value too
  --limit <n>           ls: stop after n keys
  --page-size <n>       ls: keys per request, 1 to 1000 (default 1000)
  --from <rev>          watch: replay every change after revision <rev> first
  --no-values           watch: changes without their values
  -h, --help            this help

A value that starts with "-" goes after "--": fanout-kv put k -- -1

Output: one JSON document per command, or one per line for ls and watch (values
keep their text; line breaks in a value become spaces).

Exit codes: 0 done; 1 not found, key exists, or a condition failed (404, 409,
412, txn_failed); 2 usage, connection or any other error.
`;

function integer(
  name: string,
  text: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return Number(text);
}

/**
 * Parses a command line (without `node` and the script). Returns undefined for `--help`.
 * Throws {@link UsageError} on anything it cannot run.
 */
export function parseInvocation(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  stdoutIsTerminal: boolean,
): Invocation | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
        strong: { type: 'boolean' },
        ttl: { type: 'string' },
        'if-match': { type: 'string' },
        raw: { type: 'boolean' },
        values: { type: 'boolean' },
        'no-values': { type: 'boolean' },
        limit: { type: 'string' },
        'page-size': { type: 'string' },
        from: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values: options, positionals } = parsed;
  if (options.help === true) return undefined;
  const [name, ...args] = positionals;
  if (name === undefined) throw new UsageError('no command given');
  if (!(name in COMMANDS)) throw new UsageError(`unknown command "${name}"`);
  const command = name as CommandName;
  const spec = COMMANDS[command];
  for (const option of Object.keys(options))
    if (!GLOBAL_OPTIONS.includes(option) && !spec.options.includes(option))
      throw new UsageError(`--${option} does not apply to ${command}`);
  if (args.length < spec.args[0] || args.length > spec.args[1])
    throw new UsageError(
      `${command} takes ${spec.args[0] === spec.args[1] ? spec.args[0] : `${spec.args[0]} to ${spec.args[1]}`} argument(s), got ${args.length}`,
    );

  const output = options.output ?? (stdoutIsTerminal ? 'text' : 'json');
  if (output !== 'json' && output !== 'text')
    throw new UsageError('--output must be json or text');
  const ifMatch = options['if-match'];
  if (ifMatch !== undefined && ifMatch !== '*' && !/^[0-9]+$/.test(ifMatch))
    throw new UsageError('--if-match must be a revision or *');
  const url = options.url ?? env.KV_URL ?? DEFAULT_URL;
  if (!/^https?:\/\//.test(url))
    throw new UsageError(`the URL must start with http:// or https://: ${url}`);
  return {
    command,
    args,
    url,
    token: options.token ?? env.KV_AUTH_TOKEN,
    output,
    strong: options.strong === true,
    ttl: integer('ttl', options.ttl, 1),
    ifMatch:
      ifMatch === undefined || ifMatch === '*' ? ifMatch : Number(ifMatch),
    raw: options.raw === true,
    values: options['no-values'] === true ? false : options.values,
    limit: integer('limit', options.limit, 1),
    pageSize: integer('page-size', options['page-size'], 1, 1000),
    from: integer('from', options.from, 0),
  };
}
