/**
 * The browser's implementation of crypto-primitives.ts (read that file first): pure JS from the audited
 * @noble libraries, because a page opened from file:// has no WebCrypto (`crypto.subtle` exists only in a
 * secure context). `crypto.getRandomValues` does exist everywhere. The web build substitutes this module for
 * crypto-primitives.ts; the exports must stay the same (tests/core/crypto-primitives.test.ts checks both the
 * shape and the results).
 */
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

export const AES_GCM_TAG_BYTES = 16;

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function aes256GcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return gcm(key, nonce, aad).encrypt(plaintext);
}

export function aes256GcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < AES_GCM_TAG_BYTES) return undefined;
  try {
    return gcm(key, nonce, aad).decrypt(sealed);
  } catch {
    return undefined;
  }
}

/** Strict RFC 8032 (not ZIP-215), as OpenSSL verifies: canonical encodings, s < L. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== 32 || sig.length !== 64) return false;
  try {
    return ed25519.verify(sig, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}
