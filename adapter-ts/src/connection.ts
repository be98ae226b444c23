/* connection.ts - the pool of Unix-socket connections to noormd, and the
 * per-process registry that gives every client and adapter for the same
 * socket one shared pool.
 *
 * Each connection pipelines any number of requests and matches replies by
 * msgid (one uint32 counter for the pool, wrapping). Requests made in the
 * same tick are written to a connection in one write. Connections are opened
 * on demand (nothing connects at import or construction time, so `next build`
 * never needs a server), and opened again with backoff after noormd restarts.
 *
 * Sharing: createClient() and NoormmeAdapter() take a handle (PoolUser) on
 * the pool registered on globalThis for their socket path, so the clients a
 * `next dev` hot reload creates again and again reuse the same connections.
 * Closing a handle rejects only that handle's calls; closing the last one
 * closes the pool. Sockets are unref'd (an idle pool never keeps Node
 * running) and closed after idleTimeoutMs without calls.
 *
 * A connection is used only after the server has answered on it: the first
 * message on a new socket is a server.ping. noormd refuses a connection at
 * its connection limit or while shutting down with a server.error
 * notification and runs nothing sent on it; since no call was written to
 * it, a refusal is just a failed connect (backoff, then again), never a call
 * of unknown outcome.
 *
 * Failure rules, so that nothing hangs and nothing is guessed:
 * - every request has a timeout; a reply that comes after it is ignored;
 * - a request is "sent" once handed to the socket. Writes stop while the
 *   socket is backed up (write() returned false) until 'drain'; a request
 *   that times out before it was written is never sent;
 * - a connection that drops rejects the requests written to it and not
 *   answered with NoormmeConnectionError (requestSent: true; retriable only
 *   for methods that only read: a write may have run). Requests not yet
 *   written wait for the next connection, within their timeout;
 * - a `server.error` notification takes the connection out of use; the
 *   requests the server still answers resolve. After TOO_MANY_CONNECTIONS,
 *   SHUTTING_DOWN or IDLE_TIMEOUT the server has run none of the others:
 *   they are sent again on another connection. After any other protocol
 *   error the rest reject with that error when the connection closes;
 * - closing rejects everything pending and leaves no socket or timer behind.
 */
import type { Socket } from 'node:net';
import { Decoder, Encoder } from '@msgpack/msgpack';

import {
  NoormmeConnectionError,
  NoormmeTimeoutError,
  type ClientErrorOptions,
  type NoormmeError,
} from './errors-base.js';
import { errorFromWire } from './errors.js';
import { MessageTooLargeError } from './errors.generated.js';
import { frameLength } from './frame.js';
import { METHODS } from './methods.generated.js';
import { loadNet, type NetModule } from './runtime.js';

/** Settings of the pool itself, shared by every client using it. */
export interface PoolOptions {
  /** Path of noormd's Unix socket (noormd `--socket`). */
  socketPath: string;
  /** Connections opened at most; more open only while requests overlap.
   * Default 4. A shared pool keeps the largest size any client asked for. */
  poolSize?: number;
  /** First delay before reconnecting after a failed connect, doubled per
   * failure up to reconnectMaxMs. Defaults 50 and 2000. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** A connection without calls for this long is closed (and opened again by
   * the next call). 0: never. Default 30000. */
  idleTimeoutMs?: number;
}

/** Settings of one client's handle on a pool. */
export interface UserOptions {
  /** Milliseconds a call may take, waiting for a connection included. Default 5000. */
  timeoutMs?: number;
  /** Largest request sent; bigger ones fail here with MessageTooLargeError
   * instead of costing the connection. Match noormd's --max-message. Default 1 MiB. */
  maxMessageBytes?: number;
}

/** A snapshot of the pool, for health checks and tests. */
export interface PoolStats {
  /** Connections open and usable. */
  open: number;
  /** Connections being established (connecting, or waiting for the server's
   * first answer). */
  connecting: number;
  /** Requests written and waiting for their reply. */
  inFlight: number;
  /** Requests waiting for a connection. */
  waiting: number;
  /** Requests waiting to be written because the socket is backed up. */
  queued: number;
  /** Replies that arrived after their request had timed out (ignored). */
  lateReplies: number;
  /** Clients and adapters holding this pool (not closed yet). */
  handles: number;
}

/** Options tests use to reach corners; not part of the public API. */
export interface PoolTestHooks {
  /** The first msgid to use (to exercise wrapping). */
  firstMsgid?: number;
}

/**
 * Makes the errors a call rejects with. A shared pool may have been created
 * by another copy of this module (a hot reload evaluates the package again),
 * so each handle brings the classes of the copy its caller imported, and
 * `instanceof` works against the classes the caller sees.
 */
export interface ErrorKit {
  fromWire(wire: unknown): NoormmeError;
  connection(message: string, options: ClientErrorOptions): NoormmeError;
  timeout(message: string, requestSent: boolean, options: Omit<ClientErrorOptions, 'requestSent'>): NoormmeError;
  tooLarge(message: string): NoormmeError;
}

/** This module's error classes. */
export const ERROR_KIT: ErrorKit = {
  fromWire: errorFromWire,
  connection: (message, options) => new NoormmeConnectionError(message, options),
  timeout: (message, sent, options) => new NoormmeTimeoutError(message, sent, options),
  tooLarge: (message) => new MessageTooLargeError(message),
};

interface Request {
  readonly msgid: number;
  readonly method: string;
  readonly bytes: Uint8Array;
  readonly user: PoolUser;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
  /** The connection holding it (in any of its queues). */
  conn: Connection | null;
  /** Handed to the socket: the server may have run it. */
  sent: boolean;
  settled: boolean;
}

type ConnState = 'down' | 'connecting' | 'handshake' | 'open' | 'draining';

/** Protocol errors after which the server has run nothing it did not answer,
 * and none of those requests was at fault: they may go out again. */
const NOT_RUN_NOTICES: ReadonlySet<string> = new Set(['TOO_MANY_CONNECTIONS', 'SHUTTING_DOWN', 'IDLE_TIMEOUT']);

/** Bytes written per socket.write at most, so that backpressure is felt
 * between batches rather than after everything was handed over. */
const WRITE_BATCH_BYTES = 64 * 1024;

/** Why a connection could not be used (kept to explain later timeouts). */
interface ConnectFailure {
  /** The server.error notification's error object, if one came. */
  readonly notice: unknown;
  /** The socket's error (ECONNREFUSED, ENOENT, EPIPE, ...), if any. */
  readonly error: (Error & { code?: string }) | null;
  /** True when the socket had connected (the server accepted, then closed). */
  readonly connected: boolean;
}

/** True for the methods that only read (loop and pool classes): those are
 * safe to send again when their outcome is unknown. Methods missing from the
 * table (noormd-test's test.*) count as writes. */
export function isReadOnly(method: string): boolean {
  const spec = (METHODS as Readonly<Record<string, { execClass: string } | undefined>>)[method];
  return spec !== undefined && spec.execClass !== 'writer';
}

/** The NAME of a wire error object, if it has one. */
function noticeName(notice: unknown): string | null {
  return Array.isArray(notice) && typeof notice[1] === 'string' ? notice[1] : null;
}

/** One socket and the requests on it. */
class Connection {
  state: ConnState = 'down';
  private socket: Socket | null = null;
  /** Sent, waiting for the reply, by msgid. */
  readonly inFlight = new Map<number, Request>();
  /** Queued for the next write (state open). */
  private outbox: Request[] = [];
  private flushScheduled = false;
  /** socket.write returned false: wait for 'drain' before writing more. */
  private blocked = false;
  /** Waiting for the connection to open (state connecting, handshake or down). */
  readonly waiting = new Set<Request>();
  private rbuf: Buffer | null = null;
  private decoder = new Decoder();
  /** The msgid of the server.ping sent first on this socket; -1: none. */
  handshakeId = -1;
  /** The server answered on this socket (the handshake). */
  private served = false;
  /** The server.error notification's error object, if one came. */
  private notice: unknown = null;
  /** Set when the server sent bytes that are not a valid message. */
  private corrupt: Error | null = null;
  private socketError: (Error & { code?: string }) | null = null;
  /** Consecutive failed connects, for the backoff. */
  private failures = 0;
  private lastFailure: ConnectFailure | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private closedWaiters: Array<() => void> = [];

  constructor(private readonly pool: Pool) {}

  /** Requests on this connection that are not settled yet. */
  get load(): number {
    return this.inFlight.size + this.outbox.length + this.waiting.size;
  }

  get queued(): number {
    return this.outbox.length;
  }

  get hasFailed(): boolean {
    return this.failures > 0;
  }

  /** Takes a request: written this tick when open, else kept until open. */
  submit(req: Request): void {
    req.conn = this;
    if (this.state === 'open') {
      this.outbox.push(req);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(() => this.flush());
      }
      return;
    }
    this.waiting.add(req);
    if (this.state === 'down' && this.retryTimer === null) this.connect();
  }

  /** Forgets a request that timed out or was cancelled; cancels a pending
   * reconnect nobody waits for any more. */
  forget(req: Request): void {
    if (this.inFlight.get(req.msgid) === req) this.inFlight.delete(req.msgid);
    else if (!this.waiting.delete(req)) {
      const i = this.outbox.indexOf(req);
      if (i >= 0) this.outbox.splice(i, 1);
    }
    if (this.waiting.size === 0 && this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.load === 0) this.armIdle();
  }

  /** Why requests waiting here could not be sent: a sentence and the error
   * behind it, or null when no connect has failed. */
  describeFailure(kit: ErrorKit): { reason: string; cause: unknown } | null {
    const f = this.lastFailure;
    if (f === null) return null;
    if (f.notice !== null) {
      const err = kit.fromWire(f.notice);
      return { reason: `noormd refused the connection: ${err.code}, ${err.message}`, cause: err };
    }
    const code = f.error?.code;
    if (f.connected) {
      return {
        reason:
          `noormd closed the connection as soon as it accepted it${code ? ` (${code})` : ''}; ` +
          'it does so at its --max-connections limit and while shutting down',
        cause: f.error ?? undefined,
      };
    }
    const hint =
      code === 'ENOENT'
        ? 'no socket file: is noormd running with this --socket?'
        : code === 'ECONNREFUSED'
          ? 'nothing listens on the socket: is noormd running?'
          : code === 'EACCES'
            ? 'no permission to use the socket (noormd creates it with mode 0660)'
            : (f.error?.message ?? 'the connection failed');
    return { reason: code ? `${code}: ${hint}` : hint, cause: f.error ?? undefined };
  }

  private flush(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (this.state !== 'open' || socket === null) {
      // Dropped before the write: these were never sent, wait for a new connection.
      const unsent = this.outbox;
      this.outbox = [];
      for (const req of unsent) if (!req.settled) this.pool.resubmit(req);
      return;
    }
    let i = 0;
    while (!this.blocked && i < this.outbox.length) {
      const chunks: Uint8Array[] = [];
      let size = 0;
      while (i < this.outbox.length && size < WRITE_BATCH_BYTES) {
        const req = this.outbox[i++]!;
        if (req.settled) continue;
        req.sent = true;
        this.inFlight.set(req.msgid, req);
        chunks.push(req.bytes);
        size += req.bytes.length;
      }
      if (chunks.length === 0) break;
      const ok = socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      if (!ok) this.blocked = true;
    }
    this.outbox = i === this.outbox.length ? [] : this.outbox.slice(i);
  }

  private connect(): void {
    this.state = 'connecting';
    this.notice = null;
    this.corrupt = null;
    this.socketError = null;
    this.served = false;
    this.blocked = false;
    this.rbuf = null;
    this.decoder = new Decoder();
    const socket = this.pool.net.createConnection({ path: this.pool.socketPath });
    this.socket = socket;
    // Pending calls keep Node alive through their timers; the socket itself never does.
    socket.unref();
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      this.state = 'handshake';
      // 'connect' runs before the event loop has polled the new socket, and
      // noormd refuses a connection within microseconds of accepting it.
      // Two setImmediate hops put one poll phase in between: a refusal is
      // then read before anything is written, instead of the write failing
      // with EPIPE and Node discarding the unread notification.
      setImmediate(() => setImmediate(() => this.sendHandshake(socket)));
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (this.socket !== socket) return;
      this.blocked = false;
      this.flush();
    });
    socket.on('error', (err: Error) => {
      this.socketError = err;
    });
    socket.on('close', () => this.onClose(socket, connected));
  }

  /** Writes the server.ping that must be answered before calls are written. */
  private sendHandshake(socket: Socket): void {
    if (this.socket !== socket || this.state !== 'handshake') return;
    this.handshakeId = this.pool.takeMsgid();
    socket.write(this.pool.encodeRequest(this.handshakeId, 'server.ping', undefined));
  }

  /** The server answered the handshake: the connection is usable. */
  private onServed(): void {
    this.handshakeId = -1;
    this.served = true;
    this.failures = 0;
    this.lastFailure = null;
    this.state = 'open';
    const ready = [...this.waiting];
    this.waiting.clear();
    for (const req of ready) this.submit(req);
    if (this.load === 0) this.armIdle();
  }

  private onData(chunk: Buffer): void {
    let buf = this.rbuf === null ? chunk : Buffer.concat([this.rbuf, chunk]);
    let off = 0;
    try {
      while (off < buf.length) {
        const n = frameLength(buf, off);
        if (n === 0) break;
        const msg = this.decoder.decode(buf.subarray(off, off + n));
        off += n;
        this.onMessage(msg);
      }
    } catch (err) {
      this.corrupt = err as Error;
      this.socket?.destroy();
      return;
    }
    buf = off === buf.length ? buf.subarray(0, 0) : buf.subarray(off);
    // Keep only the unread tail, not the whole chunk it came in.
    this.rbuf = buf.length === 0 ? null : off === 0 ? buf : Buffer.from(buf);
  }

  private onMessage(msg: unknown): void {
    if (Array.isArray(msg) && msg.length === 4 && msg[0] === 1 && typeof msg[1] === 'number') {
      if (msg[1] === this.handshakeId && this.state === 'handshake') {
        // Any answer, even an error, shows that the server serves this socket.
        this.onServed();
        return;
      }
      const req = this.inFlight.get(msg[1]);
      if (!req) {
        this.pool.lateReplies++;
        return;
      }
      this.inFlight.delete(msg[1]);
      if (msg[2] === null || msg[2] === undefined) this.pool.settle(req, null, msg[3]);
      else this.pool.settle(req, req.user.kit.fromWire(msg[2]), undefined);
      if (this.load === 0) this.armIdle();
      return;
    }
    if (Array.isArray(msg) && msg.length === 3 && msg[0] === 2 && msg[1] === 'server.error') {
      // The server will answer what it already accepted, then close: stop
      // sending here, half-close so it can finish, and keep reading.
      const params: unknown = msg[2];
      this.notice = Array.isArray(params) ? params[0] : params;
      this.state = 'draining';
      this.socket?.end();
      return;
    }
    throw new Error('a message that is neither a response nor server.error');
  }

  /** Closes the socket after `idleTimeoutMs` without requests. */
  private armIdle(): void {
    const ms = this.pool.idleTimeoutMs;
    if (ms === 0 || this.state !== 'open') return;
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        // Busy again: the moment it next becomes idle arms a new timer.
        if (this.state !== 'open' || this.load > 0) return;
        this.state = 'draining';
        this.socket?.destroy();
      }, ms);
      this.idleTimer.unref();
    } else {
      this.idleTimer.refresh();
    }
  }

  /** The error for a request written to a connection that closed unanswered. */
  private lostError(req: Request): Error {
    const kit = req.user.kit;
    if (this.notice !== null) return kit.fromWire(this.notice);
    const readOnly = isReadOnly(req.method);
    const outcome = readOnly
      ? `${req.method} only reads: it can be sent again`
      : `it may or may not have run (retry reads; retry writes only if idempotent)`;
    if (this.corrupt !== null) {
      return kit.connection(
        `noormd sent bytes that are not a valid message: ${this.corrupt.message}; ` +
          `${req.method} was not answered and ${outcome}`,
        { retriable: readOnly, requestSent: true, cause: this.corrupt },
      );
    }
    const why = this.socketError?.code ?? 'noormd closed it';
    return kit.connection(
      `the connection to noormd at ${this.pool.socketPath} closed before ${req.method} was answered (${why}); ${outcome}`,
      { retriable: readOnly, requestSent: true, cause: this.socketError ?? undefined },
    );
  }

  private onClose(socket: Socket, connected: boolean): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.state = 'down';
    this.handshakeId = -1;
    this.blocked = false;
    this.rbuf = null;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const served = this.served;
    this.served = false;
    const noticeCode = noticeName(this.notice);
    const notRun = noticeCode !== null && NOT_RUN_NOTICES.has(noticeCode);
    if (this.inFlight.size > 0) {
      const lost = [...this.inFlight.values()];
      this.inFlight.clear();
      for (const req of lost) {
        if (req.settled) continue;
        if (notRun) {
          // The server ran none of them: they go out again, as never sent.
          req.sent = false;
          this.waiting.add(req);
        } else {
          this.pool.settle(req, this.lostError(req), undefined);
        }
      }
    }
    // Unsent requests were never seen by the server: they wait for the next
    // connection (this one again, after a backoff when connecting failed).
    for (const req of this.outbox) if (!req.settled) this.waiting.add(req);
    this.outbox = [];
    if (!served) {
      this.failures++;
      this.lastFailure = { notice: this.notice, error: this.socketError, connected };
    }
    this.notice = null;
    this.corrupt = null;
    this.socketError = null;
    for (const w of this.closedWaiters.splice(0)) w();
    if (this.pool.closed || this.waiting.size === 0) return;
    if (!served && this.pool.hasOpenConnection()) {
      // Another connection works: use it rather than wait for this one.
      const moved = [...this.waiting];
      this.waiting.clear();
      for (const req of moved) this.pool.resubmit(req);
      return;
    }
    if (this.failures === 0) {
      this.connect();
      return;
    }
    const base = Math.min(this.pool.reconnectMaxMs, this.pool.reconnectMinMs * 2 ** (this.failures - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.pool.closed && this.waiting.size > 0 && this.state === 'down') this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  /** Ends the socket and timers; resolves once the socket has closed. */
  shutdown(): Promise<void> {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const socket = this.socket;
    if (socket === null) return Promise.resolve();
    return new Promise((resolve) => {
      this.closedWaiters.push(resolve);
      socket.destroy();
    });
  }

  /** Every request that is not settled, in any queue. */
  pendingRequests(): Request[] {
    return [...this.inFlight.values(), ...this.outbox, ...this.waiting];
  }
}

/** One client's (or adapter's) hold on a pool: its own timeout and size
 * limit, its own pending calls, closed on its own. */
export class PoolUser {
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  /** Calls made through this handle and not settled. */
  readonly pending = new Set<Request>();
  /** How the pool holds this handle: weakly, see Pool.users. */
  readonly ref: WeakRef<PoolUser> = new WeakRef(this);
  closed = false;
  private closing: Promise<void> | null = null;

  constructor(
    readonly pool: Pool,
    options: UserOptions,
    readonly kit: ErrorKit,
  ) {
    // setTimeout fires at once for delays past 2^31 - 1 ms: cap there (~24 days).
    this.timeoutMs = Math.min(positive('timeoutMs', options.timeoutMs, 5000), 2 ** 31 - 1);
    this.maxMessageBytes = positive('maxMessageBytes', options.maxMessageBytes, 1024 * 1024);
  }

  get socketPath(): string {
    return this.pool.socketPath;
  }

  /** Sends `method` with named `params`; resolves with the result or rejects
   * with a NoormmeError (or a TypeError for a value msgpack cannot encode). */
  call(method: string, params?: Readonly<Record<string, unknown>>): Promise<unknown> {
    return this.pool.call(this, method, params);
  }

  stats(): PoolStats {
    return this.pool.stats();
  }

  /** Rejects this handle's pending calls; closes the pool when no other
   * handle holds it. Safe to call twice. */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.pool.release(this);
    return this.closing;
  }
}

/** The pool: routes calls to connections, owns msgids and timeouts. */
export class Pool {
  readonly socketPath: string;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly idleTimeoutMs: number;
  readonly net: NetModule;
  closed = false;
  lateReplies = 0;
  private readonly conns: Connection[];
  /** The handles holding the pool, weakly: a hot reload drops its old
   * clients without closing them, and a handle that was garbage-collected
   * (it had no pending call, or it would still be reachable) counts as
   * closed, so neither the count nor old copies of the package pile up. */
  private readonly users = new Set<WeakRef<PoolUser>>();
  private readonly finalizer = new FinalizationRegistry<WeakRef<PoolUser>>((ref) => this.dropUser(ref));
  private nextMsgid: number;
  private readonly encoder = new Encoder({ ignoreUndefined: true });
  /** Request heads by method name: see head(). */
  private readonly heads = new Map<string, Uint8Array>();
  /** Called once when the pool closes (the registry forgets it). */
  onClosed: (() => void) | null = null;

  /** Throws the runtime Error where node:net is missing (the Edge runtime),
   * or a TypeError for an invalid option. */
  constructor(options: PoolOptions, hooks: PoolTestHooks = {}) {
    const s = poolSettings(options);
    this.net = loadNet();
    this.socketPath = options.socketPath;
    this.reconnectMinMs = s.reconnectMinMs;
    this.reconnectMaxMs = s.reconnectMaxMs;
    this.idleTimeoutMs = s.idleTimeoutMs;
    this.conns = Array.from({ length: s.poolSize }, () => new Connection(this));
    this.nextMsgid = (hooks.firstMsgid ?? 0) >>> 0;
  }

  get poolSize(): number {
    return this.conns.length;
  }

  /** A new handle on this pool. A larger poolSize than the pool has adds
   * connections; the pool never shrinks while in use. */
  acquire(options: UserOptions & { poolSize?: number } = {}, kit: ErrorKit = ERROR_KIT): PoolUser {
    if (this.closed) throw new Error('@noormme/client: this pool is closed');
    const user = new PoolUser(this, options, kit);
    const size = options.poolSize ?? 0;
    while (this.conns.length < size) this.conns.push(new Connection(this));
    this.users.add(user.ref);
    this.finalizer.register(user, user.ref, user.ref);
    return user;
  }

  /** A handle was garbage-collected: as if closed. */
  private dropUser(ref: WeakRef<PoolUser>): void {
    if (this.users.delete(ref) && this.users.size === 0 && !this.closed) void this.close();
  }

  /** Sends a call for `user`; see PoolUser.call. */
  call(user: PoolUser, method: string, params?: Readonly<Record<string, unknown>>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closed || user.closed) {
        reject(user.kit.connection('the noormd client is closed', { retriable: false }));
        return;
      }
      const msgid = this.takeMsgid();
      let bytes: Uint8Array;
      try {
        bytes = this.encodeRequest(msgid, method, params);
      } catch (err) {
        reject(new TypeError(`cannot encode the arguments of ${method}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      if (bytes.length > user.maxMessageBytes) {
        reject(
          user.kit.tooLarge(
            `the ${method} request is ${bytes.length} bytes; the limit (maxMessageBytes) is ${user.maxMessageBytes}`,
          ),
        );
        return;
      }
      const req: Request = {
        msgid,
        method,
        bytes,
        user,
        resolve,
        reject,
        timer: null,
        conn: null,
        sent: false,
        settled: false,
      };
      req.timer = setTimeout(() => this.expire(req), user.timeoutMs);
      user.pending.add(req);
      this.route(req);
    });
  }

  /**
   * The request [0, msgid, method, [params]] as bytes. The head (array of 4,
   * type 0, msgid as a uint32, the method name) is encoded once per method
   * and copied, with the msgid written in; only the params are encoded per
   * call, straight from the encoder's buffer into the request's.
   */
  encodeRequest(msgid: number, method: string, params: Readonly<Record<string, unknown>> | undefined): Uint8Array {
    const head = this.head(method);
    const body = params === undefined ? null : this.encoder.encodeSharedRef(params);
    const bytes = Buffer.allocUnsafe(head.length + 1 + (body === null ? 0 : body.length));
    bytes.set(head, 0);
    bytes.writeUInt32BE(msgid, 3);
    bytes[head.length] = body === null ? 0x90 : 0x91; // fixarray of 0 or 1
    if (body !== null) bytes.set(body, head.length + 1);
    return bytes;
  }

  /** [0x94, 0x00, 0xce, msgid (4 bytes, patched per call), method as str]. At
   * most 256 method names are kept, so arbitrary names cannot grow the map. */
  private head(method: string): Uint8Array {
    let h = this.heads.get(method);
    if (h === undefined) {
      const name = this.encoder.encode(method);
      h = new Uint8Array(7 + name.length);
      h[0] = 0x94; // fixarray of 4
      h[1] = 0x00; // type: request
      h[2] = 0xce; // uint32 msgid
      h.set(name, 7);
      if (this.heads.size < 256) this.heads.set(method, h);
    }
    return h;
  }

  /** Wraps at 2^32; skips an id still waiting for its reply. */
  takeMsgid(): number {
    for (;;) {
      const id = this.nextMsgid;
      this.nextMsgid = (this.nextMsgid + 1) >>> 0;
      if (!this.conns.some((c) => c.inFlight.has(id) || c.handshakeId === id)) return id;
    }
  }

  hasOpenConnection(): boolean {
    return this.conns.some((c) => c.state === 'open');
  }

  /**
   * Picks a connection: an idle open one; else a connection not opened yet
   * (so overlapping calls spread over the pool); else the least loaded open
   * one; else the least loaded one that is connecting or backing off.
   */
  private route(req: Request): void {
    let best: Connection | null = null;
    for (const c of this.conns) if (c.state === 'open' && (best === null || c.load < best.load)) best = c;
    if (best === null || best.load > 0) {
      const fresh = this.conns.find((c) => c.state === 'down' && !c.hasFailed);
      if (fresh) best = fresh;
    }
    if (best === null) {
      for (const c of this.conns)
        if (c.state !== 'draining' && (best === null || c.load < best.load)) best = c;
    }
    // Every connection draining at once: the first one will be down soon.
    (best ?? this.conns[0]!).submit(req);
  }

  /** A request whose connection could not send it. */
  resubmit(req: Request): void {
    this.route(req);
  }

  /** Settles a request once: with `err`, or with `value`. */
  settle(req: Request, err: Error | null, value: unknown): void {
    if (req.settled) return;
    req.settled = true;
    req.conn = null;
    req.user.pending.delete(req);
    if (req.timer !== null) clearTimeout(req.timer);
    req.timer = null;
    if (err) req.reject(err);
    else req.resolve(value);
  }

  private expire(req: Request): void {
    req.timer = null;
    if (req.settled) return;
    const c = req.conn;
    const kit = req.user.kit;
    const ms = req.user.timeoutMs;
    const failure = !req.sent && c !== null && c.waiting.has(req) ? c.describeFailure(kit) : null;
    const queued = !req.sent && c !== null && c.state === 'open';
    c?.forget(req);
    if (failure !== null) {
      this.settle(
        req,
        kit.connection(
          `could not connect to noormd at ${this.socketPath} within ${ms} ms (${failure.reason}); ` +
            `${req.method} was not sent`,
          { retriable: true, requestSent: false, cause: failure.cause },
        ),
        undefined,
      );
      return;
    }
    const readOnly = isReadOnly(req.method);
    let message: string;
    if (!req.sent)
      message =
        `${req.method} could not be sent to noormd within ${ms} ms` +
        (queued ? ' (the connection was backed up); it was not sent' : '');
    else if (readOnly) message = `${req.method} got no answer from noormd within ${ms} ms; it only reads: it can be sent again`;
    else message = `${req.method} got no answer from noormd within ${ms} ms; it may or may not have run`;
    this.settle(req, kit.timeout(message, req.sent, { retriable: !req.sent || readOnly }), undefined);
  }

  stats(): PoolStats {
    let open = 0;
    let connecting = 0;
    let inFlight = 0;
    let waiting = 0;
    let queued = 0;
    for (const c of this.conns) {
      if (c.state === 'open') open++;
      if (c.state === 'connecting' || c.state === 'handshake') connecting++;
      inFlight += c.inFlight.size;
      waiting += c.waiting.size;
      queued += c.queued;
    }
    return { open, connecting, inFlight, waiting, queued, lateReplies: this.lateReplies, handles: this.users.size };
  }

  /** Drops `user`: its pending calls reject, the other handles are
   * untouched; the last handle closes the pool. */
  async release(user: PoolUser): Promise<void> {
    user.closed = true;
    this.finalizer.unregister(user.ref);
    this.users.delete(user.ref);
    for (const req of [...user.pending]) {
      req.conn?.forget(req);
      this.settle(
        req,
        user.kit.connection(`the noormd client was closed before ${req.method} was answered`, {
          retriable: false,
          requestSent: req.sent,
        }),
        undefined,
      );
    }
    if (this.users.size === 0) await this.close();
  }

  /** Rejects every pending call, closes every socket, clears every timer.
   * Calls made afterwards reject. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const done = this.onClosed;
      this.onClosed = null;
      done?.();
    }
    const closing: Promise<void>[] = [];
    for (const c of this.conns) {
      const pending = c.pendingRequests();
      closing.push(c.shutdown());
      for (const req of pending) {
        c.forget(req);
        this.settle(
          req,
          req.user.kit.connection(`the noormd client was closed before ${req.method} was answered`, {
            retriable: false,
            requestSent: req.sent,
          }),
          undefined,
        );
      }
    }
    for (const ref of this.users) {
      const u = ref.deref();
      if (u !== undefined) {
        u.closed = true;
        this.finalizer.unregister(u.ref);
      }
    }
    this.users.clear();
    await Promise.all(closing);
  }
}

/** The validated pool-level settings of `options`. Throws TypeError. */
function poolSettings(options: PoolOptions): Required<Omit<PoolOptions, 'socketPath'>> {
  if (typeof options?.socketPath !== 'string' || options.socketPath === '')
    throw new TypeError('@noormme/client: socketPath (the path of noormd\'s Unix socket) is required');
  const poolSize = options.poolSize ?? 4;
  if (!Number.isInteger(poolSize) || poolSize < 1)
    throw new TypeError('@noormme/client: poolSize must be an integer >= 1');
  const reconnectMinMs = positive('reconnectMinMs', options.reconnectMinMs, 50);
  const reconnectMaxMs = Math.max(reconnectMinMs, positive('reconnectMaxMs', options.reconnectMaxMs, 2000));
  const idle = options.idleTimeoutMs ?? 30_000;
  if (typeof idle !== 'number' || !Number.isFinite(idle) || idle < 0)
    throw new TypeError('@noormme/client: idleTimeoutMs must be a number >= 0');
  return { poolSize, reconnectMinMs, reconnectMaxMs, idleTimeoutMs: Math.min(idle, 2 ** 31 - 1) };
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new TypeError(`@noormme/client: ${name} must be a positive number`);
  return v;
}

// ---- the per-process registry of shared pools ----

/** Where the registry lives on globalThis. The suffix is the version of the
 * Pool's shape: a copy of this package with another shape gets its own pools. */
export const REGISTRY_KEY: unique symbol = Symbol.for('@noormme/client/pools@1');

type Registry = Map<string, Pool>;

/** The registry, created on first use; it survives the package being
 * evaluated again (hot reload), since globalThis does. */
function registry(): Registry {
  const g = globalThis as { [REGISTRY_KEY]?: Registry };
  let r = g[REGISTRY_KEY];
  if (!(r instanceof Map)) {
    r = new Map();
    Object.defineProperty(globalThis, REGISTRY_KEY, { value: r, configurable: true, enumerable: false });
  }
  return r;
}

/** The registry key of a socket path: absolute, with `.` and `..` resolved,
 * so that `./var/s.sock` and `var/s.sock` share a pool. */
export function socketKey(socketPath: string): string {
  // A leading NUL is a Linux abstract socket name, not a file path.
  if (socketPath.startsWith('\0')) return socketPath;
  const full = socketPath.startsWith('/') ? socketPath : `${process.cwd()}/${socketPath}`;
  const parts: string[] = [];
  for (const p of full.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return '/' + parts.join('/');
}

/** Options of openPool: the pool's and the handle's, and whether to share. */
export type OpenOptions = PoolOptions &
  UserOptions & {
    /** false: a pool of its own, not shared with other clients. Default true. */
    shared?: boolean;
  };

/**
 * A handle on the shared pool for `options.socketPath` (created on first
 * use), or on a private pool when `shared` is false. The pool-level options
 * of the first handle shape a shared pool, except that it grows to the
 * largest poolSize asked for. Throws TypeError for an invalid option and the
 * runtime Error where node:net is missing.
 */
export function openPool(options: OpenOptions, kit: ErrorKit = ERROR_KIT): PoolUser {
  // First, before anything reads `process`: where it is missing, this is the
  // error that explains why.
  loadNet();
  poolSettings(options);
  if (options.shared === false) return new Pool(options).acquire(options, kit);
  const reg = registry();
  const key = socketKey(options.socketPath);
  let pool = reg.get(key);
  if (pool === undefined || pool.closed) {
    const fresh = new Pool(options);
    fresh.onClosed = () => {
      if (reg.get(key) === fresh) reg.delete(key);
    };
    reg.set(key, fresh);
    pool = fresh;
  }
  return pool.acquire(options, kit);
}

/** The shared pools open in this process, by socket key (for tests and
 * health checks). */
export function sharedPools(): ReadonlyMap<string, Pool> {
  return registry();
}
