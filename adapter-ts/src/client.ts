/* client.ts - createClient(): the handle an app keeps for noormd. It owns the
 * connection pool, sends any method with call(), and offers the auth helpers
 * Auth.js itself lacks (updateAccount, session listing, sign-out everywhere,
 * sessions minted by the app for the Credentials provider). The adapter is a
 * separate object built on the same client. */
import { Pool, type PoolOptions, type PoolStats } from './connection.js';
import { accountOut, listOut, sessionAndUserOrNull, sessionInfoOut, sessionOut, toWire } from './convert.js';
import type {
  AccountUpdate,
  AdapterAccount,
  AdapterSession,
  CreateSessionOptions,
  SessionAndUser,
  SessionInfo,
} from './types.js';

/** Options of createClient (and of NoormmeAdapter when it makes its own client). */
export interface ClientOptions extends Omit<PoolOptions, 'socketPath'> {
  /** noormd's Unix socket. Default: env NOORMME_SOCKET, else
   * ./var/noormme.sock (noormd's own default), relative to the working directory. */
  socketPath?: string;
}

/** A connection pool to noormd plus the auth helpers. */
export interface NoormmeClient {
  /** The socket this client connects to. */
  readonly socketPath: string;
  /**
   * Calls any noormd method with named arguments and resolves with its raw
   * result (timestamps as Date). Keys whose value is undefined are not sent.
   * Rejects with a NoormmeError subclass: the class generated for the
   * server's error code, NoormmeConnectionError or NoormmeTimeoutError.
   * `T` is not checked against the reply.
   */
  call<T = unknown>(method: string, params?: Readonly<Record<string, unknown>>): Promise<T>;
  /** Changes an account (refreshed OAuth tokens on re-login): absent fields
   * stay, null clears. Throws NotFoundError for an unknown account. */
  updateAccount(account: AccountUpdate): Promise<AdapterAccount>;
  /** The user's sessions, latest expiry first (expired ones until purged). */
  listSessions(userId: string): Promise<SessionInfo[]>;
  /** Deletes every session of the user ("sign out everywhere"); resolves
   * with how many there were. */
  deleteSessions(userId: string): Promise<number>;
  /** Creates a database session for a user the app authenticated itself
   * (Credentials provider). The returned sessionToken is the cookie value. */
  createDatabaseSession(userId: string, options?: CreateSessionOptions): Promise<AdapterSession>;
  /** The session for a cookie value and its user, or null. Expired sessions
   * are returned too: compare session.expires with the current time. */
  getSessionAndUser(sessionToken: string): Promise<SessionAndUser | null>;
  /** Connection and request counts. */
  stats(): PoolStats;
  /** Rejects pending calls and closes every connection; later calls reject. */
  close(): Promise<void>;
}

/** Auth.js's default session lifetime: 30 days. */
export const DEFAULT_SESSION_MAX_AGE = 30 * 24 * 60 * 60;

/** Where noormd listens when no socketPath is given. */
export function defaultSocketPath(): string {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.['NOORMME_SOCKET'] || './var/noormme.sock';
}

/** Creates a client. Nothing connects until the first call. */
export function createClient(options: ClientOptions = {}): NoormmeClient {
  const pool = new Pool({ ...options, socketPath: options.socketPath ?? defaultSocketPath() });
  const call = <T = unknown>(method: string, params?: Readonly<Record<string, unknown>>): Promise<T> =>
    pool.call(method, params) as Promise<T>;

  return {
    socketPath: pool.socketPath,
    call,

    async updateAccount(account) {
      return accountOut(await call('auth.updateAccount', toWire('account', account)));
    },

    async listSessions(userId) {
      return listOut('session', await call('auth.listSessions', { userId }), sessionInfoOut);
    },

    async deleteSessions(userId) {
      const n = await call('auth.deleteSessions', { userId });
      if (typeof n !== 'number') throw new TypeError('noormd returned a non-number for auth.deleteSessions');
      return n;
    },

    async createDatabaseSession(userId, opts = {}) {
      const maxAge = opts.maxAge ?? DEFAULT_SESSION_MAX_AGE;
      if (typeof maxAge !== 'number' || !Number.isFinite(maxAge) || maxAge <= 0)
        throw new TypeError('createDatabaseSession: maxAge must be a positive number of seconds');
      const expires = new Date(Date.now() + maxAge * 1000);
      const params = toWire('session', { sessionToken: opts.sessionToken, userId, expires });
      return sessionOut(await call('auth.createSession', params));
    },

    async getSessionAndUser(sessionToken) {
      return sessionAndUserOrNull(await call('auth.getSessionAndUser', { sessionToken }));
    },

    stats: () => pool.stats(),
    close: () => pool.close(),
  };
}
