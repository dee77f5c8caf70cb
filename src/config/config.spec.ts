import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('has a default for every setting', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      authToken: undefined,
      maxKeys: undefined,
      maxKeyBytes: 512,
      maxValueBytes: 1_048_576,
      reconcileIntervalMs: 0,
      logLevel: 'info',
      logFormat: 'auto',
      dataDir: undefined,
      fsync: 'everysec',
      snapshotLogRatio: 2,
      snapshotMinLogBytes: 64 * 1_048_576,
      allowTruncate: false,
      watchHistory: 100_000,
      watchHistoryBytes: 64 * 1_048_576,
      watchBufferBytes: 8 * 1_048_576,
      watchPingMs: 15_000,
    });
    expect(config.workers).toBeGreaterThanOrEqual(1);
  });

  it('reads the environment', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      KV_WORKERS: '3',
      KV_AUTH_TOKEN: 's3cret',
      KV_MAX_KEYS: '10',
      KV_MAX_VALUE_BYTES: '2048',
      LOG_LEVEL: 'warn',
      KV_LOG_FORMAT: 'json',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      workers: 3,
      authToken: 's3cret',
      maxKeys: 10,
      maxValueBytes: 2048,
      logLevel: 'warn',
      logFormat: 'json',
    });
  });

  it('reads the durability settings', () => {
    expect(
      loadConfig({
        KV_DATA_DIR: '/var/lib/kv',
        KV_FSYNC: 'always',
        KV_SNAPSHOT_LOG_RATIO: '3',
        KV_SNAPSHOT_MIN_LOG_BYTES: '1024',
        KV_ALLOW_TRUNCATE: 'on',
      }),
    ).toMatchObject({
      dataDir: '/var/lib/kv',
      fsync: 'always',
      snapshotLogRatio: 3,
      snapshotMinLogBytes: 1024,
      allowTruncate: true,
    });
  });

  it('reads the watch settings', () => {
    expect(
      loadConfig({
        KV_WATCH_HISTORY: '10',
        KV_WATCH_HISTORY_BYTES: '0',
        KV_WATCH_BUFFER_BYTES: '65536',
        KV_WATCH_PING_MS: '50',
      }),
    ).toMatchObject({
      watchHistory: 10,
      watchHistoryBytes: 0,
      watchBufferBytes: 65536,
      watchPingMs: 50,
    });
  });

  it('is frozen', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it.each([
    ['PORT', 'http', /PORT must be a whole number/],
    ['PORT', '70000', /PORT must be from 0 to 65535/],
    ['KV_WORKERS', '0', /KV_WORKERS must be from 1/],
    ['KV_WORKERS', '1.5', /KV_WORKERS must be a whole number/],
    ['KV_MAX_KEYS', '-1', /KV_MAX_KEYS must be a whole number/],
    ['KV_MAX_KEYS', '0', /KV_MAX_KEYS must be from 1/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of/],
    [
      'KV_LOG_FORMAT',
      'yaml',
      /KV_LOG_FORMAT must be one of auto, pretty, json/,
    ],
    ['KV_FSYNC', 'sometimes', /KV_FSYNC must be one of always, everysec, no/],
    ['KV_ALLOW_TRUNCATE', 'yes', /KV_ALLOW_TRUNCATE must be on or off/],
    ['KV_SNAPSHOT_LOG_RATIO', '0', /KV_SNAPSHOT_LOG_RATIO must be from 1/],
    ['KV_WATCH_HISTORY', '0', /KV_WATCH_HISTORY must be from 1/],
    ['KV_WATCH_BUFFER_BYTES', '1MiB', /KV_WATCH_BUFFER_BYTES must be a whole/],
    ['KV_WATCH_PING_MS', '30000', /KV_WATCH_PING_MS must be from 10 to 15000/],
  ])('refuses %s=%s with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
