/* errors.ts - turns the error object of a reply, [code, NAME, message,
 * details], into an instance of the generated class for its code; and gathers
 * every error class in one module. */
import { NoormmeConnectionError, NoormmeError, type ErrorDetails } from './errors-base.js';
import { errorClassByCode } from './errors.generated.js';

export * from './errors-base.js';
export * from './errors.generated.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The instance for a wire error object. A code this client does not know
 * becomes a plain NoormmeError whose severity follows the code's range
 * (1-99 protocol, otherwise request), never retriable. A value that is not an
 * error object at all means the stream is not noormd's protocol: that is a
 * NoormmeConnectionError. */
export function errorFromWire(wire: unknown): NoormmeError {
  if (
    !Array.isArray(wire) ||
    wire.length < 3 ||
    typeof wire[0] !== 'number' ||
    typeof wire[1] !== 'string' ||
    typeof wire[2] !== 'string'
  ) {
    return new NoormmeConnectionError('noormd sent an error that is not [code, NAME, message, details]', {
      retriable: false,
      requestSent: true,
    });
  }
  const [code, name, message] = wire as [number, string, string];
  const details: Record<string, string> = {};
  if (isRecord(wire[3])) {
    for (const [k, v] of Object.entries(wire[3])) if (typeof v === 'string') details[k] = v;
  }
  const Known = errorClassByCode.get(code);
  if (Known) return new Known(message, details as ErrorDetails);
  const severity = code >= 1 && code <= 99 ? 'protocol' : 'request';
  return new NoormmeError(code, name, message, details, severity, false);
}
