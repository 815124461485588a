/**
 * Small packets on chain whole (the seed's "method 2"): instead of only a Merkle root, the encrypted
 * envelope itself goes into a transaction's data, so the chain holds the record and not just a commitment.
 * Confidentiality is unchanged (the envelope is AES-GCM ciphertext under a per-record key); what is gained
 * is availability: the record survives the loss of our object store.
 *
 * Encoding of the transaction data:
 *
 *   "IOTI" | version u8 (1) | count u8 (1..255) | count × ( length u32 | envelope )
 *
 * It is told apart from the 45-byte anchor payload ("IOTA" | 1 | root | size) by its magic, not its length:
 * a verifier reading a transaction dispatches on the first four bytes (classifyChainData). Several envelopes
 * may share one transaction, because on every chain the per-transaction part of the fee (21,000 gas, BigBang's
 * 0.01 BBC minimum) dwarfs the per-byte part for packets this small.
 *
 * Pure: decisions take the limits and the remaining budget as numbers. The decoder reads chain data, which
 * anyone can write, so it checks every length before slicing and parses each envelope's structure.
 */
import { ANCHOR_MAGIC, type AnchorPayload, decodeAnchorPayload } from '../core/anchor-payload.js';
import { bytesEqual, concatBytes } from '../core/bytes.js';
import { parseEnvelope } from '../core/envelope.js';

export const INLINE_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x49]); // "IOTI"
export const INLINE_VERSION = 1;
export const INLINE_MAX_ENVELOPES = 255;
const HEADER_BYTES = 6;
const LENGTH_BYTES = 4;

/** Bytes the container adds to `n` envelopes. */
export function inlineOverhead(n: number): number {
  return HEADER_BYTES + LENGTH_BYTES * n;
}

export function encodeInlinePacket(envelopes: readonly Uint8Array[]): Uint8Array {
  if (envelopes.length < 1 || envelopes.length > INLINE_MAX_ENVELOPES) {
    throw new RangeError(`1 to ${INLINE_MAX_ENVELOPES} envelopes per transaction`);
  }
  const parts: Uint8Array[] = [INLINE_MAGIC, new Uint8Array([INLINE_VERSION, envelopes.length])];
  for (const e of envelopes) {
    if (!parseEnvelope(e).ok) throw new RangeError('not a well-formed envelope');
    const len = new Uint8Array(LENGTH_BYTES);
    new DataView(len.buffer).setUint32(0, e.length);
    parts.push(len, e);
  }
  return concatBytes(...parts);
}

export type InlineErrorCode =
  | 'not-inline'
  | 'unsupported-version'
  | 'truncated'
  | 'trailing-bytes'
  | 'bad-envelope';

export type InlineDecoded =
  | { ok: true; envelopes: Uint8Array[] }
  | { ok: false; code: InlineErrorCode; message: string };

export function decodeInlinePacket(data: Uint8Array): InlineDecoded {
  if (data.length < HEADER_BYTES || !bytesEqual(data.subarray(0, 4), INLINE_MAGIC)) {
    return { ok: false, code: 'not-inline', message: 'does not start with "IOTI"' };
  }
  if (data[4] !== INLINE_VERSION) {
    return { ok: false, code: 'unsupported-version', message: `inline packet version ${data[4]}` };
  }
  const count = data[5] as number;
  if (count === 0) return { ok: false, code: 'truncated', message: 'inline packet holds no envelope' };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const envelopes: Uint8Array[] = [];
  let off = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (off + LENGTH_BYTES > data.length) {
      return { ok: false, code: 'truncated', message: `envelope ${i} has no length` };
    }
    const len = view.getUint32(off);
    off += LENGTH_BYTES;
    if (len > data.length - off) {
      return { ok: false, code: 'truncated', message: `envelope ${i} runs past the end` };
    }
    const env = data.slice(off, off + len);
    const parsed = parseEnvelope(env);
    if (!parsed.ok) {
      return {
        ok: false,
        code: 'bad-envelope',
        message: `envelope ${i}: ${parsed.message} (${parsed.code})`,
      };
    }
    envelopes.push(env);
    off += len;
  }
  if (off !== data.length) {
    return {
      ok: false,
      code: 'trailing-bytes',
      message: `${data.length - off} bytes after the last envelope`,
    };
  }
  return { ok: true, envelopes };
}

export type ChainData =
  | { kind: 'anchor'; anchor: AnchorPayload }
  | { kind: 'inline'; envelopes: Uint8Array[] }
  | { kind: 'unknown'; reason: string };

/** What a transaction's data is, by its magic: what verify dispatches on. */
export function classifyChainData(data: Uint8Array): ChainData {
  if (data.length >= 4 && bytesEqual(data.subarray(0, 4), ANCHOR_MAGIC)) {
    const anchor = decodeAnchorPayload(data);
    return anchor ? { kind: 'anchor', anchor } : { kind: 'unknown', reason: 'malformed anchor payload' };
  }
  if (data.length >= 4 && bytesEqual(data.subarray(0, 4), INLINE_MAGIC)) {
    const d = decodeInlinePacket(data);
    return d.ok ? { kind: 'inline', envelopes: d.envelopes } : { kind: 'unknown', reason: d.message };
  }
  return { kind: 'unknown', reason: 'neither an anchor payload nor an inline packet' };
}

// ------------------------------------------------------------------------------------------ decisions

export interface InlineLimits {
  /** Largest data one transaction of this chain carries (after the chain's own framing). */
  maxDataBytes: number;
  /** Our policy's ceiling per envelope: bigger packets are hash-anchored even if they would fit. */
  maxEnvelopeBytes: number;
  /** Fee of one transaction carrying `dataBytes`, in tokens. */
  feePerTx: (dataBytes: number) => number;
  /** Tokens the budget still allows for inline packets today. */
  tokensLeft: number;
}

export type InlineRefusal = 'over-policy-size' | 'too-large-for-chain' | 'over-budget';

export type InlineDecision =
  | { mode: 'inline'; dataBytes: number; fee: number }
  | { mode: 'hash'; reason: InlineRefusal };

/** One envelope on its own: inline if it fits the chain, the policy and the day's remaining budget. */
export function decideInline(envelopeBytes: number, limits: InlineLimits): InlineDecision {
  const dataBytes = envelopeBytes + inlineOverhead(1);
  if (envelopeBytes > limits.maxEnvelopeBytes) return { mode: 'hash', reason: 'over-policy-size' };
  if (dataBytes > limits.maxDataBytes) return { mode: 'hash', reason: 'too-large-for-chain' };
  const fee = limits.feePerTx(dataBytes);
  if (fee > limits.tokensLeft) return { mode: 'hash', reason: 'over-budget' };
  return { mode: 'inline', dataBytes, fee };
}

export interface InlineCandidate {
  id: string;
  envelopeBytes: number;
}

export interface InlinePlan {
  /** Transactions to send, each with the envelopes it carries, in arrival order. */
  txs: { ids: string[]; dataBytes: number; fee: number }[];
  /** Envelopes that go the ordinary way (hash in a Merkle batch), with why. */
  hashed: { id: string; reason: InlineRefusal }[];
  tokens: number;
}

/**
 * Packs candidates (oldest first) into as few transactions as fit the chain's data limit, spending at most
 * tokensLeft. Order is kept: an envelope is never put in a transaction before an older one that also fits.
 * Whatever does not get in is hash-anchored; nothing is dropped.
 */
export function packInline(candidates: readonly InlineCandidate[], limits: InlineLimits): InlinePlan {
  const plan: InlinePlan = { txs: [], hashed: [], tokens: 0 };
  let open: { ids: string[]; envelopeBytes: number } | undefined;
  let left = limits.tokensLeft;
  const close = () => {
    if (!open) return;
    const dataBytes = open.envelopeBytes + inlineOverhead(open.ids.length);
    const fee = limits.feePerTx(dataBytes);
    plan.txs.push({ ids: open.ids, dataBytes, fee });
    plan.tokens += fee;
    left -= fee;
    open = undefined;
  };
  for (const c of candidates) {
    if (c.envelopeBytes > limits.maxEnvelopeBytes) {
      plan.hashed.push({ id: c.id, reason: 'over-policy-size' });
      continue;
    }
    if (c.envelopeBytes + inlineOverhead(1) > limits.maxDataBytes) {
      plan.hashed.push({ id: c.id, reason: 'too-large-for-chain' });
      continue;
    }
    if (open) {
      const bytes = open.envelopeBytes + c.envelopeBytes + inlineOverhead(open.ids.length + 1);
      const fits = bytes <= limits.maxDataBytes && open.ids.length < INLINE_MAX_ENVELOPES;
      if (fits && limits.feePerTx(bytes) <= left) {
        open.ids.push(c.id);
        open.envelopeBytes += c.envelopeBytes;
        continue;
      }
      close();
    }
    if (limits.feePerTx(c.envelopeBytes + inlineOverhead(1)) > left) {
      plan.hashed.push({ id: c.id, reason: 'over-budget' });
      continue;
    }
    open = { ids: [c.id], envelopeBytes: c.envelopeBytes };
  }
  close();
  return plan;
}
