/**
 * What each anchor transaction of a batch carries, byte for byte, and the key that keeps a retried submission
 * from paying twice: the submit path (anchor-pending.ts), the finality poller's resubmissions
 * (finality-poller.ts) and fsck's ledger checks (lib/fsck) build them the same way from here.
 */
import { encodeAnchorPayload } from '../core/anchor-payload.js';
import { fromHex } from '../core/bytes.js';
import { parseRecordId } from '../core/device-id.js';
import { encodeInlinePacket } from '../core/inline-packet.js';
import type { BatchEntry, ObjectStore, RecordIndex } from '../ports.js';
import { readRecordEnvelope } from '../record-object.js';
import { AnchorError } from './anchor-error.js';

/** The root transaction's data: the batch's Merkle root and tree size (lib/core/anchor-payload.ts). */
export function rootPayload(batch: Pick<BatchEntry, 'batchId' | 'root' | 'size'>): Uint8Array {
  const root = fromHex(batch.root);
  if (root?.length !== 32)
    throw new AnchorError('batch-malformed', `batch ${batch.batchId} has a malformed root`);
  return encodeAnchorPayload({ root, treeSize: batch.size });
}

/** The bytes of an inline part: its records' stored envelopes, in order. */
export async function inlinePacket(
  index: RecordIndex,
  objects: ObjectStore,
  recordIds: readonly string[],
): Promise<Uint8Array> {
  const envelopes: Uint8Array[] = [];
  for (const id of recordIds) {
    const parsed = parseRecordId(id);
    const rec = parsed ? await index.getRecord(parsed.deviceId, parsed.seq) : undefined;
    const bytes = rec ? await readRecordEnvelope(objects, rec) : undefined;
    if (!bytes) throw new AnchorError('batch-missing', `inline record ${id} has no stored envelope`);
    envelopes.push(bytes);
  }
  return encodeInlinePacket(envelopes);
}

/** The dedup key of an anchor's attempt: the batch id for the first root, then `#<attempt>` (chains.md §4). */
export function dedupKeyOf(batchId: string, a: { kind?: 'root' | 'inline'; part?: number }, attempt: number) {
  const base = a.kind === 'inline' ? `${batchId}#inline#${a.part ?? 0}` : batchId;
  return attempt <= 1 ? base : `${base}#${attempt}`;
}
