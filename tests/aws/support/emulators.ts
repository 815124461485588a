/**
 * The AWS emulators the tests start in-process on 127.0.0.1, port 0: dynalite (DynamoDB on an in-memory
 * LevelDB) and s3rver (S3 on a temp dir). They are real servers speaking the AWS wire protocols to the real
 * SDK clients; what they do not implement is listed in docs/deploy.md ("What the emulators do not check").
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { createTableInput, type IndexTableNames, TABLES } from '../../../lib/adapters/aws/dynamo-tables.js';
import { makeTempDir } from '../../support/temp-dir.js';

export const TEST_REGION = 'us-east-1';
/** s3rver's built-in account; dynalite accepts any credentials. */
export const TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface RunningDynalite {
  endpoint: string;
  db: DynamoDBClient;
  close(): Promise<void>;
}

export async function startDynalite(): Promise<RunningDynalite> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const db = new DynamoDBClient({ endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
  return {
    endpoint,
    db,
    close: async () => {
      db.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let tableSeq = 0;

/** A fresh, empty set of the project's tables under a unique prefix (names must be >= 3 characters). */
export async function createTables(
  db: DynamoDBClient,
  prefix = `t${process.pid}x${++tableSeq}`,
): Promise<{
  index: IndexTableNames;
  ledger: string;
  pinJobs: string;
  statements: string;
  tokens: string;
  leases: string;
}> {
  const index: IndexTableNames = {
    records: `${prefix}-records`,
    batches: `${prefix}-batches`,
    devices: `${prefix}-devices`,
    deadLetters: `${prefix}-dead-letters`,
    audit: `${prefix}-audit`,
  };
  const ledger = `${prefix}-ledger`;
  const pinJobs = `${prefix}-pin-jobs`;
  const statements = `${prefix}-statements`;
  const tokens = `${prefix}-tokens`;
  const leases = `${prefix}-leases`;
  await Promise.all([
    ...Object.entries(index).map(([logical, name]) =>
      db.send(new CreateTableCommand(createTableInput(TABLES[logical as keyof IndexTableNames], name))),
    ),
    db.send(new CreateTableCommand(createTableInput(TABLES.ledger, ledger))),
    db.send(new CreateTableCommand(createTableInput(TABLES.pinJobs, pinJobs))),
    db.send(new CreateTableCommand(createTableInput(TABLES.statements, statements))),
    db.send(new CreateTableCommand(createTableInput(TABLES.tokens, tokens))),
    db.send(new CreateTableCommand(createTableInput(TABLES.leases, leases))),
  ]);
  return { index, ledger, pinJobs, statements, tokens, leases };
}

export interface RunningS3rver {
  endpoint: string;
  bucket: string;
  s3: S3Client;
  close(): Promise<void>;
}

export function s3ClientFor(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    forcePathStyle: true,
  });
}

export async function startS3rver(bucket = 'notary-test'): Promise<RunningS3rver> {
  const tmp = makeTempDir('s3rver');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: tmp.dir,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = s3ClientFor(endpoint);
  return {
    endpoint,
    bucket,
    s3,
    close: async () => {
      s3.destroy();
      await server.close();
      tmp.remove();
    },
  };
}
