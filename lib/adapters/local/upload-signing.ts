/**
 * Signed upload URLs for the local object store: the local stand-in for an S3 presigned PUT. The URL carries
 * the key, the SHA-256 and size the bytes must have, and an expiry, all covered by an HMAC with a secret only
 * the runtime holds.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UploadClaims {
  key: string;
  sha256: string;
  size: number;
  expiresAt: number;
}

export function signUpload(secret: Uint8Array, c: UploadClaims): string {
  return createHmac('sha256', secret)
    .update(`PUT\n${c.key}\n${c.sha256}\n${c.size}\n${c.expiresAt}`)
    .digest('base64url');
}

export function uploadSignatureValid(secret: Uint8Array, c: UploadClaims, sig: string): boolean {
  const want = Buffer.from(signUpload(secret, c));
  const got = Buffer.from(sig);
  return want.length === got.length && timingSafeEqual(want, got);
}
