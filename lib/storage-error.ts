/**
 * The storage domain's errors (docs/architecture.md, "Error model"): what a store's failure, as opposed to
 * what is or is not in it, looks like to the code above the ports. Adapters throw StorageError subclasses for
 * rows they cannot decode and writes they cannot do; lib/adapters/storage-failure.ts turns the drivers' own
 * outage errors into StorageUnavailableError at the boundary.
 */
import { CodedError } from './core/errors.js';

export type StorageErrorCode =
  /** The store is busy, throttled, unreachable, failing (5xx, I/O) or damaged: waiting or an operator can help. */
  | 'storage-unavailable'
  /** The store refused a statement (a constraint, a store opened read-only, a closed writer): not load. */
  | 'storage-refused'
  /** A stored row or item does not have the shape its reader expects: a defect or a hand edit, not load. */
  | 'storage-malformed';

export class StorageError extends CodedError<StorageErrorCode> {
  override readonly name: string = 'StorageError';
}

/** What the API answers as 503 `storage-unavailable`. The driver's error is kept as `cause`, for the log. */
export class StorageUnavailableError extends StorageError {
  override readonly name: string = 'StorageUnavailableError';
  declare readonly code: 'storage-unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage-unavailable', message, options);
  }
}
