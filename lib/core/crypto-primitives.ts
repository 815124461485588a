/**
 * The cryptographic primitives lib/core needs, for the server: OpenSSL through node:crypto. It is several times
 * faster than pure JS for the small inputs of Merkle building and envelope sealing (BENCHMARKS.md), and those
 * are the hot paths of ingest and anchoring.
 *
 * `crypto-primitives.browser.ts` is the same interface in pure JS (@noble/*) for the browser verifier
 * (web/), which cannot use WebCrypto: a page opened from file:// is not a secure context. The web build swaps
 * this module for that one (web/build.ts: a module `X.ts` with a sibling `X.browser.ts` is replaced by it);
 * tests/core/crypto-primitives.test.ts checks the two give identical results.
 */
import { createCipheriv, createDecipheriv, createPublicKey, hash, randomFillSync, verify } from 'node:crypto';

export const AES_GCM_TAG_BYTES = 16;

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}

/** AES-256-GCM with a 16-byte tag: returns ciphertext | tag. */
export function aes256GcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(head.length + tail.length + tag.length);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(tag, head.length + tail.length);
  return out;
}

/**
 * Opens ciphertext | tag sealed by `aes256GcmSeal`; undefined when authentication fails (wrong key, nonce or
 * AAD, or a changed byte: GCM tells them apart from nothing, by design) or the input is shorter than a tag.
 */
export function aes256GcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < AES_GCM_TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - AES_GCM_TAG_BYTES));
    const head = decipher.update(sealed.subarray(0, sealed.length - AES_GCM_TAG_BYTES));
    const tail = decipher.final();
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  } catch {
    return undefined;
  }
}

/** RFC 8032 Ed25519 verification of `sig` (64 bytes) over `message` by a raw 32-byte public key; never throws. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== 32 || sig.length !== 64) return false;
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
      format: 'jwk',
    });
    return verify(null, message, key, sig);
  } catch {
    return false;
  }
}

/** `n` bytes from the platform's CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  return randomFillSync(new Uint8Array(n));
}
