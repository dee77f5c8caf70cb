import pino, { Logger } from 'pino';
import { Config } from './config';

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
// Not written as key=value: shown in the line's prefix, or (hostname) not at all.
const UNLISTED_FIELDS = new Set([
  'level',
  'time',
  'role',
  'pid',
  'msg',
  'hostname',
]);
const BARE_STRING = /^[^\s"=\\]+$/;

/**
 * The process's logger, tagged with its role and pid. Records go to stdout as JSON lines, or as
 * readable lines ({@link formatRecord}) when `config.logFormat` is `pretty`, or `auto` and
 * stdout is a terminal. Writes are synchronous either way, so a fatal record is out before
 * the process exits.
 */
export function createLogger(
  config: Config,
  role: 'primary' | 'worker',
): Logger {
  const options = { level: config.logLevel, base: { role, pid: process.pid } };
  const pretty =
    config.logFormat === 'pretty' ||
    (config.logFormat === 'auto' && process.stdout.isTTY === true);
  if (!pretty) return pino(options);
  const stdout = pino.destination({ fd: 1, sync: true });
  return pino(options, {
    write: (line: string) => stdout.write(formatRecord(line)),
  });
}

/**
 * Turns one pino JSON line into one readable line ending in a newline, such as
 * `12:03:04.567 INFO  primary[4711] data loaded keys=10 dataDir=/data`: the local time of
 * day, the level, the role and pid, the message, then every other field as key=value (a
 * string with spaces, quotes or '=' in JSON quotes, an object as JSON). An error's stack
 * follows on indented lines. A line that is not a JSON object passes through unchanged.
 */
export function formatRecord(line: string): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null) return line;
    record = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(typeof record.time === 'number' ? record.time : 0);
  const level = LEVEL_NAMES[record.level as number] ?? fieldText(record.level);
  let out = `${clock(time)} ${level.padEnd(5)} ${String(record.role)}[${String(record.pid)}]`;
  if (typeof record.msg === 'string') out += ` ${record.msg}`;
  let stacks = '';
  for (const [key, value] of Object.entries(record)) {
    if (UNLISTED_FIELDS.has(key)) continue;
    const stack = (value as { stack?: unknown } | null)?.stack;
    if (typeof stack === 'string') {
      stacks += `\n    ${stack.split('\n').join('\n    ')}`;
      continue;
    }
    out += ` ${key}=${fieldText(value)}`;
  }
  return `${out}${stacks}\n`;
}

function fieldText(value: unknown): string {
  if (typeof value === 'string')
    return BARE_STRING.test(value) ? value : JSON.stringify(value);
  // JSON.stringify gives undefined for undefined (a field pino never writes).
  return JSON.stringify(value) ?? 'undefined';
}

function clock(time: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(time.getHours())}:${two(time.getMinutes())}:${two(time.getSeconds())}.` +
    String(time.getMilliseconds()).padStart(3, '0')
  );
}
