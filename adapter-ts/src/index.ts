/* index.ts - the public surface of @noormme/client: the Auth.js adapter, the
 * client, their types, and every error class. Importing it outside Node.js
 * (the Edge runtime) throws an Error that explains the fix. */
export { NoormmeAdapter, type NoormmeAdapterMethods, type NoormmeAdapterOptions } from './adapter.js';
export { createClient, DEFAULT_SESSION_MAX_AGE, type ClientOptions, type NoormmeClient } from './client.js';
export type { PoolStats } from './connection.js';
export * from './errors.js';
export type * from './types.js';
