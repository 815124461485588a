/**
 * S3ObjectStore beyond the ObjectStore conformance suite: the exact shape of an upload grant, that every put
 * carries the checksum S3 verifies, and what s3rver 3.7.1 (the emulator) does NOT check, measured rather than
 * assumed: it stores a presigned upload whose bytes differ from the signed x-amz-checksum-sha256. Where the
 * tests need S3's checks they put the checksum gate (a named stand-in, support/s3-checksum-gate.ts) in front.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../lib/adapters/aws/s3-object-store.js';
import { toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { patternBytes } from '../support/bytes.js';
import { type RunningS3rver, s3ClientFor, startS3rver } from './support/emulators.js';
import { type ChecksumGate, startChecksumGate } from './support/s3-checksum-gate.js';

describe('S3ObjectStore', () => {
  let s3rver: RunningS3rver;
  let gate: ChecksumGate;
  let gated: S3ObjectStore;
  let bare: S3ObjectStore;
  const now = 1_800_000_000_000;
  beforeAll(async () => {
    s3rver = await startS3rver();
    gate = await startChecksumGate(s3rver.endpoint);
    gated = new S3ObjectStore({ s3: s3ClientFor(gate.endpoint), bucket: s3rver.bucket, clock: () => now });
    bare = new S3ObjectStore({ s3: s3rver.s3, bucket: s3rver.bucket });
  });
  afterAll(async () => {
    await gate.close();
    await s3rver.close();
  });

  it('grants a presigned PUT that signs the checksum and the length, and asks the device for the checksum only', async () => {
    const body = patternBytes(4000, 1);
    const digest = sha256(body);
    const grant = await gated.createUploadUrl(`uploads/dev/${toHex(digest)}`, {
      sha256: digest,
      size: body.length,
      expiresInSeconds: 600,
    });
    const url = new URL(grant.url);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host;x-amz-checksum-sha256');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
    // Kept a header, not moved into the query: S3 verifies the body against it.
    expect(url.searchParams.has('x-amz-checksum-sha256')).toBe(false);
    expect(grant).toMatchObject({
      method: 'PUT',
      headers: { 'x-amz-checksum-sha256': Buffer.from(digest).toString('base64') },
      expiresAt: now + 600_000,
    });
  });

  it('every put carries x-amz-checksum-sha256, so S3 refuses bytes that do not match it', async () => {
    await expect(
      gated.put('records/dev/x', patternBytes(100, 2), { sha256: sha256(patternBytes(100, 3)) }),
    ).rejects.toMatchObject({
      name: 'BadDigest',
    });
    expect(await gated.head('records/dev/x')).toBeUndefined();
    expect(gate.refusals.get('BadDigest')).toBeGreaterThanOrEqual(1);
  });

  it('s3rver 3.7.1 by itself stores a presigned upload whose bytes differ from the signed checksum', async () => {
    const body = patternBytes(3000, 4);
    const digest = sha256(body);
    const key = `uploads/dev/${toHex(digest)}`;
    const grant = await bare.createUploadUrl(key, {
      sha256: digest,
      size: body.length,
      expiresInSeconds: 600,
    });
    const wrong = body.slice();
    wrong[10] = (wrong[10] as number) ^ 0xff;
    const res = await fetch(grant.url, { method: 'PUT', headers: grant.headers, body: Buffer.from(wrong) });
    // Real S3 answers 400 BadDigest here. This is why ingest re-hashes an upload before using it.
    expect(res.status).toBe(200);
    expect(toHex(sha256((await bare.get(key)) as Uint8Array))).toBe(toHex(sha256(wrong)));
  });

  it('also stores an SDK put whose checksum is wrong (no checksum check at all)', async () => {
    const res = await s3rver.s3.send(
      new PutObjectCommand({
        Bucket: s3rver.bucket,
        Key: 'records/dev/unchecked',
        Body: patternBytes(10, 5),
        ChecksumSHA256: Buffer.from(sha256(patternBytes(10, 6))).toString('base64'),
      }),
    );
    expect(res.$metadata.httpStatusCode).toBe(200);
  });

  it('cuts a range to what was asked even where the server sends more (s3rver reads bytes=0-0 as bytes=0-)', async () => {
    const body = patternBytes(500, 7);
    await bare.put('batches/b/tree', body, { sha256: sha256(body) });
    expect(await bare.getRange('batches/b/tree', 0, 1)).toEqual(body.subarray(0, 1));
    expect(await bare.getRange('batches/b/tree', 499, 10)).toEqual(body.subarray(499, 500));
    expect(await bare.getRange('batches/b/tree', 10, 0)).toEqual(new Uint8Array(0));
    expect(await bare.getRange('batches/none', 10, 0)).toBeUndefined();
  });
});
