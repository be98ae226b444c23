/* types.test.ts - compile-time checks, enforced when the tests are built:
 * the adapter is an Auth.js v5 `Adapter` (@auth/core and next-auth's config)
 * and fits next-auth v4's `adapter` option. The @ts-expect-error lines prove
 * the imported types are real (were they `any`, those lines would fail the
 * build). The runtime test only confirms the file was compiled and loaded. */
import assert from 'node:assert/strict';
import { it } from 'node:test';

import type { Adapter as AuthCoreAdapter } from '@auth/core/adapters';
import type { NextAuthConfig } from 'next-auth';
import type { NextAuthOptions as V4Options } from 'next-auth-v4';
import type { Adapter as V4Adapter } from 'next-auth-v4/adapters';

import { NoormmeAdapter, type MethodArgs, type MethodName, type NoormmeAdapterMethods, type NoormmeClient } from '@noormme/client';

/** Type-checked, never called. */
export function typeChecks(adapter: NoormmeAdapterMethods): void {
  const v5: AuthCoreAdapter = adapter;
  const v5Config: NextAuthConfig['adapter'] = adapter;
  const v4: V4Adapter = adapter;
  const v4Options: V4Options = { providers: [], adapter: NoormmeAdapter({ socketPath: '/x' }) };

  // @ts-expect-error v4's getUser takes a string id: the v4 type is real
  const wrongV4: V4Adapter = { getUser: async (id: number) => ({ id }) };
  // @ts-expect-error v5's getSessionAndUser must resolve to {session, user} | null
  const wrongV5: AuthCoreAdapter = { getSessionAndUser: async () => 'session' };

  // Every contract method is present (not optional) on our type.
  const required: Array<keyof NoormmeAdapterMethods> = [
    'createUser', 'getUser', 'getUserByEmail', 'getUserByAccount', 'updateUser', 'deleteUser',
    'linkAccount', 'unlinkAccount', 'getAccount', 'createSession', 'getSessionAndUser', 'updateSession',
    'deleteSession', 'createVerificationToken', 'useVerificationToken', 'createAuthenticator',
    'getAuthenticator', 'listAuthenticatorsByUserId', 'updateAuthenticatorCounter',
  ];
  const direct: Promise<unknown> = adapter.getUser('id'); // callable without `!`
  void [v5, v5Config, v4, v4Options, wrongV4, wrongV5, required, direct];
}

/** The generated method table types argument names and types (issue 7, task 1). */
export function methodTypeChecks(client: NoormmeClient): void {
  const name: MethodName = 'auth.getSessionAndUser';
  const args: MethodArgs['auth.createSession'] = { userId: 'u', expires: new Date() };
  const extras: MethodArgs['auth.createUser'] = { email: 'a@b.c', role: 'admin' }; // keeps extra fields
  // @ts-expect-error auth.createSession keeps no extra fields
  const unknownKey: MethodArgs['auth.createSession'] = { userId: 'u', expires: new Date(), id: 'x' };
  // @ts-expect-error expires is a Date on the wire (T_TIME)
  const wrongType: MethodArgs['auth.createSession'] = { userId: 'u', expires: 5 };
  // @ts-expect-error no such method in methods.def
  const typo: MethodName = 'auth.getUsr';
  // Helpers live under client.auth now.
  // @ts-expect-error listSessions moved to client.auth.listSessions
  void client.listSessions;
  void [name, args, extras, unknownKey, wrongType, typo, client.auth.listSessions];
}

it('the type checks compiled (they run at build time)', () => {
  assert.equal(typeof typeChecks, 'function');
  assert.equal(typeof methodTypeChecks, 'function');
});
