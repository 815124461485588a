/**
 * Composition root of the AWS runtime: the only place that reads the Lambda environment and builds AWS SDK
 * clients. Each function gets just the adapters it uses (ingest: S3, DynamoDB, IoT Data; anchor: S3,
 * DynamoDB, KMS to sign ledger entries; verify: S3, DynamoDB, KMS), wired to the same lib/ code as
 * lib/runtime/embedded.ts. What each entry point (functions/<name>/lambda.ts) gets is declared in lambda-deps.ts.
 *
 * sst.config.ts sets every NOTARY_* variable below. Tests point the clients at emulators with the SDK's own
 * AWS_ENDPOINT_URL_<SERVICE> variables, or hand in clients directly.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { handle } from 'hono/aws-lambda';
import { z } from 'zod';
import { defaultJwksUrl, jwtOperatorCheck, type OperatorJwtConfig } from '../access/jwt-operator.js';
import { DynamoIndexStore } from '../adapters/aws/dynamo-index-store.js';
import { DynamoLeaseStore } from '../adapters/aws/dynamo-lease-store.js';
import { DynamoLedger } from '../adapters/aws/dynamo-ledger.js';
import { DynamoStatementStore } from '../adapters/aws/dynamo-statement-store.js';
import type { IndexTableNames } from '../adapters/aws/dynamo-tables.js';
import { DynamoTokenStore } from '../adapters/aws/dynamo-token-store.js';
import { IotControlPlaneClient } from '../adapters/aws/iot-control-plane.js';
import { IotDataReplyPublisher } from '../adapters/aws/iot-reply-publisher.js';
import { KmsKeyVault } from '../adapters/aws/kms-key-vault.js';
import { KmsLedgerSigner, kmsLedgerPublicKey } from '../adapters/aws/kms-ledger-signer.js';
import { S3ObjectStore } from '../adapters/aws/s3-object-store.js';
import { createAnchorCycle } from '../anchor/anchor-cycle.js';
import { createAnchorHandler, singleFlightAnchor } from '../anchor/anchor-handler.js';
import {
  createSingleFlight,
  fencedChain,
  fencedIndex,
  fencedObjects,
  fencedStatements,
} from '../anchor/anchor-lease.js';
import { createApiApp } from '../api/api-app.js';
import { CodedError } from '../core/errors.js';
import { DeviceGate } from '../ingest/device-gate.js';
import { DeviceKeyCache } from '../ingest/device-key-cache.js';
import { createIngestHandler } from '../ingest/ingest-handler.js';
import { createInlineVerifier } from '../ingest/signature-verifier.js';
import type { Logger } from '../logger.js';
import { type Metrics, noMetrics } from '../metrics.js';
import type { Chain } from '../ports.js';
import { cachedCount } from '../verify/cached-count.js';
import { awsAnchorChains } from './aws-chains.js';
import { type ChainsConfig, chainConfigFromEnv } from './chain-config.js';
import type { ConfigErrorCode } from './config.js';
import { type Environment, parseEnvironment, processEnvironment } from './environment.js';
import { type AwsIpfsConfig, awsIpfsConfigFromEnv } from './ipfs-config.js';
import { hotCopyReader, VERIFY_IPFS_TIMEOUT_MS } from './ipfs-reader.js';
import type {
  AnchorLambdaDeps,
  AuthorizerLambdaDeps,
  IngestLambdaDeps,
  VerifyLambdaDeps,
} from './lambda-deps.js';
import { authorizerAuthenticator, type LambdaTools } from './lambda-edge.js';

export const VERSION = '0.1.0';
/** KEY_RELEASE_MAX_RECORDS on AWS: what fits Lambda's 6 MB answer with room to spare. */
export const AWS_KEY_RELEASE_MAX_RECORDS = 20_000;
/**
 * Records one range export may hold on AWS: the verify Lambda's answer is buffered (6 MB at most), and a v2
 * bundle with its key events is 2-4 KB; wider ranges are exported in parts (docs/export.md §5).
 */
export const AWS_EXPORT_MAX_RECORDS = 1000;

const positive = z.coerce.number().int().positive();
const name = z.string().min(3);

const Env = z.object({
  AWS_REGION: z.string().min(1),
  NOTARY_STAGE: z.string().default('unknown'),
  NOTARY_BUCKET: name,
  NOTARY_TABLE_RECORDS: name,
  NOTARY_TABLE_BATCHES: name,
  NOTARY_TABLE_DEVICES: name,
  NOTARY_TABLE_DEAD_LETTERS: name,
  NOTARY_TABLE_AUDIT: name,
  NOTARY_TABLE_STATEMENTS: name,
  NOTARY_TABLE_LEDGER: name.optional(),
  /** Auditor tokens; required by the verify function and the authorizer. */
  NOTARY_TABLE_TOKENS: name.optional(),
  /** The anchor lease (single-flight anchoring, lib/anchor/anchor-lease.ts); required by the anchor function. */
  NOTARY_TABLE_LEASES: name.optional(),
  /** How long the anchor lease lasts without a renewal; every write of a cycle renews it. */
  ANCHOR_LEASE_TTL_MS: positive.min(10_000).max(3_600_000).default(120_000),
  NOTARY_KMS_KEY_ID: z.string().min(1).optional(),
  /**
   * The ledger's signing key: a KMS key of spec ECC_NIST_EDWARDS25519 the deploy creates (key id, ARN or
   * alias). The anchor function signs with it; the verify function reads its public key.
   */
  NOTARY_LEDGER_KEY_ID: z.string().min(1).max(2048).optional(),
  /**
   * The stage's IoT device policy (sst.config.ts `DevicePolicy`): set, the verify function provisions devices
   * at run time (POST/DELETE /v1/devices/{id}/certificate); unset, those routes answer 501.
   */
  NOTARY_IOT_DEVICE_POLICY: z
    .string()
    .regex(/^[\w+=,.@-]{1,128}$/, 'must be an IoT policy name')
    .optional(),
  /** https://<prefix>-ats.iot.<region>.amazonaws.com, from `aws iot describe-endpoint`. */
  NOTARY_IOT_DATA_ENDPOINT: z.string().url().optional(),
  NOTARY_PENDING_SHARDS: positive.max(256).default(8),
  NOTARY_DEAD_LETTER_SHARDS: positive.max(256).default(4),
  /** Sets each dead letter's TTL attribute (expiresAt); the table's TTL setting does the deleting. */
  NOTARY_DEAD_LETTER_RETENTION_DAYS: positive.max(36_500).default(30),
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
  /** How long the public health route serves its pending count from memory (0: count on every call). */
  HEALTH_COUNT_CACHE_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  REQUIRED_CONFIRMATIONS: positive.default(1),
  /** The anchor schedule's period (sst.config.ts sets it from NOTARY_ANCHOR_SCHEDULE); budgets plan with it. */
  ANCHOR_INTERVAL_MS: positive.default(60_000),
  /**
   * Lambda answers at most 6 MB, and the API's answers are buffered: about 25,000 keys fit, so the AWS default
   * is below the embedded runtime's (docs/deploy.md).
   */
  KEY_RELEASE_MAX_RECORDS: positive.max(25_000).default(AWS_KEY_RELEASE_MAX_RECORDS),
  /** The operators' OIDC issuer and audience; required by the authorizer (sst.config.ts sets them). */
  NOTARY_OPERATOR_JWT_ISSUER: z.string().url().optional(),
  NOTARY_OPERATOR_JWT_AUDIENCE: z.string().min(1).optional(),
  /** Where the issuer publishes its keys; default `<issuer>/.well-known/jwks.json` (Cognito's). */
  NOTARY_OPERATOR_JWKS_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * How long an ingest instance may use a device's key state it read (docs/device-keys.md): a revocation
   * reaches every warm instance within this time. 0 (default): read on every message.
   */
  DEVICE_KEY_CACHE_MS: z.coerce.number().int().nonnegative().max(3_600_000).default(0),
});

export interface AwsConfig {
  region: string;
  stage: string;
  bucket: string;
  tables: IndexTableNames;
  /** Key events and device heads (DynamoStatementStore). */
  statementsTable: string;
  ledgerTable?: string;
  tokensTable?: string;
  leasesTable?: string;
  anchorLeaseTtlMs: number;
  kmsKeyId?: string;
  ledgerKeyId?: string;
  iotDevicePolicy?: string;
  iotDataEndpoint?: string;
  pendingShards: number;
  deadLetterShards: number;
  deadLetterRetentionDays: number;
  s3ForcePathStyle: boolean;
  anchorMaxBatch: number;
  maxPacketBytes: number;
  maxClockSkewMs: number;
  uploadTtlSeconds: number;
  backlogThreshold: number;
  healthCountCacheMs: number;
  requiredConfirmations: number;
  deviceKeyCacheMs: number;
  keyReleaseMaxRecords: number;
  operatorJwt?: OperatorJwtConfig;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** IPFS hot copies (IPFS_* and NOTARY_TABLE_PIN_JOBS, lib/runtime/ipfs-config.ts). */
  ipfs: AwsIpfsConfig;
  /** Chains, budgets and finality (ANCHOR_CHAINS..., lib/runtime/chain-config.ts); keys KMS-wrapped. */
  chains: ChainsConfig;
}

export class AwsConfigError extends CodedError<ConfigErrorCode> {
  override readonly name = 'AwsConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-config', message, options);
  }
}

export function awsConfigFromEnv(env: Environment = processEnvironment()): AwsConfig {
  // An empty variable means unset.
  const r = parseEnvironment(Env, env, { emptyIsUnset: true });
  if (!r.ok) throw new AwsConfigError(r.message);
  const e = r.data;
  if ((e.NOTARY_OPERATOR_JWT_ISSUER === undefined) !== (e.NOTARY_OPERATOR_JWT_AUDIENCE === undefined))
    throw new AwsConfigError('NOTARY_OPERATOR_JWT_ISSUER and NOTARY_OPERATOR_JWT_AUDIENCE go together');
  const ipfs = awsIpfsConfigFromEnv(env);
  if (!ipfs.ok) throw new AwsConfigError(ipfs.message);
  const chains = chainConfigFromEnv(env, {
    dataDir: '.',
    anchorIntervalMs: e.ANCHOR_INTERVAL_MS,
    keys: 'kms-wrapped',
  });
  if (!chains.ok) throw new AwsConfigError(chains.message);
  // Inline packets read records and envelopes from the anchor function, which has no grant for either.
  const inline = chains.config.chains.find((c) => c.inline);
  if (inline)
    throw new AwsConfigError(`${inline.kind.toUpperCase()}_INLINE: inline packets are embedded-only`);
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
    statementsTable: e.NOTARY_TABLE_STATEMENTS,
    ...(e.NOTARY_TABLE_LEDGER ? { ledgerTable: e.NOTARY_TABLE_LEDGER } : {}),
    ...(e.NOTARY_TABLE_TOKENS ? { tokensTable: e.NOTARY_TABLE_TOKENS } : {}),
    ...(e.NOTARY_TABLE_LEASES ? { leasesTable: e.NOTARY_TABLE_LEASES } : {}),
    anchorLeaseTtlMs: e.ANCHOR_LEASE_TTL_MS,
    ...(e.NOTARY_KMS_KEY_ID ? { kmsKeyId: e.NOTARY_KMS_KEY_ID } : {}),
    ...(e.NOTARY_LEDGER_KEY_ID ? { ledgerKeyId: e.NOTARY_LEDGER_KEY_ID } : {}),
    ...(e.NOTARY_IOT_DEVICE_POLICY ? { iotDevicePolicy: e.NOTARY_IOT_DEVICE_POLICY } : {}),
    ...(e.NOTARY_IOT_DATA_ENDPOINT ? { iotDataEndpoint: e.NOTARY_IOT_DATA_ENDPOINT } : {}),
    pendingShards: e.NOTARY_PENDING_SHARDS,
    deadLetterShards: e.NOTARY_DEAD_LETTER_SHARDS,
    deadLetterRetentionDays: e.NOTARY_DEAD_LETTER_RETENTION_DAYS,
    s3ForcePathStyle: e.NOTARY_S3_FORCE_PATH_STYLE === 'true',
    anchorMaxBatch: e.ANCHOR_MAX_BATCH,
    maxPacketBytes: e.MAX_PACKET_BYTES,
    maxClockSkewMs: e.MAX_CLOCK_SKEW_MS,
    uploadTtlSeconds: e.UPLOAD_TTL_SECONDS,
    backlogThreshold: e.BACKLOG_THRESHOLD,
    healthCountCacheMs: e.HEALTH_COUNT_CACHE_MS,
    requiredConfirmations: e.REQUIRED_CONFIRMATIONS,
    deviceKeyCacheMs: e.DEVICE_KEY_CACHE_MS,
    keyReleaseMaxRecords: e.KEY_RELEASE_MAX_RECORDS,
    ...(e.NOTARY_OPERATOR_JWT_ISSUER && e.NOTARY_OPERATOR_JWT_AUDIENCE
      ? {
          operatorJwt: {
            issuer: e.NOTARY_OPERATOR_JWT_ISSUER,
            audience: e.NOTARY_OPERATOR_JWT_AUDIENCE,
            jwksUrl: e.NOTARY_OPERATOR_JWKS_URL ?? defaultJwksUrl(e.NOTARY_OPERATOR_JWT_ISSUER),
          },
        }
      : {}),
    logLevel: e.LOG_LEVEL,
    ipfs: ipfs.config,
    chains: chains.config,
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
  /** The IoT control plane (run-time device provisioning, verify function only). */
  iot?: IoTClient;
}

/** Clients are cheap until used; the function's IAM role decides which of them may do anything. */
export function createAwsClients(config: AwsConfig): AwsClients {
  const region = config.region;
  return {
    s3: new S3Client({ region, forcePathStyle: config.s3ForcePathStyle }),
    dynamodb: new DynamoDBClient({ region }),
    kms: new KMSClient({ region }),
    iot: new IoTClient({ region }),
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
  /** Operational figures (lib/metrics.ts); none reported without it. */
  metrics?: Metrics;
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
      deadLetterRetentionDays: p.config.deadLetterRetentionDays,
      ...(opts.countCap === undefined ? {} : { countCap: opts.countCap }),
    }),
    statements: new DynamoStatementStore({
      db: p.clients.dynamodb,
      table: p.config.statementsTable,
      pendingShards: p.config.pendingShards,
      ...(opts.countCap === undefined ? {} : { countCap: opts.countCap }),
    }),
  };
}

export async function buildIngest(p: AwsRuntimeParts): Promise<IngestLambdaDeps> {
  const clock = p.clock ?? Date.now;
  const { objects, index, statements } = storesOf(p);
  const log = p.log.child({ fn: 'ingest' });
  // Other instances change keys too, so a cached state can only be trusted for DEVICE_KEY_CACHE_MS; refusals
  // are always confirmed by a fresh (consistent) read. One message per invocation: the signature is checked
  // on this thread, there is no event loop shared with other devices to protect.
  const keyCache = new DeviceKeyCache(index, { maxAgeMs: p.config.deviceKeyCacheMs, clock });
  return {
    ingest: createIngestHandler({
      objects,
      index,
      devices: keyCache.watch(index),
      statements,
      origin: { keys: keyCache, verifier: createInlineVerifier(), gate: new DeviceGate(clock) },
      clock,
      log,
      ...(p.metrics ? { metrics: p.metrics } : {}),
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
    metrics: p.metrics ?? noMetrics,
  };
}

export async function buildAnchor(p: AwsRuntimeParts): Promise<AnchorLambdaDeps> {
  const clock = p.clock ?? Date.now;
  const stores = storesOf(p);
  const log = p.log.child({ fn: 'anchor' });
  // Single flight: only the holder of the anchor lease runs a cycle, and each of its writes passes the fence.
  const flight = createSingleFlight({
    leases: new DynamoLeaseStore({
      db: p.clients.dynamodb,
      table: required(p.config.leasesTable, 'NOTARY_TABLE_LEASES', 'anchor'),
    }),
    clock,
    ttlMs: p.config.anchorLeaseTtlMs,
    holder: 'anchor',
  });
  const index = fencedIndex(stores.index, flight.fence);
  const objects = fencedObjects(stores.objects, flight.fence);
  const statements = fencedStatements(stores.statements, flight.fence);
  const vault = new KmsKeyVault(p.clients.kms, required(p.config.kmsKeyId, 'NOTARY_KMS_KEY_ID', 'anchor'));
  const withLedger = p.config.chains.chains.some((c) => c.kind === 'embedded');
  // The ledger signs with a KMS key the deploy created; its private half never reaches this function.
  const ledger = withLedger
    ? DynamoLedger.open({
        db: p.clients.dynamodb,
        table: required(p.config.ledgerTable, 'NOTARY_TABLE_LEDGER', 'anchor'),
        clock,
        signer: await KmsLedgerSigner.open(
          p.clients.kms,
          required(p.config.ledgerKeyId, 'NOTARY_LEDGER_KEY_ID', 'anchor'),
        ),
      })
    : undefined;
  const chains = await awsAnchorChains(p.config.chains, {
    ...(ledger ? { ledger } : {}),
    vault,
    log,
    mode: 'anchor',
  });
  const cycle = createAnchorCycle({
    index,
    statements,
    objects,
    chains: chains.map((c) => ({ ...c, chain: fencedChain(c.chain, flight.fence) })),
    clock,
    policy: { ...p.config.chains.policy, maxBatchSize: p.config.anchorMaxBatch },
    retry: p.config.chains.retry,
  });
  // The Cron fires at a fixed rate: a tick builds a batch only once the plan's interval has passed, give or
  // take half a period of the Cron's jitter.
  const anchor = createAnchorHandler({
    cycle,
    log,
    gate: true,
    slackMs: p.config.chains.tickMs / 2,
    clock,
    ...(p.metrics ? { metrics: p.metrics } : {}),
  });
  return { anchor: singleFlightAnchor(anchor, flight, log), log };
}

export async function buildVerify(p: AwsRuntimeParts): Promise<VerifyLambdaDeps> {
  const clock = p.clock ?? Date.now;
  // Health only compares the queue with the threshold; counting stops just past it, within API Gateway's
  // 30 s, however large a backlog gets.
  const { objects, index, statements } = storesOf(p, { countCap: p.config.backlogThreshold + 1 });
  const log = p.log.child({ fn: 'verify' });
  const chains = new Map<string, Chain>();
  // The verify API reads the ledger with its public key only (KMS GetPublicKey, once per cold start); it
  // cannot sign.
  if (p.config.ledgerTable && p.config.ledgerKeyId) {
    const ledger = DynamoLedger.readOnly({
      db: p.clients.dynamodb,
      table: p.config.ledgerTable,
      publicKey: await kmsLedgerPublicKey(p.clients.kms, p.config.ledgerKeyId),
    });
    chains.set(ledger.chainId, ledger);
  } else {
    log.warn('no ledger configured (NOTARY_TABLE_LEDGER, NOTARY_LEDGER_KEY_ID): proofs carry no anchors');
  }
  // Public chains are looked up watch-only: this function never holds an anchoring key.
  const external = await awsAnchorChains(
    { ...p.config.chains, chains: p.config.chains.chains.filter((c) => c.kind !== 'embedded') },
    { log, mode: 'verify' },
  );
  for (const a of external) chains.set(a.chain.chainId, a.chain);
  const confirmations = new Map(external.map((a) => [a.chain.chainId, a.finality.confirmations]));
  const ledgerConfirmations = p.config.chains.chains.find((c) => c.kind === 'embedded')?.finality
    .confirmations;
  const app = createApiApp({
    index,
    statements,
    objects,
    vault: new KmsKeyVault(p.clients.kms, required(p.config.kmsKeyId, 'NOTARY_KMS_KEY_ID', 'verify')),
    chains,
    clock,
    log,
    requiredConfirmations: (chainId) =>
      confirmations.get(chainId) ?? Math.max(p.config.requiredConfirmations, ledgerConfirmations ?? 1),
    tokens: new DynamoTokenStore({
      db: p.clients.dynamodb,
      table: required(p.config.tokensTable, 'NOTARY_TABLE_TOKENS', 'verify'),
    }),
    authenticate: authorizerAuthenticator(),
    keyReleaseMaxRecords: p.config.keyReleaseMaxRecords,
    exportMaxRecords: AWS_EXPORT_MAX_RECORDS,
    backlogThreshold: p.config.backlogThreshold,
    // Public and unauthenticated: one count per warm instance per HEALTH_COUNT_CACHE_MS, however often asked.
    pendingCount: cachedCount(() => index.countPending(), { ttlMs: p.config.healthCountCacheMs, clock }),
    version: VERSION,
    ...hotCopyReader(p.config.ipfs, VERIFY_IPFS_TIMEOUT_MS),
    ...(p.config.iotDevicePolicy && p.clients.iot
      ? {
          iotProvisioning: {
            iot: new IotControlPlaneClient(p.clients.iot),
            policyName: p.config.iotDevicePolicy,
          },
        }
      : {}),
  });
  return { handle: handle(app), log };
}

/**
 * The Lambda authorizer: the tokens table (one consistent GetItem per request) and the operators' JWT issuer.
 * It needs nothing else: no bucket, no KMS, no other table.
 */
export async function buildAuthorizer(p: AwsRuntimeParts): Promise<AuthorizerLambdaDeps> {
  const clock = p.clock ?? Date.now;
  const tokens = new DynamoTokenStore({
    db: p.clients.dynamodb,
    table: required(p.config.tokensTable, 'NOTARY_TABLE_TOKENS', 'authorizer'),
  });
  const jwt = required(p.config.operatorJwt, 'NOTARY_OPERATOR_JWT_ISSUER', 'authorizer');
  return { auth: { tokens, clock, operator: jwtOperatorCheck(jwt) }, log: p.log.child({ fn: 'authorizer' }) };
}

/** The Lambda runtime's path: environment in, one function's dependencies out, observed by the edge's tools. */
export function fromEnv<T>(build: (p: AwsRuntimeParts) => Promise<T>): (tools: LambdaTools) => Promise<T> {
  return async (tools) => {
    const config = awsConfigFromEnv();
    tools.configure({ stage: config.stage, logLevel: config.logLevel });
    const c = createAwsClients(config);
    const clients: AwsClients = {
      s3: tools.trace(c.s3),
      dynamodb: tools.trace(c.dynamodb),
      kms: tools.trace(c.kms),
      iotData: tools.trace(c.iotData),
    };
    return build({ config, clients, log: tools.log, metrics: tools.metrics });
  };
}
