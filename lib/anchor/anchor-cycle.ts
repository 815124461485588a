/**
 * Anchoring under a budget, on several chains, with finality: what one tick of the anchor function does.
 *
 *   1. finality: look up the anchors that are due (finality-poller.ts), resubmit what was dropped or
 *      reorganised out;
 *   2. plan: from each chain's limits (transactions per second, tokens per day, inclusion time), its current
 *      fees (Chain.economics) and the observed load, budget.ts picks the interval and the batch size, and
 *      says whether the budget cannot keep up (backpressure: records wait in the queue, none is dropped);
 *   3. anchor: when the interval has come, build one batch and submit its root to every chain, plus inline
 *      parts where a chain takes them and the day's budget allows (anchor-pending.ts).
 *
 * A chain that fails is retried with exponential backoff per chain (and separately for its inline parts and
 * its lookups; chain-health.ts); a failure that needs an operator (no funds, key locked) is retried at the
 * longest backoff, so fixing it needs no restart. Every failure keeps its code and message in status()
 * (anchor-status.ts), which the anchoring API serves, and in the report, which the function's edge logs.
 *
 * This file is the orchestration only. Its parts: fees and the day's spending (anchor-spend.ts), backoff and
 * health (chain-health.ts), status (anchor-status.ts), the configuration types (anchor-policy.ts). The state
 * they keep is memory only: after a restart it is rebuilt from the store (last batch time, today's
 * transactions) or starts over (backoff).
 */
import type { BatchStore, ObjectStore, RecordIndex, StatementStore } from '../ports.js';
import { type AnchorReport, anchorPending } from './anchor-pending.js';
import type { AnchorChain, AnchorPolicy } from './anchor-policy.js';
import { EconomicsCache, planInline, SpendLedger } from './anchor-spend.js';
import { type AnchoringStatus, anchoringStatus, type PlanSummary } from './anchor-status.js';
import { type AnchorPlan, type ChainLimits, planAnchoring } from './budget.js';
import { ChainBackoff, describeFailure } from './chain-health.js';
import {
  type AnchorEvent,
  type ChainFinality,
  DEFAULT_FINALITY,
  type PollReport,
  pollFinality,
} from './finality-poller.js';
import { ArrivalMeter } from './load-meter.js';

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

const RECENT_BATCHES = 100;

export function createAnchorCycle(deps: AnchorCycleDeps): AnchorCycle {
  // A programming error (the composition roots refuse a configuration without chains): a RangeError.
  if (deps.chains.length === 0) throw new RangeError('at least one chain is needed');
  const byId = new Map(deps.chains.map((c) => [c.chain.chainId, c]));
  const retry = deps.retry ?? { baseMs: 1_000, maxMs: 5 * 60_000 };
  const backoff = new ChainBackoff(retry);
  // Lookups only read: once a node is back, finality should not wait out a submission's longest backoff.
  const lookupBackoff = new ChainBackoff({ baseMs: retry.baseMs, maxMs: Math.min(retry.maxMs, 60_000) });
  const meter = new ArrivalMeter();
  const economics = new EconomicsCache(deps.economicsTtlMs ?? 60_000);
  const spend = new SpendLedger();
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

  /** Once per process: the last batch's time and today's transactions, from the store. */
  async function load(now: number): Promise<void> {
    if (loaded) return;
    loaded = true;
    const restored = await spend.restore(deps.index, now);
    if (restored !== undefined) lastBatchAt = Math.max(lastBatchAt ?? 0, restored);
  }

  async function plan(now: number): Promise<AnchorPlan> {
    const limits: ChainLimits[] = [];
    for (const c of deps.chains) {
      const e = await economics.read(c.chain, now);
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

  const failKey = (key: string, e: unknown, now: number) => backoff.failed(key, describeFailure(e), now);

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
          spend.of(chainId, deps.clock()).rootTxs++;
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
          if (!inline) spend.of(chainId as string, deps.clock()).rootTxs++;
        } else failKey(key, e, deps.clock());
      },
      planInline: planInline({ chains: deps.chains, plan: p, now, economics, spend }),
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
    return anchoringStatus({
      now,
      policy: deps.policy,
      chains: deps.chains,
      plan: lastPlan as AnchorPlan,
      summary: lastSummary,
      lastBatchAt,
      due: await deps.index.listAnchorsDue(Number.MAX_SAFE_INTEGER, 1000),
      recent: (await deps.index.listBatches({ limit: RECENT_BATCHES })).items,
      economics,
      spend,
      submitBackoff: backoff,
      lookupBackoff,
    });
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
