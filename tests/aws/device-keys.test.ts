/**
 * Device signatures on the AWS path: the ingest Lambda (IoT rule events) with DynamoDB and S3 on dynalite and
 * s3rver, KMS and IoT Data stand-ins (support/), the anchor and verify Lambdas. The same checks as the embedded
 * runtime: signed records, heads and a rotation accepted; a bad signature, an unsigned record, a rotated-away
 * key and a revoked key refused and dead-lettered; the proofs and the completeness document the verify Lambda
 * hands out prove origin and completeness offline, and verify_bundle.py agrees. Then the dishonest operator of
 * issue 9, who holds the tables, the bucket and the KMS key: it deletes a record from DynamoDB (the completeness
 * document and gaps name it), stores a record it sealed itself behind ingest and anchors it (origin not
 * proven), and registers a key of its own and signs with it (not proven against the device's pinned key).
 */
import { randomBytes } from 'node:crypto';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsKeyVault } from '../../lib/adapters/aws/kms-key-vault.js';
import { fromBase64, fromHex, toBase64, toHex } from '../../lib/core/bytes.js';
import { CompletenessDocument, checkCompleteness } from '../../lib/core/completeness.js';
import { signHead } from '../../lib/core/device-head.js';
import type { AckEntry } from '../../lib/core/device-messages.js';
import { generateSigningKey, type SigningKey, signerOf } from '../../lib/core/device-signature.js';
import { signRotation } from '../../lib/core/key-event.js';
import { leafHashOf } from '../../lib/core/leaf.js';
import { AnyProofBundle, checkProofBundle } from '../../lib/core/proof-bundle.js';
import { masterKeyContext } from '../../lib/devices/provision-device.js';
import { storeEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { deviceReplyTopics } from '../../lib/routing/routes.js';
import { flipByte } from '../support/bytes.js';
import { probePython, pythonDisagreements } from '../support/python-verifier.js';
import { TestDevice } from '../support/test-device.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  jsonBody,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';
import { TEST_CREDENTIALS, TEST_REGION } from './support/emulators.js';

const DEVICE = 'aws-signed-1';

describe('device signatures through the Lambda entry points, on dynalite and s3rver', () => {
  let stack: AwsStack;
  let first: SigningKey;
  let second: SigningKey;
  let dev: TestDevice;
  const documents = new Map<string, string>();

  const api = (method: string, path: string, body?: unknown) =>
    stack.verify(
      httpApiEvent(method, path, { operator: 'op', ...(body === undefined ? {} : { body }) }),
      lambdaContext('verify'),
    );
  /** Publishes as the device through the ingest Lambda; returns the one ack entry that answers it. */
  const publish = async (topic: 'records' | 'heads' | 'keys', payload: Uint8Array): Promise<AckEntry> => {
    const before = stack.iot.published.length;
    const out = await stack.ingest(
      iotRuleEvent(`devices/${DEVICE}/${topic}`, payload, DEVICE),
      lambdaContext('ingest'),
    );
    expect(out.status).toBe('handled');
    const acks = stack.iot.published
      .slice(before)
      .filter((m) => m.topic === deviceReplyTopics.acks(DEVICE))
      .flatMap((m) => (JSON.parse(m.payload.toString('utf8')) as { acks: AckEntry[] }).acks);
    expect(acks).toHaveLength(1);
    return acks[0] as AckEntry;
  };
  const deadLetterCodes = async () =>
    (await stack.index.listDeadLetters({ limit: 100, deviceId: DEVICE })).items.map((d) => d.code).sort();

  beforeAll(async () => {
    stack = await startAwsStack();
    first = generateSigningKey('ed25519');
    second = generateSigningKey('p256');
    dev = new TestDevice(DEVICE, new Uint8Array(randomBytes(32)), signerOf(first));
    const res = await api('POST', '/v1/devices', {
      deviceId: DEVICE,
      masterKey: dev.masterKeyBase64,
      signingKey: { alg: 'ed25519', publicKey: toBase64(first.publicKey) },
    });
    expect(res.statusCode).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('accepts signed records and a signed head; refuses a bad signature and an unsigned record', async () => {
    for (let i = 0; i < 3; i++)
      expect(await publish('records', dev.seal().envelope)).toMatchObject({ status: 'stored' });
    const bad = dev.seal({ seq: 3 });
    expect(await publish('records', flipByte(bad.envelope, bad.headerBytes.length - 1))).toMatchObject({
      seq: 3,
      status: 'rejected',
      code: 'signature-invalid',
    });
    expect(await publish('records', dev.seal({ seq: 3, signer: null }).envelope)).toMatchObject({
      status: 'rejected',
      code: 'unsigned-not-allowed',
    });
    const head = signHead(
      { deviceId: DEVICE, count: 3, lastHash: dev.prevHash, time: Date.now() - 1000 },
      signerOf(first),
    ).bytes;
    const leafHash = toHex(leafHashOf(head));
    expect(await publish('heads', head)).toEqual({ kind: 'head', leafHash, count: 3, status: 'stored' });
    expect(await publish('heads', head)).toEqual({ kind: 'head', leafHash, count: 3, status: 'duplicate' });
    expect(await deadLetterCodes()).toEqual(['signature-invalid', 'unsigned-not-allowed']);
  });

  it('rotates: the old key is refused from the next record on, the new one accepted', async () => {
    const rotation = signRotation({
      deviceId: DEVICE,
      time: Date.now() - 1000,
      oldKey: signerOf(first),
      newKey: signerOf(second),
    });
    expect(await publish('keys', rotation)).toEqual({
      kind: 'key',
      leafHash: toHex(leafHashOf(rotation)),
      keyId: toHex(second.keyId),
      status: 'stored',
    });
    expect(await publish('records', dev.seal({ seq: 3 }).envelope)).toMatchObject({
      status: 'rejected',
      code: 'key-revoked',
    });
    dev.signer = signerOf(second);
    expect(await publish('records', dev.seal().envelope)).toMatchObject({ seq: 3, status: 'stored' });
    const head = signHead(
      { deviceId: DEVICE, count: 4, lastHash: dev.prevHash, time: Date.now() - 500 },
      signerOf(second),
    ).bytes;
    expect(await publish('heads', head)).toMatchObject({ kind: 'head', status: 'stored' });
  });

  it('a revocation through the API holds at the next message', async () => {
    const r = await api('POST', `/v1/devices/${DEVICE}/keys/${toHex(second.keyId)}/revoke`, {
      reason: 'stolen',
      code: 'compromised',
    });
    expect(r.statusCode).toBe(200);
    expect(await publish('records', dev.seal().envelope)).toMatchObject({
      seq: 4,
      status: 'rejected',
      code: 'key-revoked',
    });
    expect(await deadLetterCodes()).toEqual([
      'key-revoked',
      'key-revoked',
      'signature-invalid',
      'unsigned-not-allowed',
    ]);
  });

  it('anchors records, key events and heads; proofs and the completeness document check offline', async () => {
    expect(await stack.anchor({}, lambdaContext('anchor'))).toMatchObject({ status: 'done', failures: [] });
    const ledgerKeys = [toBase64(stack.ledgerPublicKey)];
    const pins = [{ deviceId: DEVICE, keyId: toHex(first.keyId) }];
    for (let seq = 0; seq <= 3; seq++) {
      const res = await api('GET', `/v1/records/${DEVICE}.${seq}/proof`);
      expect(res.statusCode).toBe(200);
      documents.set(`record ${seq}`, res.body);
      const c = checkProofBundle(AnyProofBundle.parse(JSON.parse(res.body)), {
        trustedLedgerKeys: ledgerKeys,
        trustedDeviceKeys: pins,
      });
      expect(c.status, `record ${seq}`).toBe('verified');
      expect(c.proven.origin, `record ${seq}`).toMatchObject({
        verdict: 'proven',
        keyId: toHex((seq < 3 ? first : second).keyId),
      });
    }
    const doc = await api('GET', `/v1/devices/${DEVICE}/completeness`);
    expect(doc.statusCode).toBe(200);
    documents.set('completeness', doc.body);
    const c = checkCompleteness(CompletenessDocument.parse(JSON.parse(doc.body)), {
      trustedLedgerKeys: ledgerKeys,
      trustedDeviceKeys: pins,
    });
    expect(c).toMatchObject({ status: 'verified', outcome: 'complete', range: { fromSeq: 0, toSeq: 3 } });
    expect(c.head).toMatchObject({ count: 4 });
    const gaps = jsonBody<{ toSeq: number; gaps: unknown[] }>(await api('GET', `/v1/devices/${DEVICE}/gaps`));
    expect(gaps).toMatchObject({ toSeq: 3, gaps: [] });

    const python = probePython();
    if (!python.ok) throw new Error(`verify_bundle.py cannot run here: ${python.reason}`);
    expect(
      pythonDisagreements(documents, { trustedLedgerKeys: ledgerKeys, trustedDeviceKeys: pins }),
    ).toEqual([]);
    expect(pythonDisagreements(documents, { trustedDeviceKeys: [] })).toEqual([]);
  });

  it('a dishonest operator with the tables, the bucket and KMS: a deleted record is named; its own records are not proven', async () => {
    const ledgerKeys = [toBase64(stack.ledgerPublicKey)];
    const pins = [{ deviceId: DEVICE, keyId: toHex(first.keyId) }];
    const last = await stack.index.getRecord(DEVICE, 3);
    if (!last) throw new Error('record 3 is not stored');

    // Truncation: the last record before the head (count 4) goes from the records table.
    await stack.dynamo.db.send(
      new DeleteItemCommand({
        TableName: stack.config.tables.records,
        Key: { deviceId: { S: DEVICE }, seq: { N: '3' } },
      }),
    );
    const doc = await api('GET', `/v1/devices/${DEVICE}/completeness?fromSeq=0&toSeq=3`);
    expect(doc.statusCode).toBe(200);
    const truncated = checkCompleteness(CompletenessDocument.parse(JSON.parse(doc.body)), {
      trustedLedgerKeys: ledgerKeys,
      trustedDeviceKeys: pins,
    });
    expect(truncated.outcome).not.toBe('complete');
    expect(truncated.missing).toEqual([{ fromSeq: 3, toSeq: 3 }]);
    expect(truncated.head).toMatchObject({ count: 4 });
    const gaps = jsonBody<{ toSeq: number; gaps: { fromSeq: number; toSeq: number }[] }>(
      await api('GET', `/v1/devices/${DEVICE}/gaps`),
    );
    expect(gaps).toMatchObject({ toSeq: 3, gaps: [{ fromSeq: 3, toSeq: 3 }] });

    // (i) A record the operator sealed with the device's master key (unwrapped with KMS) and stored itself.
    const device = await stack.index.getDevice(DEVICE);
    const kms = new KMSClient({
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
      endpoint: stack.kms.endpoint,
    });
    const masterKey = await new KmsKeyVault(kms, stack.config.kmsKeyId ?? '').unwrap(
      fromBase64(device?.wrappedMasterKey ?? '') ?? new Uint8Array(0),
      masterKeyContext(DEVICE),
    );
    kms.destroy();
    const forger = new TestDevice(DEVICE, masterKey);
    forger.nextSeq = 4;
    forger.prevHash = fromHex(last.recordHash) ?? new Uint8Array(32);
    const unsigned = forger.seal({ signer: null });
    expect(
      await storeEnvelope(
        { objects: stack.objects, index: stack.index },
        { bytes: unsigned.envelope, via: 'inline', receivedAt: Date.now() },
      ),
    ).toMatchObject({ status: 'stored' });

    // (ii) A key the operator registers for the device through the API, and a record it signs with it.
    const own = generateSigningKey('ed25519');
    const registered = await api('POST', `/v1/devices/${DEVICE}/keys`, {
      alg: 'ed25519',
      publicKey: toBase64(own.publicKey),
      reason: 'device replaced',
    });
    expect(registered.statusCode).toBe(201);
    forger.signer = signerOf(own);
    expect(await publish('records', forger.seal().envelope)).toMatchObject({ seq: 5, status: 'stored' });
    // The operator runs the anchor function's own cycle now (its schedule would wait for the next interval).
    expect(await stack.anchorNow()).toMatchObject({ failures: [] });
    expect(await stack.index.countPending()).toBe(0);

    const judge = async (seq: number, trustedDeviceKeys: typeof pins) => {
      const res = await api('GET', `/v1/records/${DEVICE}.${seq}/proof`);
      expect(res.statusCode).toBe(200);
      documents.set(`forged ${seq}`, res.body);
      return checkProofBundle(AnyProofBundle.parse(JSON.parse(res.body)), {
        trustedLedgerKeys: ledgerKeys,
        trustedDeviceKeys,
      });
    };
    const i = await judge(4, pins);
    expect(i.proven.origin).toMatchObject({ verdict: 'not-proven', reasons: [{ code: 'unsigned-record' }] });
    expect(i.proven.integrity).toBe('proven');
    const ii = await judge(5, pins);
    expect(ii.proven.origin.verdict).toBe('not-proven');
    expect(ii.proven.origin.keyId).toBe(toHex(own.keyId));
    expect((await judge(5, [])).proven.origin.verdict).toBe('unpinned');
    // The device's own record, with the same pins: proven.
    expect((await judge(2, pins)).proven.origin).toMatchObject({
      verdict: 'proven',
      keyId: toHex(first.keyId),
    });

    documents.set('truncated completeness', doc.body);
    expect(
      pythonDisagreements(documents, { trustedLedgerKeys: ledgerKeys, trustedDeviceKeys: pins }),
    ).toEqual([]);
  });
});
