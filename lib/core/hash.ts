import { hash } from 'node:crypto';

/**
 * SHA-256 through OpenSSL. It is several times faster than a pure-JS SHA-256 for the small inputs of Merkle
 * building (measured in BENCHMARKS.md), and hashing is the hot path of anchoring. The differential test
 * checks it against @noble/hashes.
 */
export function sha256(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}

export const SHA256_BYTES = 32;
