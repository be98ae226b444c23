/* methods.test.ts - the generated method table matches protocol/methods.def
 * (the committed file is what the generator makes from it today), the parser
 * refuses what it cannot read, and limits are resolved to numbers. Issue 7,
 * "TypeScript client lifecycle", task 1. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { LIMITS, METHODS } from '../dist/esm/methods.generated.js';
import { PACKAGE_DIR } from './support.js';

interface ParsedArg {
  name: string;
  types: string[];
  required: boolean;
  limit: number;
}

interface ParsedMethod {
  name: string;
  handler: string;
  execClass: string;
  keepExtra: boolean;
  args: ParsedArg[];
}

interface Generator {
  generateMethods(def: string): string;
  parseMethodsDef(def: string): { limits: Map<string, number>; methods: ParsedMethod[] };
  DEF_PATH: string;
  OUT_PATH: string;
}

const gen = (await import(pathToFileURL(join(PACKAGE_DIR, 'scripts/gen-methods.mjs')).href)) as Generator;
const defText = readFileSync(gen.DEF_PATH, 'utf8');

describe('generated method table', () => {
  it('src/methods.generated.ts is up to date with protocol/methods.def', () => {
    const fresh = gen.generateMethods(defText);
    const committed = readFileSync(gen.OUT_PATH, 'utf8');
    assert.equal(committed, fresh, 'stale: run `npm run gen-methods` and commit the result');
  });

  it('a change to methods.def changes the output (the check above can fail)', () => {
    const added = defText + '\nPROTO_METHOD("test.onlyHere", cmd_x, LOOP, NO_EXTRA)\n  PROTO_ARG("k", T_STR, REQUIRED, L_ID)\nPROTO_END\n';
    const out = gen.generateMethods(added);
    assert.notEqual(out, gen.generateMethods(defText));
    assert.match(out, /'test\.onlyHere': \{/);
    assert.match(out, /\{ name: 'k', types: \['str'\], required: true, limit: 255 \}/);
  });

  it('refuses lines it cannot read, unknown types and limits, repeats and unclosed methods', () => {
    const m = (body: string) => `PROTO_LIMIT(L_A, 5)\nPROTO_METHOD("a.b", h, LOOP, NO_EXTRA)\n${body}\nPROTO_END\n`;
    assert.throws(() => gen.parseMethodsDef(m('PROTO_ARG("x", T_STRING, REQUIRED, 0)')), /unknown argument type T_STRING/);
    assert.throws(() => gen.parseMethodsDef(m('PROTO_ARG("x", T_STR, REQUIRED, L_B)')), /unknown limit L_B/);
    assert.throws(() => gen.parseMethodsDef(m('PROTO_ARG("x", T_STR, MAYBE, 0)')), /cannot parse line/);
    assert.throws(
      () => gen.parseMethodsDef(m('PROTO_ARG("x", T_STR, REQUIRED, 0)\nPROTO_ARG("x", T_INT, OPTIONAL, 0)')),
      /two arguments named x/,
    );
    assert.throws(() => gen.parseMethodsDef(m('') + m('').replace('PROTO_LIMIT(L_A, 5)\n', '')), /a\.b appears twice/);
    assert.throws(() => gen.parseMethodsDef('PROTO_METHOD("a.b", h, LOOP, NO_EXTRA)\n'), /no PROTO_END/);
    assert.throws(() => gen.parseMethodsDef('PROTO_ARG("x", T_STR, REQUIRED, 0)\n'), /outside a method/);
    assert.throws(() => gen.parseMethodsDef('/* PROTO_METHOD("a.b", h, LOOP, NO_EXTRA) */\n'), /no PROTO_METHOD/);
  });

  it('has every method of methods.def with its class, extra-field rule and arguments, limits as numbers', () => {
    const { limits, methods } = gen.parseMethodsDef(defText);
    assert.deepEqual(Object.keys(METHODS), methods.map((m) => m.name));
    assert.deepEqual(Object.entries(LIMITS), [...limits]);
    for (const m of methods) {
      const spec = METHODS[m.name as keyof typeof METHODS];
      assert.equal(spec.execClass, m.execClass, m.name);
      assert.equal(spec.keepExtra, m.keepExtra, m.name);
      assert.deepEqual(spec.args, m.args, m.name);
      for (const a of spec.args) assert.equal(typeof a.limit, 'number');
    }
    // Spot checks against the def text itself.
    assert.equal(METHODS['auth.getSessionAndUser'].args[0]?.limit, LIMITS.L_TOKEN);
    assert.equal(METHODS['auth.listSessions'].execClass, 'pool');
    assert.equal(METHODS['auth.linkAccount'].keepExtra, true);
    assert.equal(METHODS['auth.createSession'].keepExtra, false);
    assert.deepEqual(METHODS['auth.createUser'].args.find((a) => a.name === 'emailVerified')?.types, ['time', 'nil']);
  });
});

describe('the client uses the table', () => {
  it('every method name written in src/ is in the table, and no test-only method is', () => {
    const groups = [...new Set(Object.keys(METHODS).map((n) => n.split('.')[0]))];
    assert.deepEqual(groups.sort(), ['auth', 'server']);
    // A string literal "group.name" in any quote style, test.* included.
    const literal = /['"`]((?:auth|server|test)\.[A-Za-z]+)['"`]/g;
    const used = new Map<string, string>();
    for (const f of readdirSync(join(PACKAGE_DIR, 'src'))) {
      if (!f.endsWith('.ts') || f.endsWith('.generated.ts')) continue;
      for (const m of readFileSync(join(PACKAGE_DIR, 'src', f), 'utf8').matchAll(literal)) used.set(m[1]!, f);
    }
    assert.ok(used.size >= 20, `found ${used.size} method names in src/`);
    // The one notification noormd sends is not a method (docs/PROTOCOL.md).
    used.delete('server.error');
    for (const [name, file] of used) assert.ok(name in METHODS, `${file} uses ${name}, which methods.def does not define`);
    // Every Auth.js method of the table is reached by the adapter or client.auth.
    for (const name of Object.keys(METHODS)) if (name.startsWith('auth.')) assert.ok(used.has(name), `${name} is never called`);
  });
});

describe('docs/PROTOCOL.md', () => {
  it('its method table lists exactly the methods of methods.def, each with its class and required arguments', () => {
    const doc = readFileSync(join(PACKAGE_DIR, '../docs/PROTOCOL.md'), 'utf8');
    const head = doc.indexOf('| method | class | arguments');
    assert.ok(head >= 0, 'PROTOCOL.md has the method table');
    const rows = doc
      .slice(head)
      .split('\n')
      .slice(2)
      .filter((l, i, all) => l.startsWith('|') && all.slice(0, i).every((p) => p.startsWith('|')));
    const listed = new Map<string, { cls: string; args: string }>();
    for (const row of rows) {
      const m = /^\| \[`([^`]+)`\]\([^)]*\) \| (\w+) \| (.*) \| .* \|$/.exec(row);
      assert.ok(m, `cannot read the row: ${row}`);
      listed.set(m[1]!, { cls: m[2]!, args: m[3]! });
    }
    const { methods } = gen.parseMethodsDef(defText);
    assert.deepEqual([...listed.keys()].sort(), methods.map((m) => m.name).sort());
    for (const m of methods) {
      const row = listed.get(m.name)!;
      assert.equal(row.cls, m.execClass, `${m.name}: PROTOCOL.md says ${row.cls}`);
      if (row.args === 'see below') continue;
      for (const a of m.args.filter((x) => x.required))
        assert.ok(row.args.includes('`' + a.name + '`'), `${m.name}: PROTOCOL.md does not list ${a.name}`);
    }
  });
});

