// run.mjs - getSessionAndUser through four contenders, side by side in one
// process, over the same BENCH_USERS users and sessions:
//
//   noormd   NoormmeAdapter (@noormme/client) -> a noormd this script starts
//   kysely   @auth/kysely-adapter   -> Kysely SqliteDialect -> better-sqlite3 (in-process)
//   drizzle  @auth/drizzle-adapter  -> drizzle-orm/better-sqlite3            (in-process)
//   raw      one prepared better-sqlite3 statement (the join), result shaped as {session, user}
//   ping     server.ping through the same client: the bare round trip to noormd
//
// Each contender runs at 1 call in flight (one loop of sequential awaits) and
// at 64 (64 such loops on the one event loop), BENCH_RUNS times, each run
// being BENCH_WARMUP seconds not measured then BENCH_DURATION seconds
// measured. The better-sqlite3 contenders are synchronous: their "64 in
// flight" are 64 async loops taking turns on one thread, never two queries at
// once. Per-call latency is process.hrtime.bigint() around the awaited call.
//
// usage: node --expose-gc run.mjs     (bench/adapter/run.sh installs, builds and runs it)
// env:   NOORMD (path of noormd; default build/noormd in the repository), BENCH_USERS (100000),
//        BENCH_RUNS (3), BENCH_DURATION (5), BENCH_WARMUP (1), BENCH_POOL (client
//        poolSize, default: the client's default), BENCH_JSON (write results there),
//        BENCH_WAIT_MAX (seconds to wait for other benchmarks to finish, 600),
//        BENCH_ONLY (comma list of contenders to run, default all),
//        BENCH_CONC (comma list of in-flight counts, default 1,64),
//        BENCH_ALT_CLIENT (path of another build of @noormme/client's ESM entry, e.g.
//        a copy of adapter-ts/dist/esm/index.js from before a change: adds the
//        contender "noormd-alt", the same calls through that build, for an A/B
//        in one run), BENCH_PROFILE (a directory: writes a V8 CPU profile of each cell
//        there, e.g. noormd-64-run1.cpuprofile; profiling slows every cell)
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';

import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyAdapter } from '@auth/kysely-adapter';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { DrizzleAdapter } from '@auth/drizzle-adapter';
import { createClient, NoormmeAdapter } from '@noormme/client';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const env = process.env;
const NOORMD = env.NOORMD ? resolve(env.NOORMD) : resolve(HERE, '../../build/noormd');
const USERS = int('BENCH_USERS', 100000);
const RUNS = int('BENCH_RUNS', 3);
const DURATION = num('BENCH_DURATION', 5);
const WARMUP = num('BENCH_WARMUP', 1);
const WAIT_MAX = num('BENCH_WAIT_MAX', 600);
const POOL = env.BENCH_POOL ? int('BENCH_POOL', 4) : undefined;
const ONLY = (env.BENCH_ONLY ?? 'noormd,noormd-alt,kysely,drizzle,raw,ping').split(',');
const CONCS = (env.BENCH_CONC ?? '1,64').split(',').map(Number);
if (!CONCS.every((c) => Number.isInteger(c) && c >= 1)) throw new Error('BENCH_CONC takes positive integers');
const LOAD_DEPTH = 1024; // createUser+createSession chains in flight while loading noormd
const SESSION_MS = 30 * 24 * 3600 * 1000;

function int(name, dflt) {
  const v = env[name] === undefined ? dflt : Number(env[name]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}
function num(name, dflt) {
  const v = env[name] === undefined ? dflt : Number(env[name]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number >= 0`);
  return v;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(...a);

// ---- the noormd this run uses ----------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'noormme-adapter-bench-'));
const sock = join(dir, 'noormd.sock');
const keyFile = join(dir, 'master.key');
writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
let server = null;
let serverLog = '';
let serverExited = Promise.resolve();

function canConnect(path) {
  return new Promise((done) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

async function startServer() {
  if (!existsSync(NOORMD)) throw new Error(`noormd not found at ${NOORMD}; set NOORMD`);
  const child = spawn(
    NOORMD,
    ['--socket', sock, '--db', join(dir, 'noormme.db'), '--key-file', keyFile, '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('NOORMME_'))) },
  );
  server = child;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => {
    if (serverLog.length < 1 << 16) serverLog += s;
  });
  let gone = false;
  serverExited = new Promise((done) => child.once('exit', () => ((gone = true), done())));
  const deadline = Date.now() + 10000;
  for (;;) {
    if (gone) throw new Error(`noormd exited during start:\n${serverLog}`);
    if (await canConnect(sock)) return;
    if (Date.now() > deadline) throw new Error(`noormd did not listen within 10 s:\n${serverLog}`);
    await sleep(20);
  }
}

async function stopServer() {
  const child = server;
  if (!child) return;
  server = null;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10000);
  await serverExited;
  clearTimeout(t);
}

function cleanup() {
  if (server) server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** CPU seconds used so far by a process (user + system), from /proc. */
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
function procCpu(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / TICK; // fields 14 and 15
}

/** CPU seconds the whole machine has been busy (steal excluded), and stolen. */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  // cpu user nice system idle iowait irq softirq steal
  return { busy: (f[1] + f[2] + f[3] + f[6] + f[7]) / TICK, steal: f[8] / TICK };
}

/** Waits while another benchmark (loadgen, Redis) is running on the machine. */
async function waitQuiet() {
  const t0 = Date.now();
  for (;;) {
    let out = '';
    try {
      out = execFileSync('pgrep', ['-fa', 'loadgen|redis-server|redis-benchmark'], { encoding: 'utf8' }).trim();
    } catch {
      return 0; // pgrep exits 1 when nothing matches
    }
    const waited = (Date.now() - t0) / 1000;
    if (waited > WAIT_MAX) {
      log(`  ! other benchmarks still running after ${WAIT_MAX} s; measuring anyway:\n${out}`);
      return waited;
    }
    log(`  (waiting: other benchmark processes running: ${out.split('\n').map((l) => l.split(' ').slice(1, 3).join(' ')).join('; ')})`);
    await sleep(10000);
  }
}

// ---- the data: the same users and sessions for every contender ---------------

function makeData() {
  const now = Date.now();
  const users = new Array(USERS);
  const sessions = new Array(USERS);
  for (let i = 0; i < USERS; i++) {
    const id = randomUUID();
    users[i] = {
      id,
      name: `User ${i}`,
      email: `user${i}@example.com`,
      emailVerified: new Date(now - 86400000 - i * 1000),
      image: `https://avatars.example.com/u/${i}.png`,
    };
    // Auth.js makes session tokens with crypto.randomUUID() by default.
    sessions[i] = { sessionToken: randomUUID(), userId: id, expires: new Date(now + SESSION_MS) };
  }
  return { users, sessions };
}

// The tables as each adapter documents them for SQLite. Kysely: "User",
// "Account", "Session", "VerificationToken" with text ids and dates as ISO
// text (the adapter converts on SQLite). Drizzle: its default sqlite schema
// (lib/sqlite.js defineTables): "user", "account", "session",
// "verificationToken", dates as integer milliseconds. SQLite table names are
// case-insensitive, so the two layouts live in two database files.
const KYSELY_SCHEMA = `
CREATE TABLE "User" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "name" TEXT,
  "email" TEXT NOT NULL UNIQUE,
  "emailVerified" TEXT,
  "image" TEXT
);
CREATE TABLE "Account" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "userId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
  "type" TEXT NOT NULL,
  "provider" TEXT NOT NULL,
  "providerAccountId" TEXT NOT NULL,
  "refresh_token" TEXT,
  "access_token" TEXT,
  "expires_at" INTEGER,
  "token_type" TEXT,
  "scope" TEXT,
  "id_token" TEXT,
  "session_state" TEXT
);
CREATE INDEX "Account_userId_index" ON "Account"("userId");
CREATE TABLE "Session" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "userId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
  "sessionToken" TEXT NOT NULL UNIQUE,
  "expires" TEXT NOT NULL
);
CREATE INDEX "Session_userId_index" ON "Session"("userId");
CREATE TABLE "VerificationToken" (
  "identifier" TEXT NOT NULL,
  "token" TEXT NOT NULL UNIQUE,
  "expires" TEXT NOT NULL,
  PRIMARY KEY ("identifier", "token")
);
`;

const DRIZZLE_SCHEMA = `
CREATE TABLE "user" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "name" TEXT,
  "email" TEXT UNIQUE,
  "emailVerified" INTEGER,
  "image" TEXT
);
CREATE TABLE "account" (
  "userId" TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
  "type" TEXT NOT NULL,
  "provider" TEXT NOT NULL,
  "providerAccountId" TEXT NOT NULL,
  "refresh_token" TEXT,
  "access_token" TEXT,
  "expires_at" INTEGER,
  "token_type" TEXT,
  "scope" TEXT,
  "id_token" TEXT,
  "session_state" TEXT,
  PRIMARY KEY ("provider", "providerAccountId")
);
CREATE TABLE "session" (
  "sessionToken" TEXT PRIMARY KEY NOT NULL,
  "userId" TEXT NOT NULL REFERENCES "user"("id") ON DELETE CASCADE,
  "expires" INTEGER NOT NULL
);
CREATE TABLE "verificationToken" (
  "identifier" TEXT NOT NULL,
  "token" TEXT NOT NULL,
  "expires" INTEGER NOT NULL,
  PRIMARY KEY ("identifier", "token")
);
`;

function openSqlite(file, schema) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL'); // what better-sqlite3 recommends
  db.pragma('foreign_keys = ON');
  db.exec(schema);
  return db;
}

function loadKysely(db, { users, sessions }) {
  const iu = db.prepare('INSERT INTO "User" ("id","name","email","emailVerified","image") VALUES (?,?,?,?,?)');
  const is = db.prepare('INSERT INTO "Session" ("id","userId","sessionToken","expires") VALUES (?,?,?,?)');
  db.transaction(() => {
    for (const u of users) iu.run(u.id, u.name, u.email, u.emailVerified.toISOString(), u.image);
    for (const s of sessions) is.run(randomUUID(), s.userId, s.sessionToken, s.expires.toISOString());
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
}

function loadDrizzle(db, { users, sessions }) {
  const iu = db.prepare('INSERT INTO "user" ("id","name","email","emailVerified","image") VALUES (?,?,?,?,?)');
  const is = db.prepare('INSERT INTO "session" ("sessionToken","userId","expires") VALUES (?,?,?)');
  db.transaction(() => {
    for (const u of users) iu.run(u.id, u.name, u.email, u.emailVerified.getTime(), u.image);
    for (const s of sessions) is.run(s.sessionToken, s.userId, s.expires.getTime());
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/** Loads noormd through the adapter: createUser then createSession per user,
 * LOAD_DEPTH such chains in flight. */
async function loadNoormd(adapter, { users, sessions }) {
  let next = 0;
  const worker = async () => {
    while (next < USERS) {
      const i = next++;
      await adapter.createUser(users[i]);
      await adapter.createSession(sessions[i]);
    }
  };
  await Promise.all(Array.from({ length: LOAD_DEPTH }, worker));
}

/** What every contender must agree on, for a check before measuring. */
function normal(r) {
  if (!r) return null;
  const ms = (d) => (d === null || d === undefined ? null : d instanceof Date ? d.getTime() : `not a Date: ${d}`);
  return JSON.stringify({
    s: [r.session.sessionToken, r.session.userId, ms(r.session.expires)],
    u: [r.user.id, r.user.name, r.user.email, ms(r.user.emailVerified), r.user.image],
  });
}

// ---- measuring --------------------------------------------------------------------

const CAP = 8_000_000;
const lat = new Float64Array(CAP); // ns, reused by every cell
const ORDER = new Uint32Array(1 << 20); // the random token sequence, the same for every cell

/**
 * One cell: `conc` loops calling fn(token) back to back for WARMUP + DURATION
 * seconds. Throughput counts calls that completed inside the measured window;
 * latency is taken from calls that started and completed inside it.
 */
async function cell(fn, tokens, conc) {
  if (globalThis.gc) globalThis.gc();
  const start = process.hrtime.bigint();
  const mStart = start + BigInt(Math.round(WARMUP * 1e9));
  const mEnd = mStart + BigInt(Math.round(DURATION * 1e9));
  // starved: loops that completed no call inside the measured window;
  // waitMax: the longest call that was still pending when the window ended.
  const ctx = { next: 0, n: 0, done: 0, misses: 0, overflow: 0, starved: 0, waitMax: 0 };
  const mask = ORDER.length - 1;
  const ntok = tokens.length;
  let cpu0 = null;
  let srv0 = 0;
  let mach0 = null;
  let wall0 = 0n;
  const loop = async () => {
    let mine = 0;
    for (;;) {
      const tok = tokens[ORDER[ctx.next++ & mask] % ntok];
      const t0 = process.hrtime.bigint();
      const r = await fn(tok);
      const t1 = process.hrtime.bigint();
      if (r === null || r === undefined) ctx.misses++;
      if (t1 >= mStart && cpu0 === null) {
        cpu0 = process.cpuUsage();
        srv0 = server ? procCpu(server.pid) : 0;
        mach0 = machineCpu();
        wall0 = t1;
      }
      if (t1 >= mStart && t1 <= mEnd) {
        ctx.done++;
        mine++;
        if (t0 >= mStart) {
          if (ctx.n < CAP) lat[ctx.n++] = Number(t1 - t0);
          else ctx.overflow++;
        }
      }
      if (t1 > mEnd) {
        if (mine === 0) ctx.starved++;
        if (t0 < mEnd) ctx.waitMax = Math.max(ctx.waitMax, Number(t1 - t0) / 1000);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, () => loop()));
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const srv = server ? procCpu(server.pid) - srv0 : 0;
  const mach = machineCpu();
  const nodeCpu = ((cpu.user + cpu.system) / 1e6 / wall) * 100;
  const srvCpu = (srv / wall) * 100;
  // Everything but this process and its noormd, plus hypervisor steal: the noise.
  const other = Math.max(0, ((mach.busy - mach0.busy + mach.steal - mach0.steal) / wall) * 100 - nodeCpu - srvCpu);
  const s = lat.subarray(0, ctx.n).slice().sort();
  const pct = (q) => (s.length ? s[Math.max(0, Math.ceil(q * s.length) - 1)] / 1000 : NaN);
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i];
  if (ctx.overflow) log(`  ! ${ctx.overflow} latency samples past the buffer were dropped`);
  return {
    ops: ctx.done / DURATION,
    p50: pct(0.5),
    p99: pct(0.99),
    p999: pct(0.999),
    mean: s.length ? sum / s.length / 1000 : NaN,
    max: s.length ? s[s.length - 1] / 1000 : NaN,
    samples: ctx.n,
    starved: ctx.starved,
    waitMax: ctx.waitMax,
    misses: ctx.misses,
    nodeCpu,
    srvCpu,
    other,
  };
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : NaN;
};

// ---- the run ------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  log(`adapter benchmark: getSessionAndUser over ${USERS} users and sessions`);
  log(`node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(`better-sqlite3 SQLite ${new Database(':memory:').prepare('select sqlite_version() v').get().v}; noormd ${NOORMD}`);
  log(`runs ${RUNS} x (${WARMUP} s warmup + ${DURATION} s measured) per cell; in flight: ${CONCS.join(', ')}; client poolSize ${POOL ?? 'default (4)'}`);
  if (!globalThis.gc) log('(run with --expose-gc to collect garbage before each cell)');

  for (let i = 0; i < ORDER.length; i++) ORDER[i] = (Math.random() * 0x100000000) >>> 0;
  const data = makeData();
  const tokens = data.sessions.map((s) => s.sessionToken);

  // SQLite files for the in-process contenders.
  let t = Date.now();
  const kdb = openSqlite(join(dir, 'kysely.db'), KYSELY_SCHEMA);
  loadKysely(kdb, data);
  const ddb = openSqlite(join(dir, 'drizzle.db'), DRIZZLE_SCHEMA);
  loadDrizzle(ddb, data);
  log(`loaded the two SQLite files (better-sqlite3, one transaction each) in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const kysely = KyselyAdapter(new Kysely({ dialect: new SqliteDialect({ database: kdb }) }));
  const drz = DrizzleAdapter(drizzle(ddb));
  // The raw contender: the same join as the Drizzle adapter's, prepared once,
  // its row shaped into what an adapter returns.
  const rawStmt = ddb.prepare(
    'SELECT s."sessionToken", s."userId", s."expires", u."id", u."name", u."email", u."emailVerified", u."image" ' +
      'FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."sessionToken" = ?',
  );
  const raw = async (token) => {
    const r = rawStmt.get(token);
    if (r === undefined) return null;
    return {
      session: { sessionToken: r.sessionToken, userId: r.userId, expires: new Date(r.expires) },
      user: {
        id: r.id,
        name: r.name,
        email: r.email,
        emailVerified: r.emailVerified === null ? null : new Date(r.emailVerified),
        image: r.image,
      },
    };
  };

  // noormd, loaded through the adapter itself.
  await startServer();
  const client = createClient({ socketPath: sock, ...(POOL ? { poolSize: POOL } : {}) });
  const noormme = NoormmeAdapter({ client });
  t = Date.now();
  await loadNoormd(noormme, data);
  const loadS = (Date.now() - t) / 1000;
  log(`loaded noormd through NoormmeAdapter (createUser + createSession, ${LOAD_DEPTH} in flight) in ${loadS.toFixed(1)} s: ${Math.round((2 * USERS) / loadS)} writes/s`);
  // Past --checkpoint-idle-ms (1 s) the writer folds the WAL into the database.
  await sleep(2000);

  let altClient = null;
  let alt = null;
  if (env.BENCH_ALT_CLIENT) {
    const m = await import(resolve(env.BENCH_ALT_CLIENT));
    altClient = m.createClient({ socketPath: sock, ...(POOL ? { poolSize: POOL } : {}) });
    alt = m.NoormmeAdapter({ client: altClient });
    log(`noormd-alt: the same adapter calls through ${resolve(env.BENCH_ALT_CLIENT)}`);
  }

  const contenders = {
    noormd: (tok) => noormme.getSessionAndUser(tok),
    ...(alt ? { 'noormd-alt': (tok) => alt.getSessionAndUser(tok) } : {}),
    kysely: (tok) => kysely.getSessionAndUser(tok),
    drizzle: (tok) => drz.getSessionAndUser(tok),
    raw,
    ping: () => client.call('server.ping'),
  };
  for (const k of Object.keys(contenders)) if (!ONLY.includes(k)) delete contenders[k];

  // Every contender must give the same answers.
  for (let i = 0; i < 200; i++) {
    const k = (Math.random() * USERS) | 0;
    const want = normal({ session: data.sessions[k], user: data.users[k] });
    for (const [name, fn] of Object.entries(contenders)) {
      if (name === 'ping') continue;
      const got = normal(await fn(tokens[k]));
      if (got !== want) throw new Error(`${name} disagrees for session ${k}:\n got  ${got}\n want ${want}`);
    }
  }
  for (const [name, fn] of Object.entries(contenders))
    if (name !== 'ping' && (await fn('no-such-token')) !== null) throw new Error(`${name}: unknown token is not null`);
  log('checked: all contenders return the same session and user for 200 random tokens, null for an unknown one');
  log('');

  const names = Object.keys(contenders);
  const results = {}; // results[conc][name] = [run...]
  const loads = [];
  for (let run = 1; run <= RUNS; run++) {
    const waited = await waitQuiet();
    const la = loadavg();
    loads.push(la[0]);
    log(`== run ${run}/${RUNS}  (load average ${la.map((x) => x.toFixed(2)).join(' ')}${waited ? `; waited ${waited.toFixed(0)} s for other benchmarks` : ''})`);
    // Rotate the order per run, so no contender always goes first.
    const order = names.map((_, i) => names[(i + run - 1) % names.length]);
    for (const conc of CONCS) {
      results[conc] ??= {};
      for (const name of order) {
        const prof = env.BENCH_PROFILE ? new Session() : null;
        if (prof) {
          prof.connect();
          await prof.post('Profiler.enable');
          await prof.post('Profiler.start');
        }
        const r = await cell(contenders[name], tokens, conc);
        if (prof) {
          const { profile } = await prof.post('Profiler.stop');
          writeFileSync(join(env.BENCH_PROFILE, `${name}-${conc}-run${run}.cpuprofile`), JSON.stringify(profile));
          prof.disconnect();
        }
        (results[conc][name] ??= []).push(r);
        log(
          `   ${name.padEnd(10)} ${String(conc).padStart(2)} in flight: ${Math.round(r.ops).toString().padStart(8)} ops/s` +
            `  p50 ${r.p50.toFixed(1).padStart(7)} us  p99 ${r.p99.toFixed(1).padStart(7)} us  p99.9 ${r.p999.toFixed(1).padStart(7)} us` +
            `  cpu%: node ${r.nodeCpu.toFixed(0)} noormd ${r.srvCpu.toFixed(0)} other ${r.other.toFixed(0)}${r.misses ? `  MISSES ${r.misses}` : ''}` +
            (r.starved ? `  STARVED ${r.starved}/${conc} loops completed no call in the window (longest wait ${(r.waitMax / 1000).toFixed(0)} ms)` : ''),
        );
        if (r.misses) throw new Error(`${name}: ${r.misses} calls found no session`);
      }
    }
  }

  // Medians per figure, and the ratios (median over runs of the per-run ratio).
  log('');
  log(`median of ${RUNS} runs`);
  log('contender  in flight     ops/s    p50 us    p99 us  p99.9 us  node cpu%  noormd cpu%  other cpu%  starved');
  const med = {};
  for (const conc of CONCS) {
    for (const name of names) {
      const rs = results[conc]?.[name];
      if (!rs) continue;
      const m = {
        ops: median(rs.map((r) => r.ops)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        p999: median(rs.map((r) => r.p999)),
        nodeCpu: median(rs.map((r) => r.nodeCpu)),
        srvCpu: median(rs.map((r) => r.srvCpu)),
        other: median(rs.map((r) => r.other)),
        starved: median(rs.map((r) => r.starved)),
      };
      (med[conc] ??= {})[name] = m;
      log(
        `${name.padEnd(10)} ${String(conc).padStart(9)} ${Math.round(m.ops).toString().padStart(9)} ${m.p50.toFixed(1).padStart(9)}` +
          ` ${m.p99.toFixed(1).padStart(9)} ${m.p999.toFixed(1).padStart(9)} ${m.nodeCpu.toFixed(0).padStart(10)} ${m.srvCpu.toFixed(0).padStart(12)} ${m.other.toFixed(0).padStart(11)} ${String(m.starved).padStart(8)}`,
      );
    }
  }
  const perRun = (conc, a, b, f) => {
    const ra = results[conc]?.[a];
    const rb = results[conc]?.[b];
    if (!ra || !rb) return NaN;
    return median(ra.map((r, i) => f(r, rb[i])));
  };
  const ratios = {
    'noormd/raw ops/s at 64': [perRun(64, 'noormd', 'raw', (a, b) => a.ops / b.ops), '>=', 1.0],
    'noormd/kysely ops/s at 64': [perRun(64, 'noormd', 'kysely', (a, b) => a.ops / b.ops), '>=', 4.0],
    'noormd/drizzle ops/s at 64': [perRun(64, 'noormd', 'drizzle', (a, b) => a.ops / b.ops), null, null],
    'noormd/raw ops/s at 1': [perRun(1, 'noormd', 'raw', (a, b) => a.ops / b.ops), null, null],
    'noormd/kysely ops/s at 1': [perRun(1, 'noormd', 'kysely', (a, b) => a.ops / b.ops), null, null],
    'noormd/drizzle ops/s at 1': [perRun(1, 'noormd', 'drizzle', (a, b) => a.ops / b.ops), null, null],
    'noormd p50 / ping p50 at 1': [perRun(1, 'noormd', 'ping', (a, b) => a.p50 / b.p50), '<=', 1.3],
  };
  log('');
  log('ratios (median over runs of the per-run ratio)');
  for (const [k, [v, op, goal]] of Object.entries(ratios)) {
    if (!Number.isFinite(v)) continue;
    const verdict = op === null ? '' : (op === '>=' ? v >= goal : v <= goal) ? `goal ${op} ${goal}: meets` : `goal ${op} ${goal}: MISSES`;
    log(`  ${k.padEnd(28)} ${v.toFixed(2).padStart(6)}  ${verdict}`);
  }
  log(`load average (1 min) at the start of each run: ${loads.map((x) => x.toFixed(2)).join(', ')}; total ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  // noormd's own view: dispatch to reply built, over every call of the run.
  const st = await client.call('server.stats');
  for (const m of ['auth.getSessionAndUser', 'server.ping']) {
    const e = st?.methods?.[m];
    if (e) log(`noormd server.stats ${m}: ${e.count} calls, server-side p50 ${e.p50_us.toFixed(1)} us, p99 ${e.p99_us.toFixed(1)} us`);
  }

  if (env.BENCH_JSON)
    writeFileSync(env.BENCH_JSON, JSON.stringify({ users: USERS, runs: RUNS, duration: DURATION, warmup: WARMUP, loadS, results, median: med, ratios, loads }, null, 1));

  await client.close();
  if (altClient) await altClient.close();
  await stopServer();
  if (serverLog.trim()) log(`noormd log:\n${serverLog}`);
  kdb.close();
  ddb.close();
}

// A hard bound on the whole run, on top of run.sh's timeout.
const cells = RUNS * CONCS.length * ONLY.length;
const bound = setTimeout(() => {
  console.error('run.mjs: time bound exceeded; stopping');
  process.exit(2);
}, (300 + cells * (WARMUP + DURATION + 10)) * 1000);
bound.unref();

main().then(
  () => clearTimeout(bound),
  (err) => {
    console.error(err);
    process.exitCode = 1;
    return stopServer().catch(() => {});
  },
);
