/**
 * From "an object was created under records/" (AWS: the S3 event that triggers ipfs-pin) to "this indexed
 * record is hot, queue its pin".
 *
 * Ingest writes the object before the index entry (the entry is the commit point), so an object-created event
 * can arrive before its record is indexed, or for an object whose record lost a race for its seq and is
 * deleted again. Hence: read the object's header (a range read), find the index entry for its (device, seq),
 * and queue only when that entry names this very object. Not indexed yet is the one case worth retrying; a
 * crash between the two writes means no ack, and the device's resend writes the object again, which is a new
 * event.
 */
import { toHex } from '../core/bytes.js';
import { isDeviceId, recordIdOf } from '../core/device-id.js';
import { MAX_HEADER_BYTES, parseHeader, recordHashOf } from '../core/envelope.js';
import type { ObjectStore, RecordEntry, RecordIndex } from '../ports.js';
import { isPackObjectKey } from '../record-object.js';
import type { HotPolicy } from './hot-policy.js';
import { routeOfRecord } from './hot-policy.js';
import { type EnqueueDeps, enqueueIfHot } from './pin-record.js';

export type ObjectCreatedOutcome =
  | { status: 'queued' | 'exists'; recordId: string }
  /** Not hot by the policy: nothing read beyond what deciding took. */
  | { status: 'cold'; recordId?: string }
  /** Not a record envelope under its content key: ingest never writes one; nothing to pin. */
  | { status: 'not-a-record'; reason: string }
  /** The object is gone again: it lost the race for its seq, and ingest deleted it. */
  | { status: 'object-gone' }
  /** The index holds another record for this (device, seq): this object lost the race. */
  | { status: 'superseded'; recordId: string }
  /** The object is there and its record is not indexed (yet): retry later. */
  | { status: 'not-indexed'; recordId: string }
  /** The object of a record pack (docs/envelope.md §9.3): the outcome of each record in it, in order. */
  | { status: 'pack'; records: RecordInPackOutcome[] };

export type RecordInPackOutcome = Exclude<ObjectCreatedOutcome, { status: 'pack' }>;

export interface ObjectCreatedDeps extends EnqueueDeps {
  objects: ObjectStore;
  index: Pick<RecordIndex, 'getRecord'>;
  policy: HotPolicy;
}

const HASH_RE = /^[0-9a-f]{64}$/;

/** `records/<deviceId>/<recordHash>`, the key ingest stores every envelope under (recordObjectKey). */
function parseRecordKey(key: string): { deviceId: string; recordHash: string } | undefined {
  const [prefix, deviceId, recordHash, ...rest] = key.split('/');
  if (prefix !== 'records' || rest.length > 0 || deviceId === undefined || recordHash === undefined)
    return undefined;
  return isDeviceId(deviceId) && HASH_RE.test(recordHash) ? { deviceId, recordHash } : undefined;
}

/** Whether any record from this device could be hot, whichever route it came by. */
function deviceMayBeHot(policy: HotPolicy, deviceId: string): boolean {
  return (['inline', 'upload'] as const).some((via) => policy.isHot({ deviceId, route: routeOfRecord(via) }));
}

export async function recordObjectCreated(
  deps: ObjectCreatedDeps,
  key: string,
): Promise<ObjectCreatedOutcome> {
  if (isPackObjectKey(key)) return packObjectCreated(deps, key);
  const k = parseRecordKey(key);
  if (!k)
    return { status: 'not-a-record', reason: `${JSON.stringify(key)} is not records/<deviceId>/<hash>` };
  const { deviceId, recordHash } = k;
  if (!deviceMayBeHot(deps.policy, deviceId)) return { status: 'cold' };

  const head = await deps.objects.getRange(key, 0, MAX_HEADER_BYTES);
  if (!head) return { status: 'object-gone' };
  const parsed = parseHeader(head);
  if (!parsed.ok) return { status: 'not-a-record', reason: `${key}: ${parsed.message}` };
  const { header, headerBytes } = parsed;
  if (header.deviceId !== deviceId || toHex(recordHashOf(headerBytes)) !== recordHash)
    return { status: 'not-a-record', reason: `${key} holds a record of another key` };
  const recordId = recordIdOf(deviceId, header.seq);

  const entry: RecordEntry | undefined = await deps.index.getRecord(deviceId, header.seq);
  if (!entry) return { status: 'not-indexed', recordId };
  if (entry.recordHash !== recordHash) return { status: 'superseded', recordId };
  const outcome = await enqueueIfHot(deps, entry);
  return outcome === 'cold' ? { status: 'cold', recordId } : { status: outcome, recordId };
}

/**
 * A pack object holds the accepted envelopes of one pack back to back (at most 128 KiB): read it whole and
 * queue each record in it that is indexed as living there. Entries are written after the object, so one not
 * indexed yet makes the event worth retrying, as for a lone record.
 */
async function packObjectCreated(deps: ObjectCreatedDeps, key: string): Promise<ObjectCreatedOutcome> {
  const deviceId = key.split('/')[1] as string;
  if (!deviceMayBeHot(deps.policy, deviceId)) return { status: 'cold' };
  const object = await deps.objects.get(key);
  if (!object) return { status: 'object-gone' };
  const records: RecordInPackOutcome[] = [];
  for (let off = 0; off < object.length; ) {
    const parsed = parseHeader(object.subarray(off));
    if (!parsed.ok) return { status: 'not-a-record', reason: `${key} at ${off}: ${parsed.message}` };
    const { header, headerBytes } = parsed;
    off += headerBytes.length + header.ciphertextLength;
    if (header.deviceId !== deviceId)
      return { status: 'not-a-record', reason: `${key} holds a record of another device` };
    const recordId = recordIdOf(deviceId, header.seq);
    const entry = await deps.index.getRecord(deviceId, header.seq);
    if (!entry) records.push({ status: 'not-indexed', recordId });
    else if (entry.recordHash !== toHex(recordHashOf(headerBytes)) || entry.objectKey !== key)
      records.push({ status: 'superseded', recordId });
    else {
      const outcome = await enqueueIfHot(deps, entry);
      records.push(outcome === 'cold' ? { status: 'cold', recordId } : { status: outcome, recordId });
    }
  }
  return { status: 'pack', records };
}
