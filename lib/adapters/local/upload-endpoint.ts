/**
 * The local stand-in for an S3 presigned PUT: `PUT /v1/uploads?key&sha256&size&exp&sig`. Like S3 with
 * x-amz-checksum-sha256, it refuses bytes whose size or SHA-256 differ from what the URL was signed for, so
 * a corrupted upload never lands. Refusals are kept as dead letters (source "upload") through the failure
 * limiter: past a source's or a device id's budget they are summarised per window, and a source past its
 * budget gets 429 `rate-limited` with Retry-After before anything of its request is read.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { FailureLimiter } from '../../ingest/failure-limiter.js';
import type { Logger } from '../../logger.js';
import type { ObjectStore } from '../../ports.js';
import { uploadSignatureValid } from './upload-signing.js';

const Query = z.object({
  key: z.string().regex(/^uploads\/[A-Za-z0-9_-]{1,64}\/[0-9a-f]{64}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.coerce.number().int().positive(),
  exp: z.coerce.number().int().positive(),
  sig: z.string().min(1).max(128),
});

/** The peer address of the request's socket under @hono/node-server; absent elsewhere (app.request in tests). */
function remoteAddressOf(c: Context): { remoteAddress?: string } {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const address = incoming?.socket.remoteAddress;
  return typeof address === 'string' ? { remoteAddress: address } : {};
}

export function createUploadEndpoint(deps: {
  objects: ObjectStore;
  /** Keeps refusals as dead letters, within budgets; turns flooding sources away. */
  limiter: FailureLimiter;
  secret: Uint8Array;
  clock: () => number;
  log: Logger;
}): Hono {
  const app = new Hono();
  app.put('/v1/uploads', async (c) => {
    const from = remoteAddressOf(c);
    // A device id the URL claims: unauthenticated until the signature verifies, and budgeted as a claim.
    const deviceId = /^uploads\/([A-Za-z0-9_-]{1,64})\//.exec(c.req.query('key') ?? '')?.[1];
    const claimed = deviceId ? { deviceId } : {};
    const admitted = deps.limiter.admit('upload', from.remoteAddress);
    if (!admitted.ok) {
      deps.limiter.limited({
        source: 'upload',
        reason: `more failures from ${from.remoteAddress} than its budget allows; request not checked`,
        ...from,
        ...claimed,
      });
      const seconds = Math.ceil(admitted.retryAfterMs / 1000);
      c.header('retry-after', String(seconds));
      return c.json(
        {
          error: {
            code: 'rate-limited',
            message: `too many failed requests from this address; retry in ${seconds} s`,
          },
        },
        429,
      );
    }
    const fail = async (
      status: 400 | 403 | 410 | 413,
      code: string,
      message: string,
      payload?: Uint8Array,
    ) => {
      const verdict = await deps.limiter.refused({
        source: 'upload',
        code,
        reason: message,
        ...(payload ? { payload } : {}),
        ...from,
        ...claimed,
      });
      if (verdict === 'kept') deps.log.warn('upload refused', { code, ...claimed, ...from });
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
