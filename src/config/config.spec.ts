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
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      workers: 3,
      authToken: 's3cret',
      maxKeys: 10,
      maxValueBytes: 2048,
      logLevel: 'warn',
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
  ])('refuses %s=%s with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
