/**
 * The record envelope: what a device sends and what the object store keeps, byte for byte.
 * docs/envelope.md is the normative description; this file implements it.
 *
 *   header v1 = magic "IOTN" | version u8 (1) | flags u8 (0) | idLen u8 | deviceId (idLen ASCII bytes)
 *             | seq u64 | timestamp u64 (ms since Unix epoch, device clock) | prevHash [32]
 *             | nonce [12] | ctLen u32 | ctHash [32]
 *   header v2 = "IOTN" | 2 | flags (0) | idLen | deviceId | seq | timestamp | prevHash
 *             | sigAlg u8 | keyId [32] | nonce [12] | ctLen u32 | ctHash [32] | sig [64]
 *   envelope  = header | ciphertext (ctLen bytes: AES-256-GCM output with its 16-byte tag appended)
 *
 * The AAD of the encryption is the header up to (not including) ctHash, which is only known afterwards, so
 * no field before it can be changed without the device's record key; in v2 that covers sigAlg and keyId. The
 * record hash, which is both the Merkle leaf hash and the link in the device's hash chain, is
 * SHA-256(0x00 | header): the header commits to the ciphertext through ctHash, so one 32-byte value pins the
 * whole envelope. In v2 the device's signature over SHA-256(header without sig) is inside the header, hence
 * inside the leaf: an anchor then proves the signature existed at anchoring time, so a key stolen later cannot
 * back-date a forgery.
 */
import { bytesEqual, concatBytes, latin1 } from './bytes.js';
import { aes256GcmOpen, aes256GcmSeal } from './crypto-primitives.js';
import { isDeviceId } from './device-id.js';
import {
  type DigestSigner,
  KEY_ID_BYTES,
  keyIdOf,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  type SigAlg,
  sigAlgCode,
  sigAlgFromCode,
  verifyDigest,
} from './device-signature.js';
import { sha256 } from './hash.js';
import { hashLeaf } from './merkle.js';
import { readU64be, u64be } from './u64.js';

export const ENVELOPE_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x4e]); // "IOTN"
/** The version sealed without a signer. */
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_VERSION_SIGNED = 2;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HASH_BYTES = 32;
export const ZERO_HASH = new Uint8Array(HASH_BYTES);
/** Header length beyond the device id: 103 for v1, 200 for v2 (sigAlg, keyId and sig added). */
export const HEADER_FIXED_BYTES_V1 = 4 + 1 + 1 + 1 + 8 + 8 + HASH_BYTES + NONCE_BYTES + 4 + HASH_BYTES;
export const HEADER_FIXED_BYTES_V2 = HEADER_FIXED_BYTES_V1 + 1 + KEY_ID_BYTES + SIGNATURE_BYTES;
/** Largest v1 header: 64-character device id. */
export const MAX_HEADER_BYTES_V1 = HEADER_FIXED_BYTES_V1 + 64;
/** Largest header of any version (v2, 64-character device id): read this much to be sure to hold a header. */
export const MAX_HEADER_BYTES = HEADER_FIXED_BYTES_V2 + 64;

export function headerLengthOf(version: 1 | 2, idLen: number): number {
  return (version === 1 ? HEADER_FIXED_BYTES_V1 : HEADER_FIXED_BYTES_V2) + idLen;
}

/** What a v2 header says about its signature. */
export interface RecordSignature {
  readonly alg: SigAlg;
  readonly keyId: Uint8Array;
  readonly sig: Uint8Array;
}

export interface RecordHeader {
  /** 1: unsigned (origin unprovable); 2: signed by a device key, named in `signature`. */
  readonly version: 1 | 2;
  readonly deviceId: string;
  readonly seq: number;
  readonly timestamp: number;
  readonly prevHash: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertextLength: number;
  readonly ciphertextHash: Uint8Array;
  /** v2 only. */
  readonly signature?: RecordSignature;
}

export type EnvelopeErrorCode =
  | 'envelope-truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'unsupported-flags'
  | 'bad-device-id'
  | 'field-out-of-range'
  | 'unsupported-algorithm'
  | 'length-mismatch'
  | 'ciphertext-hash-mismatch'
  | 'decrypt-failed';

export type EnvelopeFailure = { ok: false; code: EnvelopeErrorCode; message: string };

export interface ParsedEnvelope {
  ok: true;
  header: RecordHeader;
  /** The exact header bytes as sent: the Merkle leaf data. */
  headerBytes: Uint8Array;
  ciphertext: Uint8Array;
}

const failure = (code: EnvelopeErrorCode, message: string): EnvelopeFailure => ({ ok: false, code, message });

interface PrefixFields extends Omit<RecordHeader, 'ciphertextHash' | 'signature'> {
  /** v2: the signing key's algorithm and id, both authenticated by GCM. */
  readonly signer?: { readonly alg: SigAlg; readonly keyId: Uint8Array };
}

/** AAD = every header field before ctHash. */
function encodeHeaderPrefix(h: PrefixFields): Uint8Array {
  // Programming errors throw RangeError in this file (sealing takes fields the sealer built; parsing untrusted bytes returns a result value).
  if (!isDeviceId(h.deviceId)) throw new RangeError(`invalid device id ${JSON.stringify(h.deviceId)}`);
  if (h.prevHash.length !== HASH_BYTES) throw new RangeError('prevHash must be 32 bytes');
  if (h.nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 12 bytes');
  if (
    !Number.isInteger(h.ciphertextLength) ||
    h.ciphertextLength < TAG_BYTES ||
    h.ciphertextLength > 0xffffffff
  ) {
    throw new RangeError('ciphertext length out of range');
  }
  if ((h.version === ENVELOPE_VERSION_SIGNED) !== (h.signer !== undefined))
    throw new RangeError('a version 2 header, and only it, names a signing key');
  const id = new TextEncoder().encode(h.deviceId);
  const ctLen = new Uint8Array(4);
  new DataView(ctLen.buffer).setUint32(0, h.ciphertextLength);
  const keyFields: Uint8Array[] = [];
  if (h.signer) {
    if (h.signer.keyId.length !== KEY_ID_BYTES) throw new RangeError('keyId must be 32 bytes');
    keyFields.push(new Uint8Array([sigAlgCode(h.signer.alg)]), h.signer.keyId);
  }
  return concatBytes(
    ENVELOPE_MAGIC,
    new Uint8Array([h.version, 0, id.length]),
    id,
    u64be(h.seq),
    u64be(h.timestamp),
    h.prevHash,
    ...keyFields,
    h.nonce,
    ctLen,
  );
}

/** Encodes a header from its fields: v1 without `signature`, v2 with it (sig included as given). */
export function encodeHeader(h: RecordHeader): Uint8Array {
  if (h.ciphertextHash.length !== HASH_BYTES) throw new RangeError('ciphertextHash must be 32 bytes');
  const s = h.signature;
  if (!s) return concatBytes(encodeHeaderPrefix(h), h.ciphertextHash);
  if (s.sig.length !== SIGNATURE_BYTES) throw new RangeError('sig must be 64 bytes');
  return concatBytes(encodeHeaderPrefix({ ...h, signer: s }), h.ciphertextHash, s.sig);
}

/** The record hash: Merkle leaf hash of the header, and the value the next record's prevHash must equal. */
export function recordHashOf(headerBytes: Uint8Array): Uint8Array {
  return hashLeaf(headerBytes);
}

/** Parses a header at the start of `bytes`; returns it and where it ends. Checks structure, not the hash. */
export function parseHeader(
  bytes: Uint8Array,
): { ok: true; header: RecordHeader; headerBytes: Uint8Array } | EnvelopeFailure {
  if (bytes.length < 7) return failure('envelope-truncated', 'shorter than the fixed header prefix');
  if (!bytesEqual(bytes.subarray(0, 4), ENVELOPE_MAGIC))
    return failure('bad-magic', 'does not start with "IOTN"');
  if (bytes[4] !== 1 && bytes[4] !== 2)
    return failure('unsupported-version', `envelope version ${bytes[4]} is not supported`);
  const version: 1 | 2 = bytes[4] === 2 ? 2 : 1;
  if (bytes[5] !== 0) return failure('unsupported-flags', `flags ${bytes[5]} are not supported`);
  const idLen = bytes[6] as number;
  const headerLen = headerLengthOf(version, idLen);
  if (bytes.length < headerLen) return failure('envelope-truncated', 'shorter than its header');
  const deviceId = latin1(bytes.subarray(7, 7 + idLen));
  if (!isDeviceId(deviceId))
    return failure('bad-device-id', 'device id is not 1-64 characters of [A-Za-z0-9_-]');
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerLen);
  let off = 7 + idLen;
  const seq = readU64be(view, off);
  const timestamp = readU64be(view, off + 8);
  if (seq === undefined || timestamp === undefined)
    return failure('field-out-of-range', 'seq or timestamp exceeds 2^53-1');
  off += 16;
  const prevHash = bytes.slice(off, off + HASH_BYTES);
  off += HASH_BYTES;
  let alg: SigAlg | undefined;
  let keyId: Uint8Array | undefined;
  if (version === 2) {
    alg = sigAlgFromCode(bytes[off] as number);
    if (!alg) return failure('unsupported-algorithm', `signature algorithm ${bytes[off]} is not supported`);
    keyId = bytes.slice(off + 1, off + 1 + KEY_ID_BYTES);
    off += 1 + KEY_ID_BYTES;
  }
  const nonce = bytes.slice(off, off + NONCE_BYTES);
  off += NONCE_BYTES;
  const ciphertextLength = view.getUint32(off);
  off += 4;
  const ciphertextHash = bytes.slice(off, off + HASH_BYTES);
  off += HASH_BYTES;
  if (ciphertextLength < TAG_BYTES)
    return failure('field-out-of-range', 'ciphertext is shorter than the GCM tag');
  const fields = { version, deviceId, seq, timestamp, prevHash, nonce, ciphertextLength, ciphertextHash };
  const header: RecordHeader =
    alg && keyId
      ? { ...fields, signature: { alg, keyId, sig: bytes.slice(off, off + SIGNATURE_BYTES) } }
      : fields;
  return { ok: true, header, headerBytes: bytes.slice(0, headerLen) };
}

/** Parses a whole envelope: structure and lengths. The ciphertext hash is checked by `checkCiphertextHash`. */
export function parseEnvelope(bytes: Uint8Array): ParsedEnvelope | EnvelopeFailure {
  const parsed = parseHeader(bytes);
  if (!parsed.ok) return parsed;
  const expected = parsed.headerBytes.length + parsed.header.ciphertextLength;
  if (bytes.length !== expected) {
    return failure('length-mismatch', `envelope is ${bytes.length} bytes, header says ${expected}`);
  }
  return {
    ok: true,
    header: parsed.header,
    headerBytes: parsed.headerBytes,
    ciphertext: bytes.subarray(parsed.headerBytes.length),
  };
}

/**
 * The digest a v2 header's signature is over: SHA-256 of the header without its last 64 bytes (the sig).
 * `headerBytes` must be exactly one v2 header (as `parseHeader` returns it).
 */
export function recordSigningDigest(headerBytes: Uint8Array): Uint8Array {
  if (headerBytes.length < HEADER_FIXED_BYTES_V2 + 1 || headerBytes[4] !== ENVELOPE_VERSION_SIGNED)
    throw new RangeError('not a v2 header');
  return sha256(headerBytes.subarray(0, headerBytes.length - SIGNATURE_BYTES));
}

export type RecordSignatureErrorCode =
  | 'header-malformed'
  | 'unsigned'
  | 'algorithm-mismatch'
  | 'key-id-mismatch'
  | 'signature-invalid';

export type RecordSignatureCheck =
  | { ok: true }
  | { ok: false; code: RecordSignatureErrorCode; message: string };

/**
 * Checks a header's device signature against a public key (normalised form, docs/device-keys.md): the header
 * must be exactly one v2 header naming this key (its algorithm and key id) with a valid signature.
 */
export function verifyRecordSignature(
  headerBytes: Uint8Array,
  alg: SigAlg,
  publicKey: Uint8Array,
): RecordSignatureCheck {
  const parsed = parseHeader(headerBytes);
  if (!parsed.ok || parsed.headerBytes.length !== headerBytes.length)
    return { ok: false, code: 'header-malformed', message: 'not exactly one envelope header' };
  const s = parsed.header.signature;
  if (!s) return { ok: false, code: 'unsigned', message: 'a version 1 header carries no signature' };
  if (s.alg !== alg)
    return { ok: false, code: 'algorithm-mismatch', message: `header names ${s.alg}, the key is ${alg}` };
  if (publicKey.length !== PUBLIC_KEY_BYTES[alg] || !bytesEqual(keyIdOf(alg, publicKey), s.keyId))
    return { ok: false, code: 'key-id-mismatch', message: 'the header names another key' };
  return verifyDigest(alg, publicKey, recordSigningDigest(headerBytes), s.sig)
    ? { ok: true }
    : { ok: false, code: 'signature-invalid', message: 'the device signature does not verify' };
}

export function checkCiphertextHash(env: ParsedEnvelope): { ok: true } | EnvelopeFailure {
  return bytesEqual(sha256(env.ciphertext), env.header.ciphertextHash)
    ? { ok: true }
    : failure('ciphertext-hash-mismatch', 'SHA-256 of the ciphertext differs from the header');
}

export interface SealInput {
  recordKey: Uint8Array;
  deviceId: string;
  seq: number;
  timestamp: number;
  prevHash: Uint8Array;
  nonce: Uint8Array;
  plaintext: Uint8Array;
  /** The device's signing key: seals a v2 (signed) envelope. Without it, v1 (unsigned, legacy). */
  signer?: DigestSigner;
}

export interface SealedRecord {
  envelope: Uint8Array;
  header: RecordHeader;
  headerBytes: Uint8Array;
  recordHash: Uint8Array;
}

/** Encrypts, frames and (with a signer) signs one record. The caller supplies a fresh random nonce. */
export function sealRecord(input: SealInput): SealedRecord {
  const { signer } = input;
  const ciphertextLength = input.plaintext.length + TAG_BYTES;
  const version = signer ? ENVELOPE_VERSION_SIGNED : ENVELOPE_VERSION;
  const prefix = encodeHeaderPrefix({
    version,
    deviceId: input.deviceId,
    seq: input.seq,
    timestamp: input.timestamp,
    prevHash: input.prevHash,
    nonce: input.nonce,
    ciphertextLength,
    ...(signer ? { signer: { alg: signer.alg, keyId: signer.keyId } } : {}),
  });
  const ciphertext = aes256GcmSeal(input.recordKey, input.nonce, prefix, input.plaintext);
  const ciphertextHash = sha256(ciphertext);
  const unsigned = concatBytes(prefix, ciphertextHash);
  let headerBytes = unsigned;
  let signature: RecordSignature | undefined;
  if (signer) {
    const sig = signer.sign(sha256(unsigned));
    if (sig.length !== SIGNATURE_BYTES) throw new RangeError(`signer returned ${sig.length} bytes, not 64`);
    signature = { alg: signer.alg, keyId: signer.keyId.slice(), sig: sig.slice() };
    headerBytes = concatBytes(unsigned, sig);
  }
  const header: RecordHeader = {
    version,
    deviceId: input.deviceId,
    seq: input.seq,
    timestamp: input.timestamp,
    prevHash: input.prevHash.slice(),
    nonce: input.nonce.slice(),
    ciphertextLength,
    ciphertextHash,
    ...(signature ? { signature } : {}),
  };
  return {
    envelope: concatBytes(headerBytes, ciphertext),
    header,
    headerBytes,
    recordHash: recordHashOf(headerBytes),
  };
}

/** Decrypts a parsed envelope with its record key. A wrong key and a modified byte fail alike. */
export function openRecord(
  env: ParsedEnvelope,
  recordKey: Uint8Array,
): { ok: true; plaintext: Uint8Array } | EnvelopeFailure {
  const after = HASH_BYTES + (env.header.version === ENVELOPE_VERSION_SIGNED ? SIGNATURE_BYTES : 0);
  const aad = env.headerBytes.subarray(0, env.headerBytes.length - after);
  const plaintext = aes256GcmOpen(recordKey, env.header.nonce, aad, env.ciphertext);
  if (plaintext) return { ok: true, plaintext };
  // GCM reports every authentication failure the same way, by design; so do we.
  return failure(
    'decrypt-failed',
    'authentication failed: wrong key, or the header or ciphertext was modified',
  );
}
