/**
 * What the Lambda functions tell CloudWatch (issue 11 part 4), read from their output exactly as CloudWatch
 * Logs would receive it: the `handler` exports are loaded from the environment as Lambda loads them, run
 * against dynalite and s3rver, and every line they write to stdout/stderr is parsed as JSON.
 *
 *  - metrics: one embedded metric format (EMF) line per invocation that reported anything, in the namespace
 *    `iot-notary` with the dimensions service and stage, named and united as lib/metrics.ts says;
 *  - logs: every line an invocation writes carries that invocation's request id (and cold start once).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { toBase64 } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { METRIC_NAMESPACE, METRICS, type MetricName } from '../../lib/metrics.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';
import { TEST_CREDENTIALS } from './support/emulators.js';

interface EmfLine {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

const isEmf = (l: Record<string, unknown>): l is EmfLine => typeof l._aws === 'object' && l._aws !== null;

/** Every JSON line written to stdout or stderr while `fn` runs (nothing reaches the terminal). */
async function captureLines<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const chunks: string[] = [];
  const grab = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(grab);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(grab);
  try {
    const result = await fn();
    const lines = chunks
      .join('')
      .split('\n')
      .filter((l) => l.trim().startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { result, lines };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The one EMF line of an invocation: its metric values by name, checked against the catalogue. */
function metricsOf(lines: Record<string, unknown>[], service: string): Partial<Record<MetricName, number>> {
  const emf = lines.filter(isEmf);
  expect(emf).toHaveLength(1);
  const line = emf[0] as EmfLine;
  const [directive] = line._aws.CloudWatchMetrics;
  expect(line._aws.CloudWatchMetrics).toHaveLength(1);
  expect(directive?.Namespace).toBe(METRIC_NAMESPACE);
  expect(directive?.Dimensions).toEqual([['service', 'stage']]);
  expect(line.service).toBe(service);
  expect(line.stage).toBe('test');
  const out: Partial<Record<MetricName, number>> = {};
  for (const m of directive?.Metrics ?? []) {
    const name = m.Name as MetricName;
    expect(METRICS[name], `${m.Name} is in lib/metrics.ts`).toBeDefined();
    expect(m.Unit).toBe(METRICS[name].unit);
    expect(METRICS[name].service).toBe(service);
    const v = line[m.Name];
    expect(typeof v, `${m.Name} has one value per invocation`).toBe('number');
    out[name] = v as number;
  }
  return out;
}

describe('Lambda metrics (EMF) and logs, from the handler exports on the emulators', () => {
  let stack: AwsStack;
  const saved = { ...process.env };
  const DEVICE = 'obs-dev';
  const MASTER = new Uint8Array(randomBytes(32));

  beforeAll(async () => {
    stack = await startAwsStack();
  });
  afterEach(() => {
    process.env = { ...saved };
  });
  afterAll(async () => {
    process.env = saved;
    await stack?.close();
  });

  async function loadHandlers(extra: Record<string, string> = {}) {
    process.env = {
      ...saved,
      ...stack.env,
      ...extra,
      // info, so that the lines below the error level are there to carry request ids too
      LOG_LEVEL: 'info',
      // What Lambda sets for an on-demand instance; Powertools reports a cold start only with it.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: stack.gate.endpoint,
      AWS_ENDPOINT_URL_KMS: stack.kms.endpoint,
      NOTARY_IOT_DATA_ENDPOINT: stack.iot.endpoint,
    };
    vi.resetModules();
    return {
      ingest: (await import('../../functions/ingest/lambda.js')).handler,
      anchor: (await import('../../functions/anchor/lambda.js')).handler,
      verify: (await import('../../functions/verify/lambda.js')).handler,
    };
  }

  function sealed(seq: number, prev: Uint8Array, timestamp: number) {
    return sealRecord({
      recordKey: deriveRecordKey(MASTER, DEVICE, timestamp, seq),
      deviceId: DEVICE,
      seq,
      timestamp,
      prevHash: prev,
      nonce: randomBytes(12),
      plaintext: new TextEncoder().encode(`reading ${seq}`),
    });
  }

  it('ingest counts stored, duplicate and refused records; anchor reports batch size, backlog and time to anchor', async () => {
    const fns = await loadHandlers();
    const created = await captureLines(() =>
      fns.verify(
        httpApiEvent('POST', '/v1/devices', {
          operator: 'operator-alice',
          body: { deviceId: DEVICE, masterKey: toBase64(MASTER) },
        }),
        lambdaContext('verify'),
      ),
    );
    expect(created.result.statusCode).toBe(201);
    // verify reports no metric of its own: no EMF line, no empty one either.
    expect(created.lines.filter(isEmf)).toEqual([]);

    const start = Date.now() - 60_000;
    const records = [0, 1, 2].reduce<ReturnType<typeof sealed>[]>((acc, seq) => {
      acc.push(sealed(seq, acc[seq - 1]?.recordHash ?? ZERO_HASH, start + seq * 1000));
      return acc;
    }, []);
    const ingestOne = async (event: Parameters<typeof fns.ingest>[0]) =>
      captureLines(() => fns.ingest(event, lambdaContext('ingest')));
    const topic = `devices/${DEVICE}/records`;

    for (const rec of records) {
      const { lines } = await ingestOne(iotRuleEvent(topic, rec.envelope, DEVICE));
      expect(metricsOf(lines, 'ingest')).toEqual({ RecordsStored: 1 });
    }
    const again = await ingestOne(iotRuleEvent(topic, (records[1] as (typeof records)[1]).envelope, DEVICE));
    expect(metricsOf(again.lines, 'ingest')).toEqual({ RecordsDuplicate: 1 });
    const garbage = await ingestOne(iotRuleEvent(topic, 'not an envelope', DEVICE));
    expect(metricsOf(garbage.lines, 'ingest')).toEqual({ RecordsRefused: 1 });
    // Not an IoT rule event at all: dead-lettered, and counted as refused all the same.
    const malformed = await ingestOne({ topic, payload: 42 } as unknown as Parameters<typeof fns.ingest>[0]);
    expect(malformed.result).toMatchObject({ status: 'rejected', code: 'malformed-event' });
    expect(metricsOf(malformed.lines, 'ingest')).toEqual({ RecordsRefused: 1 });

    const tick = await captureLines(() => fns.anchor({}, lambdaContext('anchor')));
    expect(tick.result).toMatchObject({ status: 'done', batch: { size: 3 } });
    const m = metricsOf(tick.lines, 'anchor');
    expect(m).toMatchObject({ Backlog: 3, BatchSize: 3, BacklogAge: 0, AnchorFailures: 0 });
    // From the oldest record's arrival (the first ingest above) to its root on the embedded ledger.
    const arrivedAt = (await stack.index.getRecord(DEVICE, 0))?.receivedAt as number;
    expect(m.TimeToAnchor).toBeGreaterThan(0);
    expect(m.TimeToAnchor).toBeLessThanOrEqual((Date.now() - arrivedAt) / 1000);

    // A tick with nothing queued still reports the backlog and failures, so their alarms see data.
    const idle = await captureLines(() => fns.anchor({}, lambdaContext('anchor')));
    expect(metricsOf(idle.lines, 'anchor')).toEqual({ Backlog: 0, BacklogAge: 0, AnchorFailures: 0 });
  });

  it('a record a tick leaves queued shows in the backlog and its age', async () => {
    // An hour between batches: the batch the test above built makes this tick not due, whatever the load.
    const fns = await loadHandlers({ ANCHOR_INTERVAL_MS: '3600000' });
    const prev = await stack.index.getRecord(DEVICE, 2);
    expect(prev?.recordHash).toMatch(/^[0-9a-f]{64}$/);
    const rec = sealed(3, Buffer.from(prev?.recordHash as string, 'hex'), Date.now() - 1000);
    await captureLines(() =>
      fns.ingest(iotRuleEvent(`devices/${DEVICE}/records`, rec.envelope, DEVICE), lambdaContext('ingest')),
    );
    const arrivedAt = (await stack.index.getRecord(DEVICE, 3))?.receivedAt as number;
    const tick = await captureLines(() => fns.anchor({}, lambdaContext('anchor')));
    expect(tick.result).toMatchObject({ status: 'done', notDue: true });
    const m = metricsOf(tick.lines, 'anchor');
    expect(Object.keys(m).sort()).toEqual(['AnchorFailures', 'Backlog', 'BacklogAge']);
    expect(m.Backlog).toBe(1);
    expect(m.BacklogAge).toBeGreaterThan(0);
    expect(m.BacklogAge).toBeLessThanOrEqual((Date.now() - arrivedAt) / 1000);
  });

  it('every log line of an invocation carries its request id; cold start only on the first', async () => {
    const fns = await loadHandlers();
    const topic = `devices/${DEVICE}/records`;
    const run = async () => {
      const context = { ...lambdaContext('ingest'), awsRequestId: randomUUID() };
      const { lines } = await captureLines(() =>
        fns.ingest(iotRuleEvent(topic, 'not an envelope', DEVICE), context),
      );
      return { id: context.awsRequestId, logs: lines.filter((l) => !isEmf(l)) };
    };
    const first = await run();
    const second = await run();
    for (const [inv, cold] of [
      [first, true],
      [second, false],
    ] as const) {
      // The refusal is logged (a warning): with its reason, in this invocation's name.
      expect(inv.logs.map((l) => l.message)).toContain('device message refused');
      for (const l of inv.logs) {
        expect(l).toMatchObject({
          function_request_id: inv.id,
          function_name: 'ingest',
          cold_start: cold,
          service: 'ingest',
          stage: 'test',
        });
      }
    }
    expect(first.id).not.toBe(second.id);
  });
});
