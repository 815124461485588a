/**
 * The billing meter (support/billing-meter.ts) and the cost flow (bench/aws-cost.ts) on the emulators: the
 * meter's arithmetic against the documented DynamoDB and IoT metering rules, then what one signed 1 KiB record
 * costs today, call by call. The per-record counts are pinned: a change that adds or removes a billable call
 * on the ingest path must change this test (and docs/deploy.md's cost section) on purpose.
 */
import { describe, expect, it } from 'vitest';
import { AWS_PRICES, type AwsCostFigures, measureAwsCost, registerDevices } from '../../bench/aws-cost.js';
import { httpApiEvent, iotRuleEvent, lambdaContext, startAwsStack } from './support/aws-stack.js';
import { indexWriteUnits, iotMessageUnits, itemBytes, startBillingMeter } from './support/billing-meter.js';

describe('billing meter arithmetic', () => {
  it('sizes items as DynamoDB does: attribute names plus values', () => {
    // "pk" (2) + "abc" (3); "n" (1) + 12345 (3 digits-pairs: 1 + ceil(5/2) = 4); "b" (1) + 4 bytes; "t" (1) + true (1).
    expect(itemBytes({ pk: { S: 'abc' } })).toBe(5);
    expect(itemBytes({ n: { N: '12345' } })).toBe(5);
    expect(itemBytes({ b: { B: new Uint8Array(4) } })).toBe(5);
    expect(itemBytes({ t: { BOOL: true } })).toBe(2);
    // UTF-8, not UTF-16: "é" is two bytes.
    expect(itemBytes({ s: { S: 'é' } })).toBe(3);
  });

  it('bills index writes: enter, leave, key change, projected change, and nothing changed', () => {
    const table = {
      keys: ['pk'],
      indexes: [{ name: 'byState', keys: ['state'], projected: [] as string[] }],
    };
    const base = { pk: { S: 'r1' }, body: { S: 'x'.repeat(2000) } };
    const pending = { ...base, state: { S: 'pending' } };
    const placed = { ...base, state: { S: 'placed' } };
    expect(indexWriteUnits(table, undefined, base)).toBe(0);
    expect(indexWriteUnits(table, undefined, pending)).toBe(1);
    expect(indexWriteUnits(table, pending, base)).toBe(1);
    // KEYS_ONLY: the 2 KB body is not in the index, so each index write is 1 unit; a key change is 2 writes.
    expect(indexWriteUnits(table, pending, placed)).toBe(2);
    expect(indexWriteUnits(table, pending, { ...pending, body: { S: 'y' } })).toBe(0);
    const all = { keys: ['pk'], indexes: [{ name: 'all', keys: ['state'], projected: undefined }] };
    // ALL: the index holds the whole 2,020-byte item (2 units of 1 KB), and a change of any attribute rewrites
    // it at the larger of its two sizes.
    expect(itemBytes(pending)).toBe(2020);
    expect(indexWriteUnits(all, undefined, pending)).toBe(2);
    expect(indexWriteUnits(all, pending, { ...pending, body: { S: 'y' } })).toBe(2);
  });

  it('meters IoT messages in 5 KB units of topic and payload', () => {
    expect(iotMessageUnits('devices/d/records', 0)).toBe(1);
    expect(iotMessageUnits('t', 5 * 1024 - 1)).toBe(1);
    expect(iotMessageUnits('t', 5 * 1024)).toBe(2);
  });
});

describe('what a signed 1 KiB record costs on AWS, on the emulators', () => {
  const unitsOf = (c: AwsCostFigures) =>
    Object.fromEntries(c.lines.map((l) => [l.kind.replace(/ \(assumed.*$/, ''), l.unitsPerRecord]));

  it('counts every billable call per record and prices it (publishes through the broker)', async () => {
    const c = await measureAwsCost({ devices: 2, records: 40, basicIngest: false });
    const units = unitsOf(c);
    // One MQTT message in, one ack out through the Publish API, delivered and PUBACKed: 4 messages a record.
    // The 2 heads (one per device) are acked too: 42 publishes for 40 records.
    expect(units['IoT: device PUBLISH received by the broker']).toBeCloseTo(42 / 40, 6);
    expect(units['IoT: ack sent through the Publish API']).toBeCloseTo(42 / 40, 6);
    expect(units['IoT: ack delivered to the device']).toBeCloseTo(42 / 40, 6);
    expect(units["IoT: the device's PUBACK of the ack"]).toBeCloseTo(42 / 40, 6);
    // A rule and its Lambda action per message, each one 5 KB unit for a 1 KiB record.
    expect(units['IoT rules: triggered (5 KB units)']).toBeCloseTo(42 / 40, 6);
    expect(units['IoT rules: Lambda action (5 KB units)']).toBeCloseTo(42 / 40, 6);
    // One invocation per message, plus the anchor tick.
    expect(units['Lambda requests']).toBeCloseTo(43 / 40, 6);
    // One S3 object per record, plus what the anchor cycle writes for the batch.
    expect(c.callsPerRecord['s3:PutObject']).toBeGreaterThanOrEqual(1);
    expect(c.callsPerRecord['s3:PutObject']).toBeLessThanOrEqual(1 + 3 / 40);
    // The record item: one WRU on ingest with two index writes (byTime, pending); one WRU when the anchor
    // places it and one index write, the pending entry's delete. byTime holds keys only, so the placement
    // leaves it alone: 5 WRU a record where the index projecting ALL cost 6.
    expect(c.dynamoPerRecord['records:PutItem:write']).toBe(1);
    expect(c.dynamoPerRecord['records:PutItem:index-write']).toBe(2);
    expect(c.dynamoPerRecord['records:UpdateItem:write']).toBe(1);
    expect(c.dynamoPerRecord['records:UpdateItem:index-write']).toBe(1);
    // Per record on ingest: the device's key state and the duplicate check, one consistent read each.
    expect(c.dynamoPerRecord['records:GetItem:read']).toBe(1);
    expect(c.dynamoPerRecord['devices:GetItem:read']).toBeCloseTo(42 / 40, 6);
    // The ledger key's calls (Sign, GetPublicKey) are priced at the asymmetric rate, the others at the
    // symmetric one.
    const asym = c.lines.find((l) => l.kind === 'KMS requests, asymmetric key (ledger Sign)');
    expect(asym?.unitsPerRecord).toBeCloseTo(
      (c.callsPerRecord['kms:Sign'] ?? 0) + (c.callsPerRecord['kms:GetPublicKey'] ?? 0),
      9,
    );
    expect(c.callsPerRecord['kms:Sign']).toBeGreaterThan(0);
    expect(asym?.dollarsPerMillion).toBeCloseTo(
      (asym?.unitsPerRecord ?? 0) * AWS_PRICES.kmsAsymmetricPerTenThousand * 100,
      9,
    );
    // Logs are what the functions wrote at info level, measured: at least one EMF metric line per ingest
    // (RecordsStored), and no per-record log line beyond it.
    expect(c.logLevel).toBe('info');
    expect(c.logBytesPerInvocation).toBeGreaterThan(150);
    expect(c.logBytesPerInvocation).toBeLessThan(600);
    const logs = c.lines.find((l) => l.kind === 'CloudWatch Logs: what the functions wrote');
    expect(logs?.measured).toBe(true);
    expect(logs?.unitsPerRecord).toBeCloseTo(
      (c.logBytesPerInvocation * 43) / 40 / 1e9, // bytes per invocation × invocations per record
      9,
    );
    // The total is the sum of its lines at the stated prices, and it is still well above the $4 goal.
    expect(c.dollarsPerMillion).toBeCloseTo(
      c.lines.reduce((a, l) => a + l.dollarsPerMillion, 0),
      9,
    );
    const s3 = c.lines.find((l) => l.kind === 'S3 PUT/LIST requests');
    expect(s3?.dollarsPerMillion).toBeCloseTo(
      (s3?.unitsPerRecord ?? 0) * AWS_PRICES.s3PutPerThousand * 1000,
      9,
    );
    expect(c.dollarsPerMillion).toBeGreaterThan(10);
  }, 120_000);

  it('Basic Ingest: the same records stored and acked, with no inbound message charged', async () => {
    const c = await measureAwsCost({ devices: 2, records: 40, basicIngest: true });
    const units = unitsOf(c);
    expect(c.basicIngest).toBe(true);
    // The device's publish goes to the rule, past the broker: no message; the rule, its action, the
    // invocation and the ack (3 messages a publish) are as before.
    expect(units['IoT: device PUBLISH received by the broker']).toBe(0);
    expect(units['IoT: ack sent through the Publish API']).toBeCloseTo(42 / 40, 6);
    expect(units['IoT: ack delivered to the device']).toBeCloseTo(42 / 40, 6);
    expect(units["IoT: the device's PUBACK of the ack"]).toBeCloseTo(42 / 40, 6);
    expect(units['IoT rules: triggered (5 KB units)']).toBeCloseTo(42 / 40, 6);
    expect(units['Lambda requests']).toBeCloseTo(43 / 40, 6);
    expect(c.dynamoPerRecord['records:PutItem:write']).toBe(1);
    expect(c.dynamoPerRecord['records:UpdateItem:index-write']).toBe(1);
  }, 120_000);

  it('record packs: one publish, one rule, one invocation, one ack and one S3 object for 16 records', async () => {
    const c = await measureAwsCost({ devices: 2, records: 64, basicIngest: true, recordsPerPublish: 16 });
    const units = unitsOf(c);
    expect(c.recordsPerPublish).toBe(16);
    // 2 devices × 2 packs of 16, then a head each: 6 publishes for 64 records, each answered by one ack
    // message (a pack's stored records collapse into one range entry, well under 5 KB).
    expect(units['IoT: device PUBLISH received by the broker']).toBe(0);
    expect(units['IoT: ack sent through the Publish API']).toBeCloseTo(6 / 64, 6);
    expect(units["IoT: the device's PUBACK of the ack"]).toBeCloseTo(6 / 64, 6);
    // A pack of 16 signed 1 KiB envelopes is 4 units of 5 KB to the rule and its action; a head is 1.
    expect(units['IoT rules: triggered (5 KB units)']).toBeCloseTo((4 * 4 + 2) / 64, 6);
    expect(units['Lambda requests']).toBeCloseTo(7 / 64, 6);
    // One object per pack; the anchor tick adds its own few.
    expect(c.callsPerRecord['s3:PutObject']).toBeGreaterThanOrEqual(4 / 64);
    expect(c.callsPerRecord['s3:PutObject']).toBeLessThanOrEqual((4 + 3) / 64);
    // Each record is still its own index entry, queued and placed: the DynamoDB writes do not shrink.
    expect(c.dynamoPerRecord['records:PutItem:write']).toBe(1);
    expect(c.dynamoPerRecord['records:UpdateItem:write']).toBe(1);
  }, 120_000);

  it('refuses a records-per-publish that is not a positive integer', async () => {
    await expect(measureAwsCost({ devices: 1, records: 2, recordsPerPublish: 0 })).rejects.toThrow(
      /recordsPerPublish must be a positive integer/,
    );
  });
});

describe('reads through the keys-only byTime index, metered', () => {
  it('a page of 5 records by time: one index Query, then one BatchGetItem of 5 consistent reads', async () => {
    const stack = await startAwsStack();
    try {
      const [d] = await registerDevices(stack, 1);
      if (!d) throw new Error('no device');
      for (let i = 0; i < 7; i++) {
        const sealed = d.dev.seal({ plaintext: new TextEncoder().encode(`reading ${i}`) });
        const out = await stack.ingest(
          iotRuleEvent(`devices/${d.dev.deviceId}/records`, sealed.envelope, d.dev.deviceId),
          lambdaContext('ingest'),
        );
        expect(out.status).toBe('handled');
      }
      const meter = await startBillingMeter(stack);
      try {
        const res = await stack.verify(
          httpApiEvent('GET', `/v1/devices/${d.dev.deviceId}/records?limit=5`, { operator: 'op' }),
          lambdaContext('verify'),
        );
        expect(res.statusCode).toBe(200);
        const page = JSON.parse(res.body) as { items: { seq: number }[]; next?: string };
        expect(page.items.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
        expect(page.next).toBeDefined();
        const u = meter.usage;
        expect(u.calls['dynamodb:BatchGetItem']).toBe(1);
        // Each record item under 4 KB, read consistently: 1 RRU each, for the 5 on the page only.
        expect(u.dynamoByTable['records:BatchGetItem:read']).toBe(5);
        // The index page (6 keys, eventually consistent, far under 4 KB): half a unit.
        expect(u.dynamoByTable['records:Query:read']).toBe(0.5);
      } finally {
        meter.stop();
      }
    } finally {
      await stack.close();
    }
  }, 60_000);
});
