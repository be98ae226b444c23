/* connection.ts - the pool of Unix-socket connections to noormd.
 *
 * Each connection pipelines any number of requests and matches replies by
 * msgid (one uint32 counter for the pool, wrapping). Requests made in the
 * same tick are written to a connection in one write. Connections are opened
 * on demand (nothing connects at import or construction time, so `next build`
 * never needs a server), and opened again with backoff after noormd restarts.
 *
 * Failure rules, so that nothing hangs:
 * - every request has a timeout; a reply that comes after it is ignored;
 * - a connection that drops rejects the requests in flight on it with a
 *   retriable NoormmeConnectionError (requestSent: true), while requests not
 *   yet written wait for the next connection, within their timeout;
 * - a `server.error` notification (a protocol error: the server will close)
 *   takes the connection out of use; the requests the server still answers
 *   resolve, the rest reject with that error when the connection closes;
 * - close() rejects everything pending and leaves no socket or timer behind.
 */
import type { Socket } from 'node:net';
import { Decoder, Encoder } from '@msgpack/msgpack';

import { NoormmeConnectionError, NoormmeError, NoormmeTimeoutError } from './errors-base.js';
import { errorFromWire } from './errors.js';
import { MessageTooLargeError } from './errors.generated.js';
import { frameLength } from './frame.js';
import { loadNet } from './runtime.js';

const net = loadNet();

/** How to reach noormd and how patient to be. */
export interface PoolOptions {
  /** Path of noormd's Unix socket (noormd `--socket`). */
  socketPath: string;
  /** Connections opened at most; more open only while requests overlap. Default 4. */
  poolSize?: number;
  /** Milliseconds a call may take, waiting for a connection included. Default 5000. */
  timeoutMs?: number;
  /** Largest request sent; bigger ones fail here with MessageTooLargeError
   * instead of costing the connection. Match noormd's --max-message. Default 1 MiB. */
  maxMessageBytes?: number;
  /** First delay before reconnecting after a failed connect, doubled per
   * failure up to reconnectMaxMs. Defaults 50 and 2000. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** A snapshot of the pool, for health checks and tests. */
export interface PoolStats {
  /** Connections open and usable. */
  open: number;
  /** Connections being established. */
  connecting: number;
  /** Requests written and waiting for their reply. */
  inFlight: number;
  /** Requests waiting for a connection. */
  waiting: number;
  /** Replies that arrived after their request had timed out (ignored). */
  lateReplies: number;
}

/** Options tests use to reach corners; not part of the public API. */
export interface PoolTestHooks {
  /** The first msgid to use (to exercise wrapping). */
  firstMsgid?: number;
}

interface Request {
  readonly msgid: number;
  readonly method: string;
  readonly bytes: Uint8Array;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
  sent: boolean;
  settled: boolean;
}

type ConnState = 'down' | 'connecting' | 'open' | 'draining';

const EMPTY = Buffer.alloc(0);

/** One socket and the requests on it. */
class Connection {
  state: ConnState = 'down';
  private socket: Socket | null = null;
  /** Sent, waiting for the reply, by msgid. */
  readonly inFlight = new Map<number, Request>();
  /** Queued for the next write (state open). */
  private outbox: Request[] = [];
  private flushScheduled = false;
  /** Waiting for the connection to open (state connecting or down). */
  readonly waiting = new Set<Request>();
  private rbuf: Buffer = EMPTY;
  private decoder = new Decoder();
  /** The protocol error the server announced before closing. */
  private serverError: NoormmeError | null = null;
  /** Consecutive failed connects, for the backoff. */
  private failures = 0;
  private lastConnectError: Error | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closedWaiters: Array<() => void> = [];

  constructor(private readonly pool: Pool) {}

  /** Requests on this connection that are not settled yet. */
  get load(): number {
    return this.inFlight.size + this.outbox.length + this.waiting.size;
  }

  get hasFailed(): boolean {
    return this.failures > 0;
  }

  /** Takes a request: written this tick when open, else kept until open. */
  submit(req: Request): void {
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
    this.inFlight.delete(req.msgid);
    this.waiting.delete(req);
    if (this.waiting.size === 0 && this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  /** Why requests that never left the client could not be sent. */
  describeWait(): string | null {
    const e = this.lastConnectError as (Error & { code?: string }) | null;
    return e ? `${e.code ?? e.message}` : null;
  }

  private flush(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (this.state !== 'open' || socket === null) {
      // Dropped before the write: these were never sent, wait for a new connection.
      for (const req of this.outbox) if (!req.settled) this.pool.resubmit(req);
      this.outbox = [];
      return;
    }
    const chunks: Uint8Array[] = [];
    for (const req of this.outbox) {
      if (req.settled) continue;
      req.sent = true;
      this.inFlight.set(req.msgid, req);
      chunks.push(req.bytes);
    }
    this.outbox = [];
    if (chunks.length === 1) socket.write(chunks[0]!);
    else if (chunks.length > 1) socket.write(Buffer.concat(chunks));
  }

  private connect(): void {
    this.state = 'connecting';
    this.serverError = null;
    this.rbuf = EMPTY;
    this.decoder = new Decoder();
    const socket = net.createConnection({ path: this.pool.socketPath });
    this.socket = socket;
    let opened = false;
    socket.on('connect', () => {
      opened = true;
      this.failures = 0;
      this.lastConnectError = null;
      this.state = 'open';
      const ready = [...this.waiting];
      this.waiting.clear();
      for (const req of ready) this.submit(req);
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => {
      if (!opened) this.lastConnectError = err;
    });
    socket.on('close', () => this.onClose(socket, opened));
  }

  private onData(chunk: Buffer): void {
    let buf = this.rbuf.length === 0 ? chunk : Buffer.concat([this.rbuf, chunk]);
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
      this.drop(
        new NoormmeConnectionError(`noormd sent bytes that are not a valid message: ${(err as Error).message}`, {
          retriable: true,
          requestSent: true,
          cause: err,
        }),
      );
      return;
    }
    buf = off === buf.length ? EMPTY : buf.subarray(off);
    // Keep only the unread tail, not the whole chunk it came in.
    this.rbuf = off === 0 || buf.length === 0 ? buf : Buffer.from(buf);
  }

  private onMessage(msg: unknown): void {
    if (Array.isArray(msg) && msg.length === 4 && msg[0] === 1 && typeof msg[1] === 'number') {
      const req = this.inFlight.get(msg[1]);
      if (!req) {
        this.pool.lateReplies++;
        return;
      }
      this.inFlight.delete(msg[1]);
      if (msg[2] === null || msg[2] === undefined) this.pool.settle(req, null, msg[3]);
      else this.pool.settle(req, errorFromWire(msg[2]), undefined);
      return;
    }
    if (Array.isArray(msg) && msg.length === 3 && msg[0] === 2 && msg[1] === 'server.error') {
      // The server will answer what it already accepted, then close: stop
      // sending here, half-close so it can finish, and keep reading.
      const params: unknown = msg[2];
      this.serverError = errorFromWire(Array.isArray(params) ? params[0] : undefined);
      this.state = 'draining';
      this.socket?.end();
      return;
    }
    throw new Error('a message that is neither a response nor server.error');
  }

  /** Closes the socket at once; in-flight requests reject with `err`. */
  private drop(err: NoormmeError): void {
    if (this.serverError === null) this.serverError = err;
    this.socket?.destroy();
  }

  private onClose(socket: Socket, opened: boolean): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.state = 'down';
    this.rbuf = EMPTY;
    const reason = this.serverError;
    this.serverError = null;
    if (this.inFlight.size > 0) {
      const lost = [...this.inFlight.values()];
      this.inFlight.clear();
      for (const req of lost) {
        this.pool.settle(
          req,
          reason ??
            new NoormmeConnectionError(
              `the connection to noormd at ${this.pool.socketPath} closed before ${req.method} was answered; ` +
                'it may or may not have run (retry reads; retry writes only if idempotent)',
              { retriable: true, requestSent: true },
            ),
          undefined,
        );
      }
    }
    // Unsent requests were never seen by the server: they wait for the next
    // connection (this one again, after a backoff when connecting failed).
    for (const req of this.outbox) if (!req.settled) this.waiting.add(req);
    this.outbox = [];
    if (!opened) this.failures++;
    for (const w of this.closedWaiters.splice(0)) w();
    if (this.pool.closed || this.waiting.size === 0) return;
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
  }

  /** Ends the socket and timers; resolves once the socket has closed. */
  shutdown(): Promise<void> {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
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

/** The pool: routes calls to connections, owns msgids and timeouts. */
export class Pool {
  readonly socketPath: string;
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  closed = false;
  lateReplies = 0;
  private readonly conns: Connection[];
  private nextMsgid: number;
  private readonly encoder = new Encoder({ ignoreUndefined: true });
  /** Request heads by method name: see head(). */
  private readonly heads = new Map<string, Uint8Array>();

  constructor(options: PoolOptions, hooks: PoolTestHooks = {}) {
    if (typeof options?.socketPath !== 'string' || options.socketPath === '')
      throw new TypeError('@noormme/client: socketPath (the path of noormd\'s Unix socket) is required');
    const size = options.poolSize ?? 4;
    if (!Number.isInteger(size) || size < 1) throw new TypeError('@noormme/client: poolSize must be an integer >= 1');
    this.socketPath = options.socketPath;
    // setTimeout fires at once for delays past 2^31 - 1 ms: cap there (~24 days).
    this.timeoutMs = Math.min(positive('timeoutMs', options.timeoutMs, 5000), 2 ** 31 - 1);
    this.maxMessageBytes = positive('maxMessageBytes', options.maxMessageBytes, 1024 * 1024);
    this.reconnectMinMs = positive('reconnectMinMs', options.reconnectMinMs, 50);
    this.reconnectMaxMs = Math.max(this.reconnectMinMs, positive('reconnectMaxMs', options.reconnectMaxMs, 2000));
    this.conns = Array.from({ length: size }, () => new Connection(this));
    this.nextMsgid = (hooks.firstMsgid ?? 0) >>> 0;
  }

  /** Sends `method` with named `params`; resolves with the result or rejects
   * with a NoormmeError (or a TypeError for a value msgpack cannot encode). */
  call(method: string, params?: Readonly<Record<string, unknown>>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new NoormmeConnectionError('the noormd client is closed', { retriable: false }));
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
      if (bytes.length > this.maxMessageBytes) {
        reject(
          new MessageTooLargeError(
            `the ${method} request is ${bytes.length} bytes; the limit (maxMessageBytes) is ${this.maxMessageBytes}`,
          ),
        );
        return;
      }
      const req: Request = { msgid, method, bytes, resolve, reject, timer: null, sent: false, settled: false };
      req.timer = setTimeout(() => this.expire(req), this.timeoutMs);
      this.route(req);
    });
  }

  /**
   * The request [0, msgid, method, [params]] as bytes. The head (array of 4,
   * type 0, msgid as a uint32, the method name) is encoded once per method
   * and copied, with the msgid written in; only the params are encoded per
   * call, straight from the encoder's buffer into the request's.
   */
  private encodeRequest(msgid: number, method: string, params: Readonly<Record<string, unknown>> | undefined): Uint8Array {
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
  private takeMsgid(): number {
    for (;;) {
      const id = this.nextMsgid;
      this.nextMsgid = (this.nextMsgid + 1) >>> 0;
      if (!this.conns.some((c) => c.inFlight.has(id))) return id;
    }
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

  /** A request whose connection dropped before writing it. */
  resubmit(req: Request): void {
    this.route(req);
  }

  /** Settles a request once: with `err`, or with `value`. */
  settle(req: Request, err: Error | null, value: unknown): void {
    if (req.settled) return;
    req.settled = true;
    if (req.timer !== null) clearTimeout(req.timer);
    req.timer = null;
    if (err) req.reject(err);
    else req.resolve(value);
  }

  private expire(req: Request): void {
    req.timer = null;
    if (req.settled) return;
    let why: string | null = null;
    for (const c of this.conns) {
      if (!req.sent && c.waiting.has(req)) why = c.describeWait();
      c.forget(req);
    }
    if (!req.sent && why !== null) {
      this.settle(
        req,
        new NoormmeConnectionError(
          `could not connect to noormd at ${this.socketPath} within ${this.timeoutMs} ms (${why}); ${req.method} was not sent`,
          { retriable: true, requestSent: false },
        ),
        undefined,
      );
      return;
    }
    this.settle(
      req,
      new NoormmeTimeoutError(
        req.sent
          ? `${req.method} got no answer from noormd within ${this.timeoutMs} ms; it may or may not have run`
          : `${req.method} could not be sent to noormd within ${this.timeoutMs} ms`,
        req.sent,
      ),
      undefined,
    );
  }

  stats(): PoolStats {
    let open = 0;
    let connecting = 0;
    let inFlight = 0;
    let waiting = 0;
    for (const c of this.conns) {
      if (c.state === 'open') open++;
      if (c.state === 'connecting') connecting++;
      inFlight += c.inFlight.size;
      waiting += c.waiting.size;
    }
    return { open, connecting, inFlight, waiting, lateReplies: this.lateReplies };
  }

  /** Rejects every pending call, closes every socket, clears every timer.
   * Calls made afterwards reject. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    const done: Promise<void>[] = [];
    for (const c of this.conns) {
      const pending = c.pendingRequests();
      done.push(c.shutdown());
      for (const req of pending) {
        c.forget(req);
        this.settle(
          req,
          new NoormmeConnectionError(`the noormd client was closed before ${req.method} was answered`, {
            retriable: false,
            requestSent: req.sent,
          }),
          undefined,
        );
      }
    }
    await Promise.all(done);
  }
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new TypeError(`@noormme/client: ${name} must be a positive number`);
  return v;
}

