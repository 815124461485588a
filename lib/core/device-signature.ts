/**
 * Device signatures: the keys devices sign their records, heads and key rotations with (docs/device-keys.md).
 *
 * Every signed structure is signed over a 32-byte digest `d = SHA-256(unsignedBytes)`; this module only ever
 * sees that digest. Two algorithms, each with exactly one valid encoding of a signature, so that a signed
 * structure, and therefore its Merkle leaf hash, cannot be re-encoded by anyone who lacks the key:
 *
 *   ed25519 (code 1): RFC 8032 pure Ed25519 over the 32 bytes of d. Public key 32 bytes. Verification is strict
 *                     (canonical encodings, s < L, no small-order public key): not ZIP-215.
 *   p256    (code 2): ECDSA P-256 with SHA-256, message d (so e = SHA-256(d)), as node:crypto's
 *                     `sign('sha256', d, {dsaEncoding: 'ieee-p1363'})` and secure elements given SHA-256(d)
 *                     produce. Public key 33 bytes SEC1 compressed. Signature r | s, 64 bytes, low-S only
 *                     (s <= n/2), since (r, n - s) would otherwise be a second valid encoding.
 *
 *   keyId = SHA-256(alg code u8 | publicKey)   (publicKey in the normalised form above)
 *
 * Signing uses RFC 6979 deterministic nonces for P-256, so known-answer vectors reproduce. @noble/curves
 * (audited, pure JS) does the curve work, so this module runs wherever lib/core does, a browser included.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { concatBytes, toHex } from './bytes.js';
import { sha256 } from './hash.js';

export type SigAlg = 'ed25519' | 'p256';
export const SIG_ALGS: readonly SigAlg[] = ['ed25519', 'p256'];

export const DIGEST_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const KEY_ID_BYTES = 32;
export const PRIVATE_KEY_BYTES = 32;
/** Normalised public key length per algorithm. */
export const PUBLIC_KEY_BYTES: Readonly<Record<SigAlg, number>> = { ed25519: 32, p256: 33 };

const CODES: Readonly<Record<SigAlg, number>> = { ed25519: 1, p256: 2 };

export function sigAlgCode(alg: SigAlg): number {
  return CODES[alg];
}

export function sigAlgFromCode(code: number): SigAlg | undefined {
  if (code === 1) return 'ed25519';
  if (code === 2) return 'p256';
  return undefined;
}

export function isSigAlg(s: string): s is SigAlg {
  return s === 'ed25519' || s === 'p256';
}

export type PublicKeyCheck =
  | { ok: true; publicKey: Uint8Array }
  | { ok: false; code: 'bad-public-key'; message: string };

/**
 * The one form a public key is stored, hashed into its key id and carried in key events: Ed25519 32 raw bytes
 * (a canonical encoding of a point that is not of small order), P-256 33 bytes SEC1 compressed (65-byte
 * uncompressed input is accepted and compressed). Anything that is not a valid point is refused.
 */
export function normalizePublicKey(alg: SigAlg, bytes: Uint8Array): PublicKeyCheck {
  const key = `${alg}:${toHex(bytes)}`;
  const known = normalised.get(key);
  if (known) return known.ok ? { ok: true, publicKey: known.publicKey.slice() } : known;
  const result = decodePublicKey(alg, bytes);
  remember(normalised, key, result);
  return result.ok ? { ok: true, publicKey: result.publicKey.slice() } : result;
}

function decodePublicKey(alg: SigAlg, bytes: Uint8Array): PublicKeyCheck {
  const bad = (message: string): PublicKeyCheck => ({ ok: false, code: 'bad-public-key', message });
  if (alg === 'ed25519') {
    if (bytes.length !== 32) return bad(`an Ed25519 public key is 32 bytes, not ${bytes.length}`);
    try {
      // fromBytes without zip215 is RFC 8032's strict decoding: y < p, and x = 0 only with its sign bit clear.
      const point = ed25519.Point.fromBytes(bytes);
      if (point.isSmallOrder()) return bad('the Ed25519 public key is a point of small order');
      return { ok: true, publicKey: bytes.slice() };
    } catch {
      return bad('not a canonical encoding of an Ed25519 point');
    }
  }
  if (bytes.length !== 33 && bytes.length !== 65)
    return bad(`a P-256 public key is 33 (compressed) or 65 (uncompressed) bytes, not ${bytes.length}`);
  try {
    return { ok: true, publicKey: p256.Point.fromBytes(bytes).toBytes(true) };
  } catch {
    return bad('not a SEC1 encoding of a point on P-256');
  }
}

/** keyId = SHA-256(alg code | publicKey); `publicKey` must already be in normalised form. */
export function keyIdOf(alg: SigAlg, publicKey: Uint8Array): Uint8Array {
  // Programming errors throw RangeError in this file (keys and digests come from this module or were normalised first).
  if (publicKey.length !== PUBLIC_KEY_BYTES[alg])
    throw new RangeError(`${alg} public key must be ${PUBLIC_KEY_BYTES[alg]} bytes (normalise it first)`);
  return sha256(concatBytes(new Uint8Array([CODES[alg]]), publicKey));
}

/**
 * True iff `sig` is the valid signature of `digest` under `publicKey` (normalised form). Never throws: every
 * input may come from a device or a proof bundle.
 */
export function verifyDigest(
  alg: SigAlg,
  publicKey: Uint8Array,
  digest: Uint8Array,
  sig: Uint8Array,
): boolean {
  if (
    digest.length !== DIGEST_BYTES ||
    sig.length !== SIGNATURE_BYTES ||
    publicKey.length !== PUBLIC_KEY_BYTES[alg]
  ) {
    return false;
  }
  const key = `${alg}:${toHex(publicKey)}:${toHex(digest)}:${toHex(sig)}`;
  const known = verified.get(key);
  if (known !== undefined) return known;
  const result = verifyUncached(alg, publicKey, digest, sig);
  remember(verified, key, result);
  return result;
}

function verifyUncached(alg: SigAlg, publicKey: Uint8Array, digest: Uint8Array, sig: Uint8Array): boolean {
  try {
    if (alg === 'ed25519') return ed25519.verify(sig, digest, publicKey, { zip215: false });
    // prehash: e = SHA-256(digest); lowS: a high-S signature is the second encoding and is refused.
    return p256.verify(sig, digest, publicKey, { prehash: true, lowS: true, format: 'compact' });
  } catch {
    return false;
  }
}

/**
 * Results of the two curve operations, by their exact inputs. Both are pure, and the same keys and the same
 * key events come back in every bundle of a device and in every record of a completeness document; a point
 * decode or verification costs ~1 ms in pure JS (much more on a busy machine). Bounded, oldest out first.
 */
const CACHE_ENTRIES = 4096;
const verified = new Map<string, boolean>();
const normalised = new Map<string, PublicKeyCheck>();
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_ENTRIES) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(key, value);
}

/** Signs a 32-byte digest. P-256 nonces are RFC 6979 deterministic and s is normalised to the low half. */
export function signDigest(alg: SigAlg, privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
  if (digest.length !== DIGEST_BYTES) throw new RangeError(`digest must be ${DIGEST_BYTES} bytes`);
  if (privateKey.length !== PRIVATE_KEY_BYTES)
    throw new RangeError(`private key must be ${PRIVATE_KEY_BYTES} bytes`);
  if (alg === 'ed25519') return ed25519.sign(digest, privateKey);
  return p256.sign(digest, privateKey, { prehash: true, lowS: true, format: 'compact', extraEntropy: false });
}

/** Anything that signs digests for one key: a key held in memory, a secure element, a worker. */
export interface DigestSigner {
  readonly alg: SigAlg;
  readonly keyId: Uint8Array;
  sign(digest: Uint8Array): Uint8Array;
}

export interface SigningKey {
  readonly alg: SigAlg;
  /** Ed25519: the 32-byte seed. P-256: the 32-byte scalar. */
  readonly privateKey: Uint8Array;
  /** Normalised form. */
  readonly publicKey: Uint8Array;
  readonly keyId: Uint8Array;
}

/** The key pair of a private key (Ed25519 seed or P-256 scalar). Throws on an invalid P-256 scalar. */
export function signingKeyFromPrivate(alg: SigAlg, privateKey: Uint8Array): SigningKey {
  if (privateKey.length !== PRIVATE_KEY_BYTES)
    throw new RangeError(`private key must be ${PRIVATE_KEY_BYTES} bytes`);
  const publicKey =
    alg === 'ed25519' ? ed25519.getPublicKey(privateKey) : p256.getPublicKey(privateKey, true);
  return { alg, privateKey: privateKey.slice(), publicKey, keyId: keyIdOf(alg, publicKey) };
}

/** A fresh key pair from the platform's CSPRNG (through @noble/curves). */
export function generateSigningKey(alg: SigAlg): SigningKey {
  const secret = alg === 'ed25519' ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey();
  return signingKeyFromPrivate(alg, secret);
}

export function signerOf(key: SigningKey): DigestSigner & { readonly publicKey: Uint8Array } {
  return {
    alg: key.alg,
    keyId: key.keyId,
    publicKey: key.publicKey,
    sign: (digest) => signDigest(key.alg, key.privateKey, digest),
  };
}
