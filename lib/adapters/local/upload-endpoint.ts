/**
 * The local stand-in for an S3 presigned PUT: `PUT /v1/uploads?key&sha256&size&exp&sig`. Like S3 with
 * x-amz-checksum-sha256, it refuses bytes whose size or SHA-256 differ from what the URL was signed for, so
 * a corrupted upload never lands. Refusals are kept as dead letters (source "upload").
 */
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { recordDeadLetter } from '../../ingest/dead-letter.js';
import type { Logger } from '../../logger.js';
import type { DeadLetterStore, ObjectStore } from '../../ports.js';
import { uploadSignatureValid } from './upload-signing.js';

const Query = z.object({
  key: z.string().regex(/^uploads\/[A-Za-z0-9_-]{1,64}\/[0-9a-f]{64}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.coerce.number().int().positive(),
  exp: z.coerce.number().int().positive(),
  sig: z.string().min(1).max(128),
});

export function createUploadEndpoint(deps: {
  objects: ObjectStore;
  deadLetters: DeadLetterStore;
  secret: Uint8Array;
  clock: () => number;
  log: Logger;
}): Hono {
  const app = new Hono();
  app.put('/v1/uploads', async (c) => {
    const fail = async (
      status: 400 | 403 | 410 | 413,
      code: string,
      message: string,
      payload?: Uint8Array,
    ) => {
      const deviceId = /^uploads\/([^/]+)\//.exec(c.req.query('key') ?? '')?.[1];
      await recordDeadLetter(deps.deadLetters, deps.clock(), {
        source: 'upload',
        code,
        reason: message,
        ...(payload ? { payload } : {}),
        ...(deviceId ? { deviceId } : {}),
      });
      deps.log.warn('upload refused', { code, deviceId });
      return c.json({ error: { code, message } }, status);
    };
    const q = Query.safeParse(c.req.query());
    if (!q.success) return fail(400, 'upload-url-invalid', 'upload URL is malformed');
    const { key, sha256, size, exp, sig } = q.data;
    if (
      !key.endsWith(`/${sha256}`) ||
      !uploadSignatureValid(deps.secret, { key, sha256, size, expiresAt: exp }, sig)
    ) {
      return fail(403, 'upload-signature-invalid', 'upload URL signature does not verify');
    }
    if (deps.clock() > exp) return fail(410, 'upload-expired', 'upload URL has expired');
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > size) {
      return fail(413, 'upload-too-large', `body of ${declared} bytes exceeds the signed size ${size}`);
    }

    // Read at most size + 1 bytes, so a lying or missing content-length cannot make us buffer more.
    const chunks: Uint8Array[] = [];
    let total = 0;
    const hash = createHash('sha256');
    const reader = c.req.raw.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > size) {
        await reader.cancel();
        return fail(413, 'upload-too-large', `body exceeds the signed size ${size}`);
      }
      hash.update(value);
      chunks.push(value);
    }
    const body = Buffer.concat(chunks);
    if (total !== size)
      return fail(400, 'upload-size-mismatch', `body is ${total} bytes, URL was signed for ${size}`, body);
    const digest = hash.digest();
    if (digest.toString('hex') !== sha256) {
      return fail(
        400,
        'upload-checksum-mismatch',
        'SHA-256 of the body differs from the signed checksum',
        body,
      );
    }
    await deps.objects.put(key, new Uint8Array(body), { sha256: new Uint8Array(digest) });
    return c.json({ key, sha256, size }, 201);
  });
  return app;
}
