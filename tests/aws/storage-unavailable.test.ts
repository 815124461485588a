/**
 * DynamoDB goes away under a running verify function: the real dynalite server is stopped mid-test, so every
 * SDK call meets a refused connection. Reads, the proof route and key release must answer the documented
 * `503 storage-unavailable` with `Retry-After` (docs/api.md), not `500 internal`: the store failed, the request
 * did not, and trying again later is the right move for the caller.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORAGE_RETRY_AFTER_SECONDS } from '../../lib/adapters/storage-failure.js';
import { toBase64 } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import {
  type AwsStack,
  type HttpApiResult,
  httpApiEvent,
  iotRuleEvent,
  jsonBody,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';

const OPERATOR = 'operator-ops';
const DEVICE = 'aws-outage-1';
const MASTER = new Uint8Array(randomBytes(32));

describe('storage failures on the AWS adapters answer 503 storage-unavailable', () => {
  let stack: AwsStack;
  const api = (method: string, path: string, body?: unknown): Promise<HttpApiResult> =>
    stack.verify(
      httpApiEvent(method, path, { operator: OPERATOR, ...(body === undefined ? {} : { body }) }),
      lambdaContext('verify'),
    );

  beforeAll(async () => {
    stack = await startAwsStack();
    const made = await api('POST', '/v1/devices', { deviceId: DEVICE, masterKey: toBase64(MASTER) });
    expect(made.statusCode).toBe(201);
    const timestamp = Date.now() - 1000;
    const rec = sealRecord({
      recordKey: deriveRecordKey(MASTER, DEVICE, timestamp, 0),
      deviceId: DEVICE,
      seq: 0,
      timestamp,
      prevHash: ZERO_HASH,
      nonce: randomBytes(12),
      plaintext: new TextEncoder().encode('reading 0'),
    });
    const ingested = await stack.ingest(
      iotRuleEvent(`devices/${DEVICE}/records`, rec.envelope, DEVICE),
      lambdaContext('ingest'),
    );
    expect(ingested.status).toBe('handled');
    expect(await stack.anchorNow()).toMatchObject({ status: 'done', failures: [] });
    // With the store up, the same routes answer.
    expect((await api('GET', `/v1/records/${DEVICE}.0/proof`)).statusCode).toBe(200);
    // DynamoDB goes away: the server stops listening and drops its connections.
    await stack.dynamo.close();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const expect503 = (res: HttpApiResult) => {
    const body = jsonBody<{ error: { code: string; message: string } }>(res);
    expect({ status: res.statusCode, code: body.error.code }).toEqual({
      status: 503,
      code: 'storage-unavailable',
    });
    expect(body.error.message).toMatch(
      /^storage unavailable \(store unreachable \(ECONNREFUSED\)\); retry later$/,
    );
    expect(res.headers?.['retry-after']).toBe(String(STORAGE_RETRY_AFTER_SECONDS));
  };

  it('a record read', async () => {
    expect503(await api('GET', `/v1/records/${DEVICE}.0`));
  });

  it('the proof route', async () => {
    expect503(await api('GET', `/v1/records/${DEVICE}.0/proof`));
  });

  it('key release', async () => {
    expect503(await api('POST', `/v1/records/${DEVICE}.0/key-release`, { reason: 'audit during an outage' }));
  });
});
