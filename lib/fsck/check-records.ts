/**
 * Records, device by device in sequence order, over the ports: each index entry against itself (its fields
 * are read from the header it stores), against its stored envelope, and against the record before it (the
 * device's hash chain). A device may lose records on its side, so a missing sequence number is a warning;
 * a link that breaks between two records that are both there is an error.
 */

import { bytesEqual, fromBase64, toHex } from '../core/bytes.js';
import { checkCiphertextHash, parseEnvelope, parseHeader, recordHashOf } from '../core/envelope.js';
import { findSequenceGaps, type LinkedRecord } from '../core/gaps.js';
import type { BatchStore, DeviceRegistry, ObjectStore, RecordEntry, RecordIndex } from '../ports.js';
import { readRecordEnvelope } from '../record-object.js';
import type { FsckFinding } from './findings.js';

const PAGE = 500;
const CONCURRENCY = 16;

export async function checkRecords(
  deps: { index: RecordIndex & DeviceRegistry & Pick<BatchStore, 'getBatch'>; objects: ObjectStore },
  findings: FsckFinding[],
): Promise<{ devices: number; records: number }> {
  const counts = { devices: 0, records: 0 };
  const batchExists = new Map<string, boolean>();
  let cursor: string | undefined;
  do {
    const page = await deps.index.listDevices({ limit: 100, ...(cursor === undefined ? {} : { cursor }) });
    for (const device of page.items) {
      counts.devices++;
      let before: LinkedRecord | undefined;
      for (let from = 0; ; ) {
        const recs = await deps.index.listBySeq(device.deviceId, {
          fromSeq: from,
          toSeq: Number.MAX_SAFE_INTEGER,
          limit: PAGE,
        });
        const last = recs.at(-1);
        if (!last) break;
        counts.records += recs.length;
        for (let i = 0; i < recs.length; i += CONCURRENCY) {
          await Promise.all(
            recs.slice(i, i + CONCURRENCY).map((r) => checkRecord(deps, r, batchExists, findings)),
          );
        }
        for (const g of findSequenceGaps(recs, { fromSeq: from, toSeq: last.seq }, before)) {
          if (g.kind === 'chain-break') {
            findings.push({
              area: 'chains',
              code: 'chain-break',
              severity: 'error',
              subject: `${device.deviceId}.${g.seq}`,
              message: `prevHash ${g.prevHash.slice(0, 16)}… is not the hash of ${device.deviceId}.${g.seq - 1} (${g.expectedPrevHash.slice(0, 16)}…)`,
            });
          } else if (g.kind === 'not-received') {
            findings.push({
              area: 'chains',
              code: 'sequence-gap',
              severity: 'warning',
              subject: device.deviceId,
              message: `no records ${g.fromSeq}-${g.toSeq} (never received, or lost from the index)`,
            });
          }
        }
        before = last;
        from = last.seq + 1;
        if (recs.length < PAGE) break;
      }
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return counts;
}

async function checkRecord(
  deps: { index: Pick<BatchStore, 'getBatch'>; objects: ObjectStore },
  rec: RecordEntry,
  batchExists: Map<string, boolean>,
  findings: FsckFinding[],
): Promise<void> {
  const err = (code: string, message: string) =>
    findings.push({ area: 'records', code, severity: 'error', subject: rec.recordId, message });

  // The index entry against itself: every field it keeps must be what its stored header says.
  const headerBytes = fromBase64(rec.header);
  const parsedHeader = headerBytes ? parseHeader(headerBytes) : undefined;
  if (!headerBytes || !parsedHeader?.ok || parsedHeader.headerBytes.length !== headerBytes.length) {
    err('index-entry-inconsistent', "the index entry's header is not a record header");
  } else {
    const h = parsedHeader.header;
    const differs = [
      toHex(recordHashOf(headerBytes)) !== rec.recordHash && 'recordHash',
      h.deviceId !== rec.deviceId && 'deviceId',
      h.seq !== rec.seq && 'seq',
      h.timestamp !== rec.timestamp && 'timestamp',
      toHex(h.prevHash) !== rec.prevHash && 'prevHash',
      toHex(h.ciphertextHash) !== rec.ciphertextHash && 'ciphertextHash',
      h.ciphertextLength !== rec.ciphertextLength && 'ciphertextLength',
    ].filter((x): x is string => typeof x === 'string');
    if (differs.length > 0)
      err('index-entry-inconsistent', `the index entry's ${differs.join(', ')} differ from its own header`);
  }

  if (rec.batch) {
    const id = rec.batch.batchId;
    if (!batchExists.has(id)) batchExists.set(id, (await deps.index.getBatch(id)) !== undefined);
    if (!batchExists.get(id))
      err('record-batch-missing', `the record is placed in batch ${id}, which is not there`);
  }

  const bytes = await readRecordEnvelope(deps.objects, rec);
  if (!bytes) {
    err('object-missing', `its envelope ${rec.objectKey} is not in the object store`);
    return;
  }
  const env = parseEnvelope(bytes);
  if (!env.ok) {
    err('object-unparseable', `its envelope ${rec.objectKey} does not parse: ${env.code}: ${env.message}`);
    return;
  }
  if (!headerBytes || !bytesEqual(env.headerBytes, headerBytes)) {
    err('object-header-differs', `the header of ${rec.objectKey} is not the header the index holds`);
  }
  const ct = checkCiphertextHash(env);
  if (!ct.ok) err('object-ciphertext-mismatch', `${rec.objectKey}: ${ct.message}`);
  if (bytes.length !== rec.envelopeSize) {
    err(
      'object-size-mismatch',
      `${rec.objectKey} is ${bytes.length} bytes, the index says ${rec.envelopeSize}`,
    );
  }
}
