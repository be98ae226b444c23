/* unit.test.ts - the pieces that need no server: the frame scanner (every
 * split point, every type byte, the limits) and the value conversion (explicit
 * field lists, undefined dropped, no guessing from strings). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { encode } from '@msgpack/msgpack';

import { argsFor, fromWire, toWire } from '../dist/esm/convert.js';
import { METHODS } from '../dist/esm/methods.generated.js';
import { FrameError, frameLength } from '../dist/esm/frame.js';

/** Values covering every MessagePack format the encoder produces. */
const SAMPLES: unknown[] = [
  0, 127, 128, 255, 256, 65535, 65536, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31) - 1,
  1.5, -0.25, Number.MAX_VALUE,
  null, true, false,
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(70_000),
  new Uint8Array(0), new Uint8Array(300), new Uint8Array(70_000),
  [], [1, [2, [3, [4]]]], Array.from({ length: 20 }, (_, i) => i), Array.from({ length: 70_000 }, () => 0),
  {}, { a: 1, b: { c: [null, { d: 'e' }] } }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  new Date(0), new Date(1_700_000_000_123), new Date(-1), new Date(2 ** 34 * 1000 + 5),
  [1, 7, null, [201, 'CONFLICT', 'taken', { field: 'email' }]],
];

describe('frameLength', () => {
  it('returns the exact length of every kind of object, followed by other bytes', () => {
    for (const v of SAMPLES) {
      const one = encode(v);
      const buf = new Uint8Array(one.length + 3);
      buf.set(one);
      buf.set([0xc0, 0x01, 0x02], one.length);
      assert.equal(frameLength(buf, 0), one.length, `length of ${JSON.stringify(v)?.slice(0, 40)}`);
    }
  });

  it('needs more bytes at every split point of a stream of messages', () => {
    const small = SAMPLES.filter((v) => encode(v).length < 400);
    const parts = small.map((v) => encode(v));
    const stream = Buffer.concat(parts);
    let start = 0;
    for (const p of parts) {
      for (let cut = start; cut < start + p.length; cut++)
        assert.equal(frameLength(stream.subarray(0, cut), start), 0, `cut at ${cut}`);
      assert.equal(frameLength(stream.subarray(0, start + p.length), start), p.length);
      start += p.length;
    }
  });

  it('refuses the reserved byte 0xc1, also nested', () => {
    assert.throws(() => frameLength(Uint8Array.of(0xc1), 0), FrameError);
    assert.throws(() => frameLength(Uint8Array.of(0x92, 0x01, 0xc1), 0), FrameError);
  });

  it('refuses declared sizes beyond the limit before waiting for them', () => {
    // str 32 declaring 1 MiB, with 4 bytes of it present
    const big = Uint8Array.of(0xdb, 0x00, 0x10, 0x00, 0x00, 0x61, 0x61, 0x61, 0x61);
    assert.equal(frameLength(big, 0), 0, 'within the default limit: wait');
    assert.throws(() => frameLength(big, 0, 1024), FrameError);
    // array 32 declaring 2^32 - 1 elements
    assert.throws(() => frameLength(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), 0, 1 << 20), FrameError);
    // exactly at the limit is fine
    const atLimit = encode('x'.repeat(1000 - 3));
    assert.equal(atLimit.length, 1000);
    assert.equal(frameLength(atLimit, 0, 1000), 1000);
    assert.throws(() => frameLength(atLimit, 0, 999), FrameError);
  });
});

describe('toWire', () => {
  it('drops undefined keys and converts ISO strings for date fields only', () => {
    const out = toWire('user', {
      id: 'u1',
      name: undefined,
      email: 'a@b.c',
      emailVerified: '2024-01-02T03:04:05.006Z',
      birthday: '2024-01-02T03:04:05.006Z',
    });
    assert.deepEqual(Object.keys(out).sort(), ['birthday', 'email', 'emailVerified', 'id']);
    assert.ok(out['emailVerified'] instanceof Date);
    assert.equal((out['emailVerified'] as Date).toISOString(), '2024-01-02T03:04:05.006Z');
    assert.equal(out['birthday'], '2024-01-02T03:04:05.006Z', 'a string that looks like a date stays a string');
    assert.equal(toWire('user', { id: 'u', emailVerified: null })['emailVerified'], null);
  });

  it('refuses dates it cannot read', () => {
    assert.throws(() => toWire('session', { sessionToken: 't', userId: 'u', expires: 'soon' }), TypeError);
    assert.throws(() => toWire('session', { sessionToken: 't', userId: 'u', expires: new Date(NaN) }), TypeError);
    assert.throws(() => toWire('session', { sessionToken: 't', userId: 'u', expires: 12345 }), TypeError);
  });

  it('sends a method that keeps no extra fields only the arguments the method table lists', () => {
    const out = argsFor('auth.createSession', 'session', { sessionToken: 't', userId: 'u', expires: new Date(1), id: 'prisma-id' });
    assert.deepEqual(Object.keys(out).sort(), ['expires', 'sessionToken', 'userId']);
    assert.ok(out.expires instanceof Date);
    const acc = argsFor('auth.linkAccount', 'account', { provider: 'p', providerAccountId: 'x', ext_expires_in: 5 });
    assert.equal(acc['ext_expires_in'], 5, 'auth.linkAccount keeps extras');
    // Every method without extras: a key outside its table entry is dropped, its own keys kept.
    for (const spec of Object.values(METHODS)) {
      if (spec.keepExtra || spec.args.length === 0) continue;
      const value: Record<string, unknown> = { notAnArgument: 1 };
      for (const a of spec.args) value[a.name] = 'x';
      const sent = argsFor(spec.name, 'user', value);
      assert.deepEqual(Object.keys(sent).sort(), spec.args.map((a) => a.name).sort(), spec.name);
    }
  });

  it('keeps expires_at as integer seconds and credentialBackedUp as a boolean', () => {
    assert.equal(toWire('account', { expires_at: 1_700_000_000.7 })['expires_at'], 1_700_000_000);
    assert.equal(toWire('account', { expires_at: '1700000000' })['expires_at'], 1_700_000_000);
    assert.throws(() => toWire('account', { expires_at: 'tomorrow' }), TypeError);
    assert.equal(toWire('authenticator', { credentialBackedUp: 1 })['credentialBackedUp'], true);
    assert.equal(toWire('authenticator', { credentialBackedUp: false })['credentialBackedUp'], false);
  });
});

describe('fromWire', () => {
  it('gives a user all five keys, dates as Date, extras untouched', () => {
    const u = fromWire('user', { id: 'u', email: 'e', emailVerified: new Date(5), role: 'x', seen: '2024-01-01' });
    assert.deepEqual(u, { id: 'u', name: null, email: 'e', emailVerified: new Date(5), image: null, role: 'x', seen: '2024-01-01' });
  });

  it('turns stored 0/1 into booleans and millisecond numbers into Dates', () => {
    assert.equal(fromWire('authenticator', { credentialBackedUp: 1 })['credentialBackedUp'], true);
    assert.equal(fromWire('authenticator', { credentialBackedUp: 0 })['credentialBackedUp'], false);
    assert.deepEqual(fromWire('session', { expires: 1000 })['expires'], new Date(1000));
  });

  it('refuses a reply that is not a map', () => {
    assert.throws(() => fromWire('user', null), TypeError);
    assert.throws(() => fromWire('user', [1]), TypeError);
    assert.throws(() => fromWire('session', { expires: 'yesterday' }), TypeError);
  });
});
