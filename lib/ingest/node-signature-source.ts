/**
 * Device signature verification with node:crypto (OpenSSL), for the ingest hot path: about 30 times faster
 * than the pure @noble/curves verifier of lib/core, which stays the reference (tests/lib/signature-verifier
 * .test.ts checks the two against each other).
 *
 * The code is a plain JavaScript string so that it runs unchanged in a worker thread (which has no TypeScript
 * loader: see lib/adapters/local/sqlite-writer.ts for the same choice) and on the caller's thread
 * (lib/ingest/signature-verifier.ts evaluates the same source with node:vm). One implementation, two places.
 *
 * `createNodeVerifier(crypto)` returns `verify(algCode, publicKey, digest, sig) -> boolean`, never throwing:
 *  - algCode 1, Ed25519: crypto.verify(null, d, key, sig). OpenSSL refuses s >= L and non-canonical R by
 *    recomputing R and comparing encodings (cofactorless), which accepts a subset of what the core's
 *    cofactored check accepts; the two differ only on signatures their own key's holder crafts with a
 *    small-order component (docs/device-keys.md). Such a record is refused at ingest, never the reverse.
 *  - algCode 2, P-256: low-S first (s <= n/2, else false, as in the core), then ECDSA with SHA-256 over d in
 *    IEEE P1363 form (r | s), which is what devices sign.
 * `publicKey` must be in the normalised form the registry stores (32 or 33 bytes): verification assumes a key
 * that registration already checked. KeyObjects are cached per key (creating one costs about as much as a
 * verification).
 */
export const NODE_VERIFY_SOURCE = `(function createNodeVerifier(crypto) {
  'use strict';
  const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
  const P256_SPKI = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');
  const P256_HALF_N = Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex');
  const MAX_KEYS = 8192;
  const keys = new Map();
  const keyObject = (code, publicKey) => {
    const id = code + Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1');
    let k = keys.get(id);
    if (k === undefined) {
      if (keys.size >= MAX_KEYS) keys.clear();
      try {
        k = crypto.createPublicKey({
          key: Buffer.concat([code === 1 ? ED25519_SPKI : P256_SPKI, publicKey]),
          format: 'der',
          type: 'spki',
        });
      } catch {
        k = null;
      }
      keys.set(id, k);
    }
    return k;
  };
  return function verify(code, publicKey, digest, sig) {
    if (digest.length !== 32 || sig.length !== 64) return false;
    try {
      if (code === 1) {
        if (publicKey.length !== 32) return false;
        const k = keyObject(1, publicKey);
        return k !== null && crypto.verify(null, digest, k, sig);
      }
      if (code === 2) {
        if (publicKey.length !== 33) return false;
        if (Buffer.compare(Buffer.from(sig.buffer, sig.byteOffset + 32, 32), P256_HALF_N) > 0) return false;
        const k = keyObject(2, publicKey);
        return k !== null && crypto.verify('sha256', digest, { key: k, dsaEncoding: 'ieee-p1363' }, sig);
      }
      return false;
    } catch {
      return false;
    }
  };
})`;
