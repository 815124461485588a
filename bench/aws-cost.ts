/**
 * What a record costs on AWS, measured on the emulators: the AWS stack (tests/aws/support/aws-stack.ts: the
 * real Lambda entry points over dynalite, s3rver and the KMS and IoT Data stand-ins) ingests signed 1 KiB
 * records from a few devices, as IoT rule events, then anchors them once; a billing meter
 * (tests/aws/support/billing-meter.ts) counts every billable unit of every SDK call, and this flow counts what
 * happens outside them (the device's publish, the rule, the invocations). Units per record times the list
 * prices below gives dollars per million records.
 *
 * The functions run with the Powertools logger and metrics of their Lambda edge at the deployed log level,
 * and the bytes they write to stdout/stderr (log lines and EMF metric lines, what CloudWatch Logs ingests)
 * are measured. Two figures are still assumed, because no emulator can show them: Lambda duration (an
 * invocation's billed time on AWS) and the platform's START/END/REPORT lines. Both are named in the output.
 */
import { randomBytes } from 'node:crypto';
import { toBase64 } from '../lib/core/bytes.js';
import { signHead } from '../lib/core/device-head.js';
import { generateSigningKey, type SigningKey, signerOf } from '../lib/core/device-signature.js';
import { encodeRecordPack } from '../lib/core/record-pack.js';
import { basicIngestTopic, matchRoute } from '../lib/routing/routes.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  lambdaContext,
  startAwsStack,
} from '../tests/aws/support/aws-stack.js';
import {
  type BillableUsage,
  captureOutput,
  iotMessageUnits,
  startBillingMeter,
} from '../tests/aws/support/billing-meter.js';
import { TestDevice } from '../tests/support/test-device.js';
import {
  AWS_ASSUMPTIONS,
  AWS_COST_DEFAULTS,
  AWS_PRICES,
  type AwsCostFigures,
  type AwsCostOptions,
  type CostLine,
} from './aws-cost-model.js';

// The model's names, for callers that measure and read figures from one module.
export * from './aws-cost-model.js';

/** The name prefix of the stage's topic rules (infra/routing.ts ruleNamePrefixFor) in this flow. */
const RULE_PREFIX = 'iot_notary_bench_';

/** The flow's own counts: what happened outside the SDK calls. */
interface FlowCounts {
  /** 5 KB units of device publishes through the broker (Basic Ingest publishes are not messaging). */
  inboundMessages: number;
  /** Publishes that went to a rule by Basic Ingest: counted, not charged as messages. */
  basicIngestPublishes: number;
  /** Rules triggered and actions run, in 5 KB units of the message the rule received. */
  ruleTriggers: number;
  ruleActions: number;
  lambdaInvocations: number;
  /** Records those invocations carried (a pack carries several; heads and the anchor tick none). */
  recordsInvoked: number;
  /** Bytes the invocations wrote to stdout/stderr (Powertools log lines and EMF metrics). */
  logBytes: number;
}

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
  const invokedMs =
    f.lambdaInvocations * a.ingestMs +
    Math.max(0, f.recordsInvoked - f.lambdaInvocations) * a.ingestMsPerExtraRecord;
  const gbSeconds = (invokedMs * (a.lambdaMemoryMb / 1024)) / 1000;
  const message = p.iotMessagePerMillion / 1e6;
  return [
    line('IoT: device PUBLISH received by the broker', f.inboundMessages, 'messages', message),
    line('IoT: ack sent through the Publish API', u.iotPublishApiMessages, 'messages', message),
    line('IoT: ack delivered to the device', u.iotDeliveredMessages, 'messages', message),
    line("IoT: the device's PUBACK of the ack", u.iotPubackMessages, 'messages', message),
    line('IoT rules: triggered (5 KB units)', f.ruleTriggers, 'rules', p.iotRuleTriggeredPerMillion / 1e6),
    line('IoT rules: Lambda action (5 KB units)', f.ruleActions, 'actions', p.iotRuleActionPerMillion / 1e6),
    line('Lambda requests', f.lambdaInvocations, 'requests', p.lambdaRequestPerMillion / 1e6),
    line(
      `Lambda duration (assumed ${a.lambdaMemoryMb} MB × ${a.ingestMs} ms, +${a.ingestMsPerExtraRecord} ms per further record of a pack)`,
      gbSeconds,
      'GB-s',
      p.lambdaGbSecondArm,
      false,
    ),
    line('S3 PUT/LIST requests', u.s3PutRequests, 'requests', p.s3PutPerThousand / 1000),
    line('S3 GET/HEAD requests', u.s3GetRequests, 'requests', p.s3GetPerThousand / 1000),
    line('DynamoDB write request units', u.dynamoWriteUnits, 'WRU', p.dynamoWriteUnitPerMillion / 1e6),
    line('DynamoDB read request units', u.dynamoReadUnits, 'RRU', p.dynamoReadUnitPerMillion / 1e6),
    line('KMS requests, symmetric keys', u.kmsRequests, 'requests', p.kmsPerTenThousand / 10_000),
    line(
      'KMS requests, asymmetric key (ledger Sign)',
      u.kmsAsymmetricRequests,
      'requests',
      p.kmsAsymmetricPerTenThousand / 10_000,
    ),
    line('CloudWatch Logs: what the functions wrote', f.logBytes / 1e9, 'GB', p.logsIngestPerGb),
    line(
      `CloudWatch Logs: platform lines (assumed ${a.platformLogBytesPerInvocation} B per invocation)`,
      (f.lambdaInvocations * a.platformLogBytesPerInvocation) / 1e9,
      'GB',
      p.logsIngestPerGb,
      false,
    ),
  ];
}

/** Registers `n` signing devices through the verify function's operator route. */
export async function registerDevices(
  stack: AwsStack,
  n: number,
): Promise<{ dev: TestDevice; key: SigningKey }[]> {
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
  if (!Number.isInteger(o.recordsPerPublish) || o.recordsPerPublish < 1)
    throw new RangeError(`recordsPerPublish must be a positive integer, got ${o.recordsPerPublish}`);
  const stack = await startAwsStack({ lambdaLogLevel: o.logLevel });
  try {
    const devices = await registerDevices(stack, o.devices);
    const meter = await startBillingMeter(stack);
    try {
      const flow: FlowCounts = {
        inboundMessages: 0,
        basicIngestPublishes: 0,
        ruleTriggers: 0,
        ruleActions: 0,
        lambdaInvocations: 0,
        recordsInvoked: 0,
        logBytes: 0,
      };
      const publish = async (
        deviceId: string,
        topic: string,
        payload: Uint8Array,
        recordsIn = 0,
      ): Promise<string> => {
        const full = `devices/${deviceId}/${topic}`;
        const route = matchRoute(full)?.route;
        if (!route) throw new Error(`${full} is no device route`);
        // The topic the device publishes to; the rule's topic() gives the plain one either way.
        const sent = o.basicIngest ? basicIngestTopic(route, RULE_PREFIX, deviceId) : full;
        if (o.basicIngest) flow.basicIngestPublishes++;
        else flow.inboundMessages += iotMessageUnits(sent, payload.length);
        const ruleUnits = iotMessageUnits(full, payload.length);
        flow.ruleTriggers += ruleUnits;
        flow.ruleActions += ruleUnits;
        flow.lambdaInvocations++;
        flow.recordsInvoked += recordsIn;
        const before = stack.iot.published.length;
        const { result: out, bytes } = await captureOutput(() =>
          stack.ingest(iotRuleEvent(full, payload, deviceId), lambdaContext('ingest')),
        );
        flow.logBytes += bytes;
        if (out.status !== 'handled') throw new Error(`ingest answered ${out.status}`);
        return stack.iot.published
          .slice(before)
          .map((m) => m.payload.toString('utf8'))
          .join('');
      };
      let envelopeBytes = 0;
      // Each device's records wait until it has `recordsPerPublish` of them, then go as one record pack
      // (docs/envelope.md §9) on devices/{id}/packs, as the device stub sends them; one goes as a lone envelope.
      const waiting = new Map<string, Uint8Array[]>();
      const flush = async (deviceId: string) => {
        const envs = waiting.get(deviceId) ?? [];
        waiting.set(deviceId, []);
        if (envs.length === 0) return;
        const [first] = envs;
        const ack =
          envs.length === 1 && first
            ? await publish(deviceId, 'records', first, 1)
            : await publish(deviceId, 'packs', encodeRecordPack(envs), envs.length);
        if (!ack.includes('"stored"') || ack.includes('"rejected"'))
          throw new Error(`records not stored: ${ack}`);
      };
      for (let n = 0; n < o.records; n++) {
        const d = devices[n % devices.length];
        if (!d) throw new RangeError('no devices');
        const sealed = d.dev.seal({ plaintext: new Uint8Array(randomBytes(o.plaintextBytes)) });
        envelopeBytes += sealed.envelope.length;
        const mine = waiting.get(d.dev.deviceId) ?? [];
        mine.push(sealed.envelope);
        waiting.set(d.dev.deviceId, mine);
        if (mine.length >= o.recordsPerPublish) await flush(d.dev.deviceId);
        if (n % 100 === 99) o.onProgress?.(`aws cost: ${n + 1}/${o.records} records ingested`);
      }
      for (const id of waiting.keys()) await flush(id);
      for (const { dev, key } of devices) {
        const head = signHead(
          { deviceId: dev.deviceId, count: dev.nextSeq, lastHash: dev.prevHash, time: Date.now() - 1000 },
          signerOf(key),
        ).bytes;
        const ack = await publish(dev.deviceId, 'heads', head);
        if (!ack.includes('"stored"')) throw new Error(`head not stored: ${ack}`);
      }
      // The scheduled tick, through its Lambda edge (a fresh stage's first tick is due).
      flow.lambdaInvocations++;
      const { result: run, bytes } = await captureOutput(() => stack.anchor({}, lambdaContext('anchor')));
      flow.logBytes += bytes;
      if (run.status !== 'done') throw new Error(`the anchor tick did not run: ${JSON.stringify(run)}`);
      o.onProgress?.(`aws cost: anchored (${JSON.stringify(run).slice(0, 120)})`);
      const u = meter.usage;
      const lines = costLines(u, flow, o.records);
      const per = (m: Record<string, number>) =>
        Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v / o.records]));
      return {
        records: o.records,
        devices: o.devices,
        envelopeBytes: Math.round(envelopeBytes / o.records),
        basicIngest: o.basicIngest,
        recordsPerPublish: o.recordsPerPublish,
        logLevel: o.logLevel,
        logBytesPerInvocation: Math.round(flow.logBytes / flow.lambdaInvocations),
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
