/**
 * Real sealed records for the pin tests, stored the way ingest stores them (same object key), with the index
 * fields the pin path needs.
 */
import { randomBytes } from 'node:crypto';
import { toBase64, toHex, utf8 } from '../../../lib/core/bytes.js';
import { recordIdOf } from '../../../lib/core/device-id.js';
import { parseHeader, sealRecord, ZERO_HASH } from '../../../lib/core/envelope.js';
import { sha256 } from '../../../lib/core/hash.js';
import { recordObjectKey } from '../../../lib/ingest/ingest-envelope.js';
import type { ObjectStore, RecordEntry, Via } from '../../../lib/ports.js';

export interface StoredRecord {
  recordId: string;
  deviceId: string;
  seq: number;
  objectKey: string;
  recordHash: string;
  /** Base64 header, as RecordEntry.header holds it. */
  header: string;
  via: Via;
  envelope: Uint8Array;
  ciphertext: Uint8Array;
}

export function sealTestRecord(deviceId: string, seq: number, plaintextBytes = 64, via: Via = 'inline') {
  const sealed = sealRecord({
    recordKey: new Uint8Array(randomBytes(32)),
    deviceId,
    seq,
    timestamp: 1_700_000_000_000 + seq,
    prevHash: ZERO_HASH,
    nonce: new Uint8Array(randomBytes(12)),
    plaintext:
      plaintextBytes <= 64 ? utf8(`reading ${seq}`.padEnd(plaintextBytes, '.')) : randomBytes(plaintextBytes),
  });
  const recordHash = toHex(sealed.recordHash);
  const rec: StoredRecord = {
    recordId: recordIdOf(deviceId, seq),
    deviceId,
    seq,
    objectKey: recordObjectKey(deviceId, recordHash),
    recordHash,
    header: toBase64(sealed.headerBytes),
    via,
    envelope: sealed.envelope,
    ciphertext: sealed.envelope.subarray(sealed.headerBytes.length),
  };
  return rec;
}

export async function storeTestRecord(
  objects: ObjectStore,
  deviceId: string,
  seq: number,
  plaintextBytes?: number,
  via?: Via,
): Promise<StoredRecord> {
  const rec = sealTestRecord(deviceId, seq, plaintextBytes, via);
  await objects.put(rec.objectKey, rec.envelope, { sha256: sha256(rec.envelope) });
  return rec;
}

/** The index entry ingest would have written for `rec`, received at `receivedAt`. */
export function recordEntryOf(rec: StoredRecord, receivedAt: number): RecordEntry {
  const parsed = parseHeader(rec.envelope);
  if (!parsed.ok) throw new Error(`test record ${rec.recordId} has no valid header`);
  const h = parsed.header;
  return {
    recordId: rec.recordId,
    deviceId: rec.deviceId,
    seq: rec.seq,
    timestamp: h.timestamp,
    receivedAt,
    recordHash: rec.recordHash,
    prevHash: toHex(h.prevHash),
    ciphertextHash: toHex(h.ciphertextHash),
    ciphertextLength: h.ciphertextLength,
    envelopeSize: rec.envelope.length,
    header: rec.header,
    objectKey: rec.objectKey,
    via: rec.via,
  };
}
