import { availableParallelism } from 'node:os';

/**
 * Every setting of the server, read once from the environment, validated and frozen.
 * Durations are in milliseconds, sizes in bytes.
 */
export interface Config {
  /** TCP port the workers share. */
  readonly port: number;
  /** Address to bind; 127.0.0.1 unless the operator opens it up. */
  readonly host: string;
  /** Number of worker processes. */
  readonly workers: number;
  /** Bearer token every route but /_/health requires; undefined: the server is open. */
  readonly authToken: string | undefined;
  /** Most live keys; undefined: unlimited. */
  readonly maxKeys: number | undefined;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** How often the primary publishes committed changes; 0: at the end of every event-loop turn that wrote. */
  readonly reconcileIntervalMs: number;
  /** How often the primary reaps expired keys. */
  readonly ttlIntervalMs: number;
  /** How long a strong write waits for every live replica before answering 503. */
  readonly strongWriteTimeoutMs: number;
  /** Forwarded writes a worker holds unanswered before it answers 503. */
  readonly maxPendingWrites: number;
  /** Bytes the primary may have queued, unsent, for one worker before it recycles that worker. */
  readonly maxReplicaBacklogBytes: number;
  /** Revisions a live replica may fall behind before the primary recycles its worker. */
  readonly maxReplicaLag: number;
  /** How long a graceful shutdown may take before the rest is killed. */
  readonly shutdownTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Whether workers time every request for the HTTP metrics (KV_HTTP_METRICS=off to skip). */
  readonly httpMetrics: boolean;
  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  readonly logLevel: string;
  /**
   * KV_LOG_FORMAT: `json` (one JSON object a line), `pretty` (one readable line a record), or
   * `auto`: pretty when stdout is a terminal, JSON otherwise.
   */
  readonly logFormat: LogFormat;
  /** Where the log and snapshots live; undefined: in memory only. */
  readonly dataDir: string | undefined;
  /** When the log is fsynced (KV_FSYNC). */
  readonly fsync: FsyncPolicy;
  /** A snapshot is written once the log is this many times the size of the last snapshot... */
  readonly snapshotLogRatio: number;
  /** ...and at least this many bytes. */
  readonly snapshotMinLogBytes: number;
  /** Start from the data before damage in the middle of a log, dropping the rest. */
  readonly allowTruncate: boolean;
  /** Revisions of changes kept for watchers that resume (KV_WATCH_HISTORY), in every process. */
  readonly watchHistory: number;
  /**
   * Bytes the watch history may hold, by estimate, in every process (KV_WATCH_HISTORY_BYTES):
   * with large values it keeps fewer than `watchHistory` revisions.
   */
  readonly watchHistoryBytes: number;
  /** Bytes a watch stream may leave unread before the server closes it (KV_WATCH_BUFFER_BYTES). */
  readonly watchBufferBytes: number;
  /** How often every watch stream gets a `: ping` comment (KV_WATCH_PING_MS). */
  readonly watchPingMs: number;
}

/**
 * When the log reaches the disk. `always`: a write is acknowledged only after an fsync covering
 * its batch (group commit: every batch written while one fsync runs shares the next one).
 * `everysec`: one fsync a second in the background. `no`: the OS decides.
 */
export type FsyncPolicy = 'always' | 'everysec' | 'no';

const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'everysec', 'no'];

/** How log records are written; see {@link Config.logFormat}. */
export type LogFormat = 'auto' | 'pretty' | 'json';
const LOG_FORMATS: readonly LogFormat[] = ['auto', 'pretty', 'json'];

/** Thrown for a setting that cannot be used; its message names the variable and the fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const LOG_LEVELS = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/** Reads and checks every setting in `env`. Throws {@link ConfigError} on the first bad one. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const int = (
    name: string,
    fallback: number,
    min: number,
    max: number,
  ): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw.trim())) {
      throw new ConfigError(
        `${name} must be a whole number, got ${JSON.stringify(raw)}`,
      );
    }
    const value = Number(raw.trim());
    if (value < min || value > max) {
      throw new ConfigError(
        `${name} must be from ${min} to ${max}, got ${value}`,
      );
    }
    return value;
  };
  const oneOf = <T extends string>(
    name: string,
    values: readonly T[],
    fallback: T,
  ): T => {
    const raw = (env[name] ?? '').trim() || fallback;
    if (!(values as readonly string[]).includes(raw)) {
      throw new ConfigError(
        `${name} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`,
      );
    }
    return raw as T;
  };
  const host = (env.HOST ?? '').trim() || '127.0.0.1';
  const logLevel = oneOf('LOG_LEVEL', LOG_LEVELS, 'info');
  const logFormat = oneOf('KV_LOG_FORMAT', LOG_FORMATS, 'auto');
  const onOff = (name: string, fallback: 'on' | 'off'): boolean => {
    const raw = (env[name] ?? '').trim() || fallback;
    if (raw !== 'on' && raw !== 'off') {
      throw new ConfigError(
        `${name} must be on or off, got ${JSON.stringify(raw)}`,
      );
    }
    return raw === 'on';
  };
  const fsync = oneOf('KV_FSYNC', FSYNC_POLICIES, 'everysec');
  const dataDir = (env.KV_DATA_DIR ?? '').trim() || undefined;
  const authToken =
    env.KV_AUTH_TOKEN === undefined || env.KV_AUTH_TOKEN === ''
      ? undefined
      : env.KV_AUTH_TOKEN;
  const maxKeys =
    env.KV_MAX_KEYS === undefined || env.KV_MAX_KEYS === ''
      ? undefined
      : int('KV_MAX_KEYS', 0, 1, Number.MAX_SAFE_INTEGER);
  const config: Config = {
    port: int('PORT', 3000, 0, 65535),
    host,
    workers: int('KV_WORKERS', availableParallelism(), 1, 256),
    authToken,
    maxKeys,
    maxKeyBytes: int('KV_MAX_KEY_BYTES', 512, 1, 4096),
    maxValueBytes: int('KV_MAX_VALUE_BYTES', 1_048_576, 2, 64 * 1_048_576),
    reconcileIntervalMs: int('KV_RECONCILE_INTERVAL_MS', 0, 0, 1000),
    ttlIntervalMs: int('KV_TTL_INTERVAL_MS', 100, 1, 60_000),
    strongWriteTimeoutMs: int('KV_STRONG_WRITE_TIMEOUT_MS', 2000, 1, 600_000),
    maxPendingWrites: int('KV_MAX_PENDING_WRITES', 100_000, 1, 10_000_000),
    maxReplicaBacklogBytes: int(
      'KV_MAX_REPLICA_BACKLOG_BYTES',
      256 * 1_048_576,
      1_048_576,
      2 ** 40,
    ),
    maxReplicaLag: int(
      'KV_MAX_REPLICA_LAG',
      100_000,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    shutdownTimeoutMs: int('KV_SHUTDOWN_TIMEOUT_MS', 8000, 100, 600_000),
    headersTimeoutMs: int('KV_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    requestTimeoutMs: int('KV_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    keepAliveTimeoutMs: int('KV_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
    httpMetrics: onOff('KV_HTTP_METRICS', 'on'),
    logLevel,
    logFormat,
    dataDir,
    fsync,
    snapshotLogRatio: int('KV_SNAPSHOT_LOG_RATIO', 2, 1, 1000),
    snapshotMinLogBytes: int(
      'KV_SNAPSHOT_MIN_LOG_BYTES',
      64 * 1_048_576,
      0,
      2 ** 50,
    ),
    allowTruncate: onOff('KV_ALLOW_TRUNCATE', 'off'),
    watchHistory: int('KV_WATCH_HISTORY', 100_000, 1, 100_000_000),
    watchHistoryBytes: int(
      'KV_WATCH_HISTORY_BYTES',
      64 * 1_048_576,
      0,
      2 ** 40,
    ),
    watchBufferBytes: int('KV_WATCH_BUFFER_BYTES', 8 * 1_048_576, 1, 2 ** 40),
    // The contract promises a ping at least every 15 s: no longer interval is accepted.
    watchPingMs: int('KV_WATCH_PING_MS', 15_000, 10, 15_000),
  };
  return Object.freeze(config);
}
