/**
 * What a runtime configures for anchoring (lib/runtime/chain-config.ts reads it): the chains, each with its
 * budget, finality and inline policy, and the policy every batch is planned under.
 */
import type { Chain } from '../ports.js';
import type { FinalityConfig } from './finality-machine.js';

export interface ChainBudget {
  /** Our share of the chain's throughput, transactions per second. Infinity: no limit. */
  maxTxPerSecond: number;
  /** Tokens (ETH, BBC) we may spend per day. Infinity: no limit. */
  maxTokensPerDay: number;
  /** Typical time from submission to the first block, ms. */
  inclusionMs: number;
}

export interface InlinePolicy {
  /** Envelopes up to this size may go on chain whole. */
  maxEnvelopeBytes: number;
  /** Tokens per day for inline transactions, within the chain's own budget. Infinity: what that leaves. */
  maxTokensPerDay: number;
  /** Most inline transactions per batch (and chain). */
  maxTxsPerBatch: number;
}

export interface AnchorChain {
  chain: Chain;
  budget: ChainBudget;
  finality: FinalityConfig;
  /** Present: this chain also takes small records whole (opt-in: their headers become public). */
  inline?: InlinePolicy;
}

export interface AnchorPolicy {
  /** A record should be in a block on every chain within this long of arriving. */
  targetMaxTimeToAnchorMs: number;
  maxBatchSize: number;
  /** Never anchor more often than this. */
  minIntervalMs: number;
}
