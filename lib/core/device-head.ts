/**
 * Device heads (docs/device-keys.md §4): a device's signed statement of how many records it has sealed and the
 * hash of the last one. Anchored like records, a head makes records dropped after the last one kept visible.
 *
 *   head = "IOTH" | version u8 (1) | idLen u8 | deviceId [idLen] | count u64 | lastHash [32]
 *        | time u64 (device clock) | sigAlg u8 | keyId [32] | sig [64]
 *
 * `count` is the device's nextSeq; `lastHash` the record hash of record count - 1, or 32 zero bytes when
 * count = 0. `sig` is over d = SHA-256(bytes before sig). 151 + idLen bytes.
 */
import { bytesEqual, concatBytes, latin1 } from './bytes.js';
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
import { readU64be, u64be } from './u64.js';

export const HEAD_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x48]); // "IOTH"
export const HEAD_VERSION = 1;
export const HEAD_FIXED_BYTES = 4 + 1 + 1 + 8 + 32 + 8 + 1 + KEY_ID_BYTES + SIGNATURE_BYTES;
export const MAX_HEAD_BYTES = HEAD_FIXED_BYTES + 64;

export interface DeviceHead {
  readonly deviceId: string;
  /** Records sealed so far: the device's nextSeq. */
  readonly count: number;
  /** Record hash of record count - 1; 32 zero bytes when count = 0. */
  readonly lastHash: Uint8Array;
  /** Device clock, ms since the Unix epoch. */
  readonly time: number;
  readonly alg: SigAlg;
  readonly keyId: Uint8Array;
  readonly sig: Uint8Array;
}

export type UnsignedHead = Omit<DeviceHead, 'sig'>;

export type HeadErrorCode =
  | 'truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'bad-device-id'
  | 'field-out-of-range'
  | 'unsupported-algorithm'
  | 'length-mismatch';

export type HeadFailure = { ok: false; code: HeadErrorCode; message: string };
export interface ParsedHead {
  ok: true;
  head: DeviceHead;
  /** The exact bytes: the Merkle leaf data. */
  bytes: Uint8Array;
}

const failure = (code: HeadErrorCode, message: string): HeadFailure => ({ ok: false, code, message });
const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

function encodeUnsigned(h: UnsignedHead): Uint8Array {
  // Programming errors throw RangeError in this file (the device side encodes heads it built; parsing untrusted bytes returns a result value).
  if (!isDeviceId(h.deviceId)) throw new RangeError(`invalid device id ${JSON.stringify(h.deviceId)}`);
  if (h.lastHash.length !== 32) throw new RangeError('lastHash must be 32 bytes');
  if (h.count === 0 && !isZero(h.lastHash)) throw new RangeError('a head of count 0 has a zero lastHash');
  if (h.keyId.length !== KEY_ID_BYTES) throw new RangeError('keyId must be 32 bytes');
  const id = new TextEncoder().encode(h.deviceId);
  return concatBytes(
    HEAD_MAGIC,
    new Uint8Array([HEAD_VERSION, id.length]),
    id,
    u64be(h.count),
    h.lastHash,
    u64be(h.time),
    new Uint8Array([sigAlgCode(h.alg)]),
    h.keyId,
  );
}

export function encodeHead(h: DeviceHead): Uint8Array {
  if (h.sig.length !== SIGNATURE_BYTES) throw new RangeError('sig must be 64 bytes');
  return concatBytes(encodeUnsigned(h), h.sig);
}

/** The digest a head's signature is over: SHA-256 of its bytes before sig. */
export function headDigest(h: UnsignedHead): Uint8Array {
  return sha256(encodeUnsigned(h));
}

/** A signed head, encoded: what the device publishes on devices/{id}/heads. */
export function signHead(
  h: Omit<UnsignedHead, 'alg' | 'keyId'>,
  signer: DigestSigner,
): { head: DeviceHead; bytes: Uint8Array } {
  const unsigned: UnsignedHead = { ...h, alg: signer.alg, keyId: signer.keyId };
  const sig = signer.sign(headDigest(unsigned));
  const head: DeviceHead = { ...unsigned, sig };
  return { head, bytes: encodeHead(head) };
}

/** Parses exactly one head (nothing may follow it). Checks structure, not the signature. */
export function parseHead(bytes: Uint8Array): ParsedHead | HeadFailure {
  if (bytes.length < 6) return failure('truncated', 'shorter than the fixed head prefix');
  if (!bytesEqual(bytes.subarray(0, 4), HEAD_MAGIC))
    return failure('bad-magic', 'does not start with "IOTH"');
  if (bytes[4] !== HEAD_VERSION)
    return failure('unsupported-version', `head version ${bytes[4]} is not supported`);
  const idLen = bytes[5] as number;
  if (bytes.length < 6 + idLen) return failure('truncated', 'shorter than its device id');
  const deviceId = latin1(bytes.subarray(6, 6 + idLen));
  if (!isDeviceId(deviceId))
    return failure('bad-device-id', 'device id is not 1-64 characters of [A-Za-z0-9_-]');
  const total = HEAD_FIXED_BYTES + idLen;
  if (bytes.length < total) return failure('truncated', `a head is ${total} bytes`);
  if (bytes.length > total)
    return failure('length-mismatch', `a head is ${total} bytes, not ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 6 + idLen;
  const count = readU64be(view, off);
  const lastHash = bytes.slice(off + 8, off + 40);
  const time = readU64be(view, off + 40);
  if (count === undefined || time === undefined)
    return failure('field-out-of-range', 'count or time exceeds 2^53-1');
  if (count === 0 && !isZero(lastHash))
    return failure('field-out-of-range', 'a head of count 0 must have a zero lastHash');
  off += 48;
  const alg = sigAlgFromCode(bytes[off] as number);
  if (!alg) return failure('unsupported-algorithm', `signature algorithm ${bytes[off]} is not supported`);
  const keyId = bytes.slice(off + 1, off + 1 + KEY_ID_BYTES);
  const sig = bytes.slice(off + 1 + KEY_ID_BYTES, total);
  return { ok: true, head: { deviceId, count, lastHash, time, alg, keyId, sig }, bytes: bytes.slice() };
}

export type HeadCheck =
  | { ok: true }
  | { ok: false; code: 'algorithm-mismatch' | 'key-id-mismatch' | 'signature-invalid'; message: string };

/** Checks a head's signature against the key it names (normalised public key). */
export function verifyHead(head: DeviceHead, alg: SigAlg, publicKey: Uint8Array): HeadCheck {
  if (head.alg !== alg)
    return { ok: false, code: 'algorithm-mismatch', message: `head names ${head.alg}, the key is ${alg}` };
  if (publicKey.length !== PUBLIC_KEY_BYTES[alg] || !bytesEqual(keyIdOf(alg, publicKey), head.keyId))
    return { ok: false, code: 'key-id-mismatch', message: 'the head names another key' };
  return verifyDigest(alg, publicKey, headDigest(head), head.sig)
    ? { ok: true }
    : { ok: false, code: 'signature-invalid', message: 'the head signature does not verify' };
}
