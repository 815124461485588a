/**
 * The ipfs-pin Lambda as AWS runs it (functions/ipfs-pin/lambda.ts, built by lib/runtime/aws-ipfs.ts): S3 on
 * s3rver, the index and the pin queue on dynalite, pins through KuboPinner to the embedded Kubo RPC API. The
 * events are what S3 and EventBridge deliver; the clock is one the test moves, so backoff needs no waiting.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeS3Key } from '../../functions/ipfs-pin/lambda.js';
import { DynamoPinQueue } from '../../lib/adapters/aws/dynamo-pin-queue.js';
import type { EmbeddedKuboApi } from '../../lib/adapters/ipfs/embedded-kubo-api.js';
import { KuboPinner } from '../../lib/adapters/ipfs/kubo-pinner.js';
import { kuboCid } from '../../lib/adapters/ipfs/unixfs-import.js';
import { encodeRecordPack } from '../../lib/core/record-pack.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  lambdaContext,
  s3ObjectCreatedEvent,
  startAwsStack,
} from '../aws/support/aws-stack.js';
import { TestDevice } from '../support/test-device.js';
import { startApi, tempDir } from './support/ipfs-fixture.js';
import { recordEntryOf, storeTestRecord } from './support/records.js';

const scheduled = () => ({
  version: '0' as const,
  id: randomUUID(),
  'detail-type': 'Scheduled Event' as const,
  source: 'aws.events' as const,
  account: '111122223333',
  time: new Date().toISOString(),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:111122223333:rule/ipfs-pin'],
  detail: {},
});

describe('ipfs-pin Lambda: S3 object-created and scheduled drains', () => {
  const tmp = tempDir('lambda');
  const repoDir = join(tmp.dir, 'ipfs');
  let ipfs: EmbeddedKuboApi;
  let port: number;
  let stack: AwsStack;
  let queue: DynamoPinQueue;
  let now = Date.now();
  const ctx = () => lambdaContext('ipfs-pin');
  const event = (keys: string[]) => s3ObjectCreatedEvent(stack.config.bucket, keys);

  beforeAll(async () => {
    ipfs = await startApi(repoDir);
    port = ipfs.port;
    stack = await startAwsStack({ ipfsApiUrl: ipfs.url, clock: () => now });
    queue = new DynamoPinQueue({
      db: stack.dynamo.db,
      table: stack.config.ipfs.pinJobsTable as string,
      shards: stack.config.ipfs.pinShards,
    });
  });
  afterAll(async () => {
    await stack?.close();
    await ipfs?.stop({ graceMs: 0 });
    tmp.remove();
  });

  it('pins the ciphertext of a record S3 reports, and records the CID in the DynamoDB index', async () => {
    const rec = await storeTestRecord(stack.objects, 'aws-dev', 1);
    await stack.index.putRecord(recordEntryOf(rec, now));
    const out = await stack.ipfsPin(event([rec.objectKey]), ctx());
    expect(out).toEqual({
      status: 'handled',
      objects: [{ key: rec.objectKey, status: 'queued', recordId: 'aws-dev.1' }],
      pass: { claimed: 1, pinned: 1, retried: 0, released: 0, failed: 0 },
    });
    const cid = await kuboCid(rec.ciphertext);
    expect((await stack.index.getRecord('aws-dev', 1))?.ipfs).toEqual({ cid, pinnedAt: now });
    expect(await new KuboPinner({ url: ipfs.url }).isPinned(cid)).toBe(true);
    // S3 delivers at least once: the same event again changes nothing.
    const again = await stack.ipfsPin(event([rec.objectKey]), ctx());
    expect(again).toEqual({
      status: 'handled',
      objects: [{ key: rec.objectKey, status: 'exists', recordId: 'aws-dev.1' }],
    });
  });

  it('throws while the record is not indexed yet, so Lambda retries; the retry after the index put pins it', async () => {
    const rec = await storeTestRecord(stack.objects, 'aws-dev', 2);
    // Ingest writes the object, then the index entry: the event can come in between.
    await expect(stack.ipfsPin(event([rec.objectKey]), ctx())).rejects.toMatchObject({
      name: 'PinRetryableError',
      code: 'record-not-indexed',
    });
    await stack.index.putRecord(recordEntryOf(rec, now));
    expect(await stack.ipfsPin(event([rec.objectKey]), ctx())).toMatchObject({ pass: { pinned: 1 } });
  });

  it('pins every record of a pack object S3 reports, each from its own range', async () => {
    const dev = new TestDevice('aws-pack-pin');
    const provisioned = await stack.verify(
      httpApiEvent('POST', '/v1/devices', {
        operator: 'op',
        body: { deviceId: dev.deviceId, masterKey: dev.masterKeyBase64 },
      }),
      lambdaContext('verify'),
    );
    expect(provisioned.statusCode).toBe(201);
    const sealed = [dev.seal(), dev.seal(), dev.seal()];
    const from = stack.calls.length;
    await stack.ingest(
      iotRuleEvent(
        `devices/${dev.deviceId}/packs`,
        encodeRecordPack(sealed.map((r) => r.envelope)),
        dev.deviceId,
      ),
      lambdaContext('ingest'),
    );
    const packKey = stack.calls
      .slice(from)
      .find((c) => c.service === 's3' && c.command === 'PutObjectCommand')?.input.Key as string;
    expect(packKey).toMatch(/^records\/aws-pack-pin\/packs\//);
    const out = await stack.ipfsPin(event([packKey]), ctx());
    expect(out).toMatchObject({
      status: 'handled',
      objects: [
        {
          key: packKey,
          status: 'pack',
          records: [0, 1, 2].map((seq) => ({ status: 'queued', recordId: `aws-pack-pin.${seq}` })),
        },
      ],
      pass: { pinned: 3, failed: 0 },
    });
    for (const r of sealed) {
      const cid = await kuboCid(r.envelope.subarray(r.headerBytes.length));
      expect((await stack.index.getRecord(dev.deviceId, r.seq))?.ipfs?.cid).toBe(cid);
    }
  });

  it('leaves alone objects that are gone, that lost the race for their seq, or that are not records', async () => {
    const winner = await storeTestRecord(stack.objects, 'aws-dev', 3);
    const loser = await storeTestRecord(stack.objects, 'aws-dev', 3);
    await stack.index.putRecord(recordEntryOf(winner, now));
    const gone = await storeTestRecord(stack.objects, 'aws-dev', 4);
    await stack.objects.delete(gone.objectKey);
    const out = await stack.ipfsPin(
      event([loser.objectKey, gone.objectKey, 'records/aws-dev/readme.txt']),
      ctx(),
    );
    expect(out).toMatchObject({
      status: 'handled',
      objects: [
        { key: loser.objectKey, status: 'superseded', recordId: 'aws-dev.3' },
        { key: gone.objectKey, status: 'object-gone' },
        { key: 'records/aws-dev/readme.txt', status: 'not-a-record' },
      ],
    });
    expect(out).not.toHaveProperty('pass');
    expect(await queue.getJob('aws-dev.3')).toBeUndefined();
  });

  it('an IPFS outage leaves the job queued in DynamoDB; a scheduled drain pins it once the endpoint is back', async () => {
    const rec = await storeTestRecord(stack.objects, 'aws-dev', 5, 300_000);
    await stack.index.putRecord(recordEntryOf(rec, now));
    await ipfs.stop({ graceMs: 0 });
    const down = await stack.ipfsPin(event([rec.objectKey]), ctx());
    expect(down).toMatchObject({ pass: { claimed: 1, pinned: 0, retried: 1 } });
    expect(await queue.getJob('aws-dev.5')).toMatchObject({
      state: 'pending',
      attempts: 1,
      lastError: { code: 'ipfs-unavailable' },
    });
    // Not due before its backoff: a drain at the same instant claims nothing.
    expect(await stack.ipfsPin(scheduled(), ctx())).toMatchObject({ status: 'drained', claimed: 0 });

    ipfs = await startApi(repoDir, port);
    now += 10 * 60_000;
    expect(await stack.ipfsPin(scheduled(), ctx())).toMatchObject({
      status: 'drained',
      pinned: 1,
      retried: 0,
    });
    expect((await stack.index.getRecord('aws-dev', 5))?.ipfs?.cid).toBe(await kuboCid(rec.ciphertext));
    expect(await queue.countPending()).toBe(0);
  });

  it('answers an event it does not handle without throwing (a retry could never parse it)', async () => {
    expect(await stack.ipfsPin({ Records: [{ eventSource: 'aws:sqs' }] } as never, ctx())).toMatchObject({
      status: 'rejected',
      code: 'malformed-event',
    });
    expect(decodeS3Key('records/a+b/%41')).toBe('records/a b/A');
    expect(decodeS3Key('%E0%A4%A')).toBeUndefined();
  });
});
