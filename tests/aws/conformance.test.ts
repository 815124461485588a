/**
 * The port conformance suites of tests/adapters, unchanged, over the AWS adapters: S3ObjectStore on s3rver
 * (behind the checksum-gate stand-in for the one S3 check s3rver lacks), DynamoIndexStore,
 * DynamoStatementStore and DynamoLedger on dynalite, and KmsKeyVault on the KMS stand-in (no KMS emulator
 * can be installed here).
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll } from 'vitest';
import { DynamoIndexStore } from '../../lib/adapters/aws/dynamo-index-store.js';
import { DynamoLeaseStore } from '../../lib/adapters/aws/dynamo-lease-store.js';
import { DynamoLedger, generateLedgerKey } from '../../lib/adapters/aws/dynamo-ledger.js';
import { DynamoStatementStore } from '../../lib/adapters/aws/dynamo-statement-store.js';
import { DynamoTokenStore } from '../../lib/adapters/aws/dynamo-token-store.js';
import { KmsKeyVault } from '../../lib/adapters/aws/kms-key-vault.js';
import { S3ObjectStore } from '../../lib/adapters/aws/s3-object-store.js';
import { describeChainConformance } from '../adapters/chain.conformance.js';
import { describeIndexStoreConformance } from '../adapters/index-store.conformance.js';
import { describeKeyVaultConformance } from '../adapters/key-vault.conformance.js';
import { describeLeaseStoreConformance } from '../adapters/lease-store.conformance.js';
import { describeObjectStoreConformance } from '../adapters/object-store.conformance.js';
import { describeStatementStoreConformance } from '../adapters/statement-store.conformance.js';
import { describeTokenStoreConformance } from '../adapters/token-store.conformance.js';
import {
  createTables,
  type RunningDynalite,
  type RunningS3rver,
  s3ClientFor,
  startDynalite,
  startS3rver,
  TEST_CREDENTIALS,
  TEST_REGION,
} from './support/emulators.js';
import { type KmsStandIn, startKmsStandIn } from './support/kms-stand-in.js';
import { type ChecksumGate, startChecksumGate } from './support/s3-checksum-gate.js';

let dynamo: Promise<RunningDynalite> | undefined;
let s3: Promise<{ s3rver: RunningS3rver; gate: ChecksumGate }> | undefined;
const useDynamo = () => {
  dynamo ??= startDynalite();
  return dynamo;
};
const useS3 = () => {
  s3 ??= (async () => {
    const s3rver = await startS3rver();
    return { s3rver, gate: await startChecksumGate(s3rver.endpoint) };
  })();
  return s3;
};

let kms: Promise<KmsStandIn> | undefined;
const useKms = () => {
  kms ??= startKmsStandIn();
  return kms;
};

afterAll(async () => {
  if (kms) await (await kms).close();
  if (s3) {
    const { s3rver, gate } = await s3;
    await gate.close();
    await s3rver.close();
  }
  if (dynamo) await (await dynamo).close();
});

let buckets = 0;

describeObjectStoreConformance('S3ObjectStore on s3rver behind the checksum-gate stand-in', async () => {
  const { gate } = await useS3();
  const client = s3ClientFor(gate.endpoint);
  const bucket = `conf-${process.pid}-${++buckets}-${randomBytes(3).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    store: new S3ObjectStore({ s3: client, bucket }),
    uploads: true,
    cleanup: async () => client.destroy(),
  };
});

describeLeaseStoreConformance('DynamoLeaseStore on dynalite, two clients to one table', async () => {
  const { db, endpoint } = await useDynamo();
  const { leases: table } = await createTables(db);
  // A second client, as a second Lambda has: the race is settled by DynamoDB, not inside one client.
  const other = new DynamoDBClient({ endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
  return {
    a: new DynamoLeaseStore({ db, table }),
    b: new DynamoLeaseStore({ db: other, table }),
    cleanup: async () => other.destroy(),
  };
});

describeIndexStoreConformance('DynamoIndexStore on dynalite', async () => {
  const { db } = await useDynamo();
  const { index } = await createTables(db);
  // Several shards even in tests, so the cross-shard merge is what the suite checks.
  const store = new DynamoIndexStore({ db, tables: index, pendingShards: 4, deadLetterShards: 3 });
  return { store, cleanup: () => store.close() };
});

describeStatementStoreConformance('DynamoStatementStore on dynalite', async () => {
  const { db } = await useDynamo();
  const { statements } = await createTables(db);
  const store = new DynamoStatementStore({ db, table: statements, pendingShards: 3 });
  return { store, cleanup: () => store.close() };
});

describeTokenStoreConformance('DynamoTokenStore on dynalite', async () => {
  const { db } = await useDynamo();
  const { tokens } = await createTables(db);
  const store = new DynamoTokenStore({ db, table: tokens });
  return { store, cleanup: () => store.close() };
});

/** A KmsKeyVault on the KMS stand-in, under a fresh key; the client is the real @aws-sdk/client-kms. */
async function kmsVault(): Promise<{ vault: KmsKeyVault; client: KMSClient }> {
  const standIn = await useKms();
  const client = new KMSClient({
    endpoint: standIn.endpoint,
    region: standIn.region,
    credentials: TEST_CREDENTIALS,
  });
  return { vault: new KmsKeyVault(client, standIn.createKey()), client };
}

describeChainConformance(
  'DynamoLedger on dynalite, key wrapped by KmsKeyVault on the KMS stand-in',
  async () => {
    const { db } = await useDynamo();
    const { ledger: table } = await createTables(db);
    const { vault, client } = await kmsVault();
    const key = await generateLedgerKey(vault);
    const chain = await DynamoLedger.open({
      db,
      table,
      wrappedKey: key.wrapped,
      vault,
      expectedPublicKey: key.publicKey,
    });
    return { chain, minesPerTx: true, cleanup: async () => client.destroy() };
  },
);

describeKeyVaultConformance('KmsKeyVault on the KMS stand-in (never run against real KMS)', async () => {
  const { vault, client } = await kmsVault();
  return { vault, cleanup: async () => client.destroy() };
});
