/**
 * Ingest of one record envelope, in the order that makes every step safe to repeat and nothing half-written:
 *
 *   1. validate structure, device and clock       (reject: nothing stored)
 *   2. check the ciphertext hash                  (reject: nothing stored)
 *   3. look for the same (device, seq)            (same hash: duplicate; other hash: replay, rejected)
 *   4. store the envelope under its record hash   (content-derived key: a retry rewrites identical bytes)
 *   5. conditional put of the index entry         (which is also the anchor-queue entry)
 *   6. the caller acks
 *
 * A crash between 4 and 5 leaves an unreferenced object and no ack; the device resends and step 4 repeats.
 */
import { toBase64, toHex } from '../core/bytes.js';
import { recordIdOf } from '../core/device-id.js';
import { checkCiphertextHash, parseEnvelope, recordHashOf } from '../core/envelope.js';
import type { ObjectStore, RecordEntry, RecordIndex, Via } from '../ports.js';

export interface IngestLimits {
  /** How far ahead of the backend clock a device timestamp may be. */
  maxClockSkewMs: number;
}

export interface IngestDeps {
  objects: ObjectStore;
  index: RecordIndex;
  clock: () => number;
  limits: IngestLimits;
}

export type IngestOutcome =
  | { status: 'stored' | 'duplicate'; recordId: string; seq: number }
  | { status: 'rejected'; code: string; reason: string; seq?: number };

export function recordObjectKey(deviceId: string, recordHashHex: string): string {
  return `records/${deviceId}/${recordHashHex}`;
}

const reject = (code: string, reason: string, seq?: number): IngestOutcome =>
  seq === undefined ? { status: 'rejected', code, reason } : { status: 'rejected', code, reason, seq };

export async function ingestEnvelope(
  deps: IngestDeps,
  msg: { deviceId: string; bytes: Uint8Array; via: Via },
): Promise<IngestOutcome> {
  const env = parseEnvelope(msg.bytes);
  if (!env.ok) return reject(env.code, env.message);
  const { header } = env;
  if (header.deviceId !== msg.deviceId) {
    return reject(
      'device-mismatch',
      `envelope is for device ${header.deviceId}, published by ${msg.deviceId}`,
      header.seq,
    );
  }
  const now = deps.clock();
  if (header.timestamp > now + deps.limits.maxClockSkewMs) {
    return reject(
      'timestamp-in-future',
      `timestamp ${header.timestamp} is ${header.timestamp - now} ms ahead of the backend clock`,
      header.seq,
    );
  }
  const hashCheck = checkCiphertextHash(env);
  if (!hashCheck.ok) return reject(hashCheck.code, hashCheck.message, header.seq);

  const recordHash = toHex(recordHashOf(env.headerBytes));
  const recordId = recordIdOf(header.deviceId, header.seq);
  const seen = await deps.index.getRecord(header.deviceId, header.seq);
  if (seen) return sameOrReplay(seen, recordHash, recordId, header.seq);

  const objectKey = recordObjectKey(header.deviceId, recordHash);
  // No sha256 passed: the local store does not need one, and S3's adapter computes its checksum itself.
  await deps.objects.put(objectKey, msg.bytes);
  const entry: RecordEntry = {
    recordId,
    deviceId: header.deviceId,
    seq: header.seq,
    timestamp: header.timestamp,
    receivedAt: now,
    recordHash,
    prevHash: toHex(header.prevHash),
    ciphertextHash: toHex(header.ciphertextHash),
    ciphertextLength: header.ciphertextLength,
    envelopeSize: msg.bytes.length,
    header: toBase64(env.headerBytes),
    objectKey,
    via: msg.via,
  };
  const put = await deps.index.putRecord(entry);
  if (put.outcome === 'created') return { status: 'stored', recordId, seq: header.seq };
  if (put.outcome === 'conflict' && put.existing.objectKey !== objectKey) {
    // Lost a race against a different record with the same seq: ours is referenced by nothing.
    await deps.objects.delete(objectKey);
  }
  return sameOrReplay(put.existing, recordHash, recordId, header.seq);
}

function sameOrReplay(
  existing: RecordEntry,
  recordHash: string,
  recordId: string,
  seq: number,
): IngestOutcome {
  if (existing.recordHash === recordHash) return { status: 'duplicate', recordId, seq };
  return reject(
    'sequence-replayed',
    `seq ${seq} is already stored for this device with a different record hash (${existing.recordHash.slice(0, 16)}…)`,
    seq,
  );
}
