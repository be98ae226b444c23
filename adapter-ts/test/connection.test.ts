/* connection.test.ts - the connection pool against a real noormd-test:
 * pipelining many calls over few connections, msgid wrapping, timeouts that
 * leave the pool usable, and many writers at once (no "database is locked"). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  createClient,
  NoormmeAdapter,
  NoormmeTimeoutError,
  UnknownFieldError,
  MethodNotFoundError,
  MessageTooLargeError,
  type AdapterUser,
  type NewUser,
  type NoormmeClient,
} from '@noormme/client';

import { encode } from '@msgpack/msgpack';

import { Pool } from '../dist/esm/connection.js';
import { sleep, startServer, unique, type TestServer } from './support.js';

let server: TestServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.dispose();
});

async function withClient<T>(opts: Parameters<typeof createClient>[0], fn: (c: NoormmeClient) => Promise<T>): Promise<T> {
  const c = createClient({ socketPath: server.socketPath, ...opts });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function serverConnections(c: NoormmeClient): Promise<number> {
  const stats = (await c.call('server.stats')) as { connections: { current: number } };
  return stats.connections.current;
}

describe('pipelining', () => {
  it('10,000 concurrent calls on a pool of 2 connections all get their own answer', async () => {
    await withClient({ poolSize: 2, timeoutMs: 30_000 }, async (client) => {
      const adapter = NoormmeAdapter({ client });
      const users: AdapterUser[] = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          adapter.createUser({ id: unique(`p${i}`), email: `${unique(`p${i}`)}@example.com`, emailVerified: null, n: i } as NewUser),
        ),
      );
      const N = 10_000;
      const calls: Promise<void>[] = [];
      for (let i = 0; i < N; i++) {
        const u = users[i % users.length]!;
        switch (i % 4) {
          case 0:
            calls.push(adapter.getUser(u.id).then((got) => assert.deepEqual(got, u)));
            break;
          case 1:
            calls.push(
              client.call('test.write', { key: `k${i}`, value: `v${i}` }).then((r) => assert.equal(r, true)),
            );
            break;
          case 2:
            calls.push(client.call('server.ping').then((r) => assert.equal(r, 'pong')));
            break;
          default:
            calls.push(adapter.getUserByEmail(u.email).then((got) => assert.equal(got?.id, u.id)));
        }
      }
      await Promise.all(calls);
      assert.equal(client.stats().open, 2);
      assert.equal(client.stats().inFlight, 0);
      assert.equal(await serverConnections(client), 2, 'the pool never opens more than poolSize');
      // Every write landed under its own key.
      const reads = [];
      for (let i = 1; i < N; i += 4)
        reads.push(
          client.call('test.get', { key: `k${i}` }).then((v) => {
            assert.ok(v instanceof Uint8Array);
            assert.equal(Buffer.from(v).toString(), `v${i}`);
          }),
        );
      await Promise.all(reads);
    });
  });

  it('sequential calls reuse one connection', async () => {
    await withClient({ poolSize: 4 }, async (client) => {
      for (let i = 0; i < 20; i++) assert.equal(await client.call('server.ping'), 'pong');
      assert.equal(client.stats().open, 1);
    });
  });

  it('msgids wrap past 2^32 - 1 and replies still match', async () => {
    const pool = new Pool({ socketPath: server.socketPath, poolSize: 2 }, { firstMsgid: 0xffff_fff0 }).acquire();
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `wrap-${i}`);
      await Promise.all(keys.map((key) => pool.call('test.write', { key, value: key })));
      const values = await Promise.all(keys.map((key) => pool.call('test.get', { key })));
      values.forEach((v, i) => assert.equal(Buffer.from(v as Uint8Array).toString(), keys[i]));
    } finally {
      await pool.close();
    }
  });

  it('many clients writing at once (several app workers) never see "database is locked"', async () => {
    // Each worker is a process of its own, with a pool of its own.
    const clients = Array.from({ length: 6 }, () => createClient({ socketPath: server.socketPath, poolSize: 2, shared: false }));
    try {
      const results = await Promise.allSettled(
        clients.flatMap((c, w) => {
          const adapter = NoormmeAdapter({ client: c });
          return Array.from({ length: 300 }, (_, i) =>
            adapter.createUser({ email: `w${w}-${i}-${unique('lock')}@example.com`, emailVerified: null }),
          );
        }),
      );
      const failed = results.filter((r) => r.status === 'rejected');
      assert.deepEqual(failed, []);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

describe('errors and limits', () => {
  it('a request error fails only that call; the connection stays open', async () => {
    await withClient({ poolSize: 1 }, async (client) => {
      const [bad, missing, good] = await Promise.allSettled([
        client.call('server.ping', { verbose: true }),
        client.call('server.pingg'),
        client.call('server.ping'),
      ]);
      assert.equal(bad.status, 'rejected');
      assert.ok((bad as PromiseRejectedResult).reason instanceof UnknownFieldError);
      assert.equal(((bad as PromiseRejectedResult).reason as UnknownFieldError).details['field'], 'verbose');
      assert.ok((missing as PromiseRejectedResult).reason instanceof MethodNotFoundError);
      assert.deepEqual(good, { status: 'fulfilled', value: 'pong' });
      assert.equal(await serverConnections(client), 1);
    });
  });

  it('a request over maxMessageBytes fails here, before it can cost the connection', async () => {
    await withClient({ poolSize: 1, maxMessageBytes: 4096 }, async (client) => {
      await assert.rejects(client.call('test.write', { key: 'big', value: 'x'.repeat(5000) }), MessageTooLargeError);
      assert.equal(await client.call('server.ping'), 'pong');
    });
  });

  it('an oversized request fails alone: calls sent with it on the same pooled connection are answered (issue 7)', async () => {
    await withClient({ poolSize: 1, maxMessageBytes: 4096 }, async (client) => {
      type Stats = { connections: { accepted: number; dropped: number } };
      const before = (await client.call('server.stats')) as Stats;
      const results = await Promise.allSettled([
        client.call('test.write', { key: 'small-1', value: 'a' }),
        client.call('test.write', { key: 'big', value: 'x'.repeat(5000) }),
        client.call('server.ping'),
        client.call('test.write', { key: 'small-2', value: 'b' }),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      const err = (results[1] as PromiseRejectedResult).reason as unknown;
      assert.ok(err instanceof MessageTooLargeError, String(err));
      assert.match(err.message, /the test\.write request is \d+ bytes; the limit \(maxMessageBytes\) is 4096/);
      assert.equal(await client.call('test.get', { key: 'big' }), null, 'the big one was never sent');
      const after = (await client.call('server.stats')) as Stats;
      assert.equal(after.connections.accepted, before.connections.accepted, 'no new connection was needed');
      assert.equal(after.connections.dropped, before.connections.dropped, 'the server dropped nothing');
      assert.equal(client.stats().open, 1);
    });
  });

  it('maxMessageBytes: a request of exactly the limit is sent, one byte more is not', async () => {
    const limit = 2000;
    await withClient({ poolSize: 1, maxMessageBytes: limit }, async (client) => {
      // The request as the client encodes it: the msgid is always a uint32.
      const size = (n: number) => encode([0, 0xffff_ffff, 'test.write', [{ key: 'edge', value: 'x'.repeat(n) }]]).length;
      let n = 0;
      while (size(n + 1) <= limit) n++;
      assert.equal(size(n), limit);
      assert.equal(await client.call('test.write', { key: 'edge', value: 'x'.repeat(n) }), true);
      await assert.rejects(client.call('test.write', { key: 'edge', value: 'x'.repeat(n + 1) }), MessageTooLargeError);
    });
  });

  it('undefined arguments are left out of the request', async () => {
    await withClient({ poolSize: 1 }, async (client) => {
      // server.ping takes no arguments: an undefined one must not reach it.
      assert.equal(await client.call('server.ping', { verbose: undefined }), 'pong');
    });
  });
});

describe('timeouts', () => {
  it('a timeout rejects, the pool stays usable, and the late reply is ignored', async () => {
    await withClient({ poolSize: 1, timeoutMs: 300 }, async (client) => {
      const t0 = Date.now();
      const err = await client.call('test.sleep', { ms: 1200 }).then(
        () => assert.fail('test.sleep should time out'),
        (e: unknown) => e,
      );
      const waited = Date.now() - t0;
      assert.ok(err instanceof NoormmeTimeoutError, String(err));
      assert.equal(err.requestSent, true);
      assert.equal(err.retriable, false, 'a sent write has an unknown outcome');
      assert.ok(waited >= 280 && waited < 1000, `timed out after ${waited} ms`);

      // Reads are not held by the sleeping writer: the same connection answers.
      assert.equal(await client.call('server.ping'), 'pong');
      assert.equal(client.stats().open, 1);

      // The sleep's reply arrives later and must not be taken for another call.
      const deadline = Date.now() + 5_000;
      while (client.stats().lateReplies === 0 && Date.now() < deadline) {
        assert.equal(await client.call('server.ping'), 'pong');
        await sleep(50);
      }
      assert.equal(client.stats().lateReplies, 1);
      assert.equal(await client.call('test.write', { key: 'after-timeout', value: 'ok' }), true);
      const v = await client.call('test.get', { key: 'after-timeout' });
      assert.equal(Buffer.from(v as Uint8Array).toString(), 'ok');
    });
  });
});
