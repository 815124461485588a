/**
 * Composition root of the AWS runtime: the only place that reads the Lambda environment and builds AWS SDK
 * clients. Each function gets just the adapters it uses (ingest: S3, DynamoDB, IoT Data; anchor: S3,
 * DynamoDB, KMS for the ledger key; verify: S3, DynamoDB, KMS), wired to the same functions/<name>/handler.ts
 * and lib/ code as lib/runtime/embedded.ts.
 *
 * sst.config.ts sets every NOTARY_* variable below. Tests point the clients at emulators with the SDK's own
 * AWS_ENDPOINT_URL_<SERVICE> variables, or hand in clients directly.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { handle } from 'hono/aws-lambda';
import { z } from 'zod';
import { createAnchorHandler } from '../../functions/anchor/handler.js';
import type { AnchorLambdaDeps } from '../../functions/anchor/lambda.js';
import { createIngestHandler } from '../../functions/ingest/handler.js';
import type { IngestLambdaDeps } from '../../functions/ingest/lambda.js';
import { createApiApp } from '../../functions/verify/app.js';
import type { VerifyLambdaDeps } from '../../functions/verify/lambda.js';
import { DynamoIndexStore } from '../adapters/aws/dynamo-index-store.js';
import { DynamoLedger } from '../adapters/aws/dynamo-ledger.js';
import type { IndexTableNames } from '../adapters/aws/dynamo-tables.js';
import { IotDataReplyPublisher } from '../adapters/aws/iot-reply-publisher.js';
import { KmsKeyVault } from '../adapters/aws/kms-key-vault.js';
import { S3ObjectStore } from '../adapters/aws/s3-object-store.js';
import { fromBase64 } from '../core/bytes.js';
import { createLogger, type Logger } from '../logger.js';
import type { Chain } from '../ports.js';
import { authorizerAuthenticator } from './lambda-edge.js';

export const VERSION = '0.1.0';

const positive = z.coerce.number().int().positive();
const name = z.string().min(3);
const base64Key = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64');

const Env = z.object({
  AWS_REGION: z.string().min(1),
  NOTARY_STAGE: z.string().default('unknown'),
  NOTARY_BUCKET: name,
  NOTARY_TABLE_RECORDS: name,
  NOTARY_TABLE_BATCHES: name,
  NOTARY_TABLE_DEVICES: name,
  NOTARY_TABLE_DEAD_LETTERS: name,
  NOTARY_TABLE_AUDIT: name,
  NOTARY_TABLE_LEDGER: name.optional(),
  NOTARY_KMS_KEY_ID: z.string().min(1).optional(),
  /** The anchoring (ledger) key, only as the KMS CiphertextBlob, base64; see infra/ledger-key.ts. */
  NOTARY_LEDGER_KEY_WRAPPED: base64Key.optional(),
  NOTARY_LEDGER_PUBLIC_KEY: base64Key.optional(),
  /** https://<prefix>-ats.iot.<region>.amazonaws.com, from `aws iot describe-endpoint`. */
  NOTARY_IOT_DATA_ENDPOINT: z.string().url().optional(),
  NOTARY_PENDING_SHARDS: positive.max(256).default(8),
  NOTARY_DEAD_LETTER_SHARDS: positive.max(256).default(4),
  /** Emulators only: s3rver needs path-style URLs. */
  NOTARY_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false'),
  ANCHOR_MAX_BATCH: positive.default(100_000),
  MAX_PACKET_BYTES: positive.default(2 * 1024 * 1024),
  MAX_CLOCK_SKEW_MS: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(5 * 60_000),
  UPLOAD_TTL_SECONDS: positive.max(7 * 24 * 3600).default(900),
  BACKLOG_THRESHOLD: positive.default(1_000_000),
  REQUIRED_CONFIRMATIONS: positive.default(1),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export interface AwsConfig {
  region: string;
  stage: string;
  bucket: string;
  tables: IndexTableNames;
  ledgerTable?: string;
  kmsKeyId?: string;
  ledgerKeyWrapped?: Uint8Array;
  ledgerPublicKey?: Uint8Array;
  iotDataEndpoint?: string;
  pendingShards: number;
  deadLetterShards: number;
  s3ForcePathStyle: boolean;
  anchorMaxBatch: number;
  maxPacketBytes: number;
  maxClockSkewMs: number;
  uploadTtlSeconds: number;
  backlogThreshold: number;
  requiredConfirmations: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export class AwsConfigError extends Error {
  override readonly name = 'AwsConfigError';
}

export function awsConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AwsConfig {
  // An empty variable means unset (sst.config.ts sets the ledger key to '' until a key exists).
  const r = Env.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!r.success) {
    throw new AwsConfigError(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const e = r.data;
  const key = (v: string | undefined, what: string): Uint8Array | undefined => {
    if (v === undefined || v === '') return undefined;
    const bytes = fromBase64(v);
    if (!bytes) throw new AwsConfigError(`${what} is not base64`);
    return bytes;
  };
  return {
    region: e.AWS_REGION,
    stage: e.NOTARY_STAGE,
    bucket: e.NOTARY_BUCKET,
    tables: {
      records: e.NOTARY_TABLE_RECORDS,
      batches: e.NOTARY_TABLE_BATCHES,
      devices: e.NOTARY_TABLE_DEVICES,
      deadLetters: e.NOTARY_TABLE_DEAD_LETTERS,
      audit: e.NOTARY_TABLE_AUDIT,
    },
    ...(e.NOTARY_TABLE_LEDGER ? { ledgerTable: e.NOTARY_TABLE_LEDGER } : {}),
    ...(e.NOTARY_KMS_KEY_ID ? { kmsKeyId: e.NOTARY_KMS_KEY_ID } : {}),
    ...(e.NOTARY_LEDGER_KEY_WRAPPED
      ? { ledgerKeyWrapped: key(e.NOTARY_LEDGER_KEY_WRAPPED, 'NOTARY_LEDGER_KEY_WRAPPED') }
      : {}),
    ...(e.NOTARY_LEDGER_PUBLIC_KEY
      ? { ledgerPublicKey: key(e.NOTARY_LEDGER_PUBLIC_KEY, 'NOTARY_LEDGER_PUBLIC_KEY') }
      : {}),
    ...(e.NOTARY_IOT_DATA_ENDPOINT ? { iotDataEndpoint: e.NOTARY_IOT_DATA_ENDPOINT } : {}),
    pendingShards: e.NOTARY_PENDING_SHARDS,
    deadLetterShards: e.NOTARY_DEAD_LETTER_SHARDS,
    s3ForcePathStyle: e.NOTARY_S3_FORCE_PATH_STYLE === 'true',
    anchorMaxBatch: e.ANCHOR_MAX_BATCH,
    maxPacketBytes: e.MAX_PACKET_BYTES,
    maxClockSkewMs: e.MAX_CLOCK_SKEW_MS,
    uploadTtlSeconds: e.UPLOAD_TTL_SECONDS,
    backlogThreshold: e.BACKLOG_THRESHOLD,
    requiredConfirmations: e.REQUIRED_CONFIRMATIONS,
    logLevel: e.LOG_LEVEL,
  };
}

function required<T>(value: T | undefined, variable: string, fn: string): T {
  if (value === undefined) throw new AwsConfigError(`${variable} is required by the ${fn} function`);
  return value;
}

export interface AwsClients {
  s3: S3Client;
  dynamodb: DynamoDBClient;
  kms: KMSClient;
  iotData: IoTDataPlaneClient;
}

/** Clients are cheap until used; the function's IAM role decides which of them may do anything. */
export function createAwsClients(config: AwsConfig): AwsClients {
  const region = config.region;
  return {
    s3: new S3Client({ region, forcePathStyle: config.s3ForcePathStyle }),
    dynamodb: new DynamoDBClient({ region }),
    kms: new KMSClient({ region }),
    iotData: new IoTDataPlaneClient({
      region,
      ...(config.iotDataEndpoint ? { endpoint: config.iotDataEndpoint } : {}),
    }),
  };
}

export interface AwsRuntimeParts {
  config: AwsConfig;
  clients: AwsClients;
  log: Logger;
  clock?: () => number;
}

function storesOf(p: AwsRuntimeParts, opts: { countCap?: number } = {}) {
  return {
    objects: new S3ObjectStore({
      s3: p.clients.s3,
      bucket: p.config.bucket,
      ...(p.clock ? { clock: p.clock } : {}),
    }),
    index: new DynamoIndexStore({
      db: p.clients.dynamodb,
      tables: p.config.tables,
      pendingShards: p.config.pendingShards,
      deadLetterShards: p.config.deadLetterShards,
      ...(opts.countCap === undefined ? {} : { countCap: opts.countCap }),
    }),
  };
}

export async function buildIngest(p: AwsRuntimeParts): Promise<IngestLambdaDeps> {
  const clock = p.clock ?? Date.now;
  const { objects, index } = storesOf(p);
  const log = p.log.child({ fn: 'ingest' });
  return {
    ingest: createIngestHandler({
      objects,
      index,
      clock,
      log,
      limits: {
        maxClockSkewMs: p.config.maxClockSkewMs,
        maxPacketBytes: p.config.maxPacketBytes,
        uploadTtlSeconds: p.config.uploadTtlSeconds,
      },
    }),
    publisher: new IotDataReplyPublisher(p.clients.iotData),
    deadLetters: index,
    clock,
    log,
  };
}

export async function buildAnchor(p: AwsRuntimeParts): Promise<AnchorLambdaDeps> {
  const clock = p.clock ?? Date.now;
  const { objects, index } = storesOf(p);
  const log = p.log.child({ fn: 'anchor' });
  const ledger = await DynamoLedger.open({
    db: p.clients.dynamodb,
    table: required(p.config.ledgerTable, 'NOTARY_TABLE_LEDGER', 'anchor'),
    clock,
    wrappedKey: required(p.config.ledgerKeyWrapped, 'NOTARY_LEDGER_KEY_WRAPPED', 'anchor'),
    vault: new KmsKeyVault(p.clients.kms, required(p.config.kmsKeyId, 'NOTARY_KMS_KEY_ID', 'anchor')),
    ...(p.config.ledgerPublicKey ? { expectedPublicKey: p.config.ledgerPublicKey } : {}),
  });
  return {
    anchor: createAnchorHandler({
      index,
      objects,
      chains: [ledger],
      clock,
      maxBatchSize: p.config.anchorMaxBatch,
      log,
    }),
    log,
  };
}

export async function buildVerify(p: AwsRuntimeParts): Promise<VerifyLambdaDeps> {
  const clock = p.clock ?? Date.now;
  // Health only compares the queue with the threshold; counting stops just past it, within API Gateway's
  // 30 s, however large a backlog gets.
  const { objects, index } = storesOf(p, { countCap: p.config.backlogThreshold + 1 });
  const log = p.log.child({ fn: 'verify' });
  const chains = new Map<string, Chain>();
  // The verify API reads the ledger with its public key only; it never holds the signing key.
  if (p.config.ledgerTable && p.config.ledgerPublicKey) {
    const ledger = DynamoLedger.readOnly({
      db: p.clients.dynamodb,
      table: p.config.ledgerTable,
      publicKey: p.config.ledgerPublicKey,
    });
    chains.set(ledger.chainId, ledger);
  } else {
    log.warn('no ledger configured (NOTARY_TABLE_LEDGER, NOTARY_LEDGER_PUBLIC_KEY): proofs carry no anchors');
  }
  const app = createApiApp({
    index,
    objects,
    vault: new KmsKeyVault(p.clients.kms, required(p.config.kmsKeyId, 'NOTARY_KMS_KEY_ID', 'verify')),
    chains,
    clock,
    log,
    requiredConfirmations: () => p.config.requiredConfirmations,
    authenticateOperator: authorizerAuthenticator(),
    backlogThreshold: p.config.backlogThreshold,
    version: VERSION,
  });
  return { handle: handle(app), log };
}

/** The Lambda runtime's path: environment in, one function's dependencies out. */
export function fromEnv<T>(build: (p: AwsRuntimeParts) => Promise<T>): () => Promise<T> {
  return async () => {
    const config = awsConfigFromEnv();
    const log = createLogger({ level: config.logLevel, base: { stage: config.stage } });
    return build({ config, clients: createAwsClients(config), log });
  };
}
