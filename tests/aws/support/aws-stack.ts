/**
 * The AWS runtime of lib/runtime/aws.ts against local servers: dynalite for DynamoDB and s3rver for S3 (real
 * emulators), behind them the S3 checksum gate, and the KMS and IoT Data stand-ins for the two services with
 * no emulator. Each Lambda entry point is built the way its `handler` export builds itself, except that the
 * configuration is parsed from a test environment and the SDK clients point here. Each function gets its own
 * clients, as each Lambda has its own role, and every AWS call is recorded per function for the
 * least-privilege check in tests/aws/infra.test.ts.
 */

import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { Context } from 'aws-lambda';
import { createAnchorLambda } from '../../../functions/anchor/lambda.js';
import { createAuthorizerLambda } from '../../../functions/authorizer/lambda.js';
import type { AuthorizerEvent, HttpApiEvent } from '../../../functions/edge/http-api-event.js';
import {
  createIngestLambda,
  type IngestLambdaResult,
  type IotRuleEvent,
} from '../../../functions/ingest/lambda.js';
import { createIpfsPinLambda, type S3ObjectCreatedEvent } from '../../../functions/ipfs-pin/lambda.js';
import { createVerifyLambda } from '../../../functions/verify/lambda.js';
import { DynamoIndexStore } from '../../../lib/adapters/aws/dynamo-index-store.js';
import { kmsLedgerPublicKey } from '../../../lib/adapters/aws/kms-ledger-signer.js';
import { S3ObjectStore } from '../../../lib/adapters/aws/s3-object-store.js';
import type { AnchorRun } from '../../../lib/anchor/anchor-handler.js';
import { toBase64 } from '../../../lib/core/bytes.js';
import { type LogLevel, silentLogger } from '../../../lib/logger.js';
import {
  type AwsClients,
  type AwsConfig,
  awsConfigFromEnv,
  buildAnchor,
  buildAuthorizer,
  buildIngest,
  buildVerify,
} from '../../../lib/runtime/aws.js';
import { buildIpfsPin } from '../../../lib/runtime/aws-ipfs.js';
import type { HttpApiResult } from '../../../lib/runtime/lambda-deps.js';
import { type LambdaTools, once } from '../../../lib/runtime/lambda-edge.js';
import {
  createTables,
  type RunningDynalite,
  type RunningS3rver,
  s3ClientFor,
  startDynalite,
  startS3rver,
  TEST_CREDENTIALS,
  TEST_REGION,
} from './emulators.js';
import { type IotDataStandIn, startIotDataStandIn } from './iot-data-stand-in.js';
import { type JwtIssuer, startJwtIssuer } from './jwt-issuer.js';
import { type KmsStandIn, startKmsStandIn } from './kms-stand-in.js';
import { type ChecksumGate, startChecksumGate } from './s3-checksum-gate.js';

export type FnName = 'ingest' | 'anchor' | 'verify' | 'ipfsPin' | 'authorizer';

export interface RecordedCall {
  fn: FnName;
  service: 's3' | 'dynamodb' | 'kms' | 'iotData';
  command: string;
  input: Record<string, unknown>;
  /** The service's answer, once it came (what a meter reads: items returned, sizes). */
  output?: unknown;
  /** The error's name when the call failed (a failed conditional write is still billed). */
  failed?: string;
}

export interface CallHooks {
  before?: (call: RecordedCall) => Promise<void> | void;
  /** Also runs after a failed call, with `failed` set, before the error goes on to the caller. */
  after?: (call: RecordedCall) => Promise<void> | void;
}

export interface AwsStack {
  config: AwsConfig;
  env: Record<string, string>;
  dynamo: RunningDynalite;
  s3rver: RunningS3rver;
  gate: ChecksumGate;
  kms: KmsStandIn;
  iot: IotDataStandIn;
  /** The operators' JWT issuer (stand-in for the stage's Cognito user pool). */
  issuer: JwtIssuer;
  /** Direct access for assertions and tampering, outside any function's role. */
  index: DynamoIndexStore;
  objects: S3ObjectStore;
  /** The raw public key of the ledger's KMS signing key (GetPublicKey at setup). */
  ledgerPublicKey: Uint8Array;
  ledgerKeyArn: string;
  calls: RecordedCall[];
  /** Hooks around every recorded call (a test holds one to force an interleaving); none by default. */
  hooks: CallHooks;
  ingest: ReturnType<typeof createIngestLambda>;
  anchor: ReturnType<typeof createAnchorLambda>;
  /**
   * Another warm instance of the anchor function, with its own clients and no shared memory, as Lambda
   * starts when a tick fires while a cycle still runs (one invocation per instance at a time).
   */
  anotherAnchor(): ReturnType<typeof createAnchorLambda>;
  /**
   * The anchor function's cycle run now, whatever its schedule (what the scheduled Lambda skips as not due yet):
   * the same code and state as `anchor`, for tests that anchor twice within one interval.
   */
  anchorNow(): Promise<AnchorRun>;
  verify: ReturnType<typeof createVerifyLambda>;
  /** Pins to `ipfsApiUrl` (every record hot); without one its build fails, as in a stage without IPFS. */
  ipfsPin: ReturnType<typeof createIpfsPinLambda>;
  authorizer: ReturnType<typeof createAuthorizerLambda>;
  /**
   * One API request the way API Gateway runs it: the authorizer on the request's headers, then (it never
   * denies a well-formed request) the verify function with the authorizer's context.
   */
  api(
    method: string,
    pathAndQuery: string,
    opts?: { authorization?: string; body?: unknown },
  ): Promise<HttpApiResult>;
  close(): Promise<void>;
}

/** A Lambda context as the runtime passes it; only the request id and remaining time are read. */
export function lambdaContext(fn: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: fn,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${TEST_REGION}:111122223333:function:${fn}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The event an IoT topic rule with iotRuleSql() hands to Lambda for one MQTT message. */
export function iotRuleEvent(topic: string, payload: Uint8Array | string, clientId?: string): IotRuleEvent {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  return {
    payload: toBase64(bytes),
    topic,
    ...(clientId === undefined ? {} : { clientId }),
    receivedAt: Date.now(),
  };
}

/** The methods API Gateway passes on (Powertools' schema of the event names them; others are refused). */
type HttpMethod = HttpApiEvent['requestContext']['http']['method'];

/** An API Gateway HTTP API (payload 2.0) event; `operator` fills the JWT authorizer context. */
export function httpApiEvent(
  method: string,
  pathAndQuery: string,
  opts: {
    body?: unknown;
    operator?: string;
    headers?: Record<string, string>;
    /** The context an authorizer answered with, as API Gateway passes it on. */
    authorizer?: Record<string, unknown>;
  } = {},
): HttpApiEvent {
  const [rawPath = '/', rawQueryString = ''] = pathAndQuery.split('?');
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return {
    version: '2.0',
    routeKey: rawPath === '/v1/health' ? 'GET /v1/health' : 'ANY /v1/{proxy+}',
    rawPath,
    rawQueryString,
    headers: {
      host: 'api.example.test',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
    requestContext: {
      accountId: '111122223333',
      apiId: 'testapi',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: {
        method: method as HttpMethod,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.1',
        userAgent: 'vitest',
      },
      requestId: randomUUID(),
      routeKey: 'ANY /v1/{proxy+}',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      // What the Lambda authorizer answers for an operator JWT whose subject is `operator`.
      ...(opts.operator === undefined
        ? opts.authorizer === undefined
          ? {}
          : { authorizer: { lambda: opts.authorizer } }
        : { authorizer: { lambda: { role: 'operator', actor: `jwt:${opts.operator}` } } }),
    },
  };
}

/** The event API Gateway (HTTP API, payload 2.0) sends a Lambda authorizer for one request. */
export function authorizerEvent(
  method: string,
  pathAndQuery: string,
  headers: Record<string, string>,
): AuthorizerEvent {
  const [rawPath = '/', rawQueryString = ''] = pathAndQuery.split('?');
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: `arn:aws:execute-api:${TEST_REGION}:111122223333:testapi/$default/${method}${rawPath}`,
    identitySource: null,
    routeKey: 'ANY /v1/{proxy+}',
    rawPath,
    rawQueryString,
    headers: { host: 'api.example.test', ...headers },
    requestContext: {
      accountId: '111122223333',
      apiId: 'testapi',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: {
        method: method as HttpMethod,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.1',
        userAgent: 'vitest',
      },
      requestId: randomUUID(),
      routeKey: 'ANY /v1/{proxy+}',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
  };
}

/** The notification S3 sends to Lambda when objects are created (event structure 2.1), keys URL-encoded. */
export function s3ObjectCreatedEvent(bucket: string, keys: string[]): S3ObjectCreatedEvent {
  return {
    Records: keys.map((key) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: TEST_REGION,
      eventTime: new Date().toISOString(),
      eventName: 'ObjectCreated:Put',
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'ipfs-pin',
        bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
        object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), size: 1, sequencer: '0' },
      },
    })),
  };
}

export function jsonBody<T>(res: HttpApiResult): T {
  return JSON.parse(res.body) as T;
}

export function bodyBytes(res: HttpApiResult): Uint8Array {
  return new Uint8Array(Buffer.from(res.body, res.isBase64Encoded ? 'base64' : 'utf8'));
}

export async function startAwsStack(
  opts: {
    clock?: () => number;
    ipfsApiUrl?: string;
    /** An IoT control plane (moto) and the device policy there: turns on run-time device provisioning. */
    iotControlPlane?: { endpoint: string; policyName: string };
    /**
     * Build ingest and anchor with the Powertools tools their Lambda edge makes, at this log level, as the
     * deployed functions are: their log lines and EMF metrics go to stdout (what CloudWatch Logs would
     * ingest; the cost flow measures them). Default: silent, no metrics.
     */
    lambdaLogLevel?: LogLevel;
  } = {},
): Promise<AwsStack> {
  const [dynamo, s3rver, kms, iot] = await Promise.all([
    startDynalite(),
    startS3rver(),
    startKmsStandIn({ region: TEST_REGION }),
    startIotDataStandIn(),
  ]);
  const gate = await startChecksumGate(s3rver.endpoint);
  const issuer = await startJwtIssuer();
  const { index: tables, ledger, pinJobs, statements, tokens, leases } = await createTables(dynamo.db);
  kms.createKey('alias/iot-notary-test');
  const calls: RecordedCall[] = [];
  const hooks: CallHooks = {};
  const made: { destroy(): void }[] = [];

  const clientsFor = (fn: FnName): AwsClients => {
    const common = { region: TEST_REGION, credentials: TEST_CREDENTIALS };
    const clients: AwsClients = {
      s3: s3ClientFor(gate.endpoint),
      dynamodb: new DynamoDBClient({ ...common, endpoint: dynamo.endpoint }),
      kms: new KMSClient({ ...common, endpoint: kms.endpoint }),
      iotData: new IoTDataPlaneClient({ ...common, endpoint: iot.endpoint }),
      ...(opts.iotControlPlane
        ? { iot: new IoTClient({ ...common, endpoint: opts.iotControlPlane.endpoint }) }
        : {}),
    };
    made.push(clients.s3, clients.dynamodb, clients.kms, clients.iotData);
    if (clients.iot) made.push(clients.iot);
    // Records the call, and lets a test hold it before it is sent or before its answer is returned.
    const around = async <T>(
      service: RecordedCall['service'],
      command: unknown,
      input: unknown,
      send: () => Promise<T>,
    ) => {
      const call: RecordedCall = {
        fn,
        service,
        command: String(command),
        input: input as Record<string, unknown>,
      };
      calls.push(call);
      await hooks.before?.(call);
      let out: T;
      try {
        out = await send();
      } catch (e) {
        call.failed = e instanceof Error ? e.name : 'unknown';
        await hooks.after?.(call);
        throw e;
      }
      call.output = out;
      await hooks.after?.(call);
      return out;
    };
    const at = { step: 'initialize' as const, name: 'recordCall' };
    // One line per client: their middleware stacks have different types, so no loop over them.
    clients.s3.middlewareStack.add(
      (next, c) => (args) => around('s3', c.commandName, args.input, () => next(args)),
      at,
    );
    clients.dynamodb.middlewareStack.add(
      (next, c) => (args) => around('dynamodb', c.commandName, args.input, () => next(args)),
      at,
    );
    clients.kms.middlewareStack.add(
      (next, c) => (args) => around('kms', c.commandName, args.input, () => next(args)),
      at,
    );
    clients.iotData.middlewareStack.add(
      (next, c) => (args) => around('iotData', c.commandName, args.input, () => next(args)),
      at,
    );
    return clients;
  };

  // The ledger key is made the way the deploy makes it (sst.config.ts LedgerKey): a KMS key of spec
  // ECC_NIST_EDWARDS25519, on the KMS stand-in; nothing else is set up, there is no secret to set.
  const setupKms = new KMSClient({
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    endpoint: kms.endpoint,
  });
  const ledgerKeyArn = (
    await setupKms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }))
  ).KeyMetadata?.Arn;
  if (!ledgerKeyArn) throw new Error('the KMS stand-in made no ledger key');
  const ledgerPublicKey = await kmsLedgerPublicKey(setupKms, ledgerKeyArn);
  setupKms.destroy();

  const env: Record<string, string> = {
    AWS_REGION: TEST_REGION,
    NOTARY_STAGE: 'test',
    NOTARY_BUCKET: s3rver.bucket,
    NOTARY_TABLE_RECORDS: tables.records,
    NOTARY_TABLE_BATCHES: tables.batches,
    NOTARY_TABLE_DEVICES: tables.devices,
    NOTARY_TABLE_DEAD_LETTERS: tables.deadLetters,
    NOTARY_TABLE_AUDIT: tables.audit,
    NOTARY_TABLE_STATEMENTS: statements,
    NOTARY_TABLE_LEDGER: ledger,
    NOTARY_TABLE_TOKENS: tokens,
    NOTARY_OPERATOR_JWT_ISSUER: issuer.issuer,
    NOTARY_OPERATOR_JWT_AUDIENCE: issuer.audience,
    NOTARY_OPERATOR_JWKS_URL: issuer.jwksUrl,
    NOTARY_TABLE_LEASES: leases,
    NOTARY_KMS_KEY_ID: 'alias/iot-notary-test',
    NOTARY_LEDGER_KEY_ID: ledgerKeyArn,
    NOTARY_PENDING_SHARDS: '4',
    NOTARY_DEAD_LETTER_SHARDS: '2',
    NOTARY_S3_FORCE_PATH_STYLE: 'true',
    MAX_CLOCK_SKEW_MS: '300000',
    LOG_LEVEL: 'error',
    NOTARY_TABLE_PIN_JOBS: pinJobs,
    ...(opts.iotControlPlane ? { NOTARY_IOT_DEVICE_POLICY: opts.iotControlPlane.policyName } : {}),
    ...(opts.ipfsApiUrl ? { IPFS_HOT: 'all', IPFS_API_URL: opts.ipfsApiUrl, IPFS_TIMEOUT_MS: '5000' } : {}),
  };
  const config = awsConfigFromEnv(env);
  const parts = (fn: FnName) => ({
    config,
    clients: clientsFor(fn),
    log: silentLogger,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });

  // With lambdaLogLevel, the edge's own Powertools tools (anchorNow, outside the edge, has none: silent).
  const edgeParts = (fn: FnName, tools: LambdaTools | undefined) => {
    if (!opts.lambdaLogLevel || !tools) return parts(fn);
    tools.configure({ stage: config.stage, logLevel: opts.lambdaLogLevel });
    return { ...parts(fn), log: tools.log, metrics: tools.metrics };
  };
  const anchorDeps = once((tools?: LambdaTools) => buildAnchor(edgeParts('anchor', tools)));
  const direct = new DynamoDBClient({
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    endpoint: dynamo.endpoint,
  });
  const directS3 = s3ClientFor(s3rver.endpoint);
  const verify = createVerifyLambda(once(() => buildVerify(parts('verify'))));
  const authorizer = createAuthorizerLambda(once(() => buildAuthorizer(parts('authorizer'))));
  return {
    config,
    env,
    dynamo,
    s3rver,
    gate,
    kms,
    iot,
    issuer,
    index: new DynamoIndexStore({ db: direct, tables, pendingShards: 4, deadLetterShards: 2 }),
    objects: new S3ObjectStore({ s3: directS3, bucket: s3rver.bucket }),
    ledgerPublicKey,
    ledgerKeyArn,
    calls,
    hooks,
    ingest: createIngestLambda(once((tools) => buildIngest(edgeParts('ingest', tools)))),
    anchor: createAnchorLambda(anchorDeps),
    anotherAnchor: () => createAnchorLambda(once(() => buildAnchor(parts('anchor')))),
    anchorNow: async () => (await anchorDeps()).anchor({ force: true }),
    verify,
    ipfsPin: createIpfsPinLambda(once(() => buildIpfsPin(parts('ipfsPin')))),
    authorizer,
    api: async (method, pathAndQuery, o = {}) => {
      const headers: Record<string, string> =
        o.authorization === undefined ? {} : { authorization: o.authorization };
      const answer = await authorizer(
        authorizerEvent(method, pathAndQuery, headers),
        lambdaContext('authorizer'),
      );
      if (!answer.isAuthorized)
        return { statusCode: 403, body: '{"message":"Forbidden"}', isBase64Encoded: false, headers: {} };
      return verify(
        httpApiEvent(method, pathAndQuery, {
          headers,
          authorizer: answer.context,
          ...(o.body === undefined ? {} : { body: o.body }),
        }),
        lambdaContext('verify'),
      );
    },
    close: async () => {
      for (const c of made) c.destroy();
      direct.destroy();
      directS3.destroy();
      await gate.close();
      await Promise.all([dynamo.close(), s3rver.close(), kms.close(), iot.close(), issuer.close()]);
    },
  };
}

export type { HttpApiResult, IngestLambdaResult };
