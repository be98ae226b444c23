/* close.test.ts - client.close() in a child process: pending calls reject,
 * later calls reject, and no socket or timer is left, so Node exits on its
 * own, even while a reconnect was being retried; and a client never closed
 * does not keep Node alive either (its sockets are unref'd). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { childEnv, PACKAGE_DIR, startServer, type TestServer } from './support.js';

let server: TestServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.dispose();
});

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs an ES module script with node (and `flags`); kills it after `limitMs`. */
function runScript(source: string, limitMs: number, flags: string[] = []): Promise<ChildResult> {
  const file = join(server.dir, `child-${Date.now()}-${Math.random().toString(16).slice(2)}.mjs`);
  writeFileSync(file, source);
  return new Promise((done) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [...flags, file], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      done({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

const entry = pathToFileURL(join(PACKAGE_DIR, 'dist/esm/index.js')).href;

describe('close()', () => {
  it('rejects pending calls and leaves no handle behind: the process exits by itself', async () => {
    const script = `
      import { createClient, NoormmeConnectionError } from ${JSON.stringify(entry)};
      const kinds = () => process.getActiveResourcesInfo().filter((k) => k !== 'CloseReq').sort();
      // Node opens stdout/stderr lazily (net.Socket#destroy touches stderr):
      // open them first so that they are part of the baseline.
      void process.stdout, process.stderr;
      const baseline = kinds();
      const client = createClient({ socketPath: ${JSON.stringify(server.socketPath)}, poolSize: 3, timeoutMs: 60000 });
      await Promise.all(Array.from({ length: 30 }, () => client.call('server.ping')));
      const pending = client.call('test.sleep', { ms: 4000 });
      const outcome = pending.then(() => 'resolved', (e) => e instanceof NoormmeConnectionError && !e.retriable ? 'rejected-closed' : 'other:' + e);
      await new Promise((r) => setTimeout(r, 50));
      await client.close();
      const after = await client.call('server.ping').then(() => 'resolved', (e) => e instanceof NoormmeConnectionError ? 'rejected' : 'other');
      await new Promise((r) => setImmediate(r));
      console.log(JSON.stringify({ baseline, left: kinds(), pending: await outcome, after, stats: client.stats() }));
    `;
    const r = await runScript(script, 10_000);
    assert.equal(r.signal, null, `the child had to be killed: it did not exit by itself\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.ms < 3_500, `the child took ${r.ms} ms: something kept it alive after close()`);
    const out = JSON.parse(r.stdout) as {
      baseline: string[];
      left: string[];
      pending: string;
      after: string;
      stats: { open: number; inFlight: number; waiting: number };
    };
    assert.equal(out.pending, 'rejected-closed');
    assert.equal(out.after, 'rejected');
    assert.deepEqual(out.left, out.baseline, 'no socket or timer left after close()');
    assert.deepEqual(
      { ...out.stats, lateReplies: undefined },
      { open: 0, connecting: 0, inFlight: 0, waiting: 0, queued: 0, lateReplies: undefined, handles: 0 },
    );
  });

  it('is not needed for Node to exit: an idle pool never keeps the process alive (issue 7)', async () => {
    // As a script, a test or a `next build` worker that never closes its
    // client: once the calls are answered, nothing is left to wait for.
    const script = `
      import { createClient, NoormmeAdapter } from ${JSON.stringify(entry)};
      const client = createClient({ socketPath: ${JSON.stringify(server.socketPath)}, poolSize: 3 });
      const adapter = NoormmeAdapter({ socketPath: ${JSON.stringify(server.socketPath)} });
      await Promise.all([...Array.from({ length: 30 }, () => client.call('server.ping')), adapter.getUser('nobody')]);
      console.log(JSON.stringify(client.stats()));
    `;
    const r = await runScript(script, 10_000);
    assert.equal(r.signal, null, `the child had to be killed: its open sockets kept it alive\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.ms < 3_000, `the child took ${r.ms} ms to exit`);
    const stats = JSON.parse(r.stdout) as { open: number; handles: number };
    assert.ok(stats.open >= 1, 'the connections were still open when the script ended');
    assert.equal(stats.handles, 2, 'client and adapter shared one pool');
  });

  it('a client dropped without close() counts as closed once garbage-collected; the last one closes the pool', async () => {
    const connection = pathToFileURL(join(PACKAGE_DIR, 'dist/esm/connection.js')).href;
    const script = `
      import { createClient } from ${JSON.stringify(entry)};
      import { sharedPools } from ${JSON.stringify(connection)};
      const socketPath = ${JSON.stringify(server.socketPath)};
      const collect = async () => {
        for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      };
      let keep = createClient({ socketPath });
      await keep.call('server.ping');
      // As hot reloads do: clients made, used, and dropped without close().
      for (let i = 0; i < 50; i++) await createClient({ socketPath }).call('server.ping');
      const made = keep.stats().handles;
      await collect();
      const afterGc = keep.stats().handles;
      const pool = [...sharedPools().values()][0];
      keep = null;
      await collect();
      console.log(JSON.stringify({ made, afterGc, closed: pool.closed, registered: sharedPools().size }));
    `;
    const r = await runScript(script, 10_000, ['--expose-gc']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { made: number; afterGc: number; closed: boolean; registered: number };
    assert.equal(out.made, 51);
    assert.equal(out.afterGc, 1, 'only the client still referenced holds the pool');
    assert.deepEqual([out.closed, out.registered], [true, 0], 'the last one gone, the pool closed');
  });

  it('clears the reconnect backoff timer when closed while noormd is unreachable', async () => {
    const script = `
      import { createClient, NoormmeConnectionError } from ${JSON.stringify(entry)};
      const client = createClient({ socketPath: ${JSON.stringify(join(server.dir, 'nobody-listens.sock'))}, timeoutMs: 60000, reconnectMinMs: 100 });
      const waiting = client.call('server.ping').then(() => 'resolved', (e) => e instanceof NoormmeConnectionError ? 'rejected' : 'other');
      await new Promise((r) => setTimeout(r, 300));
      await client.close();
      console.log(await waiting);
    `;
    const r = await runScript(script, 10_000);
    assert.equal(r.signal, null, 'the child did not exit by itself');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'rejected');
    assert.ok(r.ms < 3_000, `took ${r.ms} ms with a 60 s request timeout pending`);
  });
});
