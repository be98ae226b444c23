/* edge.ts - the package as bundlers for the Edge runtime and for workers
 * resolve it (export conditions `edge-light` and `worker`): the same exports
 * as index.ts, but without the connection code. The error classes, the
 * method table and the types work; createClient(), NoormmeAdapter() and
 * closeAdapter() throw the Error that explains how to run on Node.js
 * (docs/adapter.md, "Edge runtime"). Nothing here refers to a Node.js API,
 * so an Edge build has nothing to warn about. */
import type { NoormmeAdapterMethods, NoormmeAdapterOptions } from './adapter.js';
import type { ClientOptions, NoormmeClient } from './client.js';
import { RUNTIME_HELP } from './runtime.js';

export type { NoormmeAdapterMethods, NoormmeAdapterOptions } from './adapter.js';
export type { ClientOptions, NoormmeAuthHelpers, NoormmeClient } from './client.js';
export type { PoolStats } from './connection.js';
export * from './errors.js';
export { METHODS, LIMITS, type ArgSpec, type ArgType, type ExecClass, type MethodArgs, type MethodName, type MethodSpec } from './methods.generated.js';
export type * from './types.js';

/** Auth.js's default session lifetime: 30 days (as client.ts; a test
 * compares the two). */
export const DEFAULT_SESSION_MAX_AGE = 30 * 24 * 60 * 60;

/** Throws: noormd is reached over a Unix socket, which needs Node.js. */
export function createClient(_options?: ClientOptions): NoormmeClient {
  throw new Error(RUNTIME_HELP);
}

/** Throws: noormd is reached over a Unix socket, which needs Node.js. */
export function NoormmeAdapter(_options?: NoormmeAdapterOptions): NoormmeAdapterMethods {
  throw new Error(RUNTIME_HELP);
}

/** Rejects: there is no adapter to close where no client can exist. */
export async function closeAdapter(_adapter: object): Promise<void> {
  throw new Error(RUNTIME_HELP);
}
