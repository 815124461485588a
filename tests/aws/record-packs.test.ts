/**
 * A record pack through the AWS entry points on dynalite and s3rver (docs/envelope.md "Record pack"): the
 * ingest Lambda takes one pack as one IoT-rule event and writes ONE S3 object for all its records, answers
 * with one ack message, and each record then verifies on its own through the verify Lambda's routes (a ranged
 * S3 read of its bytes), and key release still serves one record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../lib/core/bytes.js';
import { openRecord, parseEnvelope } from '../../lib/core/envelope.js';
import { checkProofBundle, type ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { encodeRecordPack } from '../../lib/core/record-pack.js';
import { deviceReplyTopics } from '../../lib/routing/routes.js';
import { TestDevice } from '../support/test-device.js';
import {
  type AwsStack,
  bodyBytes,
  httpApiEvent,
  iotRuleEvent,
  jsonBody,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';

const OPERATOR = 'operator-pack';

describe('a record pack through the Lambda entry points, on dynalite and s3rver', () => {
  let stack: AwsStack;
  const dev = new TestDevice('aws-pack-1');
  const records = Array.from({ length: 20 }, (_, i) =>
    dev.seal({
      plaintext: new TextEncoder().encode(`reading ${i} `.padEnd(900, '.')),
      timestamp: Date.now() - 60_000 + i,
    }),
  );
  const api = (method: string, path: string, body?: unknown) =>
    stack.verify(
      httpApiEvent(method, path, { operator: OPERATOR, ...(body === undefined ? {} : { body }) }),
      lambdaContext('verify'),
    );

  beforeAll(async () => {
    stack = await startAwsStack();
    const res = await api('POST', '/v1/devices', { deviceId: dev.deviceId, masterKey: dev.masterKeyBase64 });
    expect(res.statusCode).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('one pack event: one S3 PUT for the pack, one ack message answering all 20 records', async () => {
    const from = stack.calls.length;
    const r = await stack.ingest(
      iotRuleEvent(
        `devices/${dev.deviceId}/packs`,
        encodeRecordPack(records.map((x) => x.envelope)),
        dev.deviceId,
      ),
      lambdaContext('ingest'),
    );
    expect(r).toMatchObject({ status: 'handled' });
    const puts = stack.calls
      .slice(from)
      .filter((c) => c.service === 's3' && c.command === 'PutObjectCommand');
    expect(puts.map((c) => c.input.Key)).toEqual([
      expect.stringMatching(/^records\/aws-pack-1\/packs\/[0-9a-f]{64}$/),
    ]);
    const acks = stack.iot.published.filter((m) => m.topic === deviceReplyTopics.acks(dev.deviceId));
    expect(acks.map((m) => JSON.parse(m.payload.toString('utf8')))).toEqual([
      { v: 1, acks: [{ seq: 0, toSeq: 19, status: 'stored' }] },
    ]);
    expect(await stack.index.countPending()).toBe(20);
  });

  it('each packed record verifies through the verify routes, with exactly its own bytes', async () => {
    await stack.anchorNow();
    const chains = jsonBody<{ items: { publicKey: string }[] }>(await api('GET', '/v1/chains'));
    for (const seq of [0, 7, 19]) {
      const id = `${dev.deviceId}.${seq}`;
      expect(jsonBody<{ status: string }>(await api('GET', `/v1/records/${id}/verify`)).status).toBe(
        'verified',
      );
      const envelope = bodyBytes(await api('GET', `/v1/records/${id}/object`));
      expect(toHex(envelope)).toBe(toHex(records[seq]?.envelope as Uint8Array));
      const bundle = jsonBody<ProofBundleV2>(await api('GET', `/v1/records/${id}/proof`));
      expect(
        checkProofBundle(bundle, { envelope, trustedLedgerKeys: chains.items.map((c) => c.publicKey) })
          .status,
      ).toBe('verified');
    }
  });

  it('key release serves one packed record: its key opens that record alone', async () => {
    const res = await api('POST', `/v1/records/${dev.deviceId}.7/key-release`, { reason: 'pack audit' });
    expect(res.statusCode).toBe(200);
    const { key } = jsonBody<{ key: string }>(res);
    const env = parseEnvelope(records[7]?.envelope as Uint8Array);
    if (!env.ok) throw new Error('sealed record does not parse');
    const opened = openRecord(env, fromBase64(key) as Uint8Array);
    expect(opened.ok && new TextDecoder().decode(opened.plaintext)).toMatch(/^reading 7 /);
    const other = parseEnvelope(records[8]?.envelope as Uint8Array);
    if (!other.ok) throw new Error('sealed record does not parse');
    expect(openRecord(other, fromBase64(key) as Uint8Array).ok).toBe(false);
    expect(toBase64(fromBase64(key) as Uint8Array)).toBe(key);
  });
});
