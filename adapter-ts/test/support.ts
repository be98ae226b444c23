/* support.ts - starts a real noormd-test for a test file: a private temporary
 * directory holding the socket, the database and a fresh master key; stop,
 * SIGKILL and restart on the same files. The binary is $NOORMD_BIN, default
 * ../build/noormd-test relative to adapter-ts. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** adapter-ts/, from dist-test/support.js. */
export const PACKAGE_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)));

export const NOORMD_BIN = resolve(PACKAGE_DIR, process.env['NOORMD_BIN'] ?? '../build/noormd-test');

export class TestServer {
  readonly dir: string;
  readonly socketPath: string;
  readonly dbPath: string;
  readonly keyPath: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Everything the server wrote to stderr, for failure reports. */
  log = '';

  constructor(private readonly extraArgs: readonly string[] = []) {
    if (!existsSync(NOORMD_BIN))
      throw new Error(`noormd-test not found at ${NOORMD_BIN}: build it (make build) or set NOORMD_BIN`);
    this.dir = mkdtempSync(join(tmpdir(), 'noormme-ts-'));
    this.socketPath = join(this.dir, 'noormd.sock');
    this.dbPath = join(this.dir, 'noormme.db');
    this.keyPath = join(this.dir, 'master.key');
    writeFileSync(this.keyPath, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  }

  /** Starts the server and waits until its socket accepts connections. */
  async start(): Promise<void> {
    if (this.child) throw new Error('server already running');
    const child = spawn(
      NOORMD_BIN,
      [
        '--socket', this.socketPath,
        '--db', this.dbPath,
        '--key-file', this.keyPath,
        '--log-level', 'warn',
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      if (this.log.length < 1 << 20) this.log += s;
    });
    this.exited = new Promise((done) => child.once('exit', () => done()));
    let gone = false;
    void this.exited.then(() => {
      gone = true;
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (gone) throw new Error(`noormd-test exited during start:\n${this.log}`);
      if (await canConnect(this.socketPath)) return;
      if (Date.now() > deadline) throw new Error(`noormd-test did not listen within 10 s:\n${this.log}`);
      await sleep(20);
    }
  }

  /** SIGKILL: no shutdown at all, as in a crash. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM: the graceful shutdown. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(sig);
    await this.exited;
    this.child = null;
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a server; the caller disposes of it. */
export async function startServer(extraArgs: readonly string[] = []): Promise<TestServer> {
  const s = new TestServer(extraArgs);
  await s.start();
  return s;
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((done) => {
    const sock = connect({ path });
    sock.once('connect', () => {
      sock.destroy();
      done(true);
    });
    sock.once('error', () => done(false));
  });
}

/** The environment for child node processes: without the test runner's
 * NODE_TEST_CONTEXT, which would make a child behave as a test file (and
 * hold its stdout open). */
export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A string unique within the test run, for ids and emails. */
let counter = 0;
export function unique(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** The package as `import('@noormme/client')` types it. */
export type Package = typeof import('@noormme/client');

const requireCjs = createRequire(import.meta.url);
const CJS_DIR = join(PACKAGE_DIR, 'dist/cjs') + '/';

/** A new copy of the package, as after a hot reload: every module of the
 * CommonJS build is evaluated again (its dependencies are not). */
export function freshCopy(): Package {
  for (const id of Object.keys(requireCjs.cache)) if (id.startsWith(CJS_DIR)) delete requireCjs.cache[id];
  return requireCjs('@noormme/client') as Package;
}
