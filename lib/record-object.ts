/**
 * Where a record's envelope lies in the object store, and the one way every reader gets its bytes.
 *
 * A record ingested alone is one object, `records/<deviceId>/<recordHash>`. The records of a pack share one
 * object, `records/<deviceId>/packs/<sha256 of the object>`: the accepted envelopes concatenated in pack order,
 * and each index entry says where its envelope lies (`RecordEntry.objectRange`). Readers (proofs, verify,
 * export, fsck, key release, IPFS pinning, inline anchoring) call `readRecordEnvelope` and never care which.
 */
import { toHex } from './core/bytes.js';
import { parseHeader, recordHashOf } from './core/envelope.js';
import type { ObjectStore, RecordEntry } from './ports.js';

export function recordObjectKey(deviceId: string, recordHashHex: string): string {
  return `records/${deviceId}/${recordHashHex}`;
}

/** The object of a pack's accepted envelopes: content-derived, so a retry rewrites identical bytes. */
export function packObjectKey(deviceId: string, sha256Hex: string): string {
  return `records/${deviceId}/packs/${sha256Hex}`;
}

const PACK_KEY = /^records\/[A-Za-z0-9_-]{1,64}\/packs\/[0-9a-f]{64}$/;

export function isPackObjectKey(key: string): boolean {
  return PACK_KEY.test(key);
}

/** What locates a record's bytes. */
export type RecordLocation = Pick<RecordEntry, 'objectKey' | 'recordHash'> &
  Partial<Pick<RecordEntry, 'objectRange'>>;

/**
 * A record's envelope bytes, or undefined when its object is not in the store. With a range, one ranged read;
 * a pack object located without a range (a pin job queued by key alone) is read whole and searched for the
 * envelope whose record hash is the record's. The bytes are what the store holds: callers check them.
 */
export async function readRecordEnvelope(
  objects: Pick<ObjectStore, 'get' | 'getRange'>,
  at: RecordLocation,
): Promise<Uint8Array | undefined> {
  if (at.objectRange) return objects.getRange(at.objectKey, at.objectRange.offset, at.objectRange.length);
  const bytes = await objects.get(at.objectKey);
  if (!bytes || !isPackObjectKey(at.objectKey)) return bytes;
  return findInPackObject(bytes, at.recordHash) ?? new Uint8Array(0);
}

/** A pack object is whole envelopes back to back: walk their headers until the record hash matches. */
function findInPackObject(object: Uint8Array, recordHash: string): Uint8Array | undefined {
  let off = 0;
  while (off < object.length) {
    const h = parseHeader(object.subarray(off));
    if (!h.ok) return undefined;
    const end = off + h.headerBytes.length + h.header.ciphertextLength;
    if (toHex(recordHashOf(h.headerBytes)) === recordHash) return object.subarray(off, end);
    off = end;
  }
  return undefined;
}
