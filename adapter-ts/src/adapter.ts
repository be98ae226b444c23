/* adapter.ts - NoormmeAdapter(): the Auth.js database adapter. A thin
 * mapping: each Auth.js method is exactly one noormd method, atomic on the
 * server, and the object is a plain literal because Auth.js wraps only an
 * adapter's own properties. Value conversion lives in convert.ts. */
import { createClient, type ClientOptions, type NoormmeClient } from './client.js';
import {
  accountOrNull,
  accountOut,
  authenticatorOrNull,
  authenticatorOut,
  listOut,
  sessionAndUserOrNull,
  sessionOrNull,
  sessionOut,
  toWire,
  userOrNull,
  userOut,
  verificationTokenOrNull,
} from './convert.js';
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
}

/** Creates the Auth.js adapter. `NoormmeAdapter({ client })` shares an
 * existing client; `NoormmeAdapter({ socketPath })` (or no argument) makes
 * one. Nothing connects until Auth.js calls a method. */
export function NoormmeAdapter(options: NoormmeAdapterOptions = {}): NoormmeAdapterMethods {
  const client = 'client' in options && options.client ? options.client : createClient(options as ClientOptions);
  const call = (method: string, params?: Readonly<Record<string, unknown>>) => client.call(method, params);

  return {
    async createUser(user) {
      return userOut(await call('auth.createUser', toWire('user', user)));
    },
    async getUser(id) {
      return userOrNull(await call('auth.getUser', { id }));
    },
    async getUserByEmail(email) {
      return userOrNull(await call('auth.getUserByEmail', { email }));
    },
    async getUserByAccount({ provider, providerAccountId }) {
      return userOrNull(await call('auth.getUserByAccount', { provider, providerAccountId }));
    },
    async updateUser(user) {
      return userOut(await call('auth.updateUser', toWire('user', user)));
    },
    async deleteUser(userId) {
      return userOrNull(await call('auth.deleteUser', { userId }));
    },
    async linkAccount(account) {
      return accountOut(await call('auth.linkAccount', toWire('account', account)));
    },
    async unlinkAccount({ provider, providerAccountId }) {
      return accountOrNull(await call('auth.unlinkAccount', { provider, providerAccountId })) ?? undefined;
    },
    async getAccount(providerAccountId, provider) {
      return accountOrNull(await call('auth.getAccount', { providerAccountId, provider }));
    },
    async createSession(session) {
      return sessionOut(await call('auth.createSession', toWire('session', session)));
    },
    async getSessionAndUser(sessionToken) {
      return sessionAndUserOrNull(await call('auth.getSessionAndUser', { sessionToken }));
    },
    async updateSession(session) {
      return sessionOrNull(await call('auth.updateSession', toWire('session', session)));
    },
    async deleteSession(sessionToken) {
      return sessionOrNull(await call('auth.deleteSession', { sessionToken }));
    },
    async createVerificationToken(token) {
      const wire = await call('auth.createVerificationToken', toWire('verificationToken', token));
      const out = verificationTokenOrNull(wire);
      if (out === null) throw new TypeError('noormd returned nil for auth.createVerificationToken');
      return out;
    },
    async useVerificationToken({ identifier, token }) {
      return verificationTokenOrNull(await call('auth.useVerificationToken', { identifier, token }));
    },
    async createAuthenticator(authenticator) {
      return authenticatorOut(await call('auth.createAuthenticator', toWire('authenticator', authenticator)));
    },
    async getAuthenticator(credentialID) {
      return authenticatorOrNull(await call('auth.getAuthenticator', { credentialID }));
    },
    async listAuthenticatorsByUserId(userId) {
      return listOut('authenticator', await call('auth.listAuthenticatorsByUserId', { userId }), authenticatorOut);
    },
    async updateAuthenticatorCounter(credentialID, newCounter) {
      return authenticatorOut(await call('auth.updateAuthenticatorCounter', { credentialID, newCounter }));
    },
  };
}
