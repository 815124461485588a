import { NotaryError } from '../core/errors.js';
import { findSequenceGaps, type Gap } from '../core/gaps.js';
import type { ObjectStore, RecordIndex } from '../ports.js';

export interface GapsReport {
  deviceId: string;
  fromSeq: number;
  toSeq: number;
  highestSeq: number | null;
  received: number;
  gaps: Gap[];
  /** Present when the range held more records than one request examines: ask again from here. */
  nextFromSeq?: number;
}

const PAGE = 5000;
const HEAD_CONCURRENCY = 32;
/** Most records one request examines (each costs a read and an object HEAD); the answer then says where to go on. */
export const MAX_GAP_RECORDS = 100_000;

/**
 * Sequence numbers missing, links that break, and records whose stored object is gone, for one device.
 * Without a toSeq the range ends at the highest seq received: a device's silence after that is not visible
 * here (docs/api.md says how to close that edge).
 *
 * The work is bounded by the records present, not by the width of the range: a device that jumped to seq
 * 2^53 - 1 has a range of 2^53 numbers but only the records it sent, and its report must still be
 * answerable (a limit on the width made every request without parameters a 400, for good). When the range
 * holds more than `maxRecords` records, the report covers it up to the last one examined and gives
 * `nextFromSeq`.
 */
export async function findDeviceGaps(
  deps: { index: RecordIndex; objects: ObjectStore },
  deviceId: string,
  q: { fromSeq?: number; toSeq?: number },
  maxRecords = MAX_GAP_RECORDS,
): Promise<GapsReport> {
  if (q.fromSeq !== undefined && q.toSeq !== undefined && q.fromSeq > q.toSeq) {
    throw new NotaryError('bad-request', `fromSeq (${q.fromSeq}) is greater than toSeq (${q.toSeq})`);
  }
  const highest = await deps.index.maxSeq(deviceId);
  const fromSeq = q.fromSeq ?? 0;
  let toSeq = q.toSeq ?? highest ?? -1;
  if (toSeq < fromSeq)
    return { deviceId, fromSeq, toSeq, highestSeq: highest ?? null, received: 0, gaps: [] };

  const before = fromSeq > 0 ? await deps.index.getRecord(deviceId, fromSeq - 1) : undefined;
  const records = [];
  for (let next = fromSeq; next <= toSeq && records.length < maxRecords; ) {
    const limit = Math.min(PAGE, maxRecords - records.length);
    const page = await deps.index.listBySeq(deviceId, { fromSeq: next, toSeq, limit });
    records.push(...page);
    const last = page.at(-1);
    if (page.length < limit || !last) break;
    next = last.seq + 1;
  }
  const lastExamined = records.at(-1);
  let nextFromSeq: number | undefined;
  if (records.length >= maxRecords && lastExamined && lastExamined.seq < toSeq) {
    toSeq = lastExamined.seq;
    nextFromSeq = toSeq + 1;
  }
  const gaps = findSequenceGaps(records, { fromSeq, toSeq }, before);

  for (let i = 0; i < records.length; i += HEAD_CONCURRENCY) {
    const slice = records.slice(i, i + HEAD_CONCURRENCY);
    const heads = await Promise.all(slice.map((r) => deps.objects.head(r.objectKey)));
    heads.forEach((h, j) => {
      const r = slice[j];
      if (!h && r) gaps.push({ kind: 'object-missing', seq: r.seq, recordId: r.recordId });
    });
  }
  gaps.sort((a, b) => seqOf(a) - seqOf(b));
  return {
    deviceId,
    fromSeq,
    toSeq,
    highestSeq: highest ?? null,
    received: records.length,
    gaps,
    ...(nextFromSeq === undefined ? {} : { nextFromSeq }),
  };
}

const seqOf = (g: Gap): number => (g.kind === 'not-received' ? g.fromSeq : g.seq);
