/* adapter.ts - NoormmeAdapter(): the Auth.js database adapter. A thin
 * mapping: each Auth.js method is exactly one noormd method, atomic on the
 * server, and the object is a plain literal because Auth.js wraps only an
 * adapter's own properties. Value conversion lives in convert.ts; method and
 * argument names are checked against the generated method table. */
import { ASYNC_DISPOSE, createClient, type ClientOptions, type NoormmeClient } from './client.js';
import {
  accountOrNull,
  accountOut,
  argsFor,
  authenticatorOrNull,
  authenticatorOut,
  listOut,
  sessionAndUserOrNull,
  sessionOrNull,
  sessionOut,
  userOrNull,
  userOut,
  verificationTokenOrNull,
} from './convert.js';
import type { MethodArgs, MethodName } from './methods.generated.js';
import type {
  AccountKey,
  Adapter,
  AdapterAccount,
  AdapterAuthenticator,
  AdapterSession,
  AdapterUser,
  NewUser,
  SessionAndUser,
  SessionInput,
  SessionUpdate,
  UserUpdate,
  VerificationToken,
  VerificationTokenInput,
} from './types.js';

/** Either the options of a client the adapter creates for itself, or a client
 * to share (the app's createClient(), so both use one pool and can be closed). */
export type NoormmeAdapterOptions = ClientOptions | { client: NoormmeClient };

/**
 * The adapter: every method of Auth.js's Adapter, all present. It is an
 * `Adapter` of @auth/core (Auth.js v5) and also fits next-auth v4's `adapter`
 * option. Not-found is null (undefined for unlinkAccount, as Auth.js types
 * it); failed writes throw a NoormmeError.
 */
export interface NoormmeAdapterMethods extends Adapter {
  /** Stores the user and its extra fields; without an id (next-auth v4)
   * noormd generates one. Throws ConflictError for a taken email. */
  createUser(user: NewUser): Promise<AdapterUser>;
  getUser(id: string): Promise<AdapterUser | null>;
  getUserByEmail(email: string): Promise<AdapterUser | null>;
  getUserByAccount(key: AccountKey): Promise<AdapterUser | null>;
  /** Absent or undefined keys stay, null clears; NotFoundError for an unknown id. */
  updateUser(user: UserUpdate): Promise<AdapterUser>;
  /** Deletes the user with its accounts, sessions and authenticators. */
  deleteUser(userId: string): Promise<AdapterUser | null>;
  /** ConflictError for a (provider, providerAccountId) already linked. */
  linkAccount(account: AdapterAccount): Promise<AdapterAccount>;
  unlinkAccount(key: AccountKey): Promise<AdapterAccount | undefined>;
  getAccount(providerAccountId: string, provider: string): Promise<AdapterAccount | null>;
  /** Returns the token the caller gave: it becomes the cookie. */
  createSession(session: SessionInput): Promise<AdapterSession>;
  getSessionAndUser(sessionToken: string): Promise<SessionAndUser | null>;
  updateSession(session: SessionUpdate): Promise<AdapterSession | null>;
  deleteSession(sessionToken: string): Promise<AdapterSession | null>;
  createVerificationToken(token: VerificationTokenInput): Promise<VerificationToken>;
  /** Returns the token and deletes it in one step; null when missing, used
   * or for another identifier. */
  useVerificationToken(params: { identifier: string; token: string }): Promise<VerificationToken | null>;
  createAuthenticator(authenticator: AdapterAuthenticator): Promise<AdapterAuthenticator>;
  getAuthenticator(credentialID: string): Promise<AdapterAuthenticator | null>;
  listAuthenticatorsByUserId(userId: string): Promise<AdapterAuthenticator[]>;
  /** NotFoundError for an unknown credential. */
  updateAuthenticatorCounter(credentialID: string, newCounter: number): Promise<AdapterAuthenticator>;
  /** closeAdapter(this), for `await using adapter = NoormmeAdapter()`. Not
   * enumerable: Auth.js never sees it. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates the Auth.js adapter. `NoormmeAdapter({ client })` shares an
 * existing client; `NoormmeAdapter({ socketPath })` (or no argument) makes
 * one, on the process's shared pool for that socket. Nothing connects until
 * Auth.js calls a method. Throws the runtime Error where node:net is missing
 * (the Edge runtime).
 *
 * Besides the Auth.js methods (its only enumerable properties) the object
 * has `[Symbol.asyncDispose]`, which closeAdapter() calls: it closes the
 * client the adapter made for itself, and does nothing for a client passed
 * in (close that one yourself). */
export function NoormmeAdapter(options: NoormmeAdapterOptions = {}): NoormmeAdapterMethods {
  const given = 'client' in options && options.client ? options.client : null;
  const client = given ?? createClient(options as ClientOptions);
  /** A call whose name and arguments the method table checks. */
  const rpc = <M extends MethodName>(method: M, args: MethodArgs[M]): Promise<unknown> => client.call(method, args);

  const adapter: Omit<NoormmeAdapterMethods, typeof Symbol.asyncDispose> = {
    async createUser(user) {
      return userOut(await rpc('auth.createUser', argsFor('auth.createUser', 'user', user)));
    },
    async getUser(id) {
      return userOrNull(await rpc('auth.getUser', { id }));
    },
    async getUserByEmail(email) {
      return userOrNull(await rpc('auth.getUserByEmail', { email }));
    },
    async getUserByAccount({ provider, providerAccountId }) {
      return userOrNull(await rpc('auth.getUserByAccount', { provider, providerAccountId }));
    },
    async updateUser(user) {
      return userOut(await rpc('auth.updateUser', argsFor('auth.updateUser', 'user', user)));
    },
    async deleteUser(userId) {
      return userOrNull(await rpc('auth.deleteUser', { userId }));
    },
    async linkAccount(account) {
      return accountOut(await rpc('auth.linkAccount', argsFor('auth.linkAccount', 'account', account)));
    },
    async unlinkAccount({ provider, providerAccountId }) {
      return accountOrNull(await rpc('auth.unlinkAccount', { provider, providerAccountId })) ?? undefined;
    },
    async getAccount(providerAccountId, provider) {
      return accountOrNull(await rpc('auth.getAccount', { providerAccountId, provider }));
    },
    async createSession(session) {
      return sessionOut(await rpc('auth.createSession', argsFor('auth.createSession', 'session', session)));
    },
    async getSessionAndUser(sessionToken) {
      return sessionAndUserOrNull(await rpc('auth.getSessionAndUser', { sessionToken }));
    },
    async updateSession(session) {
      return sessionOrNull(await rpc('auth.updateSession', argsFor('auth.updateSession', 'session', session)));
    },
    async deleteSession(sessionToken) {
      return sessionOrNull(await rpc('auth.deleteSession', { sessionToken }));
    },
    async createVerificationToken(token) {
      const args = argsFor('auth.createVerificationToken', 'verificationToken', token);
      const out = verificationTokenOrNull(await rpc('auth.createVerificationToken', args));
      if (out === null) throw new TypeError('noormd returned nil for auth.createVerificationToken');
      return out;
    },
    async useVerificationToken({ identifier, token }) {
      return verificationTokenOrNull(await rpc('auth.useVerificationToken', { identifier, token }));
    },
    async createAuthenticator(authenticator) {
      const args = argsFor('auth.createAuthenticator', 'authenticator', authenticator);
      return authenticatorOut(await rpc('auth.createAuthenticator', args));
    },
    async getAuthenticator(credentialID) {
      return authenticatorOrNull(await rpc('auth.getAuthenticator', { credentialID }));
    },
    async listAuthenticatorsByUserId(userId) {
      return listOut('authenticator', await rpc('auth.listAuthenticatorsByUserId', { userId }), authenticatorOut);
    },
    async updateAuthenticatorCounter(credentialID, newCounter) {
      return authenticatorOut(await rpc('auth.updateAuthenticatorCounter', { credentialID, newCounter }));
    },
  };
  // A symbol, not enumerable: Auth.js (Object.keys) and spreads never see it.
  const dispose = given === null ? () => client.close() : () => Promise.resolve();
  return Object.defineProperty(adapter, ASYNC_DISPOSE, { value: dispose, enumerable: false }) as NoormmeAdapterMethods;
}

/** Closes the client an adapter made for itself (NoormmeAdapter({ socketPath })
 * or NoormmeAdapter()): its pending calls reject, and the shared pool closes
 * once no other client or adapter holds it. Does nothing for an adapter
 * given a client, or for any other object. Works on adapters made by another
 * copy of this package (hot reload). */
export async function closeAdapter(adapter: object): Promise<void> {
  const dispose = (adapter as { [ASYNC_DISPOSE]?: unknown })[ASYNC_DISPOSE];
  if (typeof dispose === 'function') await (dispose as () => Promise<void>).call(adapter);
}
