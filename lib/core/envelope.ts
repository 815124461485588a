/**
 * The record envelope, version 1: what a device sends and what the object store keeps, byte for byte.
 * docs/envelope.md is the normative description; this file implements it.
 *
 *   header = magic "IOTN" | version u8 (1) | flags u8 (0) | idLen u8 | deviceId (idLen ASCII bytes)
 *          | seq u64 | timestamp u64 (ms since Unix epoch, device clock) | prevHash [32]
 *          | nonce [12] | ctLen u32 | ctHash [32]
 *   envelope = header | ciphertext (ctLen bytes: AES-256-GCM output with its 16-byte tag appended)
 *
 * The AAD of the encryption is the header without its final ctHash field (ctHash is only known afterwards),
 * so no header field can be changed without the device's key. The record hash, which is both the Merkle leaf
 * hash and the link in the device's hash chain, is SHA-256(0x00 | header): the header commits to the
 * ciphertext through ctHash, so one 32-byte value pins the whole envelope.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { bytesEqual, concatBytes } from './bytes.js';
import { isDeviceId } from './device-id.js';
import { sha256 } from './hash.js';
import { hashLeaf } from './merkle.js';
import { readU64be, u64be } from './u64.js';

export const ENVELOPE_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x4e]); // "IOTN"
export const ENVELOPE_VERSION = 1;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HASH_BYTES = 32;
export const ZERO_HASH = new Uint8Array(HASH_BYTES);
/** Largest header: 64-character device id. */
export const MAX_HEADER_BYTES = 4 + 1 + 1 + 1 + 64 + 8 + 8 + HASH_BYTES + NONCE_BYTES + 4 + HASH_BYTES;

export interface RecordHeader {
  readonly deviceId: string;
  readonly seq: number;
  readonly timestamp: number;
  readonly prevHash: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertextLength: number;
  readonly ciphertextHash: Uint8Array;
}

export type EnvelopeErrorCode =
  | 'envelope-truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'unsupported-flags'
  | 'bad-device-id'
  | 'field-out-of-range'
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

/** AAD = every header field before ctHash. */
function encodeHeaderPrefix(h: Omit<RecordHeader, 'ciphertextHash'>): Uint8Array {
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
  const id = new TextEncoder().encode(h.deviceId);
  const ctLen = new Uint8Array(4);
  new DataView(ctLen.buffer).setUint32(0, h.ciphertextLength);
  return concatBytes(
    ENVELOPE_MAGIC,
    new Uint8Array([ENVELOPE_VERSION, 0, id.length]),
    id,
    u64be(h.seq),
    u64be(h.timestamp),
    h.prevHash,
    h.nonce,
    ctLen,
  );
}

export function encodeHeader(h: RecordHeader): Uint8Array {
  if (h.ciphertextHash.length !== HASH_BYTES) throw new RangeError('ciphertextHash must be 32 bytes');
  return concatBytes(encodeHeaderPrefix(h), h.ciphertextHash);
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
  if (bytes[4] !== ENVELOPE_VERSION)
    return failure('unsupported-version', `envelope version ${bytes[4]} is not supported`);
  if (bytes[5] !== 0) return failure('unsupported-flags', `flags ${bytes[5]} are not supported`);
  const idLen = bytes[6] as number;
  const headerLen = 7 + idLen + 8 + 8 + HASH_BYTES + NONCE_BYTES + 4 + HASH_BYTES;
  if (bytes.length < headerLen) return failure('envelope-truncated', 'shorter than its header');
  const deviceId = Buffer.from(bytes.buffer, bytes.byteOffset + 7, idLen).toString('latin1');
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
  const nonce = bytes.slice(off, off + NONCE_BYTES);
  off += NONCE_BYTES;
  const ciphertextLength = view.getUint32(off);
  off += 4;
  const ciphertextHash = bytes.slice(off, off + HASH_BYTES);
  if (ciphertextLength < TAG_BYTES)
    return failure('field-out-of-range', 'ciphertext is shorter than the GCM tag');
  return {
    ok: true,
    header: { deviceId, seq, timestamp, prevHash, nonce, ciphertextLength, ciphertextHash },
    headerBytes: bytes.slice(0, headerLen),
  };
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
}

export interface SealedRecord {
  envelope: Uint8Array;
  header: RecordHeader;
  headerBytes: Uint8Array;
  recordHash: Uint8Array;
}

/** Encrypts and frames one record. The caller supplies a fresh random nonce (see docs/envelope.md). */
export function sealRecord(input: SealInput): SealedRecord {
  const ciphertextLength = input.plaintext.length + TAG_BYTES;
  const prefix = encodeHeaderPrefix({ ...input, ciphertextLength });
  const cipher = createCipheriv('aes-256-gcm', input.recordKey, input.nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(prefix);
  const ciphertext = concatBytes(cipher.update(input.plaintext), cipher.final(), cipher.getAuthTag());
  const ciphertextHash = sha256(ciphertext);
  const headerBytes = concatBytes(prefix, ciphertextHash);
  const header: RecordHeader = {
    deviceId: input.deviceId,
    seq: input.seq,
    timestamp: input.timestamp,
    prevHash: input.prevHash.slice(),
    nonce: input.nonce.slice(),
    ciphertextLength,
    ciphertextHash,
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
  const aad = env.headerBytes.subarray(0, env.headerBytes.length - HASH_BYTES);
  const body = env.ciphertext.subarray(0, env.ciphertext.length - TAG_BYTES);
  const tag = env.ciphertext.subarray(env.ciphertext.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', recordKey, env.header.nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return { ok: true, plaintext: concatBytes(decipher.update(body), decipher.final()) };
  } catch {
    // OpenSSL reports every authentication failure the same way, by design; so do we.
    return failure(
      'decrypt-failed',
      'authentication failed: wrong key, or the header or ciphertext was modified',
    );
  }
}
