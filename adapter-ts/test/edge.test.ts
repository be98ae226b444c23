/* edge.test.ts - where node:net cannot be had (the Next.js Edge runtime,
 * simulated by removing process.getBuiltinModule or process itself) the
 * package still imports, its error classes and method table work, and
 * createClient() / NoormmeAdapter() throw an Error that says to use the
 * Node.js runtime. Bundlers for the Edge runtime and workers resolve the
 * `edge-light` and `worker` export conditions to an entry without the
 * connection code, with the same exports. And the package loads through its
 * exports map with both import and require. Issue 7, task 7. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

interface Report {
  loaded: boolean;
  loadError?: string;
  /** What `new ConflictError()` looked like. */
  error?: { name: string; code: string; wireCode: number; isNoormme: boolean };
  methods?: number;
  createClient?: string;
  adapter?: string;
  resolved?: string;
}

/** Loads the package with `load` (an expression giving a promise of the
 * module), then uses an error class and calls the two factories. */
const loadAndReport = (prelude: string, load: string, resolved = "''") => `
  ${prelude}
  const out = (r) => process.stdout.write(JSON.stringify(r) + '\\n');
  const attempt = (f) => { try { f(); return 'returned'; } catch (e) { return String(e && e.message); } };
  Promise.resolve().then(() => ${load}).then(
    (m) => {
      const e = new m.ConflictError();
      out({
        loaded: true,
        resolved: ${resolved},
        error: { name: e.name, code: e.code, wireCode: e.wireCode, isNoormme: e instanceof m.NoormmeError },
        methods: Object.keys(m.METHODS).length,
        createClient: attempt(() => m.createClient({ socketPath: '/nowhere.sock' })),
        adapter: attempt(() => m.NoormmeAdapter()),
      });
    },
    (e) => out({ loaded: false, loadError: String(e && e.message) }),
  );`;

function parse(r: { out: string; err: string }): Report {
  assert.ok(r.out !== '', `no output; stderr:\n${r.err}`);
  return JSON.parse(r.out.split('\n').pop()!) as Report;
}

function assertEdgeBehaviour(res: Report, why: string): void {
  assert.equal(res.loaded, true, `${why}: the import itself must not throw (${res.loadError})`);
  assert.deepEqual(res.error, { name: 'ConflictError', code: 'CONFLICT', wireCode: 201, isNoormme: true });
  assert.ok((res.methods ?? 0) > 20, 'the method table is there');
  assertRuntimeMessage(res.createClient!);
  assertRuntimeMessage(res.adapter!);
}

describe('Edge runtime', () => {
  it('import (ESM) without process.getBuiltinModule works; creating a client throws the runtime Error', () => {
    const r = node(['--input-type=commonjs'], loadAndReport('delete process.getBuiltinModule;', "import('@noormme/client')"));
    assertEdgeBehaviour(parse(r), 'ESM');
  });

  it('under the Edge runtime marker: the runtime Error, raised before touching process', () => {
    // Next's Edge sandbox sets globalThis.EdgeRuntime and throws its own
    // error on any read of process.getBuiltinModule: simulate both.
    const r = node(
      [],
      loadAndReport(
        "globalThis.EdgeRuntime = 'edge-runtime';" +
          "Object.defineProperty(process, 'getBuiltinModule', { get() { throw new Error('Next: A Node.js API is used'); } });",
        "require('@noormme/client')",
      ),
    );
    assertEdgeBehaviour(parse(r), 'Edge marker');
  });

  it('require (CommonJS) without process.getBuiltinModule works; creating a client throws the runtime Error', () => {
    const r = node([], loadAndReport('process.getBuiltinModule = undefined;', "require('@noormme/client')"));
    assertEdgeBehaviour(parse(r), 'CJS');
  });

  it('without any process object (as in a bare V8 isolate): loads, and the factories throw the runtime Error', () => {
    const r = node(
      [],
      `const log = console.log.bind(console); const req = require;
       const saved = globalThis.process; delete globalThis.process;
       const attempt = (f) => { try { f(); return 'returned'; } catch (e) { return String(e && e.message); } };
       let r;
       try {
         const m = req('@noormme/client');
         r = { loaded: true, err: new m.NotFoundError().code, client: attempt(() => m.createClient()), adapter: attempt(() => m.NoormmeAdapter({ socketPath: 'rel.sock' })) };
       } catch (e) { r = { loaded: false, message: String(e && e.message) }; }
       globalThis.process = saved;
       log(JSON.stringify(r));`,
    );
    const res = JSON.parse(r.out) as { loaded: boolean; err: string; client: string; adapter: string; message?: string };
    assert.equal(res.loaded, true, `${res.message ?? ''}\n${r.err}`);
    assert.equal(res.err, 'NOT_FOUND');
    assertRuntimeMessage(res.client);
    assertRuntimeMessage(res.adapter);
  });

  for (const condition of ['edge-light', 'worker']) {
    it(`--conditions=${condition} resolves to the Edge entry: same exports, factories throw even on Node.js`, () => {
      for (const [flags, load, entry] of [
        [['--input-type=commonjs'], "import('@noormme/client')", ''],
        [[], "require('@noormme/client')", '/dist/cjs/edge.js'],
      ] as const) {
        const cjs = load.startsWith('require');
        const r = node([`--conditions=${condition}`, ...flags], loadAndReport('', load, cjs ? "require.resolve('@noormme/client')" : "''"));
        const res = parse(r);
        assertEdgeBehaviour(res, `${condition} ${load}`);
        if (cjs) assert.ok(res.resolved?.endsWith(entry), `${res.resolved} is ${entry}`);
      }
      // The ESM side: ask the resolver directly, and compare export names with the Node entry.
      const names = node(
        [`--conditions=${condition}`, '--input-type=module'],
        `const edge = await import('@noormme/client');
         const nodeEntry = await import(${JSON.stringify(join(PACKAGE_DIR, 'dist/esm/index.js'))});
         console.log(JSON.stringify({
           url: import.meta.resolve('@noormme/client'),
           edge: Object.keys(edge).sort(), node: Object.keys(nodeEntry).sort(),
           maxAge: [edge.DEFAULT_SESSION_MAX_AGE, nodeEntry.DEFAULT_SESSION_MAX_AGE],
           close: await edge.closeAdapter({}).then(() => 'resolved', (e) => e.message),
         }));`,
      );
      const res = JSON.parse(names.out) as { url: string; edge: string[]; node: string[]; maxAge: number[]; close: string };
      assert.ok(res.url.endsWith('/dist/esm/edge.js'), res.url);
      assert.deepEqual(res.edge, res.node, 'the Edge entry exports what the Node.js entry exports');
      assert.equal(res.maxAge[0], res.maxAge[1]);
      assertRuntimeMessage(res.close);
    });
  }

  it('the Edge entry does not load the connection code', () => {
    const esm = readFileSync(join(PACKAGE_DIR, 'dist/esm/edge.js'), 'utf8');
    assert.doesNotMatch(esm, /connection\.js|client\.js|adapter\.js/);
    const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as {
      exports: Record<string, Record<string, unknown>>;
    };
    const keys = Object.keys(pkg.exports['.']!);
    assert.ok(keys.indexOf('edge-light') < keys.indexOf('import'), 'conditions are matched in order');
    assert.ok(keys.indexOf('worker') < keys.indexOf('import'));
  });

  it('loads normally on Node.js through the exports map, as ESM and as CommonJS', () => {
    const esm = node(['--input-type=module'], `
      const m = await import('@noormme/client');
      console.log(JSON.stringify({ adapter: typeof m.NoormmeAdapter, client: typeof m.createClient, err: typeof m.ConflictError, url: import.meta.resolve('@noormme/client') }));`);
    const e = JSON.parse(esm.out) as { adapter: string; client: string; err: string; url: string };
    assert.deepEqual({ ...e, url: e.url.endsWith('/dist/esm/index.js') }, { adapter: 'function', client: 'function', err: 'function', url: true }, esm.err);
    const cjs = node([], `
      const m = require('@noormme/client');
      const path = require.resolve('@noormme/client');
      console.log(JSON.stringify({ adapter: typeof m.NoormmeAdapter, cjs: path.endsWith('/dist/cjs/index.js') }));`);
    assert.deepEqual(JSON.parse(cjs.out), { adapter: 'function', cjs: true }, cjs.err);
  });
});
