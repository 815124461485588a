/**
 * The anchoring status the API serves (GET /v1/anchoring): per chain its budget and cost at current fees,
 * today's spend, inline use, health, finality counts, and what the recent batches actually cost and took.
 * Pure: the cycle passes in what it holds and what it read from the store.
 */
import type { BatchEntry } from '../ports.js';
import type { AnchorChain, AnchorPolicy } from './anchor-policy.js';
import type { EconomicsCache, SpendLedger } from './anchor-spend.js';
import type { AnchorPlan } from './budget.js';
import type { ChainBackoff, ChainHealth } from './chain-health.js';

/** JSON has no Infinity: an unlimited figure is null. */
type Lim = number | null;

const lim = (n: number): Lim => (Number.isFinite(n) ? n : null);

export interface PlanSummary {
  intervalMs: number;
  batchSize: number;
  limitedBy: AnchorPlan['limitedBy'];
  backpressure: AnchorPlan['backpressure'];
  pending: number;
  arrivalPerSecond: number;
}

export interface ChainStatus {
  chainId: string;
  requiredConfirmations: number;
  unit: string;
  budget: { maxTxPerSecond: Lim; maxTokensPerDay: Lim; inclusionMs: number };
  /** The plan's cost figures at current fees (budget.ts ChainCost). */
  cost?: {
    feePerTx: number;
    costPerRecord: number;
    tokensPerMillionRecords: number;
    seedTokensPerMillionRecords: number;
    txPerDay: number;
    tokensPerDay: number;
    tpsShare: number;
    tokenShare: number;
    floorMs: Lim;
    floorBy: string;
  };
  /** Estimated spend since 00:00 UTC, tokens. */
  spentToday: { rootTxs: number; inlineTxs: number; tokens: number };
  inline: {
    enabled: boolean;
    maxEnvelopeBytes?: number;
    records: number;
    txs: number;
    refused: Record<string, number>;
  };
  health: { submit: ChainHealth; inline: ChainHealth; lookup: ChainHealth };
  /** Anchors not final yet, by phase (anchors due for a look), and over the recent batches. */
  finality: {
    submitted: number;
    anchored: number;
    dropped: number;
    mismatch: number;
    recent: { batches: number; final: number; reorgs: number; resubmitted: number };
  };
  /** What the recent batches actually cost and took. */
  observed: {
    batches: number;
    records: number;
    recordsPerTx: number;
    /** Fees paid (from receipts), tokens, and per million records. */
    feesPaid: number;
    tokensPerMillionRecords: number;
    /** Batch created → its root transaction first seen in a block, ms. */
    batchToBlockMs?: { p50: number; p99: number };
  };
  economicsError?: string;
}

export interface AnchoringStatus {
  at: number;
  policy: AnchorPolicy;
  plan?: PlanSummary & {
    expectedTimeToAnchorMs: number;
    targetMet: boolean;
    capacityPerSecond: Lim;
    pendingLimit: number;
  };
  lastBatchAt?: number;
  nextBatchAt?: number;
  chains: ChainStatus[];
}

export interface StatusInput {
  now: number;
  policy: AnchorPolicy;
  chains: readonly AnchorChain[];
  plan: AnchorPlan;
  summary: PlanSummary | undefined;
  lastBatchAt: number | undefined;
  /** Batches with anchors due for a look (their phases are counted). */
  due: readonly BatchEntry[];
  /** The newest batches, for what anchoring actually cost and took. */
  recent: readonly BatchEntry[];
  economics: EconomicsCache;
  spend: SpendLedger;
  submitBackoff: ChainBackoff;
  lookupBackoff: ChainBackoff;
}

export function anchoringStatus(s: StatusInput): AnchoringStatus {
  const p = s.plan;
  return {
    at: s.now,
    policy: s.policy,
    ...(s.summary
      ? {
          plan: {
            ...s.summary,
            expectedTimeToAnchorMs: p.expectedTimeToAnchorMs,
            targetMet: p.targetMet,
            capacityPerSecond: lim(p.capacityPerSecond),
            pendingLimit: p.pendingLimit,
          },
        }
      : {}),
    ...(s.lastBatchAt === undefined
      ? {}
      : { lastBatchAt: s.lastBatchAt, nextBatchAt: s.lastBatchAt + Math.round(p.intervalMs) }),
    chains: s.chains.map((c) => chainStatus(s, c)),
  };
}

function chainStatus(s: StatusInput, c: AnchorChain): ChainStatus {
  const chainId = c.chain.chainId;
  const value = s.economics.known(c.chain);
  const economicsError = s.economics.error(chainId);
  const cost = s.plan.chains.find((x) => x.chainId === chainId);
  const spent = s.spend.of(chainId, s.now);
  const rootFee = value?.feePerTx(45) ?? 0;
  const finality = { submitted: 0, anchored: 0, dropped: 0, mismatch: 0 };
  for (const b of s.due) {
    for (const a of b.anchors) {
      if (a.chainId !== chainId || a.phase === undefined || a.phase === 'final') continue;
      finality[a.phase]++;
    }
  }
  const recentF = { batches: 0, final: 0, reorgs: 0, resubmitted: 0 };
  let records = 0;
  let txs = 0;
  let fees = 0;
  const delays: number[] = [];
  for (const b of s.recent) {
    const root = b.anchors.find((a) => a.chainId === chainId && (a.kind ?? 'root') === 'root');
    if (!root) continue;
    recentF.batches++;
    if (root.phase === 'final') recentF.final++;
    recentF.reorgs += root.reorgs ?? 0;
    recentF.resubmitted += (root.attempt ?? 1) - 1;
    records += b.size;
    for (const a of b.anchors) {
      if (a.chainId !== chainId) continue;
      txs += a.attempt ?? 1;
      if (a.fee !== undefined && value) fees += Number(a.fee) / 10 ** value.decimals;
    }
    if (root.anchoredAt !== undefined) delays.push(root.anchoredAt - b.createdAt);
  }
  delays.sort((a, b) => a - b);
  const inl = s.spend.inlineOf(chainId);
  return {
    chainId,
    requiredConfirmations: c.finality.confirmations,
    unit: value?.unit ?? '',
    budget: {
      maxTxPerSecond: lim(c.budget.maxTxPerSecond),
      maxTokensPerDay: lim(c.budget.maxTokensPerDay),
      inclusionMs: c.budget.inclusionMs,
    },
    ...(cost
      ? {
          cost: {
            feePerTx: cost.feePerTx,
            costPerRecord: cost.costPerRecord,
            tokensPerMillionRecords: cost.tokensPerMillionRecords,
            seedTokensPerMillionRecords: cost.seedTokensPerMillionRecords,
            txPerDay: cost.txPerDay,
            tokensPerDay: cost.tokensPerDay,
            tpsShare: cost.tpsShare,
            tokenShare: cost.tokenShare,
            floorMs: lim(cost.floorMs),
            floorBy: cost.floorBy,
          },
        }
      : {}),
    spentToday: {
      rootTxs: spent.rootTxs,
      inlineTxs: spent.inlineTxs,
      tokens: spent.rootTxs * rootFee + spent.inlineTokens,
    },
    inline: {
      enabled: c.inline !== undefined,
      ...(c.inline ? { maxEnvelopeBytes: c.inline.maxEnvelopeBytes } : {}),
      records: inl.records,
      txs: inl.txs,
      refused: inl.refused,
    },
    health: {
      submit: s.submitBackoff.get(chainId),
      inline: s.submitBackoff.get(`${chainId}#inline`),
      lookup: s.lookupBackoff.get(chainId),
    },
    finality: { ...finality, recent: recentF },
    observed: {
      batches: recentF.batches,
      records,
      recordsPerTx: txs > 0 ? records / txs : 0,
      feesPaid: fees,
      tokensPerMillionRecords: records > 0 ? (fees / records) * 1e6 : 0,
      ...(delays.length > 0
        ? { batchToBlockMs: { p50: percentile(delays, 0.5), p99: percentile(delays, 0.99) } }
        : {}),
    },
    ...(economicsError ? { economicsError } : {}),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] as number;
}
