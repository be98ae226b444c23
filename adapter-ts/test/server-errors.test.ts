/* server-errors.test.ts - protocol errors the server announces with a
 * `server.error` notification before closing a connection: the client stops
 * using that connection, still takes the answers the server sends for what it
 * had accepted, rejects the rest with the announced error, and reconnects. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createClient, MessageTooLargeError, type NoormmeClient } from '@noormme/client';

import { sleep, startServer, type TestServer } from './support.js';

let server: TestServer;
let client: NoormmeClient;

before(async () => {
  server = await startServer(['--max-message', '1024', '--idle-timeout-ms', '500']);
  client = createClient({ socketPath: server.socketPath, poolSize: 1, timeoutMs: 5_000 });
});

after(async () => {
  await client.close();
  await server.dispose();
});

describe('server.error notifications', () => {
  it('MESSAGE_TOO_LARGE: accepted calls are answered, the oversized one rejects, the pool reconnects', async () => {
    type Stats = { connections: { accepted: number; dropped: number } };
    const before = (await client.call('server.stats')) as Stats;
    const accepted = client.call('test.sleep', { ms: 300 });
    const tooBig = client.call('test.write', { key: 'big', value: 'x'.repeat(2000) });
    const [a, b] = await Promise.allSettled([accepted, tooBig]);
    assert.deepEqual(a, { status: 'fulfilled', value: true }, 'the request read before the bad one was answered');
    assert.equal(b.status, 'rejected');
    const err = (b as PromiseRejectedResult).reason as unknown;
    assert.ok(err instanceof MessageTooLargeError, String(err));
    assert.equal(err.severity, 'protocol');
    assert.equal(err.retriable, false);

    assert.equal(await client.call('server.ping'), 'pong');
    const stats = (await client.call('server.stats')) as Stats;
    assert.equal(stats.connections.accepted, before.connections.accepted + 1, 'one new connection was opened');
    assert.equal(stats.connections.dropped, before.connections.dropped + 1, 'the server dropped the old one');
  });

  it('IDLE_TIMEOUT: the server closes an idle connection; the next call just reconnects', async () => {
    assert.equal(await client.call('server.ping'), 'pong');
    assert.equal(client.stats().open, 1);
    const deadline = Date.now() + 5_000;
    while (client.stats().open !== 0 && Date.now() < deadline) await sleep(20);
    assert.equal(client.stats().open, 0, 'the idle connection was closed by the server');
    assert.equal(await client.call('server.ping'), 'pong');
  });
});
