/* convert.ts - the one place where values change shape between Auth.js and
 * the wire. Each model lists its date, boolean and integer fields explicitly;
 * nothing is guessed from what a string looks like. Which keys a method takes
 * comes from the generated method table (protocol/methods.def).
 *
 * Out (wire -> Auth.js): dates become Date instances (the decoder already
 * gives Date for the timestamp extension), booleans stay booleans, and the
 * user always carries id, name, email, emailVerified and image (null when
 * empty). Extra fields pass through untouched.
 *
 * In (Auth.js -> wire): keys whose value is undefined are dropped (msgpack
 * would send nil, and nil clears a column in an update); dates may be Date
 * or ISO strings; methods that do not keep extra fields get only the
 * arguments the table lists for them, so a key Auth.js or an ORM-shaped
 * object adds (a session's `id`) is dropped here instead of being refused
 * by the server with UNKNOWN_FIELD. */
import { METHODS, type MethodArgs, type MethodName } from './methods.generated.js';
import type {
  AdapterAccount,
  AdapterAuthenticator,
  AdapterSession,
  AdapterUser,
  SessionAndUser,
  SessionInfo,
  ListResult,
  VerificationToken,
} from './types.js';

/** A map of named arguments as sent to noormd. */
export type WireParams = Record<string, unknown>;

interface ModelSpec {
  readonly dates: readonly string[];
  readonly booleans: readonly string[];
  readonly integers: readonly string[];
  /** Keys always present on the way out, null when the server omits them. */
  readonly always: readonly string[];
}

export const MODELS = {
  user: {
    dates: ['emailVerified'],
    booleans: [],
    integers: [],
    always: ['id', 'name', 'email', 'emailVerified', 'image'],
  },
  account: {
    dates: [],
    booleans: [],
    integers: ['expires_at'], // seconds, as Auth.js sends it: not a date
    always: [],
  },
  session: {
    dates: ['expires'],
    booleans: [],
    integers: [],
    always: [],
  },
  sessionInfo: {
    dates: ['expires'],
    booleans: [],
    integers: [],
    always: [],
  },
  verificationToken: {
    dates: ['expires'],
    booleans: [],
    integers: [],
    always: [],
  },
  authenticator: {
    dates: [],
    booleans: ['credentialBackedUp'],
    integers: ['counter'],
    always: ['transports'],
  },
} as const satisfies Record<string, ModelSpec>;

export type ModelName = keyof typeof MODELS;

/** How a field converts; absent: passed through. */
type Kind = 'date' | 'integer' | 'boolean';

/** Each model's spec as lookups, built once: these run on every call. */
interface Lookup {
  /** For toWire: dates, integers and booleans convert. */
  readonly kinds: ReadonlyMap<string, Kind>;
  /** For fromWire: only dates and booleans convert. */
  readonly outKinds: ReadonlyMap<string, Kind>;
}

const LOOKUPS = Object.fromEntries(
  Object.entries(MODELS).map(([name, spec]: [string, ModelSpec]) => {
    // Set in reverse order of precedence: a key in two lists is a date
    // before an integer before a boolean, as the lists were checked.
    const kinds = new Map<string, Kind>();
    for (const k of spec.booleans) kinds.set(k, 'boolean');
    for (const k of spec.integers) kinds.set(k, 'integer');
    for (const k of spec.dates) kinds.set(k, 'date');
    const outKinds = new Map<string, Kind>();
    for (const k of spec.booleans) outKinds.set(k, 'boolean');
    for (const k of spec.dates) outKinds.set(k, 'date');
    return [name, { kinds, outKinds }];
  }),
) as unknown as Record<ModelName, Lookup>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function dateIn(model: string, key: string, v: unknown): Date | null {
  if (v === null) return null;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new TypeError(`${model}.${key} is an invalid Date`);
    return v;
  }
  if (typeof v === 'string') {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new TypeError(`${model}.${key} is not a date: ${JSON.stringify(v)}`);
    return d;
  }
  throw new TypeError(`${model}.${key} must be a Date or an ISO date string, not ${typeof v}`);
}

function integerIn(model: string, key: string, v: unknown): number | null {
  if (v === null) return null;
  if (typeof v === 'number' && Number.isFinite(v)) return Math.floor(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v);
  throw new TypeError(`${model}.${key} must be an integer, not ${JSON.stringify(v)}`);
}

function booleanIn(model: string, key: string, v: unknown): boolean | null {
  if (v === null || typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  throw new TypeError(`${model}.${key} must be a boolean, not ${JSON.stringify(v)}`);
}

/** Argument names of each method that does not keep extra fields. */
const TAKES: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.values(METHODS)
    .filter((m) => !m.keepExtra)
    .map((m) => [m.name, new Set(m.args.map((a) => a.name))]),
);

/** Auth.js value -> wire values for `model`: drops undefined keys, converts
 * the model's date, integer and boolean fields, passes the rest through.
 * Throws TypeError for a date, integer or boolean it cannot convert. */
export function toWire(model: ModelName, value: object): WireParams {
  const { kinds } = LOOKUPS[model];
  const out: WireParams = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const kind = kinds.get(key);
    if (kind === undefined) out[key] = v;
    else if (kind === 'date') out[key] = dateIn(model, key, v);
    else if (kind === 'integer') out[key] = integerIn(model, key, v);
    else out[key] = booleanIn(model, key, v);
  }
  return out;
}

/** Auth.js value -> the arguments of `method`: as toWire, and, unless the
 * method keeps extra fields, only the argument names the method table lists
 * for it. The server still checks types, presence and limits. */
export function argsFor<M extends MethodName>(method: M, model: ModelName, value: object): MethodArgs[M] {
  const takes = TAKES.get(method);
  if (takes === undefined) return toWire(model, value) as MethodArgs[M];
  const picked: WireParams = {};
  for (const [key, v] of Object.entries(value)) if (takes.has(key)) picked[key] = v;
  return toWire(model, picked) as MethodArgs[M];
}

/** A reply value that does not have the shape the method promises. */
function badReply(model: string, what: string): TypeError {
  return new TypeError(`noormd returned ${what} where a ${model} was expected`);
}

function dateOut(model: string, key: string, v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v;
  if (typeof v === 'number') return new Date(v); // Unix ms
  throw badReply(model, `${typeof v} for ${key}`);
}

/** noormd reply -> Auth.js value: a fresh object with the model's dates as
 * Date, booleans as boolean and its `always` keys present. Throws TypeError
 * when the reply is not a map. */
export function fromWire(model: ModelName, value: unknown): Record<string, unknown> {
  if (!isRecord(value)) throw badReply(model, value === null ? 'nil' : typeof value);
  const spec: ModelSpec = MODELS[model];
  const { outKinds } = LOOKUPS[model];
  const out: Record<string, unknown> = {};
  for (const key of spec.always) out[key] = null;
  // Object.keys, not for-in: own keys only, whatever Object.prototype holds.
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const v = value[key];
    const kind = outKinds.get(key);
    if (kind === undefined) out[key] = v;
    else if (kind === 'date') out[key] = dateOut(model, key, v);
    else out[key] = v === null ? null : Boolean(v);
  }
  return out;
}


// ---- typed conversions of replies, shared by the adapter and the client ----

/** A user as Auth.js receives it. */
export function userOut(wire: unknown): AdapterUser {
  return fromWire('user', wire) as unknown as AdapterUser;
}

export function userOrNull(wire: unknown): AdapterUser | null {
  return wire === null || wire === undefined ? null : userOut(wire);
}

export function accountOut(wire: unknown): AdapterAccount {
  return fromWire('account', wire) as unknown as AdapterAccount;
}

export function accountOrNull(wire: unknown): AdapterAccount | null {
  return wire === null || wire === undefined ? null : accountOut(wire);
}

export function sessionOut(wire: unknown): AdapterSession {
  return fromWire('session', wire) as unknown as AdapterSession;
}

export function sessionOrNull(wire: unknown): AdapterSession | null {
  return wire === null || wire === undefined ? null : sessionOut(wire);
}

export function sessionAndUserOrNull(wire: unknown): SessionAndUser | null {
  if (wire === null || wire === undefined) return null;
  if (!isRecord(wire)) throw badReply('{session, user}', typeof wire);
  return { session: sessionOut(wire['session']), user: userOut(wire['user']) };
}

export function sessionInfoOut(wire: unknown): SessionInfo {
  return fromWire('sessionInfo', wire) as unknown as SessionInfo;
}

export function verificationTokenOrNull(wire: unknown): VerificationToken | null {
  return wire === null || wire === undefined
    ? null
    : (fromWire('verificationToken', wire) as unknown as VerificationToken);
}

export function authenticatorOut(wire: unknown): AdapterAuthenticator {
  return fromWire('authenticator', wire) as unknown as AdapterAuthenticator;
}

export function authenticatorOrNull(wire: unknown): AdapterAuthenticator | null {
  return wire === null || wire === undefined ? null : authenticatorOut(wire);
}

/** A reply that must be an array of `model`. */
/** A list reply: an array, or, past noormd's --max-rows, the map
 * {items, truncated: true, limit} (docs/PROTOCOL.md, "Lists"). A cut list
 * comes back as its first `limit` items with `truncated: true` set on the
 * array (a plain property: JSON.stringify leaves it out). */
export function listOut<T>(model: string, wire: unknown, one: (w: unknown) => T): ListResult<T> {
  if (Array.isArray(wire)) return wire.map(one);
  const cut = wire as { items?: unknown; truncated?: unknown } | null;
  if (cut && typeof cut === 'object' && Array.isArray(cut.items) && cut.truncated === true)
    return Object.assign(cut.items.map(one), { truncated: true as const });
  throw badReply(`list of ${model}`, wire === null ? 'nil' : typeof wire);
}
