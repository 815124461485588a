/**
 * Named errors. Expected outcomes of verification are result values (see merkle.ts, envelope.ts); this class is
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
  | 'internal';

export class NotaryError extends Error {
  override readonly name = 'NotaryError';
  constructor(
    readonly code: NotaryErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isNotaryError(e: unknown): e is NotaryError {
  return e instanceof NotaryError;
}
