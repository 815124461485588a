/** Small packets on chain whole: the container, telling it from an anchor payload, and the decisions. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COIN, calcMinTxFee, maxVchDataBytes } from '../../lib/adapters/bigbang/fees.js';
import {
  classifyChainData,
  decideInline,
  decodeInlinePacket,
  encodeInlinePacket,
  INLINE_MAGIC,
  type InlineLimits,
  inlineOverhead,
  packInline,
} from '../../lib/anchor/inline-packet.js';
import { ANCHOR_PAYLOAD_BYTES, encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { toHex } from '../../lib/core/bytes.js';
import { checkCiphertextHash, parseEnvelope, sealRecord } from '../../lib/core/envelope.js';

const seal = (seq: number, plaintextBytes: number): Uint8Array =>
  sealRecord({
    recordKey: new Uint8Array(32).fill(seq),
    deviceId: 'sensor-1',
    seq,
    timestamp: 1_700_000_000_000 + seq,
    prevHash: new Uint8Array(32),
    nonce: new Uint8Array(12).fill(seq),
    plaintext: new Uint8Array(plaintextBytes).fill(0x5a),
  }).envelope;

describe('inline packet encoding', () => {
  it('round-trips one or many envelopes byte for byte, still verifiable', () => {
    const envs = [seal(1, 10), seal(2, 0), seal(3, 200)];
    const data = encodeInlinePacket(envs);
    expect(data.length).toBe(envs.reduce((s, e) => s + e.length, 0) + inlineOverhead(3));
    const d = decodeInlinePacket(data);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.envelopes.map(toHex)).toEqual(envs.map(toHex));
    for (const e of d.envelopes) {
      const p = parseEnvelope(e);
      expect(p.ok && checkCiphertextHash(p).ok).toBe(true);
    }
  });

  it('is told apart from the 45-byte anchor payload by its magic', () => {
    const anchor = encodeAnchorPayload({ root: new Uint8Array(32).fill(1), treeSize: 7 });
    expect(anchor.length).toBe(ANCHOR_PAYLOAD_BYTES);
    expect(classifyChainData(anchor)).toMatchObject({ kind: 'anchor', anchor: { treeSize: 7 } });
    const inline = encodeInlinePacket([seal(1, 5)]);
    expect(toHex(inline.subarray(0, 4))).toBe(toHex(INLINE_MAGIC));
    const c = classifyChainData(inline);
    expect(c.kind).toBe('inline');
    expect(classifyChainData(new Uint8Array([1, 2, 3])).kind).toBe('unknown');
    // An anchor-sized inline packet is still an inline packet, and vice versa.
    expect(classifyChainData(anchor.slice(0, 44)).kind).toBe('unknown');
  });

  it('refuses malformed chain data with a code, never a crash', () => {
    const good = encodeInlinePacket([seal(1, 5), seal(2, 5)]);
    const cases: [string, Uint8Array, string][] = [
      ['other magic', Uint8Array.from([0x49, 0x4f, 0x54, 0x41, 1, 1]), 'not-inline'],
      ['version 2', Uint8Array.from([...good.subarray(0, 4), 2, ...good.subarray(5)]), 'unsupported-version'],
      ['count 0', Uint8Array.from([...good.subarray(0, 5), 0]), 'truncated'],
      ['cut in a length', good.subarray(0, 8), 'truncated'],
      ['cut in an envelope', good.subarray(0, good.length - 1), 'truncated'],
      ['one byte extra', Uint8Array.from([...good, 0]), 'trailing-bytes'],
      ['count says 3', Uint8Array.from([...good.subarray(0, 5), 3, ...good.subarray(6)]), 'truncated'],
      ['garbage envelope', encodeRaw([new Uint8Array(80)]), 'bad-envelope'],
    ];
    for (const [name, bytes, code] of cases) {
      const d = decodeInlinePacket(bytes);
      expect(d.ok, name).toBe(false);
      if (!d.ok) expect(d.code, name).toBe(code);
    }
  });

  it('never throws on arbitrary bytes behind the magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (tail) => {
        const d = decodeInlinePacket(Uint8Array.from([...INLINE_MAGIC, 1, ...tail]));
        expect(typeof d.ok).toBe('boolean');
      }),
    );
  });

  it('will not wrap something that is not an envelope', () => {
    expect(() => encodeInlinePacket([new Uint8Array(10)])).toThrow(RangeError);
    expect(() => encodeInlinePacket([])).toThrow(RangeError);
  });
});

/** The container by hand, to build malformed inputs the encoder refuses to make. */
function encodeRaw(envs: Uint8Array[]): Uint8Array {
  const parts: number[] = [...INLINE_MAGIC, 1, envs.length];
  for (const e of envs) parts.push(0, 0, (e.length >> 8) & 0xff, e.length & 0xff, ...e);
  return Uint8Array.from(parts);
}

describe('inline decisions', () => {
  // BigBang: CalcMinTxFee of the vchData (payload + 37 bytes of framing), 10 inputs assumed.
  const bigbang = (tokensLeft: number): InlineLimits => ({
    maxDataBytes: maxVchDataBytes(10) - 37,
    maxEnvelopeBytes: 1024,
    feePerTx: (bytes) => calcMinTxFee(bytes + 37) / COIN,
    tokensLeft,
  });

  it('a small packet goes inline when it fits the chain, the policy and the budget', () => {
    const d = decideInline(150, bigbang(1));
    expect(d).toEqual({ mode: 'inline', dataBytes: 160, fee: 0.03 });
  });

  it('otherwise it falls back to hash anchoring, saying why', () => {
    expect(decideInline(2_000, bigbang(1))).toEqual({ mode: 'hash', reason: 'over-policy-size' });
    expect(decideInline(150, bigbang(0.02))).toEqual({ mode: 'hash', reason: 'over-budget' });
    expect(decideInline(150, { ...bigbang(1), maxDataBytes: 100 })).toEqual({
      mode: 'hash',
      reason: 'too-large-for-chain',
    });
  });

  it('packs several packets per transaction, in order, within the chain limit and the budget', () => {
    const limits: InlineLimits = { ...bigbang(0.1), maxDataBytes: 500 };
    const plan = packInline(
      [
        { id: 'a', envelopeBytes: 150 },
        { id: 'b', envelopeBytes: 150 },
        { id: 'c', envelopeBytes: 150 },
        { id: 'big', envelopeBytes: 5_000 },
        { id: 'd', envelopeBytes: 150 },
        { id: 'e', envelopeBytes: 150 },
        { id: 'f', envelopeBytes: 150 },
      ],
      limits,
    );
    // 3 × 150 + 6 + 12 = 468 ≤ 500 bytes, 0.07 BBC; d alone costs the remaining 0.03; e and f would exceed it.
    expect(plan.txs.map((t) => t.ids)).toEqual([['a', 'b', 'c'], ['d']]);
    expect(plan.txs[0]?.dataBytes).toBe(468);
    expect(plan.txs[0]?.fee).toBeCloseTo(calcMinTxFee(505) / COIN, 9);
    expect(plan.hashed).toEqual([
      { id: 'big', reason: 'over-policy-size' },
      { id: 'e', reason: 'over-budget' },
      { id: 'f', reason: 'over-budget' },
    ]);
    expect(plan.tokens).toBeCloseTo(0.1, 9);
  });

  it('stops spending when the budget runs out; the rest is hash-anchored, nothing dropped', () => {
    const plan = packInline(
      Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, envelopeBytes: 150 })),
      { ...bigbang(0.06), maxDataBytes: 200 },
    );
    expect(plan.txs.map((t) => t.ids)).toEqual([['p0'], ['p1']]);
    expect(plan.hashed.map((h) => h.reason)).toEqual(['over-budget', 'over-budget', 'over-budget']);
    expect(plan.txs.length + plan.hashed.length).toBe(5);
  });
});
