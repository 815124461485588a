/**
 * Per-record keys: the seed's "key + timestamp", done with a real KDF.
 *
 *   recordKey = HKDF-SHA256(ikm = device master key, salt = UTF-8(deviceId),
 *                           info = "iot-notary/v1 record-key" || u64be(timestamp) || u64be(seq), L = 32)
 *
 * One master key per device is all anyone manages; releasing one record's key reveals nothing about any other
 * record or the master key. Sequence is in `info` as well as the timestamp, so two records in the same
 * millisecond never share a key.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from './bytes.js';
import { u64be } from './u64.js';

export const MASTER_KEY_BYTES = 32;
export const RECORD_KEY_BYTES = 32;
export const RECORD_KEY_INFO_LABEL = 'iot-notary/v1 record-key';

export function recordKeyInfo(timestamp: number, seq: number): Uint8Array {
  return concatBytes(utf8(RECORD_KEY_INFO_LABEL), u64be(timestamp), u64be(seq));
}

export function deriveRecordKey(
  masterKey: Uint8Array,
  deviceId: string,
  timestamp: number,
  seq: number,
): Uint8Array {
  // Programming errors throw RangeError in this file (master keys are 32 bytes wherever they are made or unwrapped).
  if (masterKey.length !== MASTER_KEY_BYTES)
    throw new RangeError(`master key must be ${MASTER_KEY_BYTES} bytes`);
  return hkdf(sha256, masterKey, utf8(deviceId), recordKeyInfo(timestamp, seq), RECORD_KEY_BYTES);
}
