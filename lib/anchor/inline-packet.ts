/**
 * Small packets on chain whole (the seed's "method 2"): instead of only a Merkle root, the encrypted
 * envelope itself goes into a transaction's data, so the chain holds the record and not just a commitment.
 * Confidentiality is unchanged (the envelope is AES-GCM ciphertext under a per-record key); what is gained
 * is availability: the record survives the loss of our object store. What is given up: the envelope header
 * (device id, seq, device time) becomes public for good, which is why it is opt-in per chain.
 *
 * The encoding lives in lib/core/inline-packet.ts (the proof-bundle check reads it) and is re-exported here.
 * This file decides which envelopes go inline: pure, taking the limits and the remaining budget as numbers.
 * Several envelopes may share one transaction, because on every chain the per-transaction part of the fee
 * (21,000 gas, BigBang's 0.01 BBC minimum) dwarfs the per-byte part for packets this small.
 */
import { INLINE_MAX_ENVELOPES, inlineOverhead } from '../core/inline-packet.js';

export {
  type ChainData,
  classifyChainData,
  decodeInlinePacket,
  encodeInlinePacket,
  INLINE_MAGIC,
  INLINE_MAX_ENVELOPES,
  INLINE_VERSION,
  type InlineDecoded,
  type InlineErrorCode,
  inlineOverhead,
} from '../core/inline-packet.js';

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
