/**
 * Bad input at the Lambda edges. Device-level faults must get the same codes in AWS as locally, so every case
 * runs twice, differentially: through the ingest Lambda (IoT-rule event, AWS adapters on the emulators) and
 * through the handler the embedded MQTT router calls (local adapters on a temp dir). Faults of the event
 * itself, which only exist in AWS, are answered with `malformed-event` and dead-lettered, not retried.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVENT_PAYLOAD_BASE64 } from '../../functions/ingest/lambda.js';
import { toHex } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { createIngestHandler, type OutgoingMessage } from '../../lib/ingest/ingest-handler.js';
import { silentLogger } from '../../lib/logger.js';
import { MQTT_MAX_MESSAGE_BYTES } from '../../lib/routing/routes.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  jsonBody,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';

const MASTER = new Uint8Array(32).fill(9);

function seal(deviceId: string, seq: number, opts: { timestamp?: number; plaintext?: string } = {}) {
  const timestamp = opts.timestamp ?? Date.now() - 1000;
  return sealRecord({
    recordKey: deriveRecordKey(MASTER, deviceId, timestamp, seq),
    deviceId,
    seq,
    timestamp,
    prevHash: ZERO_HASH,
    nonce: randomBytes(12),
    plaintext: new TextEncoder().encode(opts.plaintext ?? `reading ${seq}`),
  }).envelope;
}

interface Outcome {
  topic: string;
  status?: string;
  code?: string;
}

/** The replies reduced to what a device acts on: where, and which status/code per entry. */
function outcomes(replies: readonly OutgoingMessage[]): Outcome[] {
  return replies.flatMap((m): Outcome[] => {
    const body = JSON.parse(m.payload) as {
      acks?: { status: string; code?: string }[];
      error?: { code: string };
      url?: string;
    };
    if (body.acks)
      return body.acks.map((a) => ({
        topic: m.topic,
        status: a.status,
        ...(a.code ? { code: a.code } : {}),
      }));
    if (body.error) return [{ topic: m.topic, code: body.error.code }];
    return [{ topic: m.topic, status: body.url ? 'granted' : 'unknown' }];
  });
}

describe('bad device input gets the same answer through the ingest Lambda as through the embedded runtime', () => {
  let aws: AwsStack;
  let local: LocalStack;
  let localIngest: ReturnType<typeof createIngestHandler>;

  beforeAll(async () => {
    [aws, local] = await Promise.all([startAwsStack(), openLocalStack({ uploads: true })]);
    // The same legacy device (unsigned records allowed) on both sides.
    await provisionLegacyDevices(aws.index, ['bad-dev', 'other-dev']);
    await provisionLegacyDevices(local.index, ['bad-dev', 'other-dev']);
    localIngest = createIngestHandler({
      objects: local.objects,
      index: local.index,
      devices: local.index,
      statements: local.statements,
      origin: testOrigin(local.index),
      clock: Date.now,
      log: silentLogger,
      limits: { maxClockSkewMs: 300_000, maxPacketBytes: 2 * 1024 * 1024, uploadTtlSeconds: 900 },
    });
  });
  afterAll(async () => {
    await aws?.close();
    await local?.close();
  });

  /** Sends one MQTT message both ways and returns both outcomes. */
  async function both(topic: string, payload: Uint8Array | string) {
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    const viaLambda = await aws.ingest(iotRuleEvent(topic, bytes), lambdaContext('ingest'));
    if (viaLambda.status !== 'handled') throw new Error(`lambda answered ${JSON.stringify(viaLambda)}`);
    const viaLocal = await localIngest({ topic, payload: bytes });
    return { lambda: outcomes(viaLambda.replies), local: outcomes(viaLocal) };
  }

  const good = seal('bad-dev', 1);
  const tampered = good.slice();
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
  const cases: [name: string, topic: string, payload: () => Uint8Array | string, code: string | undefined][] =
    [
      [
        'a record over the 128 KiB MQTT limit',
        'devices/bad-dev/records',
        () => new Uint8Array(MQTT_MAX_MESSAGE_BYTES + 1),
        'payload-too-large',
      ],
      ['a truncated envelope', 'devices/bad-dev/records', () => good.subarray(0, 20), 'envelope-truncated'],
      ['bytes that are no envelope', 'devices/bad-dev/records', () => 'hello', 'envelope-truncated'],
      [
        'another device’s record on this device’s topic',
        'devices/bad-dev/records',
        () => seal('other-dev', 0),
        'device-mismatch',
      ],
      [
        'a ciphertext that does not match its hash',
        'devices/bad-dev/records',
        () => tampered,
        'ciphertext-hash-mismatch',
      ],
      [
        'a timestamp far in the future',
        'devices/bad-dev/records',
        () => seal('bad-dev', 2, { timestamp: Date.now() + 3_600_000 }),
        'timestamp-in-future',
      ],
      ['a manifest that is not JSON', 'devices/bad-dev/manifests', () => '{"v":1,', 'malformed-json'],
      [
        'an upload request with an unknown field',
        'devices/bad-dev/uploads/request',
        () => '{"v":1,"seq":1,"x":2}',
        'schema-invalid',
      ],
      [
        'an upload request over the packet limit',
        'devices/bad-dev/uploads/request',
        () => JSON.stringify({ v: 1, seq: 3, sha256: 'a'.repeat(64), size: 3 * 1024 * 1024 }),
        'packet-too-large',
      ],
      [
        'a manifest for nothing uploaded',
        'devices/bad-dev/manifests',
        () => JSON.stringify({ v: 1, seq: 4, sha256: 'b'.repeat(64), size: 100 }),
        'upload-not-found',
      ],
      ['a topic no route matches', 'devices/bad-dev/telemetry', () => 'x', undefined],
    ];

  for (const [name, topic, payload, code] of cases) {
    it(`${name}: ${code ?? 'dropped without a reply'}`, async () => {
      const { lambda, local: loc } = await both(topic, payload());
      expect(lambda).toEqual(loc);
      if (code === undefined) expect(lambda).toEqual([]);
      else expect(lambda.map((o) => o.code)).toEqual([code]);
    });
  }

  it('a replayed sequence number with other content: sequence-replayed, first record kept', async () => {
    await both('devices/bad-dev/records', seal('bad-dev', 7, { plaintext: 'original' }));
    const { lambda, local: loc } = await both(
      'devices/bad-dev/records',
      seal('bad-dev', 7, { plaintext: 'forged' }),
    );
    expect(lambda).toEqual(loc);
    expect(lambda.map((o) => o.code)).toEqual(['sequence-replayed']);
  });

  it('every refusal is kept as a dead letter the operator can list, and nothing refused was stored', async () => {
    const res = await aws.verify(
      httpApiEvent('GET', '/v1/dead-letters?limit=100&deviceId=bad-dev', { operator: 'op' }),
      lambdaContext('verify'),
    );
    const codes = jsonBody<{ items: { code: string; source: string }[] }>(res).items.map((d) => d.code);
    for (const [, , , code] of cases) if (code) expect(codes).toContain(code);
    // Only the one good record (seq 7) is indexed for the device.
    expect(
      (await aws.index.listBySeq('bad-dev', { fromSeq: 0, toSeq: 100, limit: 100 })).map((r) => r.seq),
    ).toEqual([7]);
  });

  it('a presigned upload whose bytes differ from the signed checksum: refused, then upload-not-found, as locally', async () => {
    const envelope = seal('bad-dev', 20, { plaintext: 'x'.repeat(150 * 1024) });
    const sha = toHex(sha256(envelope));
    const request = JSON.stringify({ v: 1, seq: 20, sha256: sha, size: envelope.length });
    const corrupted = envelope.slice();
    corrupted[500] = (corrupted[500] as number) ^ 0xff;

    const grants = await both('devices/bad-dev/uploads/request', request);
    expect(grants.lambda).toEqual(grants.local);
    const lambdaGrant = JSON.parse(
      aws.iot.published.findLast((m) => m.topic === 'devices/bad-dev/uploads/grant')?.payload.toString() ??
        '{}',
    ) as { url: string; headers: Record<string, string> };
    const localGrant = JSON.parse(
      (
        await localIngest({
          topic: 'devices/bad-dev/uploads/request',
          payload: new TextEncoder().encode(request),
        })
      )[0]?.payload ?? '{}',
    ) as { url: string; headers: Record<string, string> };

    // S3 (here the checksum gate in front of s3rver) refuses with BadDigest; the local endpoint refuses too.
    const s3 = await fetch(lambdaGrant.url, {
      method: 'PUT',
      headers: lambdaGrant.headers,
      body: Buffer.from(corrupted),
    });
    expect(s3.status).toBe(400);
    expect(await s3.text()).toContain('<Code>BadDigest</Code>');
    const loc = await fetch(localGrant.url, {
      method: 'PUT',
      headers: localGrant.headers,
      body: Buffer.from(corrupted),
    });
    expect(loc.status).toBe(400);
    expect(((await loc.json()) as { error: { code: string } }).error.code).toBe('upload-checksum-mismatch');

    // Nothing landed, so the device's manifest is answered the same way on both sides.
    const manifest = await both('devices/bad-dev/manifests', request);
    expect(manifest.lambda).toEqual(manifest.local);
    expect(manifest.lambda.map((o) => o.code)).toEqual(['upload-not-found']);
    expect(await aws.objects.head(`uploads/bad-dev/${sha}`)).toBeUndefined();
  });

  it('a body of another length than signed fails the presigned signature (content-length is signed)', async () => {
    const envelope = seal('bad-dev', 21, { plaintext: 'y'.repeat(140 * 1024) });
    const sha = toHex(sha256(envelope));
    const res = await aws.ingest(
      iotRuleEvent(
        'devices/bad-dev/uploads/request',
        JSON.stringify({ v: 1, seq: 21, sha256: sha, size: envelope.length }),
      ),
      lambdaContext('ingest'),
    );
    const grant = JSON.parse(res.status === 'handled' ? (res.replies[0]?.payload ?? '{}') : '{}') as {
      url: string;
      headers: Record<string, string>;
    };
    const longer = new Uint8Array(envelope.length + 1);
    longer.set(envelope);
    const put = await fetch(grant.url, { method: 'PUT', headers: grant.headers, body: Buffer.from(longer) });
    expect(put.status).toBe(403);
    expect(await put.text()).toContain('SignatureDoesNotMatch');
    expect(await aws.objects.head(`uploads/bad-dev/${sha}`)).toBeUndefined();
  });

  it('s3rver alone does NOT enforce the checksum; the manifest check still refuses the bytes (upload-mismatch)', async () => {
    const envelope = seal('bad-dev', 30, { plaintext: 'z'.repeat(150 * 1024) });
    const sha = toHex(sha256(envelope));
    const request = JSON.stringify({ v: 1, seq: 30, sha256: sha, size: envelope.length });
    const res = await aws.ingest(
      iotRuleEvent('devices/bad-dev/uploads/request', request),
      lambdaContext('ingest'),
    );
    const grant = JSON.parse(res.status === 'handled' ? (res.replies[0]?.payload ?? '{}') : '{}') as {
      url: string;
      headers: Record<string, string>;
    };
    // The same grant sent straight to s3rver, past the gate: s3rver 3.7.1 stores the corrupted bytes.
    const direct = new URL(grant.url);
    direct.host = new URL(aws.s3rver.endpoint).host;
    const corrupted = envelope.slice();
    corrupted[1000] = (corrupted[1000] as number) ^ 0xff;
    const put = await fetch(direct, { method: 'PUT', headers: grant.headers, body: Buffer.from(corrupted) });
    expect(put.status).toBe(200);
    expect((await aws.objects.head(`uploads/bad-dev/${sha}`))?.size).toBe(envelope.length);

    const manifest = await aws.ingest(
      iotRuleEvent('devices/bad-dev/manifests', request),
      lambdaContext('ingest'),
    );
    expect(manifest.status === 'handled' && outcomes(manifest.replies).map((o) => o.code)).toEqual([
      'upload-mismatch',
    ]);
    expect(await aws.index.getRecord('bad-dev', 30)).toBeUndefined();
  });
});

describe('malformed events at the Lambda edges', () => {
  let aws: AwsStack;
  beforeAll(async () => {
    aws = await startAwsStack();
    // A legacy device (unsigned records allowed), so a valid record is stored and the reply is what fails.
    await provisionLegacyDevices(aws.index, ['evt-dev']);
  });
  afterAll(async () => {
    await aws?.close();
  });

  const valid = () => iotRuleEvent('devices/evt-dev/records', 'x', 'evt-dev');
  const malformed: [string, () => unknown][] = [
    ['an empty object', () => ({})],
    ['null', () => null],
    ['a bare string', () => 'devices/evt-dev/records'],
    ['a payload that is not base64', () => ({ ...valid(), payload: 'not base64!' })],
    ['a missing receivedAt', () => ({ payload: 'eA==', topic: 'devices/evt-dev/records' })],
    ['a field the rule SQL does not select', () => ({ ...valid(), qos: 1 })],
    ['a numeric topic', () => ({ ...valid(), topic: 42 })],
    [
      'a payload larger than any IoT message',
      () => ({ ...valid(), payload: 'A'.repeat(MAX_EVENT_PAYLOAD_BASE64 + 4) }),
    ],
    // zod runs the base64 check even after .max() failed: it must not overflow the stack.
    ['a 5 MB payload', () => ({ ...valid(), payload: 'A'.repeat(5 * 1024 * 1024) })],
  ];

  for (const [name, event] of malformed) {
    it(`ingest answers ${name} with malformed-event instead of throwing (a retry cannot fix it)`, async () => {
      const res = await aws.ingest(event() as never, lambdaContext('ingest'));
      expect(res).toMatchObject({ status: 'rejected', code: 'malformed-event' });
    });
  }

  it('keeps each malformed event as a broker dead letter, with what could be read of it', async () => {
    const res = await aws.verify(
      httpApiEvent('GET', '/v1/dead-letters?limit=100', { operator: 'op' }),
      lambdaContext('verify'),
    );
    const items = jsonBody<{ items: { code: string; source: string; topic?: string; truncated: boolean }[] }>(
      res,
    ).items;
    const mine = items.filter((d) => d.code === 'malformed-event');
    expect(mine).toHaveLength(malformed.length);
    expect(mine.every((d) => d.source === 'broker')).toBe(true);
    expect(mine.some((d) => d.topic === 'devices/evt-dev/records')).toBe(true);
    expect(mine.some((d) => d.truncated)).toBe(true);
    expect(aws.iot.published).toEqual([]);
  });

  it('anchor answers a non-schedule event with malformed-event and does not run a cycle', async () => {
    const res = await aws.anchor(
      { 'detail-type': 'Object Created', source: 'aws.s3' } as never,
      lambdaContext('anchor'),
    );
    expect(res).toMatchObject({ status: 'rejected', code: 'malformed-event' });
  });

  it('verify answers an event that is not an HTTP API 2.0 request with 400 bad-request', async () => {
    const res = await aws.verify({ version: '1.0', path: '/v1/health' } as never, lambdaContext('verify'));
    expect(res.statusCode).toBe(400);
    expect(jsonBody<{ error: { code: string } }>(res).error.code).toBe('bad-request');
  });

  it('verify answers a bad body with the same bad-request as the embedded API', async () => {
    const res = await aws.verify(
      httpApiEvent('POST', '/v1/devices', {
        operator: 'op',
        body: { deviceId: 'has space', masterKey: 'x' },
      }),
      lambdaContext('verify'),
    );
    expect(res.statusCode).toBe(400);
    expect(jsonBody<{ error: { code: string } }>(res).error.code).toBe('bad-request');
  });

  it('verify refuses a cursor DynamoDB did not issue with 400 invalid-cursor, as the embedded API does', async () => {
    for (const path of ['/v1/dead-letters', '/v1/audit', '/v1/devices/evt-dev/records']) {
      const res = await aws.verify(
        httpApiEvent('GET', `${path}?cursor=garbage`, { operator: 'op' }),
        lambdaContext('verify'),
      );
      expect(res.statusCode, path).toBe(400);
      expect(jsonBody<{ error: { code: string } }>(res).error.code, path).toBe('invalid-cursor');
    }
  });

  it('a reply that cannot be published fails the invocation, so Lambda retries; the retry acks a duplicate', async () => {
    const envelope = seal('evt-dev', 1);
    aws.iot.failNext(100);
    await expect(
      aws.ingest(iotRuleEvent('devices/evt-dev/records', envelope), lambdaContext('ingest')),
    ).rejects.toThrow(/not published/);
    expect(await aws.index.getRecord('evt-dev', 1)).toBeDefined();
    aws.iot.failNext(0);
    const retry = await aws.ingest(
      iotRuleEvent('devices/evt-dev/records', envelope),
      lambdaContext('ingest'),
    );
    expect(retry.status === 'handled' && outcomes(retry.replies)).toEqual([
      { topic: 'devices/evt-dev/acks', status: 'duplicate' },
    ]);
  });
});
