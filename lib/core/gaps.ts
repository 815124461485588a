/**
 * What is missing from a device's history. Sequence numbers say what should exist; hash links say the
 * records that do exist are the ones the device sent, in its order. Together they make deletion and
 * reordering visible, not only modification.
 */
const ZERO = '0'.repeat(64);

export type Gap =
  | { kind: 'not-received'; fromSeq: number; toSeq: number }
  | { kind: 'chain-break'; seq: number; prevHash: string; expectedPrevHash: string }
  | { kind: 'object-missing'; seq: number; recordId: string };

export interface LinkedRecord {
  seq: number;
  recordHash: string;
  prevHash: string;
}

/**
 * Gaps in `fromSeq..toSeq` given the records present there, sorted by seq. `before` is the record at
 * fromSeq - 1, if known, so a link across page boundaries is still checked.
 */
export function findSequenceGaps(
  records: readonly LinkedRecord[],
  range: { fromSeq: number; toSeq: number },
  before?: LinkedRecord,
): Gap[] {
  const gaps: Gap[] = [];
  let expected = range.fromSeq;
  let prev = before && before.seq === range.fromSeq - 1 ? before : undefined;
  for (const r of records) {
    if (r.seq < range.fromSeq || r.seq > range.toSeq) continue;
    if (r.seq > expected) {
      gaps.push({ kind: 'not-received', fromSeq: expected, toSeq: r.seq - 1 });
      prev = undefined;
    }
    const want = r.seq === 0 ? ZERO : prev?.recordHash;
    if (want !== undefined && r.prevHash !== want) {
      gaps.push({ kind: 'chain-break', seq: r.seq, prevHash: r.prevHash, expectedPrevHash: want });
    }
    prev = r;
    expected = r.seq + 1;
  }
  if (expected <= range.toSeq) gaps.push({ kind: 'not-received', fromSeq: expected, toSeq: range.toSeq });
  return gaps;
}
