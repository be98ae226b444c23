/* index.ts - the public surface of @noormme/client: the Auth.js adapter, the
 * client, their types, every error class and the method table. Importing it
 * touches no Node.js built-in: the error classes and types load anywhere;
 * createClient() and NoormmeAdapter() throw an Error that explains the fix
 * where node:net is missing (the Edge runtime). */
export { closeAdapter, NoormmeAdapter, type NoormmeAdapterMethods, type NoormmeAdapterOptions } from './adapter.js';
export {
  createClient,
  DEFAULT_SESSION_MAX_AGE,
  type ClientOptions,
  type NoormmeAuthHelpers,
  type NoormmeClient,
} from './client.js';
export type { PoolStats } from './connection.js';
export * from './errors.js';
export { METHODS, LIMITS, type ArgSpec, type ArgType, type ExecClass, type MethodArgs, type MethodName, type MethodSpec } from './methods.generated.js';
export type * from './types.js';
