/**
 * The spine end to end on the AWS adapters: device messages enter through the ingest Lambda as IoT-rule
 * events, the anchor Lambda runs on a scheduled event, and operators use the verify Lambda through API
 * Gateway HTTP API events. Storage is dynalite and s3rver; KMS and IoT Data are stand-ins (support/). The
 * device side is simulated by building the events a real device's publishes would produce.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnchorEvent } from '../../functions/anchor/lambda.js';
import { fromBase64, toBase64, toHex } from '../../lib/core/bytes.js';
import {
  openRecord,
  parseEnvelope,
  type SealedRecord,
  sealRecord,
  ZERO_HASH,
} from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import { checkProofBundle, type ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { deviceReplyTopics } from '../../lib/routing/routes.js';
import { probePython, pythonDisagreements } from '../support/python-verifier.js';
import {
  type AwsStack,
  bodyBytes,
  httpApiEvent,
  iotRuleEvent,
  jsonBody,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';

const OPERATOR = 'operator-alice';
const DEVICE = 'aws-dev-1';
const MASTER = new Uint8Array(randomBytes(32));

interface Ack {
  seq?: number;
  status: string;
  recordId?: string;
  code?: string;
}

/** A device's sequence of records, each chained to the one before, as the device stub seals them. */
function sealChain(
  deviceId: string,
  count: number,
  plaintextBytes = 64,
  start = Date.now() - 60_000,
): SealedRecord[] {
  const out: SealedRecord[] = [];
  let prev: Uint8Array = ZERO_HASH;
  for (let seq = 0; seq < count; seq++) {
    const timestamp = start + seq * 1000;
    const rec = sealRecord({
      recordKey: deriveRecordKey(MASTER, deviceId, timestamp, seq),
      deviceId,
      seq,
      timestamp,
      prevHash: prev,
      nonce: randomBytes(12),
      plaintext: new TextEncoder().encode(`reading ${seq} `.padEnd(plaintextBytes, '.')),
    });
    prev = rec.recordHash;
    out.push(rec);
  }
  return out;
}

describe('the spine through the Lambda entry points, on dynalite and s3rver', () => {
  let stack: AwsStack;
  const records = sealChain(DEVICE, 12);
  const api = (
    method: string,
    path: string,
    opts: { body?: unknown; operator?: string } = { operator: OPERATOR },
  ) => stack.verify(httpApiEvent(method, path, opts), lambdaContext('verify'));
  const acksFor = (deviceId: string): Ack[] =>
    stack.iot.published
      .filter((m) => m.topic === deviceReplyTopics.acks(deviceId))
      .flatMap((m) => (JSON.parse(m.payload.toString('utf8')) as { acks: Ack[] }).acks);

  beforeAll(async () => {
    stack = await startAwsStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('serves health without an operator and refuses operator routes without an authorizer identity', async () => {
    const health = await api('GET', '/v1/health', {});
    expect(health.statusCode).toBe(200);
    expect(jsonBody<{ status: string; pendingRecords: number }>(health)).toMatchObject({
      status: 'ok',
      pendingRecords: 0,
    });
    // A bearer token is not an identity in AWS: only API Gateway's authorizer context is.
    const refused = await stack.verify(
      httpApiEvent('GET', '/v1/audit', { headers: { authorization: 'Bearer anything' } }),
      lambdaContext('verify'),
    );
    expect(refused.statusCode).toBe(401);
    expect(jsonBody<{ error: { code: string } }>(refused).error.code).toBe('unauthorized');
  });

  it('provisions a device: the master key is stored only KMS-wrapped, and the action is audited', async () => {
    const res = await api('POST', '/v1/devices', {
      operator: OPERATOR,
      body: { deviceId: DEVICE, masterKey: toBase64(MASTER) },
    });
    expect(res.statusCode).toBe(201);
    const device = await stack.index.getDevice(DEVICE);
    const wrapped = fromBase64(device?.wrappedMasterKey ?? '') as Uint8Array;
    expect(Buffer.from(wrapped).includes(Buffer.from(MASTER))).toBe(false);
    // The KMS stand-in saw an Encrypt with the device's context, under the configured key alias.
    const encrypt = stack.kms.calls.find(
      (c) =>
        c.target === 'TrentService.Encrypt' &&
        (c.body.EncryptionContext as { deviceId?: string })?.deviceId === DEVICE,
    );
    expect(encrypt?.body).toMatchObject({
      KeyId: 'alias/iot-notary-test',
      EncryptionContext: { purpose: 'device-master-key', deviceId: DEVICE },
    });
    expect(encrypt?.contentType).toBe('application/x-amz-json-1.1');
    const audit = jsonBody<{ items: { actor: string; action: string; target: string }[] }>(
      await api('GET', '/v1/audit'),
    );
    expect(audit.items[0]).toMatchObject({
      actor: `jwt:${OPERATOR}`,
      action: 'device-provisioned',
      target: DEVICE,
    });
  });

  it('ingests records from IoT rule events, out of order and redelivered, and acks each through AWS IoT', async () => {
    const order = [3, 0, 1, 2, 5, 4, 6, 7, 9, 8, 10, 11];
    // The last two as published by Basic Ingest, with the prefix still on the event's topic: AWS IoT strips
    // it before topic(), and ingest's edge strips it too, so both forms are the one records route.
    const topicOf = (seq: number) =>
      seq >= 10
        ? `$aws/rules/iot_notary_test_device_records/devices/${DEVICE}/records`
        : `devices/${DEVICE}/records`;
    for (const seq of order) {
      const r = await stack.ingest(
        iotRuleEvent(topicOf(seq), (records[seq] as SealedRecord).envelope, DEVICE),
        lambdaContext('ingest'),
      );
      expect(r.status).toBe('handled');
    }
    // The rule action is asynchronous: Lambda may run an event twice.
    const again = await stack.ingest(
      iotRuleEvent(`devices/${DEVICE}/records`, (records[2] as SealedRecord).envelope, DEVICE),
      lambdaContext('ingest'),
    );
    expect(again).toMatchObject({ status: 'handled' });
    const acks = acksFor(DEVICE);
    expect(acks.filter((a) => a.status === 'stored').map((a) => a.seq)).toEqual(order);
    expect(acks.filter((a) => a.status === 'duplicate').map((a) => a.seq)).toEqual([2]);
    expect(stack.iot.published.every((m) => m.qos === 1)).toBe(true);
    expect(await stack.index.countPending()).toBe(12);
    const stored = await stack.objects.get(
      `records/${DEVICE}/${toHex(records[4]?.recordHash as Uint8Array)}`,
    );
    expect(Buffer.from(stored as Uint8Array).equals(Buffer.from(records[4]?.envelope as Uint8Array))).toBe(
      true,
    );
  });

  it('takes a packet over 128 KiB through a presigned S3 upload and a manifest', async () => {
    const big = sealChain('aws-dev-big', 1, 200 * 1024)[0] as SealedRecord;
    await api('POST', '/v1/devices', {
      operator: OPERATOR,
      body: { deviceId: 'aws-dev-big', masterKey: toBase64(MASTER) },
    });
    const sha = toHex(sha256(big.envelope));
    const request = { v: 1, seq: 0, sha256: sha, size: big.envelope.length };
    await stack.ingest(
      iotRuleEvent('devices/aws-dev-big/uploads/request', JSON.stringify(request)),
      lambdaContext('ingest'),
    );
    const grantMsg = stack.iot.published.find(
      (m) => m.topic === deviceReplyTopics.uploadGrants('aws-dev-big'),
    );
    const grant = JSON.parse(grantMsg?.payload.toString('utf8') ?? '{}') as {
      url: string;
      method: 'PUT';
      headers: Record<string, string>;
    };
    expect(new URL(grant.url).searchParams.get('X-Amz-SignedHeaders')).toBe(
      'content-length;host;x-amz-checksum-sha256',
    );
    // Exactly what the device stub does with a grant.
    const put = await fetch(grant.url, {
      method: grant.method,
      headers: grant.headers,
      body: Buffer.from(big.envelope),
    });
    expect(put.status).toBe(200);
    await stack.ingest(
      iotRuleEvent('devices/aws-dev-big/manifests', JSON.stringify(request)),
      lambdaContext('ingest'),
    );
    expect(acksFor('aws-dev-big')).toEqual([{ seq: 0, status: 'stored', recordId: 'aws-dev-big.0' }]);
    expect((await stack.index.getRecord('aws-dev-big', 0))?.via).toBe('upload');
    // The staged upload is gone (a delete marker; the bucket is versioned), the record is under its hash.
    expect(await stack.objects.head(`uploads/aws-dev-big/${sha}`)).toBeUndefined();
  });

  it('anchors on a scheduled event (ledger signed by the KMS Ed25519 key); every record verifies, its bundle checks offline in TS and Python', async () => {
    const scheduled: AnchorEvent = {
      version: '0',
      id: 'cdc73f9d-aea9-11e3-9d5a-835b769c0d9c',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '111122223333',
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:111122223333:rule/anchor'],
      detail: {},
    };
    const report = await stack.anchor(scheduled, lambdaContext('anchor'));
    expect(report).toMatchObject({ status: 'done', batch: { size: 13 }, failures: [] });
    expect(await stack.index.countPending()).toBe(0);
    // A manual run with nothing queued is a no-op.
    expect(await stack.anchor({}, lambdaContext('anchor'))).toMatchObject({ status: 'done', anchors: [] });

    for (let seq = 0; seq < 12; seq++) {
      const v = jsonBody<{ status: string }>(await api('GET', `/v1/records/${DEVICE}.${seq}/verify`));
      expect(v.status).toBe('verified');
    }
    const id = `${DEVICE}.7`;
    const proof = await api('GET', `/v1/records/${id}/proof`);
    const bundle = jsonBody<ProofBundleV2>(proof);
    const envelope = bodyBytes(await api('GET', `/v1/records/${id}/object`));
    const chains = jsonBody<{ items: { chainId: string; publicKey: string }[] }>(
      await api('GET', '/v1/chains'),
    );
    expect(chains.items).toEqual([
      {
        chainId: expect.stringMatching(/^embedded:/),
        kind: 'embedded-ledger',
        publicKey: toBase64(stack.ledgerPublicKey),
      },
    ]);
    const check = checkProofBundle(bundle, {
      envelope,
      trustedLedgerKeys: chains.items.map((c) => c.publicKey),
    });
    expect(check.status).toBe('verified');
    expect(bundle.anchors[0]?.evidence?.kind).toBe('embedded-ledger');
    // The entry was signed by KMS (the stand-in's Ed25519 key) and the independent Python verifier agrees.
    expect(stack.kms.calls.some((c) => c.target === 'TrentService.Sign')).toBe(true);
    const python = probePython();
    if (!python.ok) throw new Error(`verify_bundle.py cannot run here: ${python.reason}`);
    const trustedLedgerKeys = chains.items.map((c) => c.publicKey);
    expect(
      pythonDisagreements(new Map([[id, proof.body]]), { trustedLedgerKeys, trustedDeviceKeys: [] }),
    ).toEqual([]);
    const gaps = jsonBody<{ received: number; gaps: unknown[] }>(
      await api('GET', `/v1/devices/${DEVICE}/gaps`),
    );
    expect(gaps).toMatchObject({ received: 12, gaps: [] });
  });

  it('releases one record key through KMS, audited, and it opens exactly that record', async () => {
    const id = `${DEVICE}.5`;
    const res = await api('POST', `/v1/records/${id}/key-release`, {
      operator: OPERATOR,
      body: { reason: 'audit 2024-17' },
    });
    expect(res.statusCode).toBe(200);
    const { key } = jsonBody<{ key: string }>(res);
    const env = parseEnvelope((records[5] as SealedRecord).envelope);
    if (!env.ok) throw new Error('sealed record does not parse');
    const opened = openRecord(env, fromBase64(key) as Uint8Array);
    expect(opened.ok && new TextDecoder().decode(opened.plaintext)).toMatch(/^reading 5 /);
    const decrypt = stack.kms.calls.findLast((c) => c.target === 'TrentService.Decrypt');
    expect(decrypt?.body.EncryptionContext).toEqual({ purpose: 'device-master-key', deviceId: DEVICE });
    const audit = jsonBody<{ items: { action: string; reason?: string }[] }>(await api('GET', '/v1/audit'));
    expect(audit.items[0]).toMatchObject({ action: 'record-key-released', reason: 'audit 2024-17' });
  });

  it('lists records by time and reads a modified S3 object as tampered', async () => {
    const page = jsonBody<{ items: { seq: number }[] }>(
      await api('GET', `/v1/devices/${DEVICE}/records?limit=5`),
    );
    expect(page.items.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    const rec = await stack.index.getRecord(DEVICE, 9);
    const bytes = (await stack.objects.get(rec?.objectKey ?? '')) as Uint8Array;
    const modified = bytes.slice();
    modified[modified.length - 1] = (modified[modified.length - 1] as number) ^ 1;
    await stack.objects.put(rec?.objectKey ?? '', modified, { sha256: sha256(modified) });
    const v = jsonBody<{ status: string; reasons: { code: string }[] }>(
      await api('GET', `/v1/records/${DEVICE}.9/verify`),
    );
    expect(v.status).toBe('tampered');
    expect(v.reasons.map((r) => r.code)).toContain('ciphertext-hash-mismatch');
  });
});
