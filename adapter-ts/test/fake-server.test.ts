/* fake-server.test.ts - the pool against a scripted server on a Unix socket,
 * for the corners a real noormd does not reach on demand (issue 7, tasks 3
 * and 5): a server that stops reading (backpressure: a call that times out
 * before it was written is never sent), a connection dropped with calls
 * written (reads retriable, writes outcome unknown), and a refusal notice
 * after calls were written (they did not run: they go out again). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { decode, encode } from '@msgpack/msgpack';

import { createClient, NoormmeConnectionError, NoormmeTimeoutError } from '@noormme/client';

import { frameLength } from '../dist/esm/frame.js';
import { sleep } from './support.js';

/** A request as the fake server decoded it. */
interface Seen {
  conn: number;
  msgid: number;
  method: string;
  params: Record<string, unknown>;
}

/** What a test does with each request: answer it (return a value), or not
 * (return undefined) and act on the socket itself. */
type Script = (req: Seen, sock: Socket, server: FakeServer) => unknown;

/** A scripted server: decodes requests, answers server.ping with 'pong'
 * unless the script says otherwise, records everything else. */
class FakeServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'noormme-fake-'));
  readonly socketPath = join(this.dir, 'fake.sock');
  readonly seen: Seen[] = [];
  readonly sockets: Socket[] = [];
  script: Script = () => undefined;
  private server: Server | null = null;

  async start(): Promise<void> {
    this.server = createServer((sock) => this.onConnection(sock));
    await new Promise<void>((done) => this.server!.listen(this.socketPath, () => done()));
  }

  private onConnection(sock: Socket): void {
    const conn = this.sockets.push(sock);
    let buf = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let off = 0;
      for (let n; off < buf.length && (n = frameLength(buf, off)) > 0; off += n) {
        const msg = decode(buf.subarray(off, off + n)) as [number, number, string, [Record<string, unknown>?]];
        const req: Seen = { conn, msgid: msg[1], method: msg[2], params: msg[3][0] ?? {} };
        if (req.method !== 'server.ping') this.seen.push(req);
        const answer = this.script(req, sock, this) ?? (req.method === 'server.ping' ? 'pong' : undefined);
        if (answer !== undefined && !sock.destroyed) sock.write(encode([1, req.msgid, null, answer]));
      }
      buf = buf.subarray(off);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let fake: FakeServer;

before(async () => {
  fake = new FakeServer();
  await fake.start();
});

after(async () => {
  await fake.stop();
});

describe('backpressure', () => {
  it('stops writing while the socket is backed up; a call that times out unwritten is never sent', async () => {
    fake.seen.length = 0;
    fake.script = (req, sock) => {
      // Answer the handshake, then stop reading: the socket fills up.
      if (req.method === 'server.ping' && req.conn === fake.sockets.length) {
        setImmediate(() => sock.pause());
        return 'pong';
      }
      return req.method === 'server.ping' ? 'pong' : true;
    };
    const client = createClient({ socketPath: fake.socketPath, shared: false, poolSize: 1, timeoutMs: 700 });
    try {
      const value = 'x'.repeat(200_000);
      const calls = Array.from({ length: 30 }, (_, i) =>
        client.call('test.write', { key: `k${i}`, value }).then(
          () => assert.fail('the server is not reading: nothing is answered'),
          (e: unknown) => e,
        ),
      );
      await sleep(300);
      const during = client.stats();
      assert.ok(during.queued >= 20, `${during.queued} calls wait to be written`);
      assert.ok(during.inFlight >= 1 && during.inFlight <= 5, `${during.inFlight} calls were handed to the socket`);
      const errors = await Promise.all(calls);
      const sentKeys = new Set<string>();
      let unsent = 0;
      errors.forEach((err, i) => {
        assert.ok(err instanceof NoormmeTimeoutError, String(err));
        if (err.requestSent) {
          sentKeys.add(`k${i}`);
          assert.match(err.message, /may or may not have run/);
        } else {
          unsent++;
          assert.equal(err.retriable, true);
          assert.match(err.message, /could not be sent to noormd within 700 ms \(the connection was backed up\); it was not sent/);
        }
      });
      assert.ok(unsent >= 20, `${unsent} of 30 never sent`);
      assert.equal(client.stats().queued, 0, 'timed-out calls leave the queue');

      // The server reads again: exactly the calls reported sent arrive, then
      // a new call is answered on the same connection.
      for (const s of fake.sockets) s.resume();
      assert.equal(await client.call('server.ping'), 'pong');
      assert.deepEqual(new Set(fake.seen.map((r) => r.params['key'])), sentKeys, 'unsent calls never reached the server');
      assert.equal(client.stats().open, 1);
    } finally {
      await client.close();
    }
  });
});

describe('a connection lost with calls written', () => {
  it('rejects reads as retriable and writes as outcome unknown, with the reason', async () => {
    fake.seen.length = 0;
    fake.script = (req, sock) => {
      if (req.method === 'server.ping') return 'pong';
      // Read both calls, answer neither, drop the connection.
      if (fake.seen.length === 2) setImmediate(() => sock.destroy());
      return undefined;
    };
    const client = createClient({ socketPath: fake.socketPath, shared: false, poolSize: 1, timeoutMs: 3_000 });
    try {
      const [read, write] = await Promise.all(
        [client.call('auth.getUser', { id: 'u1' }), client.call('auth.createUser', { id: 'u1' })].map((p) =>
          p.then(() => assert.fail('not answered'), (e: unknown) => e),
        ),
      );
      assert.ok(read instanceof NoormmeConnectionError, String(read));
      assert.equal(read.requestSent, true);
      assert.equal(read.retriable, true, 'auth.getUser only reads (execution class loop)');
      assert.match(read.message, /closed before auth\.getUser was answered \((noormd closed it|ECONNRESET)\); auth\.getUser only reads/);
      assert.ok(write instanceof NoormmeConnectionError, String(write));
      assert.equal(write.requestSent, true);
      assert.equal(write.retriable, false, 'auth.createUser writes: it may have committed');
      assert.match(write.message, /closed before auth\.createUser was answered .*may or may not have run/);
    } finally {
      await client.close();
    }
  });

  it('a sent read that times out is retriable; a sent write is not', async () => {
    fake.script = (req) => (req.method === 'server.ping' ? 'pong' : undefined);
    const client = createClient({ socketPath: fake.socketPath, shared: false, poolSize: 1, timeoutMs: 200 });
    try {
      const read = await client.call('auth.getSessionAndUser', { sessionToken: 't' }).catch((e: unknown) => e);
      assert.ok(read instanceof NoormmeTimeoutError);
      assert.deepEqual([read.requestSent, read.retriable], [true, true]);
      const write = await client.call('auth.deleteSession', { sessionToken: 't' }).catch((e: unknown) => e);
      assert.ok(write instanceof NoormmeTimeoutError);
      assert.deepEqual([write.requestSent, write.retriable], [true, false]);
    } finally {
      await client.close();
    }
  });
});

describe('a server.error notice after calls were written', () => {
  for (const [code, name] of [
    [6, 'TOO_MANY_CONNECTIONS'],
    [105, 'SHUTTING_DOWN'],
    [7, 'IDLE_TIMEOUT'],
  ] as const) {
    it(`${name}: the calls did not run; they are sent again on a new connection`, async () => {
      fake.seen.length = 0;
      const firstConn = fake.sockets.length + 1;
      fake.script = (req, sock) => {
        if (req.method === 'server.ping') return 'pong';
        if (req.conn === firstConn) {
          // Leave both unanswered: announce the error, then close.
          if (fake.seen.length === 2) {
            sock.write(encode([2, 'server.error', [[code, name, `test: ${name}`, {}]]]));
            sock.end();
          }
          return undefined;
        }
        return `ran ${req.method} on connection ${req.conn}`;
      };
      const client = createClient({ socketPath: fake.socketPath, shared: false, poolSize: 1, timeoutMs: 3_000 });
      try {
        const replies = await Promise.all([
          client.call('auth.createUser', { id: 'a' }),
          client.call('auth.deleteUser', { userId: 'b' }),
        ]);
        assert.deepEqual(replies, [
          `ran auth.createUser on connection ${firstConn + 1}`,
          `ran auth.deleteUser on connection ${firstConn + 1}`,
        ]);
        assert.deepEqual(
          fake.seen.map((r) => [r.conn, r.method]),
          [
            [firstConn, 'auth.createUser'],
            [firstConn, 'auth.deleteUser'],
            [firstConn + 1, 'auth.createUser'],
            [firstConn + 1, 'auth.deleteUser'],
          ],
        );
      } finally {
        await client.close();
      }
    });
  }
});
