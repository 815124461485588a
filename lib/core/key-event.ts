/**
 * Key events: the device-key log (docs/device-keys.md §3). Each registration, rotation and revocation of a
 * device signing key is a leaf of its own type in the same anchored Merkle batches as records, so a proof can
 * show that the key which signed a record was registered for the device before the record, and not revoked.
 *
 *   keyEvent = "IOTK" | version u8 (1) | type u8 | idLen u8 | deviceId [idLen] | time u64 | alg u8
 *            | publicKey [32 | 33]
 *     type 1 register: nothing more                                       (operator statement)
 *     type 2 rotate:   oldKeyId [32] | oldSig [64] | newSig [64]          (device statement)
 *     type 3 revoke:   reason u8 (0 unspecified, 1 compromised, 2 retired, 3 decommissioned)
 *
 * `alg`/`publicKey` is the subject: the key registered, the new key, the key revoked. A rotation is signed
 * twice over d = SHA-256(bytes before oldSig): by the old key (the device authorised it) and by the new one
 * (proof of possession). Registrations and revocations are the operator's word and carry no signature.
 */
import { bytesEqual, concatBytes, latin1 } from './bytes.js';
import { isDeviceId } from './device-id.js';
import {
  type DigestSigner,
  KEY_ID_BYTES,
  keyIdOf,
  normalizePublicKey,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  type SigAlg,
  sigAlgCode,
  sigAlgFromCode,
  verifyDigest,
} from './device-signature.js';
import { sha256 } from './hash.js';
import { readU64be, u64be } from './u64.js';

export const KEY_EVENT_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x4b]); // "IOTK"
export const KEY_EVENT_VERSION = 1;
/** Largest key event: a P-256 rotation for a 64-character device id. */
export const MAX_KEY_EVENT_BYTES = 7 + 64 + 8 + 1 + 33 + KEY_ID_BYTES + 2 * SIGNATURE_BYTES;

export type KeyEventType = 'register' | 'rotate' | 'revoke';
const TYPE_CODES: Readonly<Record<KeyEventType, number>> = { register: 1, rotate: 2, revoke: 3 };
const TYPES: readonly (KeyEventType | undefined)[] = [undefined, 'register', 'rotate', 'revoke'];

export type RevokeReason = 'unspecified' | 'compromised' | 'retired' | 'decommissioned';
export const REVOKE_REASONS: readonly RevokeReason[] = [
  'unspecified',
  'compromised',
  'retired',
  'decommissioned',
];

interface KeyEventBase {
  readonly deviceId: string;
  /** ms since the Unix epoch: the device's clock for a rotation, the backend's for the others. */
  readonly time: number;
  /** The subject key: registered, rotated to, or revoked. */
  readonly alg: SigAlg;
  /** Normalised form (docs/device-keys.md §1). */
  readonly publicKey: Uint8Array;
}

export interface RegisterEvent extends KeyEventBase {
  readonly type: 'register';
}
export interface RotateEvent extends KeyEventBase {
  readonly type: 'rotate';
  readonly oldKeyId: Uint8Array;
  readonly oldSig: Uint8Array;
  readonly newSig: Uint8Array;
}
export interface RevokeEvent extends KeyEventBase {
  readonly type: 'revoke';
  readonly reason: RevokeReason;
}
export type KeyEvent = RegisterEvent | RotateEvent | RevokeEvent;

export type KeyEventErrorCode =
  | 'truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'unknown-type'
  | 'bad-device-id'
  | 'field-out-of-range'
  | 'unsupported-algorithm'
  | 'bad-public-key'
  | 'unknown-reason'
  | 'length-mismatch';

export type KeyEventFailure = { ok: false; code: KeyEventErrorCode; message: string };
export interface ParsedKeyEvent {
  ok: true;
  event: KeyEvent;
  /** SHA-256(alg code | publicKey) of the subject key. */
  keyId: Uint8Array;
  /** The exact bytes: the Merkle leaf data. */
  bytes: Uint8Array;
}

const failure = (code: KeyEventErrorCode, message: string): KeyEventFailure => ({ ok: false, code, message });

/** Everything up to the type-specific tail: shared by all three types. */
function encodeCommon(type: KeyEventType, e: KeyEventBase): Uint8Array {
  // Programming errors throw RangeError in this file (encoders take keys and ids the caller built or parsed; parsing untrusted bytes returns a result value).
  if (!isDeviceId(e.deviceId)) throw new RangeError(`invalid device id ${JSON.stringify(e.deviceId)}`);
  const key = normalizePublicKey(e.alg, e.publicKey);
  if (!key.ok || !bytesEqual(key.publicKey, e.publicKey))
    throw new RangeError(`public key is not a normalised ${e.alg} key`);
  const id = new TextEncoder().encode(e.deviceId);
  return concatBytes(
    KEY_EVENT_MAGIC,
    new Uint8Array([KEY_EVENT_VERSION, TYPE_CODES[type], id.length]),
    id,
    u64be(e.time),
    new Uint8Array([sigAlgCode(e.alg)]),
    e.publicKey,
  );
}

/** The bytes a rotation's two signatures are over (before hashing): everything before oldSig. */
function rotationSignedBytes(e: Omit<RotateEvent, 'oldSig' | 'newSig' | 'type'>): Uint8Array {
  if (e.oldKeyId.length !== KEY_ID_BYTES) throw new RangeError('oldKeyId must be 32 bytes');
  return concatBytes(encodeCommon('rotate', e), e.oldKeyId);
}

export function encodeKeyEvent(e: KeyEvent): Uint8Array {
  switch (e.type) {
    case 'register':
      return encodeCommon('register', e);
    case 'revoke':
      return concatBytes(encodeCommon('revoke', e), new Uint8Array([REVOKE_REASONS.indexOf(e.reason)]));
    case 'rotate':
      if (e.oldSig.length !== SIGNATURE_BYTES || e.newSig.length !== SIGNATURE_BYTES)
        throw new RangeError('rotation signatures must be 64 bytes');
      return concatBytes(rotationSignedBytes(e), e.oldSig, e.newSig);
  }
}

/** Parses exactly one key event (nothing may follow it). Checks structure and key encoding, not signatures. */
export function parseKeyEvent(bytes: Uint8Array): ParsedKeyEvent | KeyEventFailure {
  if (bytes.length < 7) return failure('truncated', 'shorter than the fixed key event prefix');
  if (!bytesEqual(bytes.subarray(0, 4), KEY_EVENT_MAGIC))
    return failure('bad-magic', 'does not start with "IOTK"');
  if (bytes[4] !== KEY_EVENT_VERSION)
    return failure('unsupported-version', `key event version ${bytes[4]} is not supported`);
  const type = TYPES[bytes[5] as number];
  if (!type) return failure('unknown-type', `key event type ${bytes[5]} is not defined`);
  const idLen = bytes[6] as number;
  // time u64 and alg u8 follow the device id; the key's length depends on alg.
  if (bytes.length < 7 + idLen + 9) return failure('truncated', 'shorter than its fixed fields');
  const deviceId = latin1(bytes.subarray(7, 7 + idLen));
  if (!isDeviceId(deviceId))
    return failure('bad-device-id', 'device id is not 1-64 characters of [A-Za-z0-9_-]');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 7 + idLen;
  const time = readU64be(view, off);
  if (time === undefined) return failure('field-out-of-range', 'time exceeds 2^53-1');
  off += 8;
  const alg = sigAlgFromCode(bytes[off] as number);
  if (!alg) return failure('unsupported-algorithm', `signature algorithm ${bytes[off]} is not supported`);
  off += 1;
  const keyLen = PUBLIC_KEY_BYTES[alg];
  const tailLen = type === 'register' ? 0 : type === 'revoke' ? 1 : KEY_ID_BYTES + 2 * SIGNATURE_BYTES;
  const total = off + keyLen + tailLen;
  if (bytes.length < total) return failure('truncated', `a ${type} event is ${total} bytes`);
  if (bytes.length > total)
    return failure('length-mismatch', `a ${type} event is ${total} bytes, not ${bytes.length}`);
  const publicKey = bytes.slice(off, off + keyLen);
  const key = normalizePublicKey(alg, publicKey);
  // Only the normalised encoding is accepted, so one key has one key id and one event has one encoding.
  if (!key.ok || !bytesEqual(key.publicKey, publicKey))
    return failure('bad-public-key', key.ok ? 'public key is not in normalised form' : key.message);
  off += keyLen;
  const base = { deviceId, time, alg, publicKey };
  let event: KeyEvent;
  if (type === 'register') event = { type, ...base };
  else if (type === 'revoke') {
    const reason = REVOKE_REASONS[bytes[off] as number];
    if (!reason) return failure('unknown-reason', `revocation reason ${bytes[off]} is not defined`);
    event = { type, ...base, reason };
  } else {
    event = {
      type,
      ...base,
      oldKeyId: bytes.slice(off, off + KEY_ID_BYTES),
      oldSig: bytes.slice(off + KEY_ID_BYTES, off + KEY_ID_BYTES + SIGNATURE_BYTES),
      newSig: bytes.slice(off + KEY_ID_BYTES + SIGNATURE_BYTES, total),
    };
  }
  return { ok: true, event, keyId: keyIdOf(alg, publicKey), bytes: bytes.slice() };
}

/** The digest both signatures of a rotation are over: SHA-256 of its bytes before oldSig. */
export function keyEventDigest(e: Omit<RotateEvent, 'oldSig' | 'newSig' | 'type'>): Uint8Array {
  return sha256(rotationSignedBytes(e));
}

/**
 * A device's rotation from `oldKey` to `newKey`, signed by both: the encoded key event, ready to publish on
 * devices/{id}/keys. `time` is the device's clock.
 */
export function signRotation(input: {
  deviceId: string;
  time: number;
  oldKey: DigestSigner;
  newKey: DigestSigner & { readonly publicKey: Uint8Array };
}): Uint8Array {
  const unsigned = {
    deviceId: input.deviceId,
    time: input.time,
    alg: input.newKey.alg,
    publicKey: input.newKey.publicKey,
    oldKeyId: input.oldKey.keyId,
  };
  const d = keyEventDigest(unsigned);
  const oldSig = input.oldKey.sign(d);
  const newSig = input.newKey.sign(d);
  return encodeKeyEvent({ type: 'rotate', ...unsigned, oldSig, newSig });
}

export type KeyEventCheck =
  | { ok: true }
  | {
      ok: false;
      code: 'old-key-mismatch' | 'old-signature-invalid' | 'new-signature-invalid';
      message: string;
    };

/**
 * Checks what a key event itself can show. Registrations and revocations carry no signature (they are the
 * operator's word; what makes them trustworthy is in docs/device-keys.md §6), so they always pass. A rotation
 * needs the key it rotates away from (normalised form), found by the caller from `oldKeyId`.
 */
export function verifyKeyEvent(
  event: KeyEvent,
  oldKey?: { readonly alg: SigAlg; readonly publicKey: Uint8Array },
): KeyEventCheck {
  if (event.type !== 'rotate') return { ok: true };
  const d = keyEventDigest(event);
  if (!verifyDigest(event.alg, event.publicKey, d, event.newSig))
    return { ok: false, code: 'new-signature-invalid', message: 'the new key did not sign the rotation' };
  if (
    !oldKey ||
    oldKey.publicKey.length !== PUBLIC_KEY_BYTES[oldKey.alg] ||
    !bytesEqual(keyIdOf(oldKey.alg, oldKey.publicKey), event.oldKeyId)
  ) {
    return {
      ok: false,
      code: 'old-key-mismatch',
      message: 'the given old key is not the one the event names',
    };
  }
  if (!verifyDigest(oldKey.alg, oldKey.publicKey, d, event.oldSig))
    return { ok: false, code: 'old-signature-invalid', message: 'the old key did not sign the rotation' };
  return { ok: true };
}
