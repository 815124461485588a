/**
 * Single-flight anchoring without reserved concurrency (issue 11 part 1), on the AWS adapters: two warm
 * instances of the anchor function, as Lambda runs them when a tick fires while a cycle still runs, share
 * only DynamoDB (dynalite) and S3 (s3rver). The interleavings are forced by holding a recorded call
 * (AwsStack.hooks), never by timing.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnchorEvent } from '../../functions/anchor/lambda.js';
import { toBase64 } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  lambdaContext,
  type RecordedCall,
  startAwsStack,
} from './support/aws-stack.js';

const DEVICE = 'lease-dev';
const MASTER = new Uint8Array(randomBytes(32));
const RECORDS = 5;

const scheduled = (): AnchorEvent => ({
  version: '0',
  id: 'cdc73f9d-aea9-11e3-9d5a-835b769c0d9c',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '111122223333',
  time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:111122223333:rule/anchor'],
  detail: {},
});

/** Registers the device and ingests a chain of records through the ingest function. */
async function queueRecords(stack: AwsStack): Promise<void> {
  const res = await stack.verify(
    httpApiEvent('POST', '/v1/devices', {
      operator: 'operator-alice',
      body: { deviceId: DEVICE, masterKey: toBase64(MASTER) },
    }),
    lambdaContext('verify'),
  );
  expect(res.statusCode).toBe(201);
  let prev: Uint8Array = ZERO_HASH;
  const start = Date.now() - 60_000;
  for (let seq = 0; seq < RECORDS; seq++) {
    const timestamp = start + seq * 1000;
    const rec = sealRecord({
      recordKey: deriveRecordKey(MASTER, DEVICE, timestamp, seq),
      deviceId: DEVICE,
      seq,
      timestamp,
      prevHash: prev,
      nonce: randomBytes(12),
      plaintext: new TextEncoder().encode(`reading ${seq}`),
    });
    prev = rec.recordHash;
    const r = await stack.ingest(
      iotRuleEvent(`devices/${DEVICE}/records`, rec.envelope, DEVICE),
      lambdaContext('ingest'),
    );
    expect(r.status).toBe('handled');
  }
  expect(await stack.index.countPending()).toBe(RECORDS);
}

/** Calls that change anything outside the leases table (the lease's own writes are the mechanism). */
function writesOutsideLeases(calls: RecordedCall[], leasesTable: string): string[] {
  const reads = /^(Get|Query|Scan|Head|List|BatchGet|Decrypt|DescribeKey|GetPublicKey)/;
  return calls
    .filter((c) => !reads.test(c.command) && c.input.TableName !== leasesTable)
    .map((c) => `${c.service}:${c.command}`);
}

/**
 * Holds the first anchor invocation at a point of its run until `release` is called: right after its
 * acquiring UpdateItem was answered (`acquired`), or just before its first fence, the renewal every write
 * of a cycle passes first (`fence`), i.e. after it read the pending records and built its batch.
 */
function holdAnchor(
  stack: AwsStack,
  at: 'acquired' | 'fence',
): { holding: Promise<void>; release: () => void } {
  const leases = stack.config.leasesTable;
  let signal = () => {};
  let release = () => {};
  const holding = new Promise<void>((r) => {
    signal = r;
  });
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let armed = true;
  const hook = async (call: RecordedCall) => {
    if (
      !armed ||
      call.failed !== undefined ||
      call.fn !== 'anchor' ||
      call.command !== 'UpdateItemCommand' ||
      call.input.TableName !== leases
    )
      return;
    const acquiring = String(call.input.UpdateExpression).includes('ADD');
    if (acquiring !== (at === 'acquired')) return;
    armed = false;
    signal();
    await gate;
  };
  if (at === 'acquired') stack.hooks.after = hook;
  else stack.hooks.before = hook;
  return { holding, release };
}

describe('single-flight anchoring with the lease (two anchor instances, no reserved concurrency)', () => {
  let stack: AwsStack;
  let now = Date.now();
  beforeEach(async () => {
    now = Date.now();
    stack = await startAwsStack({ clock: () => now });
    await queueRecords(stack);
  });
  afterEach(async () => {
    await stack?.close();
  });

  it('a tick that starts while a cycle runs finds the lease held and writes nothing', async () => {
    const leases = stack.config.leasesTable ?? '';
    expect(leases).not.toBe('');
    const hold = holdAnchor(stack, 'acquired');
    const first = stack.anchor(scheduled(), lambdaContext('anchor'));
    await hold.holding;

    const mark = stack.calls.length;
    const second = await stack.anotherAnchor()(scheduled(), lambdaContext('anchor'));
    expect(second).toMatchObject({ status: 'busy', heldBy: expect.stringMatching(/^anchor:/) });
    expect(writesOutsideLeases(stack.calls.slice(mark), leases)).toEqual([]);

    hold.release();
    expect(await first).toMatchObject({ status: 'done', batch: { size: RECORDS }, failures: [] });
    const batches = await stack.index.listBatches({ limit: 10 });
    expect(batches.items).toHaveLength(1);
    expect(await stack.index.countPending()).toBe(0);

    // The first released the lease when it finished: the next tick, on either instance, runs at once.
    expect(await stack.anotherAnchor()({}, lambdaContext('anchor'))).toMatchObject({ status: 'done' });
  });

  it('a cycle that stalls past its lease is fenced out: the new holder anchors, the stale one writes nothing more', async () => {
    const leases = stack.config.leasesTable ?? '';
    const hold = holdAnchor(stack, 'fence');
    const stale = stack.anchor(scheduled(), lambdaContext('anchor'));
    await hold.holding;

    // The stale holder is frozen (a paused Lambda, a long GC) past its lease's end.
    now += stack.config.anchorLeaseTtlMs + 1;
    const fresh = await stack.anotherAnchor()(scheduled(), lambdaContext('anchor'));
    expect(fresh).toMatchObject({ status: 'done', batch: { size: RECORDS }, failures: [] });

    const mark = stack.calls.length;
    hold.release();
    expect(await stale).toMatchObject({ status: 'lease-lost' });
    // It had read the pending records and built its batch; its first write found the fence closed, so
    // nothing it did after waking changed the store, and no second batch of the same records exists.
    expect(writesOutsideLeases(stack.calls.slice(mark), leases)).toEqual([]);
    const batches = await stack.index.listBatches({ limit: 10 });
    expect(batches.items).toHaveLength(1);
    expect(await stack.index.countPending()).toBe(0);
  });
});
