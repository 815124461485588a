/**
 * SHA-256 for lib/core. On the server it is OpenSSL (crypto-primitives.ts), several times faster than pure JS
 * for the small inputs of Merkle building (BENCHMARKS.md); in the browser verifier, @noble/hashes
 * (crypto-primitives.browser.ts). tests/core/crypto-primitives.test.ts checks they agree.
 */
export { sha256 } from './crypto-primitives.js';

export const SHA256_BYTES = 32;
