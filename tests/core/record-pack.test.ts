/**
 * The record pack (docs/envelope.md, "Record pack"): the known answers built from the envelope examples of
 * §6 and §8.5 (the same bytes a short Python expression rebuilds from the document), and the rule that every
 * truncation of a pack and every single-byte change to its 7-byte header is refused.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import {
  checkPackEnvelopes,
  encodeRecordPack,
  PACK_HEADER_BYTES,
  type ParsedPack,
  parseRecordPack,
  recordPackSize,
} from '../../lib/core/record-pack.js';

const hex = (s: string): Uint8Array =>
  fromHex(s) ??
  (() => {
    throw new Error(s);
  })();

/** docs/envelope.md §6 (v1) and §8.5 (v2, Ed25519): both sensor-001, seq 7. */
const V1 = hex(
  '494f544e01000a73656e736f722d30303100000000000000070000018bcfe56800abababababababababababababababababababababababababababababababab000102030405060708090a0b0000002f71c995de2e8cdfb292f895f15959a29426839b3c1e8d38a266c546c21e951c93cdc40f2b148d8ab2033cfc6d4e373731b8d1bc441f2d3c1fe9ebd7568de000e7a8ff2f718af19a8ccdab62488cc6c0',
);
const V2 = hex(
  '494f544e02000a73656e736f722d30303100000000000000070000018bcfe56800abababababababababababababababababababababababababababababababab01b44f3af856a894a22e362af353d7915a65e28a6ca4de6dda7475812e9bb341dc000102030405060708090a0b0000002fe7fffd014cd7c0b50db65dd1752d22349d264aee068d00158927b99b4f4cbc15a6c16d2c1b35c0be5b15c94483fc9824178ffb1d22fc760a946190d325afe2f3445baa4e4b7f15c52cf600f6f91320748b6437a1896f95d7346e4a6a18c7b200cdc40f2b148d8ab2033cfc6d4e373731b8d1bc441f2d3c1fe9ebd7568de000bb33a7854fb5e9ac761fb7958f17c81a',
);

/** The known answers of docs/envelope.md "Record pack". */
const KAT = {
  one: {
    size: 268,
    prefix: '494f545001000100000101',
    sha256: 'dc6942cd7d6b79c7e10a447675040f3cb432bea0d930d1d1212f12fabacd399f',
  },
  two: {
    size: 432,
    prefix: '494f5450010002000000a0',
    sha256: 'c0ee0917b78f7cea468d59993bcb6abe1d25658bdba39d1b9eb84517674db460',
  },
};

const parsed = (bytes: Uint8Array): ParsedPack => {
  const p = parseRecordPack(bytes);
  if (!p.ok) throw new Error(`${p.code}: ${p.message}`);
  return p;
};

describe('record pack: known answers', () => {
  it('the pack of the v2 example is the documented 268 bytes and parses back to it', () => {
    const pack = encodeRecordPack([V2]);
    expect(pack.length).toBe(KAT.one.size);
    expect(recordPackSize([V2.length])).toBe(KAT.one.size);
    expect(toHex(pack.subarray(0, 11))).toBe(KAT.one.prefix);
    expect(toHex(sha256(pack))).toBe(KAT.one.sha256);
    const p = parsed(pack);
    expect(p.entries.map((e) => [e.offset, toHex(e.bytes)])).toEqual([[11, toHex(V2)]]);
    expect(checkPackEnvelopes(p, 'sensor-001')).toEqual({ ok: true, seqs: [7] });
  });

  it('the pack of both examples parses, and is refused as a whole: both are seq 7', () => {
    const pack = encodeRecordPack([V1, V2]);
    expect(pack.length).toBe(KAT.two.size);
    expect(toHex(pack.subarray(0, 11))).toBe(KAT.two.prefix);
    expect(toHex(sha256(pack))).toBe(KAT.two.sha256);
    const p = parsed(pack);
    expect(p.entries.map((e) => [e.offset, e.bytes.length])).toEqual([
      [11, 160],
      [175, 257],
    ]);
    expect(checkPackEnvelopes(p, 'sensor-001')).toMatchObject({ ok: false, code: 'pack-duplicate-seq' });
  });

  it('an envelope of another device than the topic names refuses the pack', () => {
    expect(checkPackEnvelopes(parsed(encodeRecordPack([V2])), 'sensor-002')).toMatchObject({
      ok: false,
      code: 'pack-device-mismatch',
    });
  });

  it('an entry whose header does not parse refuses the pack', () => {
    const bad = V2.slice();
    bad[0] = 0x58;
    expect(checkPackEnvelopes(parsed(encodeRecordPack([V1, bad])), 'sensor-001')).toMatchObject({
      ok: false,
      code: 'pack-envelope-malformed',
      message: expect.stringContaining('envelope 1: bad-magic'),
    });
  });
});

describe('record pack: refusals', () => {
  const good = encodeRecordPack([V1, V2]);

  it('every truncation is refused', () => {
    for (let n = 0; n < good.length; n++) {
      const p = parseRecordPack(good.subarray(0, n));
      expect(p.ok, `truncated to ${n}`).toBe(false);
      if (!p.ok) expect(['pack-truncated', 'pack-count-mismatch']).toContain(p.code);
    }
    expect(parseRecordPack(good.subarray(0, 11 + 160))).toMatchObject({ code: 'pack-count-mismatch' });
    expect(parseRecordPack(good.subarray(0, 3))).toMatchObject({ code: 'pack-truncated' });
  });

  it('bytes after the last envelope are refused', () => {
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(parseRecordPack(longer)).toMatchObject({ ok: false, code: 'pack-trailing-bytes' });
  });

  it('every single-byte change to the header is refused, with the code of the field changed', () => {
    const codes = new Map<number, string[]>([
      [0, ['pack-bad-magic']],
      [1, ['pack-bad-magic']],
      [2, ['pack-bad-magic']],
      [3, ['pack-bad-magic']],
      [4, ['pack-unsupported-version']],
      // The count: more envelopes than there are, fewer (then the rest is trailing), or none.
      [5, ['pack-count-mismatch', 'pack-trailing-bytes', 'pack-empty']],
      [6, ['pack-count-mismatch', 'pack-trailing-bytes', 'pack-empty']],
    ]);
    for (let i = 0; i < PACK_HEADER_BYTES; i++) {
      for (let v = 0; v < 256; v++) {
        if (v === good[i]) continue;
        const m = good.slice();
        m[i] = v;
        const p = parseRecordPack(m);
        expect(p.ok, `byte ${i} = ${v}`).toBe(false);
        if (!p.ok) expect(codes.get(i), `byte ${i} = ${v}: ${p.code}`).toContain(p.code);
      }
    }
  });

  it('a length prefix that does not match its envelope is refused', () => {
    const m = good.slice();
    m[10] = 0xa1; // 161: the first entry takes one byte of the second's prefix
    expect(parseRecordPack(m).ok).toBe(false);
    m[10] = 0x9f; // 159: the first envelope is cut, the framing then reads garbage
    expect(parseRecordPack(m).ok).toBe(false);
  });

  it('encoding refuses an empty pack', () => {
    expect(() => encodeRecordPack([])).toThrow(RangeError);
  });
});
