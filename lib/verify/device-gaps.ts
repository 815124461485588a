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
}

const PAGE = 5000;
const HEAD_CONCURRENCY = 32;
/** Most records one request examines; callers page with fromSeq/toSeq beyond it. */
export const MAX_GAP_SPAN = 100_000;

/**
 * Sequence numbers missing, links that break, and records whose stored object is gone, for one device.
 * Without a toSeq the range ends at the highest seq received: a device's silence after that is not visible
 * here (docs/api.md says how to close that edge).
 */
export async function findDeviceGaps(
  deps: { index: RecordIndex; objects: ObjectStore },
  deviceId: string,
  q: { fromSeq?: number; toSeq?: number },
): Promise<GapsReport> {
  const highest = await deps.index.maxSeq(deviceId);
  const fromSeq = q.fromSeq ?? 0;
  const toSeq = q.toSeq ?? highest ?? -1;
  if (toSeq - fromSeq + 1 > MAX_GAP_SPAN) {
    throw new NotaryError(
      'bad-request',
      `at most ${MAX_GAP_SPAN} sequence numbers per request; narrow fromSeq/toSeq`,
    );
  }
  if (toSeq < fromSeq)
    return { deviceId, fromSeq, toSeq, highestSeq: highest ?? null, received: 0, gaps: [] };

  const before = fromSeq > 0 ? await deps.index.getRecord(deviceId, fromSeq - 1) : undefined;
  const records = [];
  for (let next = fromSeq; next <= toSeq; ) {
    const page = await deps.index.listBySeq(deviceId, { fromSeq: next, toSeq, limit: PAGE });
    records.push(...page);
    const last = page.at(-1);
    if (page.length < PAGE || !last) break;
    next = last.seq + 1;
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
  return { deviceId, fromSeq, toSeq, highestSeq: highest ?? null, received: records.length, gaps };
}

const seqOf = (g: Gap): number => (g.kind === 'not-received' ? g.fromSeq : g.seq);
