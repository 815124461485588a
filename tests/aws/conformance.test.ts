/**
 * The port conformance suites of tests/adapters, unchanged, over the AWS adapters: S3ObjectStore on s3rver
 * (behind the checksum-gate stand-in for the one S3 check s3rver lacks); the index's sub-port adapters
 * (DynamoRecordIndex, DynamoBatchStore, DynamoDeviceRegistry, DynamoDeadLetterStore, DynamoAuditLog),
 * DynamoStatementStore and DynamoLedger on dynalite; KmsKeyVault on moto's KMS (real encryption-context
 * semantics; skipped, with a loud warning, where moto is absent); and KmsLedgerSigner on the KMS STAND-IN
 * (tests/aws/support/kms-stand-in.ts), because moto cannot create ECC_NIST_EDWARDS25519 keys.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, describe } from 'vitest';
import { DynamoAuditLog } from '../../lib/adapters/aws/dynamo-audit-log.js';
import { DynamoBatchStore } from '../../lib/adapters/aws/dynamo-batch-store.js';
import { DynamoDeadLetterStore } from '../../lib/adapters/aws/dynamo-dead-letters.js';
import { DynamoDeviceRegistry } from '../../lib/adapters/aws/dynamo-device-registry.js';
import { DynamoLeaseStore } from '../../lib/adapters/aws/dynamo-lease-store.js';
import { DynamoLedger } from '../../lib/adapters/aws/dynamo-ledger.js';
import { DynamoRecordIndex } from '../../lib/adapters/aws/dynamo-record-index.js';
import { DynamoStatementStore } from '../../lib/adapters/aws/dynamo-statement-store.js';
import type { IndexTableNames } from '../../lib/adapters/aws/dynamo-tables.js';
import { DynamoTokenStore } from '../../lib/adapters/aws/dynamo-token-store.js';
import { KmsKeyVault } from '../../lib/adapters/aws/kms-key-vault.js';
import { KmsLedgerSigner } from '../../lib/adapters/aws/kms-ledger-signer.js';
import { S3ObjectStore } from '../../lib/adapters/aws/s3-object-store.js';
import { describeAuditLogConformance } from '../adapters/audit-log.conformance.js';
import { describeBatchStoreConformance } from '../adapters/batch-store.conformance.js';
import { describeChainConformance } from '../adapters/chain.conformance.js';
import { describeDeadLetterStoreConformance } from '../adapters/dead-letters.conformance.js';
import { describeDeviceRegistryConformance } from '../adapters/device-registry.conformance.js';
import { describeKeyVaultConformance } from '../adapters/key-vault.conformance.js';
import { describeLeaseStoreConformance } from '../adapters/lease-store.conformance.js';
import { describeLedgerSignerConformance } from '../adapters/ledger-signer.conformance.js';
import { describeObjectStoreConformance } from '../adapters/object-store.conformance.js';
import { describeRecordIndexConformance } from '../adapters/record-index.conformance.js';
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
import { motoOrWarn, type RunningMoto, startMoto } from './support/moto-server.js';
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

let moto: Promise<RunningMoto> | undefined;
const useMoto = () => {
  moto ??= startMoto();
  return moto;
};

afterAll(async () => {
  if (moto) await (await moto).close();
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

/** Fresh index tables per test, and one sub-port's adapter on them, as DynamoIndexStore composes them. */
const onIndexTables =
  <T>(open: (db: DynamoDBClient, tables: IndexTableNames) => T) =>
  async () => {
    const { db } = await useDynamo();
    const { index } = await createTables(db);
    // The client is shared by every suite and destroyed with dynalite in afterAll.
    return { store: open(db, index), cleanup: async () => {} };
  };

// Several shards even in tests, so the cross-shard merges are what the suites check.
describeRecordIndexConformance(
  'DynamoRecordIndex on dynalite',
  onIndexTables((db, t) => new DynamoRecordIndex({ db, table: t.records, pendingShards: 4 })),
);
describeBatchStoreConformance(
  'DynamoBatchStore on dynalite',
  onIndexTables((db, t) => new DynamoBatchStore({ db, table: t.batches })),
);
describeDeviceRegistryConformance(
  'DynamoDeviceRegistry on dynalite',
  onIndexTables((db, t) => new DynamoDeviceRegistry({ db, table: t.devices })),
);
describeDeadLetterStoreConformance(
  'DynamoDeadLetterStore on dynalite',
  onIndexTables((db, t) => new DynamoDeadLetterStore({ db, table: t.deadLetters, shards: 3 })),
);
describeAuditLogConformance(
  'DynamoAuditLog on dynalite',
  onIndexTables((db, t) => new DynamoAuditLog({ db, table: t.audit })),
);

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

/**
 * A KMS Ed25519 signing key made on the KMS STAND-IN through CreateKey (moto cannot make one), and a
 * KmsLedgerSigner on it; the client is the real @aws-sdk/client-kms.
 */
async function kmsSigner(): Promise<{ signer: KmsLedgerSigner; keyArn: string; client: KMSClient }> {
  const standIn = await useKms();
  const client = new KMSClient({
    endpoint: standIn.endpoint,
    region: standIn.region,
    credentials: TEST_CREDENTIALS,
  });
  const { KeyMetadata } = await client.send(
    new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }),
  );
  const keyArn = KeyMetadata?.Arn;
  if (!keyArn) throw new Error('CreateKey returned no key ARN');
  return { signer: await KmsLedgerSigner.open(client, keyArn), keyArn, client };
}

describeChainConformance(
  'DynamoLedger on dynalite, signed by KmsLedgerSigner on the KMS stand-in',
  async () => {
    const { db } = await useDynamo();
    const { ledger: table } = await createTables(db);
    const { signer, client } = await kmsSigner();
    const chain = DynamoLedger.open({ db, table, signer });
    return { chain, minesPerTx: true, cleanup: async () => client.destroy() };
  },
);

describeLedgerSignerConformance(
  'KmsLedgerSigner on the KMS stand-in (an ECC_NIST_EDWARDS25519 key; never run against real KMS)',
  async () => {
    const { signer, keyArn, client } = await kmsSigner();
    return {
      signer,
      reopen: () => KmsLedgerSigner.open(client, keyArn),
      cleanup: async () => client.destroy(),
    };
  },
);

const MOTO_KMS = motoOrWarn(
  'KeyVault conformance of KmsKeyVault on moto KMS (tests/aws/conformance.test.ts)',
);
describe.skipIf(!MOTO_KMS)('on moto', () => {
  describeKeyVaultConformance('KmsKeyVault on moto KMS, a fresh SYMMETRIC_DEFAULT key per test', async () => {
    const { endpoint } = await useMoto();
    const client = new KMSClient({ endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
    const { KeyMetadata } = await client.send(new CreateKeyCommand({}));
    const keyArn = KeyMetadata?.Arn;
    if (!keyArn) throw new Error('moto CreateKey returned no key ARN');
    return { vault: new KmsKeyVault(client, keyArn), cleanup: async () => client.destroy() };
  });
});
