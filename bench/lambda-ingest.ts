/**
 * Ingest records/s through the ingest Lambda entry point (functions/ingest/lambda.ts: middy, zod, the same
 * handler as the embedded runtime) on the AWS adapters, against the local emulators: dynalite for DynamoDB,
 * s3rver for S3, and the IoT Data stand-in receiving the acks. Records are sealed up front and delivered as the
 * events an IoT topic rule produces, `concurrency` invocations at a time (as Lambda would run that many
 * containers; here they share one process). A record counts once its invocation returned, i.e. once the
 * envelope is in S3, the index entry in DynamoDB and the ack published.
 *
 * What this measures is the code path and the emulators, not AWS: dynalite (LevelDB, one process) and s3rver
 * (files) are far slower than the services, and there is no network latency. Compare it with the embedded
 * figure of the same run, not with a deployment.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { KMSClient } from '@aws-sdk/client-kms';
import type { Context } from 'aws-lambda';
import { createIngestLambda } from '../functions/ingest/lambda.js';
import { toBase64 } from '../lib/core/bytes.js';
import { HASH_BYTES, NONCE_BYTES, sealRecord, TAG_BYTES, ZERO_HASH } from '../lib/core/envelope.js';
import { deriveRecordKey } from '../lib/core/record-key.js';
import { silentLogger } from '../lib/logger.js';
import { awsConfigFromEnv, buildIngest } from '../lib/runtime/aws.js';
import { once } from '../lib/runtime/lambda-edge.js';
import {
  createTables,
  s3ClientFor,
  startDynalite,
  startS3rver,
  TEST_CREDENTIALS,
  TEST_REGION,
} from '../tests/aws/support/emulators.js';
import { startIotDataStandIn } from '../tests/aws/support/iot-data-stand-in.js';
import { median, perSec, type Series, series } from './stats.js';

export interface LambdaIngestOptions {
  /** Devices the records are spread over. */
  devices: number;
  /** Timed records per repetition, over all devices. */
  records: number;
  /** Target envelope size; the plaintext is sized to match. */
  envelopeBytes: number;
  /** Invocations in flight at once. */
  concurrency: number;
  reps: number;
  onProgress?: (msg: string) => void;
}

export interface LambdaIngestFigures {
  devices: number;
  records: number;
  concurrency: number;
  targetEnvelopeBytes: number;
  meanEnvelopeBytes: number;
  recordsPerSec: Series;
  /** Per-invocation latency over all timed repetitions. */
  latencyMs: { p50: number; p99: number };
  /** Every timed record was acked `stored` (a bench that lost records would report a wrong rate). */
  allStored: boolean;
  backend: string;
}

export const LAMBDA_INGEST_DEFAULTS: LambdaIngestOptions = {
  devices: 4,
  records: 2000,
  envelopeBytes: 1024,
  concurrency: 32,
  reps: 3,
};

const headerBytes = (idLength: number) =>
  4 + 1 + 1 + 1 + idLength + 8 + 8 + HASH_BYTES + NONCE_BYTES + 4 + HASH_BYTES;

function lambdaContext(requestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'ingest',
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${TEST_REGION}:111122223333:function:ingest`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/ingest',
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** IoT-rule events for `count` records spread over `devices` devices, sealed before any timing starts. */
function sealEvents(prefix: string, devices: number, count: number, envelopeBytes: number) {
  const master = new Uint8Array(randomBytes(32));
  const ids = Array.from({ length: devices }, (_, i) => `${prefix}-${i}`);
  const events: { payload: string; topic: string; clientId: string; receivedAt: number }[] = [];
  let bytes = 0;
  const now = Date.now() - 60_000;
  for (let n = 0; n < count; n++) {
    const deviceId = ids[n % devices] as string;
    const seq = Math.floor(n / devices);
    const plaintext = Math.max(1, envelopeBytes - headerBytes(deviceId.length) - TAG_BYTES);
    const env = sealRecord({
      recordKey: deriveRecordKey(master, deviceId, now + seq, seq),
      deviceId,
      seq,
      timestamp: now + seq,
      prevHash: ZERO_HASH,
      nonce: randomBytes(12),
      plaintext: randomBytes(plaintext),
    }).envelope;
    bytes += env.length;
    events.push({
      payload: toBase64(env),
      topic: `devices/${deviceId}/records`,
      clientId: deviceId,
      receivedAt: now,
    });
  }
  return { events, meanBytes: bytes / count };
}

export async function measureLambdaIngest(
  opts: Partial<LambdaIngestOptions> = {},
): Promise<LambdaIngestFigures> {
  const o = { ...LAMBDA_INGEST_DEFAULTS, ...opts };
  const say = o.onProgress ?? (() => undefined);
  const [dynamo, s3rver, iot] = await Promise.all([
    startDynalite(),
    startS3rver('bench-objects'),
    startIotDataStandIn(),
  ]);
  const made: { destroy(): void }[] = [];
  try {
    const { index: tables, ledger, statements } = await createTables(dynamo.db, `bench${process.pid}`);
    const config = awsConfigFromEnv({
      AWS_REGION: TEST_REGION,
      NOTARY_BUCKET: s3rver.bucket,
      NOTARY_TABLE_RECORDS: tables.records,
      NOTARY_TABLE_BATCHES: tables.batches,
      NOTARY_TABLE_DEVICES: tables.devices,
      NOTARY_TABLE_DEAD_LETTERS: tables.deadLetters,
      NOTARY_TABLE_AUDIT: tables.audit,
      NOTARY_TABLE_STATEMENTS: statements,
      NOTARY_TABLE_LEDGER: ledger,
      NOTARY_S3_FORCE_PATH_STYLE: 'true',
      LOG_LEVEL: 'error',
    });
    const common = { region: TEST_REGION, credentials: TEST_CREDENTIALS };
    const clients = {
      s3: s3ClientFor(s3rver.endpoint),
      dynamodb: new DynamoDBClient({ ...common, endpoint: dynamo.endpoint }),
      kms: new KMSClient(common),
      iotData: new IoTDataPlaneClient({ ...common, endpoint: iot.endpoint }),
    };
    made.push(clients.s3, clients.dynamodb, clients.kms, clients.iotData);
    const ingest = createIngestLambda(once(() => buildIngest({ config, clients, log: silentLogger })));

    const run = async (events: ReturnType<typeof sealEvents>['events'], latencies?: number[]) => {
      let next = 0;
      let stored = 0;
      const worker = async () => {
        while (next < events.length) {
          const event = events[next++];
          if (!event) break;
          const t0 = performance.now();
          const res = await ingest(event, lambdaContext(`bench-${next}`));
          latencies?.push(performance.now() - t0);
          if (res.status === 'handled' && res.replies.every((r) => r.payload.includes('"stored"'))) stored++;
        }
      };
      await Promise.all(Array.from({ length: Math.min(o.concurrency, events.length) }, worker));
      return stored;
    };

    say(`lambda ingest: warming up (cold start, connections)`);
    await run(sealEvents('warm', o.devices, Math.min(200, o.records), o.envelopeBytes).events);

    const rates: number[] = [];
    const latencies: number[] = [];
    let allStored = true;
    let meanBytes = 0;
    for (let rep = 0; rep < o.reps; rep++) {
      const sealed = sealEvents(`lb${rep}`, o.devices, o.records, o.envelopeBytes);
      meanBytes = sealed.meanBytes;
      const t0 = performance.now();
      const stored = await run(sealed.events, latencies);
      const ms = performance.now() - t0;
      if (stored !== o.records) allStored = false;
      rates.push(perSec(o.records, ms));
      say(`lambda ingest rep ${rep + 1}/${o.reps}: ${Math.round(rates.at(-1) ?? 0)} records/s`);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    return {
      devices: o.devices,
      records: o.records,
      concurrency: o.concurrency,
      targetEnvelopeBytes: o.envelopeBytes,
      meanEnvelopeBytes: Math.round(meanBytes),
      recordsPerSec: series(rates),
      latencyMs: { p50: median(latencies), p99: pct(0.99) },
      allStored,
      backend: 'dynalite 4 + s3rver 3.7 (in-process emulators), IoT Data stand-in',
    };
  } finally {
    for (const c of made) c.destroy();
    await Promise.all([dynamo.close(), s3rver.close(), iot.close()]);
  }
}
