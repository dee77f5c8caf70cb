export { KvConnectionError, KvError } from './errors';
export { DEFAULT_URL, encodeKey, KvClient } from './kv-client';
export type { KvClientOptions } from './kv-client';
export type * from './types';
