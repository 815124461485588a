import { fromBase64, toHex } from '../core/bytes.js';
import { parseHead } from '../core/device-head.js';
import { NotaryError } from '../core/errors.js';
import { findSequenceGaps, type Gap } from '../core/gaps.js';
import type { ObjectStore, RecordIndex, StatementEntry, StatementStore } from '../ports.js';

/** The device's latest signed head, as the gaps report shows it. */
export interface HeadSummary {
  statementId: string;
  /** Records the device had sealed when it signed: seqs 0..count-1 must exist. */
  count: number;
  /** Device clock when it signed. */
  time: number;
  /** Hex record hash of record count - 1 (zeros for count 0). */
  lastHash: string;
  receivedAt: number;
  batchId?: string;
  /**
   * Record count - 1 as stored: `matches` the head's lastHash, `differs` (the stored record is not the one
   * the device signed for), or `missing`; `none` for a head of count 0.
   */
  lastRecord: 'matches' | 'differs' | 'missing' | 'none';
}

export interface GapsReport {
  deviceId: string;
  fromSeq: number;
  toSeq: number;
  highestSeq: number | null;
  received: number;
  gaps: Gap[];
  /** Present when the range held more records than one request examines: ask again from here. */
  nextFromSeq?: number;
  /** The latest head the device signed (by count); absent when it has signed none. */
  head?: HeadSummary;
}

const PAGE = 5000;
const HEAD_CONCURRENCY = 32;
/** Most records one request examines (each costs a read and an object HEAD); the answer then says where to go on. */
export const MAX_GAP_RECORDS = 100_000;

/**
 * Sequence numbers missing, links that break, and records whose stored object is gone, for one device.
 * Without a toSeq the range ends at the highest seq received or the latest signed head's count - 1,
 * whichever is higher: records dropped after the last one kept show as not received up to what the device
 * itself signed for. Silence after the latest head is still not visible (docs/completeness.md).
 *
 * The work is bounded by the records present, not by the width of the range: a device that jumped to seq
 * 2^53 - 1 has a range of 2^53 numbers but only the records it sent, and its report must still be
 * answerable (a limit on the width made every request without parameters a 400, for good). When the range
 * holds more than `maxRecords` records, the report covers it up to the last one examined and gives
 * `nextFromSeq`.
 */
export async function findDeviceGaps(
  deps: { index: RecordIndex; objects: ObjectStore; statements: StatementStore },
  deviceId: string,
  q: { fromSeq?: number; toSeq?: number },
  maxRecords = MAX_GAP_RECORDS,
): Promise<GapsReport> {
  if (q.fromSeq !== undefined && q.toSeq !== undefined && q.fromSeq > q.toSeq) {
    throw new NotaryError('bad-request', `fromSeq (${q.fromSeq}) is greater than toSeq (${q.toSeq})`);
  }
  const [highest, latest] = await Promise.all([
    deps.index.maxSeq(deviceId),
    deps.statements.listHeads(deviceId, { by: 'count', order: 'desc', limit: 1 }),
  ]);
  const headEntry = latest.items[0];
  const head = headEntry ? await summarize(deps.index, headEntry) : undefined;
  const fromSeq = q.fromSeq ?? 0;
  let toSeq = q.toSeq ?? Math.max(highest ?? -1, (head?.count ?? 0) - 1);
  const base = { deviceId, fromSeq, highestSeq: highest ?? null };
  const withHead = head ? { head } : {};
  if (toSeq < fromSeq) return { ...base, toSeq, received: 0, gaps: [], ...withHead };

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
    ...base,
    toSeq,
    received: records.length,
    gaps,
    ...(nextFromSeq === undefined ? {} : { nextFromSeq }),
    ...withHead,
  };
}

async function summarize(index: RecordIndex, s: StatementEntry): Promise<HeadSummary | undefined> {
  const bytes = fromBase64(s.leaf);
  const parsed = bytes ? parseHead(bytes) : undefined;
  // Stored heads were parsed at ingest; one that no longer parses is not shown as a head.
  if (!parsed?.ok) return undefined;
  const { count, time } = parsed.head;
  const lastHash = toHex(parsed.head.lastHash);
  let lastRecord: HeadSummary['lastRecord'] = 'none';
  if (count > 0) {
    const rec = await index.getRecord(s.deviceId, count - 1);
    lastRecord = !rec ? 'missing' : rec.recordHash === lastHash ? 'matches' : 'differs';
  }
  return {
    statementId: s.statementId,
    count,
    time,
    lastHash,
    receivedAt: s.receivedAt,
    ...(s.batch ? { batchId: s.batch.batchId } : {}),
    lastRecord,
  };
}

const seqOf = (g: Gap): number => (g.kind === 'not-received' ? g.fromSeq : g.seq);
