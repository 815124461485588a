/**
 * storageFailureOf against the errors the real drivers throw: node:sqlite on a real locked file, the DynamoDB
 * SDK's own exception classes, a refused socket. What is not an outage (a constraint, a bad request to the
 * store, a programming error) must not be called one, or a defect would hide behind "retry later".
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { storageFailureOf } from '../../lib/adapters/storage-failure.js';
import { NotaryError } from '../../lib/core/errors.js';
import { IpfsError } from '../../lib/ipfs/errors.js';
import { StorageUnavailableError } from '../../lib/storage-error.js';
import { makeTempDir } from '../support/temp-dir.js';

const tmp = makeTempDir('storage-failure');
afterAll(() => tmp.remove());

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('storageFailureOf', () => {
  it('calls a real SQLITE_BUSY unavailable, and a real constraint violation not', () => {
    const path = join(tmp.dir, `${randomBytes(4).toString('hex')}.sqlite`);
    const a = new DatabaseSync(path);
    a.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY)');
    a.exec("INSERT INTO t VALUES ('x')");
    const b = new DatabaseSync(path);
    b.exec('PRAGMA busy_timeout = 0');
    a.exec('BEGIN IMMEDIATE');
    const busy = caught(() => b.exec("INSERT INTO t VALUES ('y')"));
    a.exec('ROLLBACK');
    const dup = caught(() => b.exec("INSERT INTO t VALUES ('x')"));
    a.close();
    b.close();
    const found = storageFailureOf(busy);
    expect(found).toBeInstanceOf(StorageUnavailableError);
    expect(found?.message).toBe('storage unavailable (SQLite: busy); retry later');
    expect(found?.cause).toBe(busy);
    expect(storageFailureOf(dup)).toBeUndefined();
  });

  it('calls DynamoDB throttling and 5xx unavailable, a failed condition not', () => {
    const throttled = new ProvisionedThroughputExceededException({
      $metadata: { httpStatusCode: 400 },
      message: 'throughput exceeded',
    });
    expect(storageFailureOf(throttled)?.message).toBe(
      'storage unavailable (AWS: ProvisionedThroughputExceededException); retry later',
    );
    const server = new DynamoDBServiceException({
      name: 'SomethingNew',
      $fault: 'server',
      $metadata: { httpStatusCode: 502 },
    });
    expect(storageFailureOf(server)?.code).toBe('storage-unavailable');
    const condition = new ConditionalCheckFailedException({
      $metadata: { httpStatusCode: 400 },
      message: 'no',
    });
    expect(storageFailureOf(condition)).toBeUndefined();
  });

  it("calls the SDK's refused connection unavailable, also inside a cause chain or an AggregateError; a bare fetch's not", async () => {
    // A port nothing listens on: one we opened and closed.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const { port } = srv.address() as { port: number };
    await new Promise<void>((r) => srv.close(() => r()));
    const db = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
    });
    const refused = await db
      .send(new GetItemCommand({ TableName: 'records', Key: { pk: { S: 'x' } } }))
      .catch((e: unknown) => e);
    db.destroy();
    expect(storageFailureOf(refused)?.message).toBe(
      'storage unavailable (store unreachable (ECONNREFUSED)); retry later',
    );
    expect(storageFailureOf(new Error('reading the record failed', { cause: refused }))?.code).toBe(
      'storage-unavailable',
    );
    const both = new AggregateError([new Error('vault said no'), refused], 'two failures');
    expect(storageFailureOf(both)?.code).toBe('storage-unavailable');
    // An identity provider or IPFS node that refuses is not a store; nor is a typed IPFS error around it.
    const fetchRefused = await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(storageFailureOf(fetchRefused)).toBeUndefined();
    expect(storageFailureOf(new IpfsError('ipfs-unavailable', 'down', { cause: refused }))).toBeUndefined();
  });

  it('leaves API errors and programming errors alone', () => {
    expect(storageFailureOf(new NotaryError('not-found', 'no record'))).toBeUndefined();
    expect(storageFailureOf(new TypeError('x is undefined'))).toBeUndefined();
    expect(storageFailureOf('a string')).toBeUndefined();
  });
});
