/**
 * The one base of the project's errors (docs/architecture.md, "Error model"): a stable `code` from a literal union
 * that belongs to the error's domain, a `name` every subclass sets to its own class name (declared, not derived,
 * so it survives bundling), and the `cause` kept for the log. Code that catches switches on `code`, never on the
 * message; messages are for people.
 */
export abstract class CodedError<C extends string> extends Error {
  abstract override readonly name: string;
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isCodedError(e: unknown): e is CodedError<string> {
  return e instanceof CodedError;
}

/**
 * Named errors of the API. Expected outcomes of verification are result values (see merkle.ts, envelope.ts); this class is
 * for requests that cannot be served. Each carries a stable `code` that the HTTP edge maps to a status and
 * returns as `{ "error": { "code", "message" } }` (docs/api.md lists them all).
 */
export type NotaryErrorCode =
  | 'bad-request'
  | 'invalid-cursor'
  | 'unauthorized'
  | 'token-expired'
  | 'token-revoked'
  | 'forbidden'
  | 'out-of-scope'
  | 'not-found'
  | 'record-not-found'
  | 'device-not-found'
  | 'batch-not-found'
  | 'device-exists'
  | 'key-not-found'
  | 'key-exists'
  | 'key-revoked'
  | 'conflict'
  | 'token-not-found'
  | 'range-too-wide'
  | 'payload-too-large'
  | 'backlog'
  | 'storage-unavailable'
  | 'chain-unavailable'
  /** The key vault cannot unwrap a device's master key (wrong or missing key-encryption key, KMS refusal). */
  | 'key-unavailable'
  /** This runtime does not offer the route (e.g. AWS IoT certificates in the embedded runtime). */
  | 'unsupported'
  | 'internal';

export class NotaryError extends CodedError<NotaryErrorCode> {
  override readonly name = 'NotaryError';
  constructor(
    code: NotaryErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export function isNotaryError(e: unknown): e is NotaryError {
  return e instanceof NotaryError;
}
