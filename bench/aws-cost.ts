/**
 * What a record costs on AWS, measured on the emulators: the AWS stack (tests/aws/support/aws-stack.ts: the
 * real Lambda entry points over dynalite, s3rver and the KMS and IoT Data stand-ins) ingests signed 1 KiB
 * records from a few devices, as IoT rule events, then anchors them once; a billing meter
 * (tests/aws/support/billing-meter.ts) counts every billable unit of every SDK call, and this flow counts what
 * happens outside them (the device's publish, the rule, the invocations). Units per record times the list
 * prices below gives dollars per million records.
 *
 * Two figures are assumed, not measured, because no emulator can: Lambda duration (an ingest invocation's
 * time on AWS) and CloudWatch Logs bytes per invocation. Both are named in the output.
 */
import { randomBytes } from 'node:crypto';
import { toBase64 } from '../lib/core/bytes.js';
import { signHead } from '../lib/core/device-head.js';
import { generateSigningKey, type SigningKey, signerOf } from '../lib/core/device-signature.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  lambdaContext,
  startAwsStack,
} from '../tests/aws/support/aws-stack.js';
import {
  type BillableUsage,
  iotMessageUnits,
  startBillingMeter,
} from '../tests/aws/support/billing-meter.js';
import { TestDevice } from '../tests/support/test-device.js';

/** US East (N. Virginia) list prices in USD, as docs/deploy.md states them with the date they were read. */
export const AWS_PRICES = {
  readOn: '2026-12-05',
  region: 'us-east-1',
  iotMessagePerMillion: 1.0,
  iotRuleTriggeredPerMillion: 0.15,
  iotRuleActionPerMillion: 0.15,
  lambdaRequestPerMillion: 0.2,
  lambdaGbSecondArm: 0.0000133334,
  s3PutPerThousand: 0.005,
  s3GetPerThousand: 0.0004,
  dynamoWriteUnitPerMillion: 0.625,
  dynamoReadUnitPerMillion: 0.125,
  kmsPerTenThousand: 0.03,
  logsIngestPerGb: 0.5,
} as const;

/** Assumptions for what the emulators cannot show, stated beside every figure that uses them. */
export const AWS_ASSUMPTIONS = {
  lambdaMemoryMb: 512,
  /** Billed duration of one ingest invocation on AWS. */
  ingestMs: 50,
  /** CloudWatch Logs bytes per invocation: the platform's START/END/REPORT lines. */
  logBytesPerInvocation: 300,
} as const;

export interface CostLine {
  kind: string;
  /** Billable units per record (messages, requests, request units, GB-seconds, GB). */
  unitsPerRecord: number;
  unit: string;
  dollarsPerMillion: number;
  /** Measured on the emulators, or assumed (see AWS_ASSUMPTIONS). */
  measured: boolean;
}

export interface AwsCostFigures {
  records: number;
  devices: number;
  envelopeBytes: number;
  lines: CostLine[];
  dollarsPerMillion: number;
  /** Every SDK call per record, by service and command. */
  callsPerRecord: Record<string, number>;
  /** DynamoDB request units per record, by table, operation and kind. */
  dynamoPerRecord: Record<string, number>;
}

/** The flow's own counts: what happened outside the SDK calls. */
interface FlowCounts {
  inboundMessages: number;
  ruleTriggers: number;
  ruleActions: number;
  lambdaInvocations: number;
}

/** The figure docs/deploy.md estimated before anything was measured, kept as the baseline. */
export const ESTIMATED_BEFORE = 13.9;
export const COST_GOAL = 4;

export function costLines(u: BillableUsage, f: FlowCounts, records: number): CostLine[] {
  const p = AWS_PRICES;
  const a = AWS_ASSUMPTIONS;
  const per = (n: number) => n / records;
  const line = (
    kind: string,
    units: number,
    unit: string,
    dollarsPerUnit: number,
    measured = true,
  ): CostLine => ({
    kind,
    unitsPerRecord: per(units),
    unit,
    dollarsPerMillion: per(units) * dollarsPerUnit * 1_000_000,
    measured,
  });
  const gbSeconds = (f.lambdaInvocations * (a.lambdaMemoryMb / 1024) * a.ingestMs) / 1000;
  return [
    line('IoT: device PUBLISH received', f.inboundMessages, 'messages', p.iotMessagePerMillion / 1e6),
    line(
      'IoT: ack sent through the Publish API',
      u.iotPublishApiMessages,
      'messages',
      p.iotMessagePerMillion / 1e6,
    ),
    line(
      'IoT: ack delivered to the device',
      u.iotDeliveredMessages,
      'messages',
      p.iotMessagePerMillion / 1e6,
    ),
    line(
      "IoT: the device's PUBACK of the ack",
      u.iotPubackMessages,
      'messages',
      p.iotMessagePerMillion / 1e6,
    ),
    line('IoT rules: triggered', f.ruleTriggers, 'rules', p.iotRuleTriggeredPerMillion / 1e6),
    line('IoT rules: Lambda action', f.ruleActions, 'actions', p.iotRuleActionPerMillion / 1e6),
    line('Lambda requests', f.lambdaInvocations, 'requests', p.lambdaRequestPerMillion / 1e6),
    line(
      `Lambda duration (assumed ${a.lambdaMemoryMb} MB × ${a.ingestMs} ms)`,
      gbSeconds,
      'GB-s',
      p.lambdaGbSecondArm,
      false,
    ),
    line('S3 PUT/LIST requests', u.s3PutRequests, 'requests', p.s3PutPerThousand / 1000),
    line('S3 GET/HEAD requests', u.s3GetRequests, 'requests', p.s3GetPerThousand / 1000),
    line('DynamoDB write request units', u.dynamoWriteUnits, 'WRU', p.dynamoWriteUnitPerMillion / 1e6),
    line('DynamoDB read request units', u.dynamoReadUnits, 'RRU', p.dynamoReadUnitPerMillion / 1e6),
    line('KMS requests', u.kmsRequests, 'requests', p.kmsPerTenThousand / 10_000),
    line(
      `CloudWatch Logs (assumed ${a.logBytesPerInvocation} B per invocation)`,
      (f.lambdaInvocations * a.logBytesPerInvocation) / 1e9,
      'GB',
      p.logsIngestPerGb,
      false,
    ),
  ];
}

export interface AwsCostOptions {
  devices: number;
  records: number;
  /** Plaintext bytes per record; 1 KiB envelopes by default. */
  plaintextBytes: number;
  onProgress?: (msg: string) => void;
}

export const AWS_COST_DEFAULTS: AwsCostOptions = { devices: 4, records: 400, plaintextBytes: 900 };

async function registerDevices(stack: AwsStack, n: number): Promise<{ dev: TestDevice; key: SigningKey }[]> {
  const out: { dev: TestDevice; key: SigningKey }[] = [];
  for (let i = 0; i < n; i++) {
    const key = generateSigningKey('ed25519');
    const dev = new TestDevice(`cost-dev-${i}`, new Uint8Array(randomBytes(32)), signerOf(key));
    const res = await stack.verify(
      httpApiEvent('POST', '/v1/devices', {
        operator: 'op',
        body: {
          deviceId: dev.deviceId,
          masterKey: dev.masterKeyBase64,
          signingKey: { alg: 'ed25519', publicKey: toBase64(key.publicKey) },
        },
      }),
      lambdaContext('verify'),
    );
    if (res.statusCode !== 201) throw new Error(`registering ${dev.deviceId}: ${res.statusCode} ${res.body}`);
    out.push({ dev, key });
  }
  return out;
}

/**
 * Runs `records` signed records from `devices` devices through ingest, one head per device at the end (a
 * device sends its head at an interval, far less often than records), and one anchor cycle, on a fresh stack.
 */
export async function measureAwsCost(opts: Partial<AwsCostOptions> = {}): Promise<AwsCostFigures> {
  const o = { ...AWS_COST_DEFAULTS, ...opts };
  const stack = await startAwsStack();
  try {
    const devices = await registerDevices(stack, o.devices);
    const meter = await startBillingMeter(stack);
    try {
      const flow: FlowCounts = { inboundMessages: 0, ruleTriggers: 0, ruleActions: 0, lambdaInvocations: 0 };
      const publish = async (deviceId: string, topic: string, payload: Uint8Array): Promise<string> => {
        const full = `devices/${deviceId}/${topic}`;
        flow.inboundMessages += iotMessageUnits(full, payload.length);
        flow.ruleTriggers++;
        flow.ruleActions++;
        flow.lambdaInvocations++;
        const before = stack.iot.published.length;
        const out = await stack.ingest(iotRuleEvent(full, payload, deviceId), lambdaContext('ingest'));
        if (out.status !== 'handled') throw new Error(`ingest answered ${out.status}`);
        return stack.iot.published
          .slice(before)
          .map((m) => m.payload.toString('utf8'))
          .join('');
      };
      let envelopeBytes = 0;
      for (let n = 0; n < o.records; n++) {
        const d = devices[n % devices.length];
        if (!d) throw new RangeError('no devices');
        const sealed = d.dev.seal({ plaintext: new Uint8Array(randomBytes(o.plaintextBytes)) });
        envelopeBytes += sealed.envelope.length;
        const ack = await publish(d.dev.deviceId, 'records', sealed.envelope);
        if (!ack.includes('"stored"')) throw new Error(`record not stored: ${ack}`);
        if (n % 100 === 99) o.onProgress?.(`aws cost: ${n + 1}/${o.records} records ingested`);
      }
      for (const { dev, key } of devices) {
        const head = signHead(
          { deviceId: dev.deviceId, count: dev.nextSeq, lastHash: dev.prevHash, time: Date.now() - 1000 },
          signerOf(key),
        ).bytes;
        const ack = await publish(dev.deviceId, 'heads', head);
        if (!ack.includes('"stored"')) throw new Error(`head not stored: ${ack}`);
      }
      flow.lambdaInvocations++;
      const run = await stack.anchorNow();
      o.onProgress?.(`aws cost: anchored (${JSON.stringify(run).slice(0, 120)})`);
      const u = meter.usage;
      const lines = costLines(u, flow, o.records);
      const per = (m: Record<string, number>) =>
        Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v / o.records]));
      return {
        records: o.records,
        devices: o.devices,
        envelopeBytes: Math.round(envelopeBytes / o.records),
        lines,
        dollarsPerMillion: lines.reduce((a, l) => a + l.dollarsPerMillion, 0),
        callsPerRecord: per(u.calls),
        dynamoPerRecord: per(u.dynamoByTable),
      };
    } finally {
      meter.stop();
    }
  } finally {
    await stack.close();
  }
}
