/**
 * Failures of the stores themselves (SQLite files, DynamoDB, S3), as opposed to what is or is not in them.
 *
 * The adapters let their drivers' errors through; `storageFailureOf` recognises the ones that mean "the store
 * cannot serve right now" at the boundary (the API's onError, which the verify Lambda runs too), so that one function, not
 * every adapter method, decides what a caller sees: `503 storage-unavailable` with `Retry-After`, never a bare
 * `500 internal`. docs/api.md and docs/architecture.md ("Error model") list what counts.
 */
import { CodedError } from '../core/errors.js';
import { StorageError, StorageUnavailableError } from '../storage-error.js';

/** Seconds a client should wait before retrying after `storage-unavailable` (the API's `Retry-After`). */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

/**
 * SQLite primary result codes (the low byte of an extended code) that mean the file cannot be used now:
 * BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB. A constraint or SQL error is
 * a defect or a conflict, not an outage, and is not among them.
 */
const SQLITE_UNAVAILABLE = new Map<number, string>([
  [5, 'busy'],
  [6, 'locked'],
  [7, 'out of memory'],
  [8, 'read-only'],
  [10, 'I/O error'],
  [11, 'corrupt'],
  [13, 'full'],
  [14, 'cannot open'],
  [15, 'locking protocol'],
  [26, 'not a database'],
]);

/** What an SQLite result code says about the file when it means "cannot be used now", else undefined. */
export function sqliteUnavailable(code: number): string | undefined {
  return SQLITE_UNAVAILABLE.get(code & 0xff);
}

/** Error names the AWS SDK gives throttling and server-side failures of DynamoDB and S3. */
const AWS_UNAVAILABLE = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'SlowDown',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/**
 * Socket-level failures of an AWS SDK call (the SDK adds `$metadata` to them): the store's endpoint cannot be
 * reached. A bare fetch's refused connection (an identity provider, an IPFS node) is not a store's.
 */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Names of the adapters' own errors that report a store that could not answer in full. dynamo-codec.ts's
 * BatchGetIncompleteError is a StorageUnavailableError now; its name stays here for an error that crossed a
 * structured clone (a worker thread), which keeps the name and not the class.
 */
const ADAPTER_UNAVAILABLE = new Set(['BatchGetIncompleteError']);

interface Shape {
  name?: unknown;
  code?: unknown;
  errcode?: unknown;
  sqliteCode?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $fault?: unknown;
}

function describe(e: Shape): string | undefined {
  const sqlite = typeof e.errcode === 'number' ? e.errcode : e.sqliteCode;
  if ((e.code === 'ERR_SQLITE_ERROR' || e.name === 'SqliteWriteError') && typeof sqlite === 'number') {
    const what = sqliteUnavailable(sqlite);
    return what === undefined ? undefined : `SQLite: ${what}`;
  }
  if (typeof e.name === 'string' && ADAPTER_UNAVAILABLE.has(e.name)) return 'DynamoDB: throttled';
  const aws = e.$metadata !== undefined && typeof e.$metadata === 'object';
  if (!aws) return undefined;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return `store unreachable (${e.code})`;
  if (typeof e.name === 'string' && AWS_UNAVAILABLE.has(e.name)) return `AWS: ${e.name}`;
  const status = e.$metadata?.httpStatusCode;
  if (e.$fault === 'server' || (typeof status === 'number' && status >= 500))
    return `AWS: server error ${status}`;
  return undefined;
}

/**
 * The storage-unavailable error that `e` stands for, or undefined when it is something else. Looks through
 * `cause` chains and AggregateError members (a failed key release whose audit write failed too), so a store
 * failure wrapped by the code that met it is still recognised.
 */
export function storageFailureOf(e: unknown, depth = 0): StorageUnavailableError | undefined {
  if (e instanceof StorageUnavailableError) return e;
  if (e instanceof StorageError && e.code === 'storage-unavailable' && !('sqliteCode' in e))
    return new StorageUnavailableError('storage unavailable; retry later', { cause: e });
  // Another domain's typed error has been classified where it was met (an IpfsError whose cause is a refused
  // socket is ipfs-unavailable, a chain's is the chain's): its cause is not looked into.
  if (e instanceof CodedError && !(e instanceof StorageError)) return undefined;
  if (typeof e !== 'object' || e === null || depth > 4) return undefined;
  const what = describe(e as Shape);
  if (what !== undefined)
    return new StorageUnavailableError(`storage unavailable (${what}); retry later`, { cause: e });
  if (e instanceof AggregateError) {
    for (const inner of e.errors) {
      const found = storageFailureOf(inner, depth + 1);
      if (found) return found;
    }
  }
  return 'cause' in e ? storageFailureOf((e as { cause?: unknown }).cause, depth + 1) : undefined;
}
