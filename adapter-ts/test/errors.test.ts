/* errors.test.ts - the generated error classes match protocol/errors.def (the
 * committed file is what the generator makes from it today), carry name (the
 * class name), code (the wire NAME), wireCode (the number), message, details
 * and retriable, and agree with the protocol page's "retry?" column. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import {
  ConflictError,
  ErrorCode,
  errorFromWire,
  NoormmeConnectionError,
  NoormmeError,
  NoormmeTimeoutError,
  ParseError,
  ShuttingDownError,
  UnavailableError,
} from '@noormme/client';

import { errorClassByCode } from '../dist/esm/errors.generated.js';
import { PACKAGE_DIR } from './support.js';

interface DefEntry {
  code: number;
  name: string;
  severity: 'protocol' | 'request';
  message: string;
}

interface Generator {
  generateErrors(def: string): string;
  parseErrorsDef(def: string): DefEntry[];
  className(name: string): string;
  DEF_PATH: string;
  OUT_PATH: string;
}

const gen = (await import(pathToFileURL(join(PACKAGE_DIR, 'scripts/gen-errors.mjs')).href)) as Generator;
const defText = readFileSync(gen.DEF_PATH, 'utf8');

describe('generated error classes', () => {
  it('src/errors.generated.ts is up to date with protocol/errors.def', () => {
    const fresh = gen.generateErrors(defText);
    const committed = readFileSync(gen.OUT_PATH, 'utf8');
    assert.equal(committed, fresh, 'stale: run `npm run gen-errors` and commit the result');
  });

  it('a change to errors.def changes the output (the check above can fail)', () => {
    const changed = defText + '\nPROTO_ERROR(399, TEST_ONLY_ERROR, REQUEST, FINAL, "added by a test")\n';
    const out = gen.generateErrors(changed);
    assert.notEqual(out, gen.generateErrors(defText));
    assert.match(out, /export class TestOnlyError extends NoormmeError/);
    assert.throws(() => gen.parseErrorsDef(defText + '\nPROTO_ERROR(1, DUP, REQUEST, FINAL, "x")\n'), /appears twice/);
    assert.throws(() => gen.parseErrorsDef('PROTO_ERROR(oops)\n'), /cannot parse/);
  });

  it('has one class per errors.def entry with its code, name, severity and message', () => {
    const entries = gen.parseErrorsDef(defText);
    assert.equal(errorClassByCode.size, entries.length);
    for (const e of entries) {
      const Cls = errorClassByCode.get(e.code);
      assert.ok(Cls, `class for ${e.name}`);
      assert.equal(Cls.name, gen.className(e.name));
      const err = new Cls();
      assert.ok(err instanceof NoormmeError);
      assert.ok(err instanceof Error);
      assert.equal(err.name, gen.className(e.name), 'name is the class name');
      assert.equal(err.code, e.name, 'code is the wire NAME');
      assert.equal(err.wireCode, e.code, 'wireCode is the number');
      assert.equal((Cls as unknown as { code: string }).code, e.name);
      assert.equal((Cls as unknown as { wireCode: number }).wireCode, e.code);
      assert.match(String(err), new RegExp(`^${gen.className(e.name)}: `));
      assert.equal(err.message, e.message);
      assert.equal(err.severity, e.severity);
      assert.deepEqual(err.details, {});
      assert.equal((ErrorCode as Record<string, number>)[e.name], e.code);
    }
  });

  it('marks exactly the errors the protocol page says to retry as retriable', () => {
    const doc = join(PACKAGE_DIR, '../docs/PROTOCOL.md');
    assert.ok(existsSync(doc), 'docs/PROTOCOL.md exists');
    const rows = readFileSync(doc, 'utf8')
      .split('\n')
      .map((l) => /^\|\s*(\d+)\s*\|\s*`([A-Z_]+)`\s*\|[^|]*\|[^|]*\|\s*([^|]*)\|\s*$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    assert.ok(rows.length >= 20, `found ${rows.length} rows of the error table in PROTOCOL.md`);
    for (const [, code, name, retry] of rows) {
      const Cls = errorClassByCode.get(Number(code));
      assert.ok(Cls, `PROTOCOL.md lists ${name} (${code}); errors.def has no such code`);
      const err = new Cls();
      assert.equal(err.code, name);
      assert.equal(err.retriable, /^yes\b/i.test(retry!.trim()), `${name}: "retry?" says ${retry!.trim()}`);
    }
    assert.equal(new UnavailableError().retriable, true);
    assert.equal(new ShuttingDownError().retriable, true);
    assert.equal(new ConflictError().retriable, false);
  });
});

describe('errorFromWire', () => {
  it('builds the class of a known code with the server\'s message and details', () => {
    const err = errorFromWire([201, 'CONFLICT', 'taken (sqlite: UNIQUE)', { field: 'email', n: 3 }]);
    assert.ok(err instanceof ConflictError);
    assert.equal(err.name, 'ConflictError');
    assert.equal(err.code, 'CONFLICT');
    assert.equal(err.wireCode, 201);
    assert.equal(err.message, 'taken (sqlite: UNIQUE)');
    assert.deepEqual(err.details, { field: 'email' }, 'only string details are kept');
    assert.ok(Object.isFrozen(err.details));
  });

  it('keeps an unknown code as a plain NoormmeError, severity by range, not retriable', () => {
    const req = errorFromWire([250, 'NEW_THING', 'from a newer server', {}]);
    assert.equal(req.constructor, NoormmeError);
    assert.equal(req.wireCode, 250);
    assert.equal(req.code, 'NEW_THING');
    assert.equal(req.name, 'NoormmeError');
    assert.equal(req.severity, 'request');
    assert.equal(req.retriable, false);
    assert.equal(errorFromWire([42, 'X', 'y']).severity, 'protocol');
    assert.ok(errorFromWire([1, 'PARSE_ERROR', 'bad']) instanceof ParseError);
  });

  it('treats a malformed error object as a connection problem', () => {
    const err = errorFromWire('nonsense');
    assert.ok(err instanceof NoormmeConnectionError);
    assert.equal(err.retriable, false);
  });
});

describe('client-side errors', () => {
  it('NoormmeConnectionError and NoormmeTimeoutError are NoormmeErrors with negative codes', () => {
    const c = new NoormmeConnectionError('gone', { requestSent: true });
    assert.ok(c instanceof NoormmeError);
    assert.equal(c.wireCode, -1);
    assert.equal(c.code, 'CONNECTION_ERROR');
    assert.equal(c.name, 'NoormmeConnectionError');
    assert.equal(c.retriable, true);
    assert.equal(c.requestSent, true);
    assert.equal('cause' in c, false);
    const os = Object.assign(new Error('connect ECONNREFUSED /x.sock'), { code: 'ECONNREFUSED' });
    assert.equal(new NoormmeConnectionError('down', { cause: os }).cause, os);
    const sent = new NoormmeTimeoutError('slow', true);
    assert.equal(sent.wireCode, -2);
    assert.equal(sent.code, 'TIMEOUT');
    assert.equal(sent.name, 'NoormmeTimeoutError');
    assert.equal(sent.retriable, false);
    assert.equal(new NoormmeTimeoutError('a read', true, { retriable: true }).retriable, true);
    assert.equal(new NoormmeTimeoutError('never sent', false).retriable, true);
  });
});
