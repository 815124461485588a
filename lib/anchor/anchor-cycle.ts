/**
 * Anchoring under a budget, on several chains, with finality: what one tick of the anchor function does.
 *
 *   1. finality: look up the anchors that are due (anchor-finality.ts), resubmit what was dropped or
 *      reorganised out;
 *   2. plan: from each chain's limits (transactions per second, tokens per day, inclusion time), its current
 *      fees (Chain.economics) and the observed load, budget.ts picks the interval and the batch size, and
 *      says whether the budget cannot keep up (backpressure: records wait in the queue, none is dropped);
 *   3. anchor: when the interval has come, build one batch and submit its root to every chain, plus inline
 *      parts where a chain takes them and the day's budget allows (anchor-pending.ts).
 *
 * A chain that fails is retried with exponential backoff per chain (and separately for its inline parts and
 * its lookups); a failure that needs an operator (no funds, key locked) is retried at the longest backoff, so
 * fixing it needs no restart. Every failure keeps its code and message in status(), which the anchoring API
 * serves, and in the report, which the function's edge logs.
 *
 * The state kept here (backoff, arrival rate, the day's spending, the last plan) is memory only: after a
 * restart it is rebuilt from the store (last batch time, today's transactions) or starts over (backoff).
 */
import {
  type BatchStore,
  type Chain,
  type ChainEconomics,
  type InlinePart,
  isChainFailure,
  type ObjectStore,
  type RecordEntry,
  type RecordIndex,
  type StatementStore,
} from '../ports.js';
import {
  type AnchorEvent,
  type ChainFinality,
  DEFAULT_FINALITY,
  type PollReport,
  pollFinality,
} from './anchor-finality.js';
import { type AnchorReport, anchorPending } from './anchor-pending.js';
import { type AnchorPlan, type ChainLimits, planAnchoring } from './budget.js';
import type { FinalityConfig } from './finality.js';
import { packInline } from './inline-packet.js';
import { ArrivalMeter } from './load-meter.js';

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

export interface AnchorCycleDeps {
  index: RecordIndex & BatchStore;
  /** Key events and device heads: leaves of the same batches (anchor-pending.ts). */
  statements: StatementStore;
  objects: ObjectStore;
  chains: readonly AnchorChain[];
  clock: () => number;
  policy: AnchorPolicy;
  /** Backoff after a chain failure: base doubling up to max; failures that need an operator wait max. */
  retry?: { baseMs: number; maxMs: number };
  /** Chain economics (fees) are read again after this long. Default 60 s. */
  economicsTtlMs?: number;
}

export interface CycleReport extends AnchorReport {
  poll: PollReport;
  plan: PlanSummary;
  /** No batch was due: the plan's interval since the last batch has not passed. */
  notDue?: boolean;
  /** Arrival (receivedAt) of the oldest leaf still queued after this tick; absent when none is (or none was read). */
  oldestPendingAt?: number;
}

export interface PlanSummary {
  intervalMs: number;
  batchSize: number;
  limitedBy: AnchorPlan['limitedBy'];
  backpressure: AnchorPlan['backpressure'];
  pending: number;
  arrivalPerSecond: number;
}

/** JSON has no Infinity: an unlimited figure is null. */
type Lim = number | null;

export interface ChainHealth {
  state: 'ok' | 'failing';
  consecutiveFailures: number;
  lastError?: { code: string; message: string; retryable: boolean; at: number };
  nextAttemptAt?: number;
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

export interface AnchorCycle {
  /**
   * One tick: finality, plan, and a batch if due. `gate`: only once the plan's interval since the last batch
   * has passed, less `slackMs` (default a tenth of the interval, at most 1 s), as a fixed-rate trigger like a
   * cron needs: half its period absorbs its jitter without ever building twice per period. `force`: now.
   */
  run(opts?: { force?: boolean; gate?: boolean; slackMs?: number }): Promise<CycleReport>;
  /** Finality only (for a poll loop faster than the batch interval). */
  poll(): Promise<PollReport>;
  /** ms until the next batch under the current plan. */
  nextDelayMs(): number;
  /** How often the finality poller should look: the shortest pollMs of the chains. */
  readonly pollEveryMs: number;
  status(): Promise<AnchoringStatus>;
  /** The last plan's backpressure (cheap: for health checks), undefined before the first plan. */
  backpressure(): AnchorPlan['backpressure'] | undefined;
  /** Confirmations each chain requires (what verify judges by). */
  requiredConfirmations(chainId: string): number;
}

const DAY_MS = 86_400_000;
const FREE: ChainEconomics = { maxDataBytes: 1 << 20, feePerTx: () => 0, unit: '', decimals: 0 };
const RECENT_BATCHES = 100;
const SPEND_SCAN_PAGES = 50;

const lim = (n: number): Lim => (Number.isFinite(n) ? n : null);

class Backoff {
  private readonly h = new Map<string, ChainHealth>();
  constructor(private readonly retry: { baseMs: number; maxMs: number }) {}

  get(key: string): ChainHealth {
    return this.h.get(key) ?? { state: 'ok', consecutiveFailures: 0 };
  }

  mayTry(key: string, now: number): boolean {
    const at = this.h.get(key)?.nextAttemptAt;
    return at === undefined || now >= at;
  }

  retryAt(key: string): number | undefined {
    return this.h.get(key)?.nextAttemptAt;
  }

  ok(key: string): void {
    this.h.delete(key);
  }

  failed(key: string, error: { code: string; message: string; retryable: boolean }, now: number): void {
    const n = this.get(key).consecutiveFailures + 1;
    const delay = error.retryable
      ? Math.min(this.retry.baseMs * 2 ** (n - 1), this.retry.maxMs)
      : this.retry.maxMs;
    this.h.set(key, {
      state: 'failing',
      consecutiveFailures: n,
      lastError: { ...error, at: now },
      nextAttemptAt: now + delay,
    });
  }
}

function describeError(e: unknown): { code: string; message: string; retryable: boolean } {
  if (isChainFailure(e)) return { code: e.code, message: e.message, retryable: e.retryable };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e), retryable: true };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] as number;
}

interface Spend {
  day: number;
  rootTxs: number;
  inlineTxs: number;
  inlineTokens: number;
}

export function createAnchorCycle(deps: AnchorCycleDeps): AnchorCycle {
  if (deps.chains.length === 0) throw new RangeError('at least one chain is needed');
  const byId = new Map(deps.chains.map((c) => [c.chain.chainId, c]));
  const retry = deps.retry ?? { baseMs: 1_000, maxMs: 5 * 60_000 };
  const backoff = new Backoff(retry);
  // Lookups only read: once a node is back, finality should not wait out a submission's longest backoff.
  const lookupBackoff = new Backoff({ baseMs: retry.baseMs, maxMs: Math.min(retry.maxMs, 60_000) });
  const meter = new ArrivalMeter();
  const econ = new Map<string, { value?: ChainEconomics; at: number; error?: string }>();
  const spend = new Map<string, Spend>();
  const inlineStats = new Map<string, { records: number; txs: number; refused: Record<string, number> }>();
  const ttl = deps.economicsTtlMs ?? 60_000;
  let lastBatchAt: number | undefined;
  let loaded = false;
  let lastPlan: AnchorPlan | undefined;
  let lastSummary: PlanSummary | undefined;
  let nextDelay: number | undefined;

  const finalityMap = new Map<string, ChainFinality>(
    deps.chains.map((c) => [
      c.chain.chainId,
      { chain: c.chain, finality: c.finality, inline: c.inline !== undefined },
    ]),
  );
  const dayOf = (t: number) => Math.floor(t / DAY_MS);
  const spendOf = (chainId: string, now: number): Spend => {
    let s = spend.get(chainId);
    if (!s || s.day !== dayOf(now)) {
      s = { day: dayOf(now), rootTxs: 0, inlineTxs: 0, inlineTokens: 0 };
      spend.set(chainId, s);
    }
    return s;
  };

  async function economicsOf(c: AnchorChain, now: number): Promise<ChainEconomics | undefined> {
    if (!c.chain.economics) return FREE;
    const cached = econ.get(c.chain.chainId);
    if (cached && now - cached.at < ttl && cached.value) return cached.value;
    try {
      const value = await c.chain.economics();
      econ.set(c.chain.chainId, { value, at: now });
      return value;
    } catch (e) {
      // The node is down: keep planning with the last known fees, and say so.
      const message = e instanceof Error ? e.message : String(e);
      econ.set(c.chain.chainId, {
        ...(cached?.value ? { value: cached.value } : {}),
        at: now,
        error: message,
      });
      return cached?.value;
    }
  }

  /** Once per process: the last batch's time and today's transactions, from the store. */
  async function load(now: number): Promise<void> {
    if (loaded) return;
    loaded = true;
    let cursor: string | undefined;
    const dayStart = dayOf(now) * DAY_MS;
    for (let page = 0; page < SPEND_SCAN_PAGES; page++) {
      const p = await deps.index.listBatches({ limit: 200, ...(cursor ? { cursor } : {}) });
      for (const b of p.items) {
        lastBatchAt = Math.max(lastBatchAt ?? 0, b.createdAt);
        if (b.createdAt < dayStart) return;
        for (const a of b.anchors) {
          const s = spendOf(a.chainId, now);
          if ((a.kind ?? 'root') === 'root') s.rootTxs += a.attempt ?? 1;
          else s.inlineTxs += a.attempt ?? 1;
        }
      }
      if (!p.next) return;
      cursor = p.next;
    }
  }

  async function plan(now: number): Promise<AnchorPlan> {
    const limits: ChainLimits[] = [];
    for (const c of deps.chains) {
      const e = await economicsOf(c, now);
      limits.push({
        chainId: c.chain.chainId,
        maxTxPerSecond: c.budget.maxTxPerSecond,
        maxTokensPerDay: c.budget.maxTokensPerDay,
        feePerTx: e?.feePerTx ?? (() => 0),
        inclusionMs: c.budget.inclusionMs,
      });
    }
    // Leaves waiting, of both kinds: a batch's size and the arrival rate count statements too.
    const [records, statements] = await Promise.all([
      deps.index.countPending(),
      deps.statements.countPending(),
    ]);
    const pending = records + statements;
    const arrivalPerSecond = meter.observe(now, pending);
    const p = planAnchoring(
      limits,
      {
        targetMaxTimeToAnchorMs: deps.policy.targetMaxTimeToAnchorMs,
        maxBatchSize: deps.policy.maxBatchSize,
        minIntervalMs: deps.policy.minIntervalMs,
      },
      { arrivalPerSecond, pending },
    );
    lastPlan = p;
    lastSummary = {
      intervalMs: p.intervalMs,
      batchSize: p.batchSize,
      limitedBy: p.limitedBy,
      backpressure: p.backpressure,
      pending,
      arrivalPerSecond,
    };
    return p;
  }

  function planInline(p: AnchorPlan, now: number) {
    return (records: readonly RecordEntry[]): InlinePart[] => {
      const parts: InlinePart[] = [];
      for (const c of deps.chains) {
        if (!c.inline) continue;
        const chainId = c.chain.chainId;
        const e = econ.get(chainId)?.value ?? (c.chain.economics ? undefined : FREE);
        const stats = inlineStats.get(chainId) ?? { records: 0, txs: 0, refused: {} };
        inlineStats.set(chainId, stats);
        const refuse = (reason: string, n: number) => {
          if (n > 0) stats.refused[reason] = (stats.refused[reason] ?? 0) + n;
        };
        const small = records.filter((r) => r.envelopeSize <= (c.inline as InlinePolicy).maxEnvelopeBytes);
        refuse('over-policy-size', records.length - small.length);
        if (!e) {
          refuse('fees-unknown', small.length);
          continue;
        }
        const s = spendOf(chainId, now);
        const rootPerDay = p.chains.find((x) => x.chainId === chainId)?.tokensPerDay ?? 0;
        const tokensLeft =
          Math.min(c.inline.maxTokensPerDay, c.budget.maxTokensPerDay - rootPerDay) - s.inlineTokens;
        // Transactions per second are shared with the root: one root per interval, the rest may be inline.
        const txRoom = Number.isFinite(c.budget.maxTxPerSecond)
          ? Math.floor((c.budget.maxTxPerSecond * p.intervalMs) / 1000) - 1
          : Number.POSITIVE_INFINITY;
        const cap = Math.max(0, Math.min(c.inline.maxTxsPerBatch, txRoom));
        const packed = packInline(
          small.map((r) => ({ id: r.recordId, envelopeBytes: r.envelopeSize })),
          {
            maxDataBytes: e.maxDataBytes,
            maxEnvelopeBytes: c.inline.maxEnvelopeBytes,
            feePerTx: e.feePerTx,
            tokensLeft: Math.max(0, tokensLeft),
          },
        );
        for (const h of packed.hashed) refuse(h.reason, 1);
        packed.txs.forEach((tx, i) => {
          if (i >= cap) {
            refuse('over-tx-rate', tx.ids.length);
            return;
          }
          parts.push({ chainId, records: tx.ids, dataBytes: tx.dataBytes });
          s.inlineTokens += tx.fee;
          s.inlineTxs++;
          stats.txs++;
          stats.records += tx.ids.length;
        });
      }
      return parts;
    };
  }

  const failKey = (key: string, e: unknown, now: number) => backoff.failed(key, describeError(e), now);

  async function poll(): Promise<PollReport> {
    return pollFinality({
      index: deps.index,
      objects: deps.objects,
      chains: finalityMap,
      clock: deps.clock,
      retryAt: (chainId) => lookupBackoff.retryAt(chainId),
      onLookup: (chainId, ok, error) => {
        if (ok) lookupBackoff.ok(chainId);
        else if (error) lookupBackoff.failed(chainId, { ...error, retryable: true }, deps.clock());
      },
      mayResubmit: (chainId) => backoff.mayTry(chainId, deps.clock()),
      onResubmit: (chainId, ok, e) => {
        if (ok) {
          backoff.ok(chainId);
          spendOf(chainId, deps.clock()).rootTxs++;
        } else failKey(chainId, e, deps.clock());
      },
    });
  }

  /** Arrival of the oldest leaf still queued, record or statement; undefined when none is. */
  async function oldestPending(): Promise<number | undefined> {
    const [[record], [statement]] = await Promise.all([
      deps.index.listPending(1),
      deps.statements.listPending(1),
    ]);
    const times = [record?.receivedAt, statement?.receivedAt].filter((t): t is number => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  async function run(opts: { force?: boolean; gate?: boolean; slackMs?: number } = {}): Promise<CycleReport> {
    const now = deps.clock();
    await load(now);
    const polled = await poll();
    const p = await plan(now);
    const due =
      opts.force === true ||
      !opts.gate ||
      lastBatchAt === undefined ||
      now - lastBatchAt >= p.intervalMs - (opts.slackMs ?? Math.min(1000, p.intervalMs / 10));
    const report = await anchorPending({
      index: deps.index,
      statements: deps.statements,
      objects: deps.objects,
      chains: deps.chains.map((c) => c.chain),
      clock: deps.clock,
      maxBatchSize: p.batchSize,
      buildNew: due,
      finality: (chainId) => byId.get(chainId)?.finality ?? DEFAULT_FINALITY,
      inlineChains: new Set(deps.chains.filter((c) => c.inline).map((c) => c.chain.chainId)),
      mayTry: (key) => backoff.mayTry(key, deps.clock()),
      onTried: (key, ok, e) => {
        if (ok) {
          backoff.ok(key);
          const [chainId, inline] = key.split('#');
          if (!inline) spendOf(chainId as string, deps.clock()).rootTxs++;
        } else failKey(key, e, deps.clock());
      },
      planInline: planInline(p, now),
    });
    if (report.batch) {
      lastBatchAt = report.batch.createdAt;
      meter.took(report.batch.size);
    }
    // What is left behind, for the backlog-age figure: the head of each queue, read only when the plan saw
    // more leaves than the batch took (most ticks, in the embedded runtime too, read nothing more).
    const pendingAtPlan = (lastSummary as PlanSummary).pending;
    const oldestPendingAt = pendingAtPlan > (report.batch?.size ?? 0) ? await oldestPending() : undefined;
    // Not due yet: come back when it is. Otherwise a full interval: nothing was queued, a batch was just
    // built, or a chain is failing (its own backoff decides when it is tried, at one of these ticks).
    nextDelay =
      !due && lastBatchAt !== undefined
        ? Math.max(100, lastBatchAt + p.intervalMs - deps.clock())
        : p.intervalMs;
    return {
      ...report,
      poll: polled,
      plan: lastSummary as PlanSummary,
      ...(due ? {} : { notDue: true }),
      ...(oldestPendingAt === undefined ? {} : { oldestPendingAt }),
    };
  }

  function nextDelayMs(): number {
    return Math.max(1, Math.round(nextDelay ?? lastPlan?.intervalMs ?? deps.policy.minIntervalMs));
  }

  async function status(): Promise<AnchoringStatus> {
    const now = deps.clock();
    await load(now);
    if (!lastPlan) await plan(now);
    const p = lastPlan as AnchorPlan;
    const due = await deps.index.listAnchorsDue(Number.MAX_SAFE_INTEGER, 1000);
    const recent = (await deps.index.listBatches({ limit: RECENT_BATCHES })).items;
    const chains: ChainStatus[] = [];
    for (const c of deps.chains) {
      const chainId = c.chain.chainId;
      const e = econ.get(chainId);
      const value = c.chain.economics ? e?.value : FREE;
      const cost = p.chains.find((x) => x.chainId === chainId);
      const s = spendOf(chainId, now);
      const rootFee = value?.feePerTx(45) ?? 0;
      const finality = { submitted: 0, anchored: 0, dropped: 0, mismatch: 0 };
      for (const b of due) {
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
      for (const b of recent) {
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
      const inl = inlineStats.get(chainId) ?? { records: 0, txs: 0, refused: {} };
      chains.push({
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
          rootTxs: s.rootTxs,
          inlineTxs: s.inlineTxs,
          tokens: s.rootTxs * rootFee + s.inlineTokens,
        },
        inline: {
          enabled: c.inline !== undefined,
          ...(c.inline ? { maxEnvelopeBytes: c.inline.maxEnvelopeBytes } : {}),
          records: inl.records,
          txs: inl.txs,
          refused: inl.refused,
        },
        health: {
          submit: backoff.get(chainId),
          inline: backoff.get(`${chainId}#inline`),
          lookup: lookupBackoff.get(chainId),
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
        ...(e?.error ? { economicsError: e.error } : {}),
      });
    }
    return {
      at: now,
      policy: deps.policy,
      ...(lastSummary
        ? {
            plan: {
              ...lastSummary,
              expectedTimeToAnchorMs: p.expectedTimeToAnchorMs,
              targetMet: p.targetMet,
              capacityPerSecond: lim(p.capacityPerSecond),
              pendingLimit: p.pendingLimit,
            },
          }
        : {}),
      ...(lastBatchAt === undefined
        ? {}
        : { lastBatchAt, nextBatchAt: lastBatchAt + Math.round(p.intervalMs) }),
      chains,
    };
  }

  return {
    run,
    poll,
    nextDelayMs,
    pollEveryMs: Math.min(...deps.chains.map((c) => c.finality.pollMs)),
    status,
    backpressure: () => lastPlan?.backpressure,
    requiredConfirmations: (chainId) => byId.get(chainId)?.finality.confirmations ?? 1,
  };
}

export type { AnchorEvent };
