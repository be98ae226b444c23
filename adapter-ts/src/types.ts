/* types.ts - the public types of @noormme/client beyond Auth.js's own: what
 * the adapter and the client accept (dates as Date or ISO string) and the
 * shapes of the helpers' results. */
// The only import from Auth.js. @auth/core is an ES module; the attribute
// lets the CommonJS declarations (dist/cjs) import its types too.
import type {
  Adapter,
  AdapterAccount,
  AdapterAuthenticator,
  AdapterSession,
  AdapterUser,
  VerificationToken,
} from '@auth/core/adapters' with { 'resolution-mode': 'import' };

import type { MethodArgs } from './methods.generated.js';

export type { Adapter, AdapterAccount, AdapterAuthenticator, AdapterSession, AdapterUser, VerificationToken };

/** A date as the adapter accepts it: a Date, or a string `new Date()` reads
 * (ISO 8601). Dates always come back as Date instances. */
export type DateInput = Date | string;

/** createUser's argument. Auth.js v5 passes an id; next-auth v4 does not, and
 * then noormd generates a UUID. Extra fields (declared by augmenting Auth.js's
 * User type) are stored and returned. No index signature: Auth.js's
 * AdapterUser has none, and it must stay assignable to this type. */
export type NewUser = Omit<AdapterUser, 'id' | 'emailVerified'> & {
  id?: string;
  emailVerified?: DateInput | null;
};

/** updateUser's argument: absent or undefined keys stay as they are, null
 * clears; an extra field given replaces its stored value, null removes it. */
export type UserUpdate = Partial<Omit<AdapterUser, 'id' | 'emailVerified'>> & {
  id: string;
  emailVerified?: DateInput | null;
};

/** An account's unique key. */
export type AccountKey = Pick<AdapterAccount, 'provider' | 'providerAccountId'>;

/** updateAccount's argument: the key, then any fields to change (absent
 * stays, null clears; extra fields replace their stored value, null removes
 * them). The fields are protocol/methods.def's own (MethodArgs), so they
 * cannot drift from the server's; `userId` may be given (e.g. a whole
 * account read back) but must be the account's own user: noormd refuses to
 * move an account (INVALID_ARGUMENT; unlink it, then link it again). */
export type AccountUpdate = Omit<MethodArgs['auth.updateAccount'], 'type'> & {
  type?: AdapterAccount['type'];
};

/** createSession's argument. */
export interface SessionInput {
  sessionToken: string;
  userId: string;
  expires: DateInput;
}

/** updateSession's argument. */
export interface SessionUpdate {
  sessionToken: string;
  userId?: string;
  expires?: DateInput;
}

/** createVerificationToken's argument. */
export interface VerificationTokenInput {
  identifier: string;
  token: string;
  expires: DateInput;
}

/** getSessionAndUser's result. */
export interface SessionAndUser {
  session: AdapterSession;
  user: AdapterUser;
}

/** One entry of listSessions. Session tokens are not stored (only a keyed
 * hash), so they cannot be listed: `id` is an opaque handle derived from the
 * token's hash, stable for the life of the session. */
export interface SessionInfo {
  id: string;
  userId: string;
  expires: Date;
}

/** What a list helper resolves with: the rows, and `truncated: true` when
 * noormd cut the list at its --max-rows (the user has more). */
export type ListResult<T> = T[] & { truncated?: true };

/** Options of createDatabaseSession. */
export interface CreateSessionOptions {
  /** Lifetime in seconds; expires = now + maxAge. Default 30 days, Auth.js's
   * default session.maxAge. */
  maxAge?: number;
  /** The token to use; by default noormd generates a random 256-bit one. */
  sessionToken?: string;
}

/** The authenticator as createAuthenticator accepts it. */
export type AuthenticatorInput = AdapterAuthenticator;
