/** findSequenceGaps (lib/core/gaps.ts): the pure judgement behind GET /v1/devices/{id}/gaps. */
import { describe, expect, it } from 'vitest';
import { findSequenceGaps, type LinkedRecord } from '../../lib/core/gaps.js';

const ZERO = '0'.repeat(64);
const h = (n: number): string => n.toString(16).padStart(64, 'a');

/** A correctly linked history over the given seqs: each record points at the hash of seq - 1. */
const linked = (seqs: number[]): LinkedRecord[] =>
  seqs.map((seq) => ({ seq, recordHash: h(seq), prevHash: seq === 0 ? ZERO : h(seq - 1) }));

describe('findSequenceGaps', () => {
  it('finds nothing in a complete, linked run', () => {
    expect(findSequenceGaps(linked([0, 1, 2, 3]), { fromSeq: 0, toSeq: 3 })).toEqual([]);
  });

  it('reports the whole range as not received when there are no records', () => {
    expect(findSequenceGaps([], { fromSeq: 0, toSeq: 4 })).toEqual([
      { kind: 'not-received', fromSeq: 0, toSeq: 4 },
    ]);
    expect(findSequenceGaps([], { fromSeq: 7, toSeq: 7 })).toEqual([
      { kind: 'not-received', fromSeq: 7, toSeq: 7 },
    ]);
  });

  it('reports missing runs at the start, in the middle and at the end', () => {
    expect(findSequenceGaps(linked([2, 3, 6, 7]), { fromSeq: 0, toSeq: 9 })).toEqual([
      { kind: 'not-received', fromSeq: 0, toSeq: 1 },
      { kind: 'not-received', fromSeq: 4, toSeq: 5 },
      { kind: 'not-received', fromSeq: 8, toSeq: 9 },
    ]);
  });

  it('does not call a record after a gap a chain break (its predecessor is simply unknown)', () => {
    expect(findSequenceGaps(linked([0, 1, 5]), { fromSeq: 0, toSeq: 5 })).toEqual([
      { kind: 'not-received', fromSeq: 2, toSeq: 4 },
    ]);
  });

  it('reports a record whose prevHash is not the previous record’s hash', () => {
    const rs = linked([0, 1, 2, 3]);
    rs[2] = { seq: 2, recordHash: h(2), prevHash: h(99) };
    expect(findSequenceGaps(rs, { fromSeq: 0, toSeq: 3 })).toEqual([
      { kind: 'chain-break', seq: 2, prevHash: h(99), expectedPrevHash: h(1) },
    ]);
  });

  it('requires seq 0 to link to the zero hash', () => {
    const rs = [{ seq: 0, recordHash: h(0), prevHash: h(5) }, ...linked([1])];
    expect(findSequenceGaps(rs, { fromSeq: 0, toSeq: 1 })).toEqual([
      { kind: 'chain-break', seq: 0, prevHash: h(5), expectedPrevHash: ZERO },
    ]);
  });

  it('reports a record swapped in from elsewhere as breaks on both sides', () => {
    const rs = linked([0, 1, 2, 3]);
    rs[1] = { seq: 1, recordHash: h(1001), prevHash: h(1000) };
    expect(findSequenceGaps(rs, { fromSeq: 0, toSeq: 3 })).toEqual([
      { kind: 'chain-break', seq: 1, prevHash: h(1000), expectedPrevHash: h(0) },
      { kind: 'chain-break', seq: 2, prevHash: h(1), expectedPrevHash: h(1001) },
    ]);
  });

  it('checks the first link of a page against the record before the range', () => {
    const page = linked([10, 11, 12]);
    expect(findSequenceGaps(page, { fromSeq: 10, toSeq: 12 }, linked([9])[0])).toEqual([]);
    const wrongBefore = { seq: 9, recordHash: h(900), prevHash: h(8) };
    expect(findSequenceGaps(page, { fromSeq: 10, toSeq: 12 }, wrongBefore)).toEqual([
      { kind: 'chain-break', seq: 10, prevHash: h(9), expectedPrevHash: h(900) },
    ]);
    // Without a known predecessor the first link cannot be judged, so nothing is claimed about it.
    expect(findSequenceGaps(page, { fromSeq: 10, toSeq: 12 })).toEqual([]);
  });

  it('ignores a "before" record that is not the one just before the range', () => {
    const page = linked([10, 11]);
    expect(
      findSequenceGaps(page, { fromSeq: 10, toSeq: 11 }, { seq: 7, recordHash: h(700), prevHash: h(6) }),
    ).toEqual([]);
  });

  it('ignores records outside the range', () => {
    expect(findSequenceGaps(linked([0, 1, 2, 3, 4, 5]), { fromSeq: 2, toSeq: 3 })).toEqual([]);
    expect(findSequenceGaps(linked([0, 1, 5]), { fromSeq: 2, toSeq: 3 })).toEqual([
      { kind: 'not-received', fromSeq: 2, toSeq: 3 },
    ]);
  });

  it('an empty range has no gaps', () => {
    expect(findSequenceGaps(linked([0, 1]), { fromSeq: 5, toSeq: 4 })).toEqual([]);
  });
});
