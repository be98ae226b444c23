/* client.ts - createClient(): the handle an app keeps for noormd. It holds
 * the process's shared connection pool for its socket, sends any method with
 * call(), and offers under `client.auth` the helpers Auth.js itself lacks
 * (updateAccount, session listing, sign-out everywhere, sessions minted by
 * the app for the Credentials provider). The adapter is a separate object
 * built on a client. Method names and argument names come from the generated
 * method table. */
import { ERROR_KIT, openPool, type PoolOptions, type PoolStats, type UserOptions } from './connection.js';
import { accountOut, argsFor, listOut, sessionAndUserOrNull, sessionInfoOut, sessionOut } from './convert.js';
import type { MethodArgs, MethodName } from './methods.generated.js';
import type {
  AccountUpdate,
  AdapterAccount,
  AdapterSession,
  CreateSessionOptions,
  ListResult,
  SessionAndUser,
  SessionInfo,
} from './types.js';

/** Options of createClient (and of NoormmeAdapter when it makes its own client). */
export interface ClientOptions extends Omit<PoolOptions, 'socketPath'>, UserOptions {
  /** noormd's Unix socket. Default: env NOORMME_SOCKET, else
   * ./var/noormme.sock (noormd's own default), relative to the working directory. */
  socketPath?: string;
  /** true (default): use the process's one pool for this socket, shared
   * with every other client and adapter for it (hot reloads included).
   * false: a pool of this client's own. */
  shared?: boolean;
}

/** The Auth.js helpers beyond the adapter, as `client.auth`. */
export interface NoormmeAuthHelpers {
  /** Changes an account (refreshed OAuth tokens on re-login): absent fields
   * stay, null clears. Throws NotFoundError for an unknown account. */
  updateAccount(account: AccountUpdate): Promise<AdapterAccount>;
  /** The user's sessions, latest expiry first (expired ones until purged).
   * Past noormd's --max-rows the first that many, with `truncated: true`. */
  listSessions(userId: string): Promise<ListResult<SessionInfo>>;
  /** Ends one session listed by listSessions ("sign out that device"),
   * without its token: resolves with it, or null when the user has no
   * session with that id. */
  deleteSession(session: Pick<SessionInfo, 'id' | 'userId'>): Promise<SessionInfo | null>;
  /** Deletes every session of the user ("sign out everywhere"); resolves
   * with how many there were. */
  deleteSessions(userId: string): Promise<number>;
  /** Creates a database session for a user the app authenticated itself
   * (Credentials provider). The returned sessionToken is the cookie value. */
  createDatabaseSession(userId: string, options?: CreateSessionOptions): Promise<AdapterSession>;
  /** The session for a cookie value and its user, or null. Expired sessions
   * are returned too: compare session.expires with the current time. */
  getSessionAndUser(sessionToken: string): Promise<SessionAndUser | null>;
}

/** A handle on the connection pool to noormd, plus the auth helpers. */
export interface NoormmeClient {
  /** The socket this client connects to. */
  readonly socketPath: string;
  /**
   * Calls any noormd method with named arguments and resolves with its raw
   * result (timestamps as Date). Keys whose value is undefined are not sent;
   * nothing else is filtered. Rejects with a NoormmeError subclass: the
   * class generated for the server's error code, NoormmeConnectionError or
   * NoormmeTimeoutError. `T` is not checked against the reply.
   */
  call<T = unknown>(method: MethodName | (string & {}), params?: Readonly<Record<string, unknown>>): Promise<T>;
  /** The Auth.js helpers: updateAccount, listSessions, deleteSessions,
   * createDatabaseSession, getSessionAndUser. */
  readonly auth: NoormmeAuthHelpers;
  /** Connection and request counts of the (shared) pool. */
  stats(): PoolStats;
  /** Rejects this client's pending calls; later calls reject. The pool's
   * connections close when no other client or adapter holds it. */
  close(): Promise<void>;
  /** close(), for `await using client = createClient()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Auth.js's default session lifetime: 30 days. */
export const DEFAULT_SESSION_MAX_AGE = 30 * 24 * 60 * 60;

/** Where noormd listens when no socketPath is given. */
export function defaultSocketPath(): string {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.['NOORMME_SOCKET'] || './var/noormme.sock';
}

/** Symbol.asyncDispose, also where a runtime lacks it (Node < 20.4 names it so). */
export const ASYNC_DISPOSE: typeof Symbol.asyncDispose =
  (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ??
  (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/** Creates a client. Nothing connects until the first call. Throws the
 * runtime Error where node:net is missing (the Edge runtime). */
export function createClient(options: ClientOptions = {}): NoormmeClient {
  const user = openPool({ ...options, socketPath: options.socketPath ?? defaultSocketPath() }, ERROR_KIT);
  const call = <T = unknown>(method: string, params?: Readonly<Record<string, unknown>>): Promise<T> =>
    user.call(method, params) as Promise<T>;
  /** A call whose name and arguments the method table checks. */
  const rpc = <M extends MethodName>(method: M, args: MethodArgs[M]): Promise<unknown> => user.call(method, args);

  const auth: NoormmeAuthHelpers = {
    async updateAccount(account) {
      return accountOut(await rpc('auth.updateAccount', argsFor('auth.updateAccount', 'account', account)));
    },

    async listSessions(userId) {
      return listOut('session', await rpc('auth.listSessions', { userId }), sessionInfoOut);
    },

    async deleteSession({ id, userId }) {
      const wire = await rpc('auth.deleteSessionById', { userId, id });
      return wire === null || wire === undefined ? null : sessionInfoOut(wire);
    },

    async deleteSessions(userId) {
      const n = await rpc('auth.deleteSessions', { userId });
      if (typeof n !== 'number') throw new TypeError('noormd returned a non-number for auth.deleteSessions');
      return n;
    },

    async createDatabaseSession(userId, opts = {}) {
      const maxAge = opts.maxAge ?? DEFAULT_SESSION_MAX_AGE;
      if (typeof maxAge !== 'number' || !Number.isFinite(maxAge) || maxAge <= 0)
        throw new TypeError('createDatabaseSession: maxAge must be a positive number of seconds');
      const expires = new Date(Date.now() + maxAge * 1000);
      const args = argsFor('auth.createSession', 'session', { sessionToken: opts.sessionToken, userId, expires });
      return sessionOut(await rpc('auth.createSession', args));
    },

    async getSessionAndUser(sessionToken) {
      return sessionAndUserOrNull(await rpc('auth.getSessionAndUser', { sessionToken }));
    },
  };

  const close = () => user.close();
  return {
    socketPath: user.socketPath,
    call,
    auth,
    stats: () => user.stats(),
    close,
    [ASYNC_DISPOSE]: close,
  };
}
