/**
 * Kubo's deterministic test data (kubo test/cli/testutils/random_deterministic.go): the ChaCha20 key stream
 * (RFC 8439: zero nonce, counter from 0) under the key SHA-256(seed), cut at `size` bytes. Kubo's CLI tests
 * publish the CIDs `ipfs add` gives such files, which makes them vectors for files of many chunks.
 */
import { createCipheriv, createHash } from 'node:crypto';

export function kuboDeterministicBytes(size: number, seed: string): Uint8Array {
  const key = createHash('sha256').update(seed).digest();
  // OpenSSL's chacha20 IV is the 32-bit little-endian block counter followed by the 96-bit nonce: all zero.
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
  return new Uint8Array(cipher.update(Buffer.alloc(size)));
}
