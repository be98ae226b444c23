/* edge.test.ts - loading the package where node:net cannot be had (the
 * Next.js Edge runtime, simulated by removing process.getBuiltinModule or
 * process itself) throws an Error that says to use the Node.js runtime; and
 * the package loads through its exports map with both import and require. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

import { childEnv, PACKAGE_DIR } from './support.js';

/** Runs `code` with node in the package directory; returns stdout and status. */
function node(args: string[], code: string): { out: string; err: string; status: number | null } {
  const r = spawnSync(process.execPath, [...args, '-e', code], {
    cwd: PACKAGE_DIR,
    encoding: 'utf8',
    timeout: 20_000,
    env: childEnv(),
  });
  return { out: r.stdout.trim(), err: r.stderr, status: r.status };
}

function assertRuntimeMessage(message: string): void {
  assert.match(message, /@noormme\/client needs the Node\.js runtime/);
  assert.match(message, /export const runtime = 'nodejs'/);
  assert.match(message, /docs\/adapter\.md/);
}

const importAndReport = (prelude: string) => `
  ${prelude}
  import('@noormme/client').then(
    () => console.log(JSON.stringify({ loaded: true })),
    (e) => console.log(JSON.stringify({ loaded: false, isError: e instanceof Error, message: String(e && e.message) })),
  );`;

const requireAndReport = (prelude: string) => `
  ${prelude}
  let r;
  try { require('@noormme/client'); r = { loaded: true }; }
  catch (e) { r = { loaded: false, isError: e instanceof Error, message: String(e && e.message) }; }
  console.log(JSON.stringify(r));`;

describe('Edge runtime', () => {
  it('import (ESM) without process.getBuiltinModule throws the runtime Error', () => {
    const r = node(['--input-type=commonjs'], importAndReport('delete process.getBuiltinModule;'));
    const res = JSON.parse(r.out) as { loaded: boolean; isError: boolean; message: string };
    assert.equal(res.loaded, false, r.err);
    assert.equal(res.isError, true);
    assertRuntimeMessage(res.message);
  });

  it('under the Edge runtime marker throws the runtime Error before touching process', () => {
    // Next's Edge sandbox sets globalThis.EdgeRuntime and throws its own
    // error on any read of process.getBuiltinModule: simulate both.
    const r = node(
      [],
      requireAndReport(
        "globalThis.EdgeRuntime = 'edge-runtime';" +
          "Object.defineProperty(process, 'getBuiltinModule', { get() { throw new Error('Next: A Node.js API is used'); } });",
      ),
    );
    const res = JSON.parse(r.out) as { loaded: boolean; isError: boolean; message: string };
    assert.equal(res.loaded, false, r.err);
    assertRuntimeMessage(res.message);
  });

  it('require (CommonJS) without process.getBuiltinModule throws the runtime Error', () => {
    const r = node([], requireAndReport('process.getBuiltinModule = undefined;'));
    const res = JSON.parse(r.out) as { loaded: boolean; isError: boolean; message: string };
    assert.equal(res.loaded, false, r.err);
    assertRuntimeMessage(res.message);
  });

  it('without any process object (as in a bare V8 isolate) throws the runtime Error', () => {
    const r = node(
      [],
      `const log = console.log.bind(console); const req = require;
       const saved = globalThis.process; delete globalThis.process;
       let r;
       try { req('@noormme/client'); r = { loaded: true }; }
       catch (e) { r = { loaded: false, message: String(e && e.message) }; }
       globalThis.process = saved;
       log(JSON.stringify(r));`,
    );
    const res = JSON.parse(r.out) as { loaded: boolean; message: string };
    assert.equal(res.loaded, false, r.err);
    assertRuntimeMessage(res.message);
  });

  it('loads normally on Node.js through the exports map, as ESM and as CommonJS', () => {
    const esm = node(['--input-type=module'], `
      const m = await import('@noormme/client');
      console.log(JSON.stringify({ adapter: typeof m.NoormmeAdapter, client: typeof m.createClient, err: typeof m.ConflictError }));`);
    assert.deepEqual(JSON.parse(esm.out), { adapter: 'function', client: 'function', err: 'function' }, esm.err);
    const cjs = node([], `
      const m = require('@noormme/client');
      const path = require.resolve('@noormme/client');
      console.log(JSON.stringify({ adapter: typeof m.NoormmeAdapter, cjs: path.includes('/dist/cjs/') }));`);
    assert.deepEqual(JSON.parse(cjs.out), { adapter: 'function', cjs: true }, cjs.err);
  });
});
