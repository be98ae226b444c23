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
  /** The stable integer from protocol/errors.def; negative for client-side errors. */
  readonly code: number;
  /** The stable wire NAME (`CONFLICT`, `NOT_FOUND`, ...). */
  override readonly name: string;
  /** Extra facts from the server (`field` names the argument at fault). */
  readonly details: ErrorDetails;
  readonly severity: ErrorSeverity;
  /** True when the same call may be sent again as it is (protocol doc, "retry?"). */
  readonly retriable: boolean;

  constructor(
    code: number,
    name: string,
    message: string,
    details: ErrorDetails,
    severity: ErrorSeverity,
    retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.name = name;
    this.details = Object.freeze({ ...details });
    this.severity = severity;
    this.retriable = retriable;
  }
}

/** The connection to noormd failed or was lost. `requestSent` tells whether
 * the request had been written to the socket: if so, a write may have been
 * committed even though no answer came (retry only idempotent writes, or
 * re-read first). */
export class NoormmeConnectionError extends NoormmeError {
  static readonly code = -1;
  readonly requestSent: boolean;

  constructor(
    message: string,
    options: { retriable?: boolean; requestSent?: boolean; cause?: unknown } = {},
  ) {
    const cause = options.cause === undefined ? undefined : { cause: options.cause };
    super(-1, 'CONNECTION_ERROR', message, {}, 'client', options.retriable ?? true, cause);
    this.requestSent = options.requestSent ?? false;
  }
}

/** No answer came within the request timeout. A request that was never sent
 * (no connection could be made in time) is retriable; one that was sent has
 * an unknown outcome, like a write on a dropped connection. */
export class NoormmeTimeoutError extends NoormmeError {
  static readonly code = -2;
  readonly requestSent: boolean;

  constructor(message: string, requestSent: boolean) {
    super(-2, 'TIMEOUT', message, {}, 'client', !requestSent);
    this.requestSent = requestSent;
  }
}
