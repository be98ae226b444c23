/* errors-base.ts - the error classes every failure of this package is an
 * instance of: NoormmeError (the base of the classes generated from
 * protocol/errors.def) and the two client-side errors a server never sends,
 * NoormmeConnectionError and NoormmeTimeoutError. */

/** The `details` map of a protocol error: `field`, `method`, ... */
export type ErrorDetails = Readonly<Record<string, string>>;

/** `protocol`: the connection it arrived on was closed by the server.
 * `request`: only that request failed. `client`: raised by this package. */
export type ErrorSeverity = 'protocol' | 'request' | 'client';

/** Any error from noormd or from this client. */
export class NoormmeError extends Error {
  /** The class name (`ConflictError`), as for built-in errors. */
  override readonly name: string = 'NoormmeError';
  /** The stable wire NAME (`CONFLICT`, `NOT_FOUND`, ...); `CONNECTION_ERROR`
   * and `TIMEOUT` for the client-side errors. Switch on this. */
  readonly code: string;
  /** The stable integer from protocol/errors.def; negative for client-side errors. */
  readonly wireCode: number;
  /** Extra facts from the server (`field` names the argument at fault). */
  readonly details: ErrorDetails;
  readonly severity: ErrorSeverity;
  /** True when the same call may be sent again as it is (protocol doc, "retry?"). */
  readonly retriable: boolean;

  constructor(
    wireCode: number,
    code: string,
    message: string,
    details: ErrorDetails,
    severity: ErrorSeverity,
    retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.wireCode = wireCode;
    this.code = code;
    this.details = Object.freeze({ ...details });
    this.severity = severity;
    this.retriable = retriable;
  }
}

/** What NoormmeConnectionError's and NoormmeTimeoutError's constructors take. */
export interface ClientErrorOptions {
  /** Whether the same call may be sent again as it is. */
  retriable?: boolean;
  /** Whether the server may have run the request (see requestSent). */
  requestSent?: boolean;
  /** The underlying error: the OS error (`ECONNREFUSED`, `EPIPE`, ...) or
   * the server's protocol error that closed the connection. */
  cause?: unknown;
}

/** The connection to noormd failed or was lost. `requestSent` false means
 * the server certainly did not run the request (it was never written, or the
 * server refused the connection without reading it): it may be sent again.
 * `requestSent` true means it was written and no answer came: a write may
 * have been committed (retry only idempotent writes, or re-read first);
 * `retriable` is then true only for methods that only read. `cause` holds
 * the OS error or the server's error, when there was one. */
export class NoormmeConnectionError extends NoormmeError {
  static readonly code = 'CONNECTION_ERROR';
  static readonly wireCode = -1;
  override readonly name: string = 'NoormmeConnectionError';
  readonly requestSent: boolean;

  constructor(message: string, options: ClientErrorOptions = {}) {
    const cause = options.cause === undefined ? undefined : { cause: options.cause };
    super(-1, 'CONNECTION_ERROR', message, {}, 'client', options.retriable ?? true, cause);
    this.requestSent = options.requestSent ?? false;
  }
}

/** No answer came within the request timeout. A request that was never sent
 * (no connection could be made in time, or the socket was backed up) is
 * retriable; one that was sent has an unknown outcome, like a write on a
 * dropped connection, unless its method only reads. */
export class NoormmeTimeoutError extends NoormmeError {
  static readonly code = 'TIMEOUT';
  static readonly wireCode = -2;
  override readonly name: string = 'NoormmeTimeoutError';
  readonly requestSent: boolean;

  constructor(message: string, requestSent: boolean, options: Omit<ClientErrorOptions, 'requestSent'> = {}) {
    const cause = options.cause === undefined ? undefined : { cause: options.cause };
    super(-2, 'TIMEOUT', message, {}, 'client', options.retriable ?? !requestSent, cause);
    this.requestSent = requestSent;
  }
}
