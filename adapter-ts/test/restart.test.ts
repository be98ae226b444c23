/* restart.test.ts - noormd going away under the client: SIGKILL with calls
 * in flight, a call waiting while the server is down, a graceful restart.
 * Nothing may hang; in-flight writes reject at once with a connection error
 * that says they may or may not have run (requestSent, not retriable);
 * calls waiting meanwhile go out when the server is back. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  createClient,
  NoormmeAdapter,
  NoormmeConnectionError,
  ShuttingDownError,
  type NoormmeClient,
} from '@noormme/client';

import { sleep, startServer, unique, type TestServer } from './support.js';

let server: TestServer;
let client: NoormmeClient;

before(async () => {
  server = await startServer();
  client = createClient({
    socketPath: server.socketPath,
    poolSize: 2,
    timeoutMs: 5_000,
    reconnectMinMs: 20,
    reconnectMaxMs: 200,
  });
});

after(async () => {
  await client.close();
  await server.dispose();
});

/** Waits until `pred` holds, polling; fails after `ms`. */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('noormd restarts', () => {
  it('SIGKILL mid-run: in-flight writes reject at once as outcome unknown, later calls succeed', async () => {
    const adapter = NoormmeAdapter({ client });
    const user = await adapter.createUser({ id: unique('survivor'), email: `${unique('s')}@example.com`, emailVerified: null });

    // A write that holds the writer, and writes queued behind it: all in flight.
    const inFlight = [
      client.call('test.sleep', { ms: 3_000 }),
      ...Array.from({ length: 50 }, (_, i) => client.call('test.write', { key: `lost-${i}`, value: 'x' })),
    ];
    const settled = Promise.allSettled(inFlight);
    await until(() => client.stats().inFlight === inFlight.length, 2_000, 'the calls to be written');
    await sleep(100); // let the server read them

    const killedAt = Date.now();
    await server.kill();
    const results = await settled;
    const took = Date.now() - killedAt;
    assert.ok(took < 1_000, `in-flight calls settled ${took} ms after the kill (timeout is 5000)`);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const err = (r as PromiseRejectedResult).reason as unknown;
      assert.ok(err instanceof NoormmeConnectionError, String(err));
      // Written, unanswered, and writes: they may have committed before the kill.
      assert.equal(err.requestSent, true);
      assert.equal(err.retriable, false, 'a write of unknown outcome is not retriable as it is');
      assert.match(err.message, /closed before test\.(sleep|write) was answered/);
      assert.match(err.message, /may or may not have run/);
    }

    // A call made while the server is down waits for it (within its timeout).
    const waiting = client.call('server.ping');
    await sleep(300);
    await server.start();
    assert.equal(await waiting, 'pong');

    // Committed data survived; the pool is fully usable again.
    assert.deepEqual(await adapter.getUser(user.id), user);
    const again = await Promise.all(
      Array.from({ length: 500 }, (_, i) => client.call('test.write', { key: `after-${i}`, value: 'y' })),
    );
    assert.ok(again.every((r) => r === true));
  });

  it('a call that cannot reach noormd within its timeout rejects as not sent, retriable', async () => {
    await server.kill();
    // A pool of its own: the shared one may still hold a socket whose close
    // it has not read yet, and a call written there is lost, not unsent.
    const short = createClient({ socketPath: server.socketPath, timeoutMs: 300, reconnectMinMs: 20, shared: false });
    try {
      const t0 = Date.now();
      const err = await short.call('server.ping').then(
        () => assert.fail('no server: the call must fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof NoormmeConnectionError, String(err));
      assert.equal(err.requestSent, false);
      assert.equal(err.retriable, true);
      assert.match(err.message, /could not connect/);
      // SIGKILL leaves the socket file behind: connect() is refused by the OS.
      assert.match(err.message, /ECONNREFUSED/);
      const cause = err.cause as NodeJS.ErrnoException | undefined;
      assert.ok(cause instanceof Error, 'the OS error is the cause');
      assert.equal(cause.code, 'ECONNREFUSED');
      assert.ok(Date.now() - t0 < 1_500);
    } finally {
      await short.close();
      await server.start();
    }
    assert.equal(await client.call('server.ping'), 'pong');
  });

  it('graceful restart (SIGTERM) with idle connections: the next call reconnects transparently', async () => {
    assert.equal(await client.call('server.ping'), 'pong');
    await server.stop();
    await server.start();
    for (let i = 0; i < 5; i++) assert.equal(await client.call('server.ping'), 'pong');
    assert.equal(await client.call('test.write', { key: 'graceful', value: 'z' }), true);
  });

  it('graceful restart with a write in flight: the write is answered, a call during shutdown gets ShuttingDownError', async () => {
    // Exactly one connection: a private pool, not the file's shared one of 2.
    const one = createClient({ socketPath: server.socketPath, poolSize: 1, timeoutMs: 5_000, shared: false });
    try {
      const write = one.call('test.sleep', { ms: 600 });
      await until(() => one.stats().inFlight === 1, 2_000, 'the write to be sent');
      await sleep(50);
      const stopped = server.stop();
      await sleep(100);
      const during = await one.call('server.ping').then(
        () => assert.fail('a call read during shutdown is refused'),
        (e: unknown) => e,
      );
      assert.ok(during instanceof ShuttingDownError, String(during));
      assert.equal(during.retriable, true);
      assert.equal(await write, true, 'the write in flight was committed and answered');
      await stopped;
      await server.start();
      assert.equal(await one.call('server.ping'), 'pong');
    } finally {
      await one.close();
    }
  });
});
