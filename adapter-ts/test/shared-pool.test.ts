/* shared-pool.test.ts - one pool per socket path per process (issue 7,
 * task 2). `next dev` evaluates the app's modules again on every edit, and
 * with them createClient()/NoormmeAdapter(); before the registry each copy
 * opened connections of its own and never closed them (1 -> 8 connections
 * after 7 edits). Here the package itself is evaluated again 100 times, as a
 * bundler's hot reload does, and the server must still see at most poolSize
 * connections. Also: reference counting, closing adapters, Symbol.asyncDispose,
 * the idle close. */
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  closeAdapter,
  createClient,
  NoormmeAdapter,
  NoormmeConnectionError,
  type NoormmeClient,
} from '@noormme/client';

import { sharedPools, socketKey } from '../dist/esm/connection.js';
import { freshCopy, sleep, startServer, unique, type Package, type TestServer } from './support.js';

let server: TestServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.dispose();
});

interface ServerStats {
  connections: { current: number; accepted: number };
}

/** The server's own count, asked on a connection outside the shared pool. */
async function serverStats(): Promise<ServerStats> {
  const probe = createClient({ socketPath: server.socketPath, shared: false, poolSize: 1 });
  try {
    const s = (await probe.call('server.stats')) as ServerStats;
    // The probe's own connection is not part of what is measured.
    return { connections: { ...s.connections, current: s.connections.current - 1 } };
  } finally {
    await probe.close();
  }
}

/** Waits until the server counts `n` connections besides the probe. */
async function untilServerConnections(n: number): Promise<number> {
  const deadline = Date.now() + 3_000;
  let current = -1;
  while (Date.now() < deadline) {
    current = (await serverStats()).connections.current;
    if (current === n) break;
    await sleep(20);
  }
  return current;
}

describe('hot reload', () => {
  it('100 adapters from 100 fresh copies of the package share one pool: at most poolSize connections', async () => {
    const before = await serverStats();
    const copies: Array<{ pkg: Package; adapter: ReturnType<Package['NoormmeAdapter']> }> = [];
    for (let i = 0; i < 100; i++) {
      const pkg = freshCopy();
      const adapter = pkg.NoormmeAdapter({ socketPath: server.socketPath, poolSize: 4 });
      // Overlapping calls, so that each copy would open all 4 of its connections.
      const users = await Promise.all(Array.from({ length: 8 }, () => adapter.getUser(unique('nobody'))));
      assert.deepEqual(users, Array(8).fill(null));
      copies.push({ pkg, adapter });
    }
    assert.equal(new Set(copies.map((c) => c.pkg.NoormmeAdapter)).size, 100, '100 distinct copies of the package');

    const after = await serverStats();
    assert.ok(after.connections.current <= 4, `${after.connections.current} connections for a poolSize of 4`);
    // Accepted since `before`: the pool's, and the probe that asks.
    const opened = after.connections.accepted - before.connections.accepted - 1;
    assert.ok(opened <= 4, `${opened} connections opened in all`);
    const pool = sharedPools().get(socketKey(server.socketPath));
    assert.ok(pool, 'the pool is registered for the socket');
    assert.equal(pool.stats().handles, 100);

    // Errors are instances of the classes of the copy the caller uses, not
    // of the copy that created the pool.
    const email = `${unique('dup')}@example.com`;
    await copies[0]!.adapter.createUser({ id: unique('u'), email, emailVerified: null });
    for (const i of [1, 57, 99]) {
      const { pkg, adapter } = copies[i]!;
      const err = await adapter.createUser({ id: unique('u'), email, emailVerified: null }).then(
        () => assert.fail('a taken email must be refused'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof pkg.ConflictError, `copy ${i}: instanceof its own ConflictError`);
      assert.equal(err instanceof copies[0]!.pkg.ConflictError, false);
      assert.equal((err as Error).name, 'ConflictError');
    }

    // Hot reload never closes the old copies; closing them all closes the pool.
    for (const [i, { pkg, adapter }] of copies.entries()) {
      await pkg.closeAdapter(adapter);
      if (i === 49) assert.equal(await copies[99]!.adapter.getUser('nobody'), null, 'the others keep working');
    }
    assert.equal(sharedPools().has(socketKey(server.socketPath)), false, 'the last close removed the pool');
    assert.equal(pool.closed, true);
    assert.equal(await untilServerConnections(0), 0, 'every connection was closed');
    for (const { adapter } of [copies[0]!, copies[99]!])
      await assert.rejects(adapter.getUser('x'), (e: Error) => e.name === 'NoormmeConnectionError');
  });
});

describe('reference counting', () => {
  it('closing one handle rejects only its own calls; the last close really closes', async () => {
    const a = createClient({ socketPath: server.socketPath });
    const b = createClient({ socketPath: server.socketPath, timeoutMs: 8_000 });
    assert.equal(a.stats().handles, 2, 'both hold the same pool');
    const slowA = a.call('test.sleep', { ms: 400 });
    const slowB = b.call('test.sleep', { ms: 400 });
    const deadline = Date.now() + 2_000;
    while (b.stats().inFlight < 2 && Date.now() < deadline) await sleep(5);
    await a.close();
    const errA = await slowA.then(
      () => assert.fail('a pending call of a closed client rejects'),
      (e: unknown) => e,
    );
    assert.ok(errA instanceof NoormmeConnectionError, String(errA));
    assert.equal(errA.retriable, false);
    assert.equal(errA.requestSent, true);
    assert.equal(await slowB, true, "the other client's call is answered");
    await assert.rejects(a.call('server.ping'), NoormmeConnectionError);
    assert.equal(await b.call('server.ping'), 'pong');
    assert.equal(b.stats().handles, 1);
    assert.equal(b.stats().open >= 1, true, 'the connections stayed open');
    await b.close();
    assert.equal(sharedPools().has(socketKey(server.socketPath)), false);
    assert.equal(await untilServerConnections(0), 0);
    // A client made afterwards gets a new pool.
    const c = createClient({ socketPath: server.socketPath });
    assert.equal(await c.call('server.ping'), 'pong');
    await c.close();
  });

  it('a relative socket path shares the pool of the absolute one; a larger poolSize grows it', async () => {
    const abs = createClient({ socketPath: server.socketPath, poolSize: 2 });
    const rel = createClient({ socketPath: './' + relative(process.cwd(), server.socketPath), poolSize: 6 });
    try {
      assert.equal(rel.stats().handles, 2);
      assert.equal(sharedPools().get(socketKey(server.socketPath))?.poolSize, 6);
      assert.equal(await rel.call('server.ping'), 'pong');
    } finally {
      await Promise.all([abs.close(), rel.close()]);
    }
  });

  it('shared: false gives a client a pool of its own', async () => {
    const mine = createClient({ socketPath: server.socketPath, shared: false });
    const other = createClient({ socketPath: server.socketPath });
    try {
      assert.equal(mine.stats().handles, 1);
      assert.equal(other.stats().handles, 1);
    } finally {
      await Promise.all([mine.close(), other.close()]);
    }
  });
});

describe('closing adapters', () => {
  it('closeAdapter closes the client an adapter made for itself, and leaves a given client open', async () => {
    const own = NoormmeAdapter({ socketPath: server.socketPath });
    assert.equal(await own.getUser('nobody'), null);
    assert.equal(Object.keys(own).includes('close'), false, 'Auth.js sees only its own methods');
    await closeAdapter(own);
    await assert.rejects(own.getUser('nobody'), NoormmeConnectionError);

    const client = createClient({ socketPath: server.socketPath });
    const given = NoormmeAdapter({ client });
    await closeAdapter(given);
    assert.equal(await given.getUser('nobody'), null, 'the app owns the client it passed');
    await closeAdapter({}); // not an adapter: nothing to do
    await client.close();
  });

  it('await using closes a client at the end of its scope (Symbol.asyncDispose)', async () => {
    let kept: NoormmeClient | null = null;
    {
      await using client = createClient({ socketPath: server.socketPath });
      assert.equal(await client.call('server.ping'), 'pong');
      kept = client;
    }
    await assert.rejects(kept.call('server.ping'), NoormmeConnectionError);
    assert.equal(sharedPools().has(socketKey(server.socketPath)), false);
    let keptAdapter: ReturnType<typeof NoormmeAdapter> | null = null;
    {
      await using adapter = NoormmeAdapter({ socketPath: server.socketPath });
      assert.equal(await adapter.getUser('nobody'), null);
      keptAdapter = adapter;
    }
    await assert.rejects(keptAdapter.getUser('nobody'), NoormmeConnectionError);
  });
});

describe('idle connections', () => {
  it('close after idleTimeoutMs without calls, and open again for the next call', async () => {
    const client = createClient({ socketPath: server.socketPath, idleTimeoutMs: 150, poolSize: 2, shared: false });
    try {
      // A call longer than the idle time: its connection is busy, not idle.
      const [slept] = await Promise.all([client.call('test.sleep', { ms: 300 }), client.call('server.ping')]);
      assert.equal(slept, true, 'a busy connection is not closed under its call');
      // Calls 100 ms apart keep a connection open.
      for (let i = 0; i < 4; i++) {
        await sleep(100);
        assert.equal(await client.call('server.ping'), 'pong');
        assert.equal(client.stats().open, 1);
      }
      const deadline = Date.now() + 2_000;
      while (client.stats().open > 0 && Date.now() < deadline) await sleep(20);
      assert.equal(client.stats().open, 0, 'both closed once idle');
      assert.equal(await untilServerConnections(0), 0, 'the server saw them close');
      assert.equal(await client.call('server.ping'), 'pong');
      assert.equal(client.stats().open, 1);
    } finally {
      await client.close();
    }
  });

  it('refuses a negative idleTimeoutMs; 0 means never', async () => {
    assert.throws(() => createClient({ socketPath: server.socketPath, idleTimeoutMs: -1 }), TypeError);
    const never = createClient({ socketPath: server.socketPath, idleTimeoutMs: 0, shared: false });
    try {
      assert.equal(await never.call('server.ping'), 'pong');
      await sleep(300);
      assert.equal(never.stats().open, 1);
    } finally {
      await never.close();
    }
  });
});
