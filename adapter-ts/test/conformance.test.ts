/* conformance.test.ts - the Auth.js adapter contract (shared/AUTHJS-CONTRACT.md),
 * one test per method, against a real noormd-test. Every rule about null,
 * undefined, throwing, Dates, booleans and extra fields is asserted on the
 * returned value and, where something was stored, on what the server returns
 * when asked again. The last suite goes through every row again with adapters
 * made from fresh copies of the package and closed after each step, as a
 * `next dev` hot reload does (issue 7). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  closeAdapter,
  ConflictError,
  ConstraintError,
  createClient,
  InvalidArgumentError,
  NoormmeAdapter,
  NoormmeError,
  NotFoundError,
  UnknownFieldError,
  type AdapterAccount,
  type AdapterAuthenticator,
  type NoormmeAdapterMethods,
  type NoormmeClient,
} from '@noormme/client';

import { freshCopy, startServer, unique, type TestServer } from './support.js';

let server: TestServer;
let client: NoormmeClient;
let adapter: NoormmeAdapterMethods;

before(async () => {
  server = await startServer();
  client = createClient({ socketPath: server.socketPath, poolSize: 2 });
  adapter = NoormmeAdapter({ client });
});

after(async () => {
  await client.close();
  await server.dispose();
});

const CONTRACT_METHODS = [
  'createUser', 'getUser', 'getUserByEmail', 'getUserByAccount', 'updateUser', 'deleteUser',
  'linkAccount', 'unlinkAccount', 'getAccount', 'createSession', 'getSessionAndUser',
  'updateSession', 'deleteSession', 'createVerificationToken', 'useVerificationToken',
  'createAuthenticator', 'getAuthenticator', 'listAuthenticatorsByUserId',
  'updateAuthenticatorCounter',
] as const;

/** A user with a few fields set, created through the adapter. */
async function newUser(extra: Record<string, unknown> = {}) {
  return adapter.createUser({
    id: unique('user'),
    email: `${unique('mail')}@example.com`,
    emailVerified: null,
    name: 'Ada',
    ...extra,
  });
}

function oauthAccount(userId: string, extra: Partial<AdapterAccount> & Record<string, unknown> = {}): AdapterAccount {
  return {
    userId,
    type: 'oauth',
    provider: 'github',
    providerAccountId: unique('gh'),
    access_token: 'gho_access',
    token_type: 'bearer',
    scope: 'read:user',
    expires_at: 1_900_000_000,
    ...extra,
  };
}

function authenticator(userId: string, extra: Partial<AdapterAuthenticator> = {}): AdapterAuthenticator {
  return {
    credentialID: unique('cred'),
    userId,
    providerAccountId: unique('pa'),
    credentialPublicKey: 'pQECAyYgASFYIA',
    counter: 0,
    credentialDeviceType: 'multiDevice',
    credentialBackedUp: true,
    transports: 'internal,hybrid',
    ...extra,
  };
}

/** Asserts that a rejection is the NoormmeError subclass `cls`. */
async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => NoormmeError): Promise<NoormmeError> {
  const err = await p.then(
    () => assert.fail(`expected ${cls.name}, but the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
  assert.ok(err instanceof NoormmeError);
  return err;
}

describe('adapter shape', () => {
  it('is a plain object whose own enumerable properties are exactly the contract methods', () => {
    assert.equal(Object.getPrototypeOf(adapter), Object.prototype);
    const keys = Object.keys(adapter).sort();
    assert.deepEqual(keys, [...CONTRACT_METHODS].sort());
    for (const k of Object.getOwnPropertyNames(adapter)) {
      const d = Object.getOwnPropertyDescriptor(adapter, k);
      assert.ok(d?.enumerable, `${k} is enumerable`);
      assert.equal(typeof d?.value, 'function', `${k} is a function`);
    }
  });

  it('keeps working when its methods are copied off the object, as Auth.js does', async () => {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(adapter)) copy[k] = v;
    const getUser = copy['getUser'] as NoormmeAdapterMethods['getUser'];
    assert.equal(await getUser('no-such-user'), null);
  });

  it('can be made from a socketPath alone, connecting only on first use', async () => {
    const own = NoormmeAdapter({ socketPath: server.socketPath, poolSize: 1 });
    const u = await newUser();
    assert.deepEqual(await own.getUser(u.id), u);
    // Its client is on the suite's shared pool; closeAdapter lets go of it
    // without closing the pool the suite's client still holds.
    await closeAdapter(own);
    assert.deepEqual(await adapter.getUser(u.id), u);
  });
});

describe('createUser', () => {
  it('stores and returns the user with its id, Dates and extra fields', async () => {
    const verified = new Date('2024-05-06T07:08:09.123Z');
    const input = {
      id: unique('user'),
      name: 'Grace',
      email: `${unique('g')}@example.com`,
      emailVerified: verified,
      image: 'https://example.com/g.png',
      role: 'admin',
      plan: { tier: 2, tags: ['a', 'b'], trial: false },
      lastSeen: new Date('2023-01-01T00:00:00.000Z'),
      birthday: '1990-04-05T00:00:00.000Z', // a string that looks like a date stays a string
    };
    const user = await adapter.createUser(input);
    assert.deepEqual(user, input);
    assert.ok(user.emailVerified instanceof Date);
    assert.ok((user as unknown as { lastSeen: unknown }).lastSeen instanceof Date);
    assert.equal(typeof (user as unknown as { birthday: unknown }).birthday, 'string');
    assert.deepEqual(await adapter.getUser(input.id), input, 'stored state');
    assert.deepEqual(await client.call('auth.getUser', { id: input.id }), input, 'raw server state');
  });

  it('always returns id, name, email, emailVerified and image, null when not given', async () => {
    const id = unique('user');
    const user = await adapter.createUser({ id, email: `${unique('m')}@example.com`, emailVerified: null });
    assert.deepEqual(Object.keys(user).sort(), ['email', 'emailVerified', 'id', 'image', 'name']);
    assert.equal(user.name, null);
    assert.equal(user.image, null);
    assert.equal(user.emailVerified, null);
  });

  it('generates an id when none is given (next-auth v4)', async () => {
    const email = `${unique('v4')}@example.com`;
    const user = await adapter.createUser({ email, emailVerified: null, name: 'v4 user' });
    assert.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(await adapter.getUserByEmail(email), user);
  });

  it('accepts emailVerified as an ISO string and returns a Date', async () => {
    const user = await adapter.createUser({
      id: unique('user'),
      email: `${unique('iso')}@example.com`,
      emailVerified: '2024-02-03T04:05:06.789Z',
    });
    assert.ok(user.emailVerified instanceof Date);
    assert.equal(user.emailVerified.toISOString(), '2024-02-03T04:05:06.789Z');
  });

  it('does not send undefined keys', async () => {
    const user = await adapter.createUser({
      id: unique('user'),
      email: `${unique('u')}@example.com`,
      emailVerified: null,
      image: undefined,
      nickname: undefined,
    } as Parameters<NoormmeAdapterMethods['createUser']>[0]);
    assert.equal('nickname' in user, false, 'an undefined extra is not stored as null');
    assert.equal(user.image, null);
  });

  it('allows users without an email (some OAuth profiles)', async () => {
    const a = await adapter.createUser({ id: unique('user'), email: null as unknown as string, emailVerified: null });
    const b = await adapter.createUser({ id: unique('user'), email: null as unknown as string, emailVerified: null });
    assert.equal(a.email, null);
    assert.equal(b.email, null);
  });

  it('throws ConflictError for a taken email and stores nothing', async () => {
    const first = await newUser();
    const id = unique('user');
    await rejectsWith(adapter.createUser({ id, email: first.email, emailVerified: null }), ConflictError);
    assert.equal(await adapter.getUser(id), null);
  });

  it('throws a TypeError for a date it cannot read', async () => {
    await assert.rejects(
      adapter.createUser({ id: unique('user'), email: 'x@example.com', emailVerified: 'not a date' }),
      TypeError,
    );
  });
});

describe('getUser', () => {
  it('returns the user, or null (never undefined) for an unknown id', async () => {
    const u = await newUser({ role: 'editor' });
    assert.deepEqual(await adapter.getUser(u.id), u);
    assert.strictEqual(await adapter.getUser(unique('missing')), null);
  });
});

describe('getUserByEmail', () => {
  it('matches the email exactly, null otherwise', async () => {
    const u = await newUser();
    assert.deepEqual(await adapter.getUserByEmail(u.email), u);
    assert.strictEqual(await adapter.getUserByEmail(u.email.toUpperCase()), null);
    assert.strictEqual(await adapter.getUserByEmail(`${unique('none')}@example.com`), null);
  });
});

describe('getUserByAccount', () => {
  it('finds the user of a linked account, null for an unknown one', async () => {
    const u = await newUser();
    const acc = await adapter.linkAccount(oauthAccount(u.id));
    assert.deepEqual(
      await adapter.getUserByAccount({ provider: acc.provider, providerAccountId: acc.providerAccountId }),
      u,
    );
    assert.strictEqual(
      await adapter.getUserByAccount({ provider: 'google', providerAccountId: acc.providerAccountId }),
      null,
    );
    assert.strictEqual(await adapter.getUserByAccount({ provider: 'github', providerAccountId: 'nope' }), null);
  });
});

describe('updateUser', () => {
  it('leaves absent and undefined keys unchanged, clears null ones, returns the whole user', async () => {
    const u = await newUser({ image: 'https://example.com/a.png', emailVerified: new Date('2024-01-01T00:00:00Z') });
    const updated = await adapter.updateUser({ id: u.id, name: undefined, image: null });
    assert.deepEqual(updated, { ...u, image: null });
    assert.deepEqual(await adapter.getUser(u.id), { ...u, image: null }, 'stored state');

    const verified = await adapter.updateUser({ id: u.id, emailVerified: '2025-06-07T08:09:10.000Z' });
    assert.ok(verified.emailVerified instanceof Date);
    assert.equal(verified.emailVerified.toISOString(), '2025-06-07T08:09:10.000Z');
    assert.equal(verified.name, 'Ada', 'name was never sent, so it stayed');
  });

  it('replaces a given extra field, removes one given as null, keeps the others', async () => {
    const u = await newUser({ role: 'user', team: 'blue', score: 3 });
    const updated = await adapter.updateUser({ id: u.id, role: 'admin', team: null } as Parameters<
      NoormmeAdapterMethods['updateUser']
    >[0]);
    const expected: Record<string, unknown> = { ...u, role: 'admin' };
    delete expected['team'];
    assert.deepEqual(updated, expected);
    assert.deepEqual(await adapter.getUser(u.id), expected);
  });

  it('a nil on the wire would clear the column: proof that undefined must not be sent as nil', async () => {
    const u = await newUser();
    const raw = (await client.call('auth.updateUser', { id: u.id, name: null })) as { name: unknown };
    assert.equal(raw.name, null);
  });

  it('throws NotFoundError for an unknown id', async () => {
    await rejectsWith(adapter.updateUser({ id: unique('missing'), name: 'x' }), NotFoundError);
  });

  it('throws ConflictError when the new email is taken', async () => {
    const a = await newUser();
    const b = await newUser();
    await rejectsWith(adapter.updateUser({ id: b.id, email: a.email }), ConflictError);
    assert.deepEqual(await adapter.getUser(b.id), b);
  });
});

describe('deleteUser', () => {
  it('returns the deleted user and cascades to sessions, accounts and authenticators', async () => {
    const u = await newUser({ role: 'doomed' });
    const acc = await adapter.linkAccount(oauthAccount(u.id));
    const token = unique('sess');
    await adapter.createSession({ sessionToken: token, userId: u.id, expires: new Date(Date.now() + 60_000) });
    const auth = await adapter.createAuthenticator(authenticator(u.id));

    assert.deepEqual(await adapter.deleteUser(u.id), u);

    assert.strictEqual(await adapter.getUser(u.id), null);
    assert.strictEqual(await adapter.getSessionAndUser(token), null);
    assert.strictEqual(await adapter.getAccount(acc.providerAccountId, acc.provider), null);
    assert.strictEqual(await adapter.getUserByAccount(acc), null);
    assert.strictEqual(await adapter.getAuthenticator(auth.credentialID), null);
    assert.deepEqual(await adapter.listAuthenticatorsByUserId(u.id), []);
    assert.deepEqual(await client.auth.listSessions(u.id), []);
  });

  it('returns null for an unknown user', async () => {
    assert.strictEqual(await adapter.deleteUser(unique('missing')), null);
  });
});

describe('linkAccount', () => {
  it('returns the account with only the token fields that have values, plus extras', async () => {
    const u = await newUser();
    const input = {
      userId: u.id,
      type: 'oidc' as const,
      provider: 'azure-ad',
      providerAccountId: unique('aad'),
      access_token: 'eyJ.access',
      id_token: 'eyJ.id',
      token_type: 'bearer' as const,
      scope: 'openid profile email',
      expires_at: 1_800_000_000,
      refresh_token: undefined,
      ext_expires_in: 3599,
      refresh_token_expires_in: 86400,
      'not-before-policy': 0,
    };
    const acc = await adapter.linkAccount(input);
    const expected: Record<string, unknown> = { ...input };
    delete expected['refresh_token'];
    assert.deepEqual(acc, expected);
    assert.equal('refresh_token' in acc, false);
    assert.equal('session_state' in acc, false);
    assert.equal(typeof acc.expires_at, 'number', 'expires_at stays seconds, not a Date');
    assert.deepEqual(await adapter.getAccount(input.providerAccountId, input.provider), expected, 'stored');
  });

  it('accepts an email-type account with no tokens at all', async () => {
    const u = await newUser();
    const input: AdapterAccount = { userId: u.id, type: 'email', provider: 'resend', providerAccountId: u.email };
    assert.deepEqual(await adapter.linkAccount(input), input);
  });

  it('throws ConflictError for a (provider, providerAccountId) already linked', async () => {
    const u = await newUser();
    const acc = oauthAccount(u.id);
    await adapter.linkAccount(acc);
    const other = await newUser();
    await rejectsWith(adapter.linkAccount({ ...acc, userId: other.id }), ConflictError);
    assert.deepEqual(await adapter.getUserByAccount(acc), u, 'still linked to the first user');
  });

  it('throws ConstraintError for an unknown user', async () => {
    await rejectsWith(adapter.linkAccount(oauthAccount(unique('missing'))), ConstraintError);
  });
});

describe('unlinkAccount', () => {
  it('returns the removed account, then undefined', async () => {
    const u = await newUser();
    const acc = await adapter.linkAccount(oauthAccount(u.id, { refresh_token: 'r1' }));
    const key = { provider: acc.provider, providerAccountId: acc.providerAccountId };
    assert.deepEqual(await adapter.unlinkAccount(key), acc);
    assert.strictEqual(await adapter.getAccount(acc.providerAccountId, acc.provider), null);
    assert.strictEqual(await adapter.unlinkAccount(key), undefined);
    assert.deepEqual(await adapter.getUser(u.id), u, 'the user stays');
  });
});

describe('getAccount', () => {
  it('takes (providerAccountId, provider) in that order; null when missing', async () => {
    const u = await newUser();
    const acc = await adapter.linkAccount(oauthAccount(u.id, { provider: 'gitlab', providerAccountId: 'gl-42' }));
    assert.deepEqual(await adapter.getAccount('gl-42', 'gitlab'), acc);
    assert.strictEqual(await adapter.getAccount('gitlab', 'gl-42'), null);
    assert.strictEqual(await adapter.getAccount('gl-43', 'gitlab'), null);
  });
});

describe('createSession', () => {
  it('returns the raw token given and expires as a real Date', async () => {
    const u = await newUser();
    const expires = new Date(Date.now() + 86_400_000);
    const sessionToken = unique('raw-token');
    const s = await adapter.createSession({ sessionToken, userId: u.id, expires });
    assert.deepEqual(s, { sessionToken, userId: u.id, expires });
    assert.ok(s.expires instanceof Date);
    assert.deepEqual(await adapter.getSessionAndUser(sessionToken), { session: s, user: u }, 'stored');
  });

  it('accepts expires as an ISO string', async () => {
    const u = await newUser();
    const s = await adapter.createSession({
      sessionToken: unique('tok'),
      userId: u.id,
      expires: '2030-01-02T03:04:05.006Z',
    });
    assert.ok(s.expires instanceof Date);
    assert.equal(s.expires.toISOString(), '2030-01-02T03:04:05.006Z');
  });

  it('throws for an unknown user and for a token already in use', async () => {
    const expires = new Date(Date.now() + 60_000);
    await rejectsWith(
      adapter.createSession({ sessionToken: unique('tok'), userId: unique('missing'), expires }),
      ConstraintError,
    );
    const u = await newUser();
    const sessionToken = unique('tok');
    await adapter.createSession({ sessionToken, userId: u.id, expires });
    await rejectsWith(adapter.createSession({ sessionToken, userId: u.id, expires }), ConflictError);
  });
});

describe('getSessionAndUser', () => {
  it('returns {session, user} with Dates and the user extras; null for an unknown token', async () => {
    const u = await newUser({ role: 'reader', emailVerified: new Date('2024-03-03T03:03:03.003Z') });
    const s = await adapter.createSession({
      sessionToken: unique('tok'),
      userId: u.id,
      expires: new Date(Date.now() + 3_600_000),
    });
    const got = await adapter.getSessionAndUser(s.sessionToken);
    assert.deepEqual(got, { session: s, user: u });
    assert.ok(got?.session.expires instanceof Date);
    assert.ok(got?.user.emailVerified instanceof Date);
    assert.strictEqual(await adapter.getSessionAndUser(unique('unknown')), null);
  });

  it('returns expired sessions too (Auth.js checks expiry, then deletes)', async () => {
    const u = await newUser();
    const expires = new Date(Date.now() - 60_000);
    const s = await adapter.createSession({ sessionToken: unique('old'), userId: u.id, expires });
    const got = await adapter.getSessionAndUser(s.sessionToken);
    assert.deepEqual(got?.session, { sessionToken: s.sessionToken, userId: u.id, expires });
  });
});

describe('updateSession', () => {
  it('moves expires and returns the session; absent expires stays; null for an unknown token', async () => {
    const u = await newUser();
    const first = new Date(Date.now() + 60_000);
    const s = await adapter.createSession({ sessionToken: unique('tok'), userId: u.id, expires: first });
    const later = new Date(Date.now() + 7_200_000);
    const moved = await adapter.updateSession({ sessionToken: s.sessionToken, expires: later });
    assert.deepEqual(moved, { sessionToken: s.sessionToken, userId: u.id, expires: later });
    assert.ok(moved?.expires instanceof Date);
    assert.deepEqual((await adapter.getSessionAndUser(s.sessionToken))?.session, moved, 'stored');

    const same = await adapter.updateSession({ sessionToken: s.sessionToken, expires: undefined });
    assert.deepEqual(same, moved);
    assert.strictEqual(
      await adapter.updateSession({ sessionToken: unique('unknown'), expires: later }),
      null,
    );
  });
});

describe('deleteSession', () => {
  it('returns the deleted session, then null without throwing', async () => {
    const u = await newUser();
    const s = await adapter.createSession({
      sessionToken: unique('tok'),
      userId: u.id,
      expires: new Date(Date.now() + 60_000),
    });
    assert.deepEqual(await adapter.deleteSession(s.sessionToken), s);
    assert.strictEqual(await adapter.getSessionAndUser(s.sessionToken), null);
    assert.strictEqual(await adapter.deleteSession(s.sessionToken), null);
  });
});

describe('createVerificationToken', () => {
  it('returns the token with expires as a Date (Date or ISO string in)', async () => {
    const vt = { identifier: `${unique('v')}@example.com`, token: 'a'.repeat(64), expires: new Date(Date.now() + 600_000) };
    const out = await adapter.createVerificationToken(vt);
    assert.deepEqual(out, vt);
    assert.ok(out.expires instanceof Date);
    const iso = await adapter.createVerificationToken({ ...vt, token: 'b'.repeat(64), expires: '2031-01-01T00:00:00.000Z' });
    assert.ok(iso.expires instanceof Date);
    assert.equal(iso.expires.toISOString(), '2031-01-01T00:00:00.000Z');
  });
});

describe('useVerificationToken', () => {
  it('returns the token once, then null; a wrong identifier gets null and leaves it', async () => {
    const vt = { identifier: `${unique('v')}@example.com`, token: 'c'.repeat(64), expires: new Date(Date.now() + 600_000) };
    await adapter.createVerificationToken(vt);
    assert.strictEqual(await adapter.useVerificationToken({ identifier: 'someone@else.com', token: vt.token }), null);
    assert.deepEqual(await adapter.useVerificationToken({ identifier: vt.identifier, token: vt.token }), vt);
    assert.strictEqual(await adapter.useVerificationToken({ identifier: vt.identifier, token: vt.token }), null);
    assert.strictEqual(await adapter.useVerificationToken({ identifier: vt.identifier, token: 'missing' }), null);
  });

  it('can be redeemed by exactly one of 50 racing callers', async () => {
    const vt = { identifier: `${unique('race')}@example.com`, token: 'd'.repeat(64), expires: new Date(Date.now() + 600_000) };
    await adapter.createVerificationToken(vt);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => adapter.useVerificationToken({ identifier: vt.identifier, token: vt.token })),
    );
    assert.equal(results.filter((r) => r !== null).length, 1);
  });
});

describe('createAuthenticator', () => {
  it('returns the authenticator with a boolean credentialBackedUp and a number counter', async () => {
    const u = await newUser();
    for (const backedUp of [true, false]) {
      const input = authenticator(u.id, { credentialBackedUp: backedUp, counter: 7 });
      const out = await adapter.createAuthenticator(input);
      assert.deepEqual(out, input);
      assert.strictEqual(out.credentialBackedUp, backedUp);
      assert.deepEqual(await adapter.getAuthenticator(input.credentialID), input, 'stored');
    }
  });

  it('stores transports as null when not given', async () => {
    const u = await newUser();
    const input = authenticator(u.id);
    delete input.transports;
    const out = await adapter.createAuthenticator(input);
    assert.strictEqual(out.transports, null);
  });

  it('throws for a duplicate credentialID and for an unknown user', async () => {
    const u = await newUser();
    const input = authenticator(u.id);
    await adapter.createAuthenticator(input);
    await rejectsWith(adapter.createAuthenticator(input), ConflictError);
    await rejectsWith(adapter.createAuthenticator(authenticator(unique('missing'))), ConstraintError);
  });
});

describe('getAuthenticator', () => {
  it('returns the authenticator or null', async () => {
    const u = await newUser();
    const a = await adapter.createAuthenticator(authenticator(u.id));
    assert.deepEqual(await adapter.getAuthenticator(a.credentialID), a);
    assert.strictEqual(await adapter.getAuthenticator(unique('missing')), null);
  });
});

describe('listAuthenticatorsByUserId', () => {
  it('lists the user\'s authenticators; [] when there are none', async () => {
    const u = await newUser();
    assert.deepEqual(await adapter.listAuthenticatorsByUserId(u.id), []);
    const a = await adapter.createAuthenticator(authenticator(u.id));
    const b = await adapter.createAuthenticator(authenticator(u.id, { credentialBackedUp: false, transports: null }));
    const other = await newUser();
    await adapter.createAuthenticator(authenticator(other.id));
    const list = await adapter.listAuthenticatorsByUserId(u.id);
    const byId = (x: AdapterAuthenticator, y: AdapterAuthenticator) => x.credentialID.localeCompare(y.credentialID);
    assert.deepEqual([...list].sort(byId), [a, b].sort(byId));
  });
});

describe('updateAuthenticatorCounter', () => {
  it('stores the new counter and returns the authenticator; throws for an unknown credential', async () => {
    const u = await newUser();
    const a = await adapter.createAuthenticator(authenticator(u.id));
    const out = await adapter.updateAuthenticatorCounter(a.credentialID, 42);
    assert.deepEqual(out, { ...a, counter: 42 });
    assert.deepEqual(await adapter.getAuthenticator(a.credentialID), { ...a, counter: 42 }, 'stored');
    await rejectsWith(adapter.updateAuthenticatorCounter(unique('missing'), 1), NotFoundError);
  });
});

describe('client helpers beyond Auth.js', () => {
  it('updateAccount refreshes tokens: absent stays, null clears, extras replace', async () => {
    const u = await newUser();
    const acc = await adapter.linkAccount(oauthAccount(u.id, { refresh_token: 'r-old', ext_expires_in: 10 }));
    const updated = await client.auth.updateAccount({
      provider: acc.provider,
      providerAccountId: acc.providerAccountId,
      access_token: 'a-new',
      refresh_token: null,
      expires_at: 2_000_000_000,
      ext_expires_in: 20,
      scope: undefined,
    });
    const expected: Record<string, unknown> = { ...acc, access_token: 'a-new', expires_at: 2_000_000_000, ext_expires_in: 20 };
    delete expected['refresh_token'];
    assert.deepEqual(updated, expected);
    assert.deepEqual(await adapter.getAccount(acc.providerAccountId, acc.provider), expected, 'stored');
    await rejectsWith(client.auth.updateAccount({ provider: 'github', providerAccountId: unique('none') }), NotFoundError);
  });

  it('createDatabaseSession mints a 256-bit token expiring after maxAge; getSessionAndUser reads it', async () => {
    const u = await newUser();
    const before = Date.now();
    const s = await client.auth.createDatabaseSession(u.id, { maxAge: 3600 });
    assert.match(s.sessionToken, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    assert.ok(s.expires instanceof Date);
    assert.ok(Math.abs(s.expires.getTime() - (before + 3_600_000)) < 5_000);
    assert.deepEqual(await client.auth.getSessionAndUser(s.sessionToken), { session: s, user: u });
    assert.deepEqual(await adapter.getSessionAndUser(s.sessionToken), { session: s, user: u });
    const other = await client.auth.createDatabaseSession(u.id);
    assert.notEqual(other.sessionToken, s.sessionToken);
    const days = (other.expires.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, 'default maxAge is 30 days');
    const chosen = await client.auth.createDatabaseSession(u.id, { sessionToken: unique('mine'), maxAge: 60 });
    assert.match(chosen.sessionToken, /^mine-/);
    await assert.rejects(client.auth.createDatabaseSession(u.id, { maxAge: -1 }), TypeError);
  });

  it('listSessions and deleteSessions: sign out everywhere', async () => {
    const u = await newUser();
    const other = await newUser();
    const mine = await Promise.all([1, 2, 3].map((h) => client.auth.createDatabaseSession(u.id, { maxAge: h * 3600 })));
    const theirs = await client.auth.createDatabaseSession(other.id);
    const list = await client.auth.listSessions(u.id);
    assert.equal(list.length, 3);
    for (const s of list) {
      assert.equal(s.userId, u.id);
      assert.ok(s.expires instanceof Date);
      assert.match(s.id, /^[0-9a-f]{32}$/);
      assert.equal(JSON.stringify(s).includes(mine[0]!.sessionToken), false, 'tokens are never listed');
    }
    assert.deepEqual(
      list.map((s) => s.expires.getTime()),
      mine.map((s) => s.expires.getTime()).sort((a, b) => b - a),
      'latest expiry first',
    );
    assert.equal(await client.auth.deleteSessions(u.id), 3);
    assert.deepEqual(await client.auth.listSessions(u.id), []);
    for (const s of mine) assert.strictEqual(await adapter.getSessionAndUser(s.sessionToken), null);
    assert.notEqual(await adapter.getSessionAndUser(theirs.sessionToken), null, 'other users keep theirs');
    assert.equal(await client.auth.deleteSessions(u.id), 0);
  });

  it('deleteSession({id, userId}) ends one listed session, without its token', async () => {
    const u = await newUser();
    const [keep, end] = await Promise.all([1, 2].map((h) => client.auth.createDatabaseSession(u.id, { maxAge: h * 3600 })));
    const listed = await client.auth.listSessions(u.id);
    const target = listed.find((s) => s.expires.getTime() === end!.expires.getTime())!;
    assert.strictEqual(await client.auth.deleteSession({ id: target.id, userId: unique('someone-else') }), null);
    const gone = await client.auth.deleteSession(target);
    assert.deepEqual(gone, { id: target.id, userId: u.id, expires: target.expires });
    assert.strictEqual(await client.auth.deleteSession(target), null, 'already gone');
    assert.strictEqual(await adapter.getSessionAndUser(end!.sessionToken), null);
    assert.notEqual(await adapter.getSessionAndUser(keep!.sessionToken), null);
    await rejectsWith(client.auth.deleteSession({ id: 'not-an-id', userId: u.id }), InvalidArgumentError);
  });
});

describe('keys a method does not take (issue 7: arguments from the method table)', () => {
  it('are dropped before sending for methods without extra fields, instead of failing with UNKNOWN_FIELD', async () => {
    const u = await newUser();
    // ORM-shaped objects carry an `id` the methods do not take.
    const raw = { sessionToken: unique('tok'), userId: u.id, expires: new Date(Date.now() + 60_000), id: 'cuid-1' };
    await rejectsWith(client.call('auth.createSession', raw), UnknownFieldError);
    const { id: _ignored, ...session } = raw;
    assert.deepEqual(await adapter.createSession(raw), session);
    assert.deepEqual(await adapter.updateSession({ ...raw, id: 'cuid-1' } as never), session);
    const vt = { identifier: `${unique('v')}@example.com`, token: 'e'.repeat(64), expires: new Date(Date.now() + 60_000) };
    assert.deepEqual(await adapter.createVerificationToken({ ...vt, id: 'cuid-2' } as never), vt);
    const a = authenticator(u.id);
    assert.deepEqual(await adapter.createAuthenticator({ ...a, id: 'cuid-3', user: null } as never), a);
  });

  it('are kept for methods that keep extra fields (users, accounts)', async () => {
    const u = await newUser({ favouriteColour: 'teal' });
    assert.equal((u as unknown as Record<string, unknown>)['favouriteColour'], 'teal');
    const acc = await adapter.linkAccount(oauthAccount(u.id, { 'not-before-policy': 0 }));
    assert.equal((acc as unknown as Record<string, unknown>)['not-before-policy'], 0);
  });
});

type NewUserInput = Parameters<NoormmeAdapterMethods['createUser']>[0];

describe('hot reload: every contract row through adapters created and closed again and again', () => {
  it('holds for all 19 methods, on the one shared pool, leaving it intact', async () => {
    const called = new Set<string>();
    let copies = 0;
    /** One contract step on a new adapter from a new copy of the package,
     * closed afterwards. Errors come from that copy: compare by name/code. */
    async function step<T>(method: (typeof CONTRACT_METHODS)[number], fn: (a: NoormmeAdapterMethods) => Promise<T>): Promise<T> {
      const pkg = freshCopy();
      copies++;
      const a = pkg.NoormmeAdapter({ socketPath: server.socketPath, poolSize: 2 });
      called.add(method);
      try {
        return await fn(a);
      } finally {
        await pkg.closeAdapter(a);
        await assert.rejects(a.getUser('x'), (e: Error) => e.name === 'NoormmeConnectionError', 'closed');
      }
    }
    async function refused(p: Promise<unknown>, code: string): Promise<void> {
      const err = (await p.then(() => assert.fail(`expected ${code}`), (e: unknown) => e)) as { code?: string; name?: string };
      assert.equal(err.code, code, String(err));
    }

    const email = `${unique('hr')}@example.com`;
    const user = await step('createUser', (a) => a.createUser({ id: unique('hr'), email, emailVerified: null, role: 'x' } as NewUserInput));
    assert.deepEqual(Object.keys(user).sort(), ['email', 'emailVerified', 'id', 'image', 'name', 'role']);
    await refused(step('createUser', (a) => a.createUser({ id: unique('hr'), email, emailVerified: null })), 'CONFLICT');
    assert.deepEqual(await step('getUser', (a) => a.getUser(user.id)), user);
    assert.strictEqual(await step('getUser', (a) => a.getUser(unique('none'))), null);
    assert.deepEqual(await step('getUserByEmail', (a) => a.getUserByEmail(email)), user);
    assert.strictEqual(await step('getUserByEmail', (a) => a.getUserByEmail(`${unique('n')}@example.com`)), null);
    const updated = await step('updateUser', (a) => a.updateUser({ id: user.id, name: 'Lin', image: undefined }));
    assert.deepEqual(updated, { ...user, name: 'Lin' });
    await refused(step('updateUser', (a) => a.updateUser({ id: unique('none'), name: 'x' })), 'NOT_FOUND');

    const acc = oauthAccount(user.id, { ext_expires_in: 5 });
    assert.deepEqual(await step('linkAccount', (a) => a.linkAccount(acc)), acc);
    await refused(step('linkAccount', (a) => a.linkAccount(acc)), 'CONFLICT');
    assert.deepEqual(await step('getUserByAccount', (a) => a.getUserByAccount(acc)), updated);
    assert.strictEqual(await step('getUserByAccount', (a) => a.getUserByAccount({ provider: 'x', providerAccountId: 'y' })), null);
    assert.deepEqual(await step('getAccount', (a) => a.getAccount(acc.providerAccountId, acc.provider)), acc);
    assert.strictEqual(await step('getAccount', (a) => a.getAccount('nope', acc.provider)), null);
    assert.deepEqual(await step('unlinkAccount', (a) => a.unlinkAccount(acc)), acc);
    assert.strictEqual(await step('unlinkAccount', (a) => a.unlinkAccount(acc)), undefined);

    const session = { sessionToken: unique('tok'), userId: user.id, expires: new Date(Date.now() + 60_000) };
    const created = await step('createSession', (a) => a.createSession(session));
    assert.deepEqual(created, session);
    assert.ok(created.expires instanceof Date);
    assert.deepEqual(await step('getSessionAndUser', (a) => a.getSessionAndUser(session.sessionToken)), { session, user: updated });
    assert.strictEqual(await step('getSessionAndUser', (a) => a.getSessionAndUser(unique('none'))), null);
    const later = new Date(Date.now() + 120_000);
    assert.deepEqual(await step('updateSession', (a) => a.updateSession({ sessionToken: session.sessionToken, expires: later })), {
      ...session,
      expires: later,
    });
    assert.strictEqual(await step('updateSession', (a) => a.updateSession({ sessionToken: unique('none'), expires: later })), null);
    assert.deepEqual(await step('deleteSession', (a) => a.deleteSession(session.sessionToken)), { ...session, expires: later });
    assert.strictEqual(await step('deleteSession', (a) => a.deleteSession(session.sessionToken)), null);

    const vt = { identifier: email, token: 'f'.repeat(64), expires: new Date(Date.now() + 60_000) };
    assert.deepEqual(await step('createVerificationToken', (a) => a.createVerificationToken(vt)), vt);
    assert.strictEqual(await step('useVerificationToken', (a) => a.useVerificationToken({ identifier: 'other', token: vt.token })), null);
    assert.deepEqual(await step('useVerificationToken', (a) => a.useVerificationToken(vt)), vt);
    assert.strictEqual(await step('useVerificationToken', (a) => a.useVerificationToken(vt)), null);

    const auth = authenticator(user.id);
    assert.deepEqual(await step('createAuthenticator', (a) => a.createAuthenticator(auth)), auth);
    await refused(step('createAuthenticator', (a) => a.createAuthenticator(auth)), 'CONFLICT');
    assert.deepEqual(await step('getAuthenticator', (a) => a.getAuthenticator(auth.credentialID)), auth);
    assert.strictEqual(await step('getAuthenticator', (a) => a.getAuthenticator(unique('none'))), null);
    assert.deepEqual(await step('listAuthenticatorsByUserId', (a) => a.listAuthenticatorsByUserId(user.id)), [auth]);
    assert.deepEqual(await step('listAuthenticatorsByUserId', (a) => a.listAuthenticatorsByUserId(unique('none'))), []);
    assert.deepEqual(await step('updateAuthenticatorCounter', (a) => a.updateAuthenticatorCounter(auth.credentialID, 9)), {
      ...auth,
      counter: 9,
    });
    await refused(step('updateAuthenticatorCounter', (a) => a.updateAuthenticatorCounter(unique('none'), 1)), 'NOT_FOUND');

    assert.deepEqual(await step('deleteUser', (a) => a.deleteUser(user.id)), updated);
    assert.strictEqual(await step('deleteUser', (a) => a.deleteUser(user.id)), null);
    assert.strictEqual(await adapter.getAuthenticator(auth.credentialID), null, 'the delete cascaded');

    assert.deepEqual([...called].sort(), [...CONTRACT_METHODS].sort(), 'every row of the contract table');
    assert.ok(copies >= 35, `${copies} adapters made and closed`);
    // The suite's own client held the pool throughout: it is intact, and
    // the copies never added connections.
    assert.equal(client.stats().handles, 1);
    const stats = (await client.call('server.stats')) as { connections: { current: number } };
    assert.ok(stats.connections.current <= 2, `${stats.connections.current} connections`);
  });
});

describe('lists cut at --max-rows (issue 7 defect 10)', () => {
  let small: TestServer;
  let c: NoormmeClient;
  before(async () => {
    small = await startServer(['--max-rows', '2']);
    c = createClient({ socketPath: small.socketPath, shared: false });
  });
  after(async () => {
    await c.close();
    await small.stop();
  });

  it('come back as their first --max-rows items with truncated: true; a whole list has no flag', async () => {
    const u = await c.call<{ id: string }>('auth.createUser', { email: `${unique('cut')}@example.com` });
    await c.auth.createDatabaseSession(u.id);
    await c.auth.createDatabaseSession(u.id);
    const whole = await c.auth.listSessions(u.id);
    assert.equal(whole.length, 2);
    assert.equal(whole.truncated, undefined);
    await c.auth.createDatabaseSession(u.id);
    const cut = await c.auth.listSessions(u.id);
    assert.equal(cut.length, 2);
    assert.equal(cut.truncated, true);
    assert.equal(JSON.stringify(cut).includes('truncated'), false);
  });
});

