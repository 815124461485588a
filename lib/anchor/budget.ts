/**
 * Anchoring under a budget: from each chain's limits and the observed load, how often to anchor a root, how
 * many leaves to take, what it costs per record, and when to push back on ingest. Pure: no clock, no I/O;
 * the scheduler calls it each cycle with fresh numbers. docs/chains.md ("Budget") has the reasoning.
 *
 * The cost of a batch does not depend on its size: every batch is one transaction of 45 bytes per chain,
 * whatever the number of leaves. So:
 *   - the budget sets a floor under the interval: 1 / maxTxPerSecond, and 1 day × fee / maxTokensPerDay;
 *   - the latency target sets the interval we would like: target − inclusion time (one root per interval,
 *     and a record waits at most one interval plus the chain's inclusion time);
 *   - the batch cap (tree size: memory, build time, proof depth) sets a ceiling: the interval at which
 *     arrivals fill a batch.
 * interval = max(floor, min(wanted, ceiling)). Between those bounds the cheapest interval that meets the
 * target wins; we do not anchor more often than the target needs just because the budget would allow it.
 *
 * Backpressure: the budget can anchor at most maxBatchSize leaves per floor interval. When arrivals exceed
 * that, or the queue holds more than the budget can anchor within the target, the plan says so: ingest
 * should slow devices down (503 + Retry-After, MQTT back-off). Leaves are never dropped; they wait.
 *
 * With several chains every root goes to every chain, so the most constrained chain sets the floor.
 */

export interface ChainLimits {
  chainId: string;
  /** Our share of the chain's throughput: transactions per second we may send. Infinity for none. */
  maxTxPerSecond: number;
  /** Tokens we may spend per day, in the unit feePerTx returns (ETH, BBC...). Infinity for none. */
  maxTokensPerDay: number;
  /** Fee of one transaction carrying `dataBytes` bytes of data, in tokens. */
  feePerTx: (dataBytes: number) => number;
  /** Typical time from submission to the first block (about one block interval), ms. Default 0. */
  inclusionMs?: number;
}

export interface BudgetPolicy {
  /** A record should be in a block on every chain within this long of arriving. */
  targetMaxTimeToAnchorMs: number;
  /** Most leaves one batch may hold. Default 2^20 (proof depth 20, 640 bytes of path). */
  maxBatchSize?: number;
  /** Never anchor more often than this, whatever the budget. Default 1,000 ms. */
  minIntervalMs?: number;
  /** Bytes of each anchor transaction's data. Default 45 (the anchor payload). */
  anchorBytes?: number;
  /** Bytes the seed's design put on chain per record (one hash per transaction), for comparison. Default 32. */
  seedBytesPerRecord?: number;
}

export interface ObservedLoad {
  /** Records arriving per second (a recent average). */
  arrivalPerSecond: number;
  /** Records queued and not yet in a batch. */
  pending: number;
}

export type IntervalLimit = 'target' | 'batch-size' | 'tx-per-second' | 'tokens-per-day' | 'min-interval';

export interface ChainCost {
  chainId: string;
  feePerTx: number;
  /** The interval under which this chain's budget would be exceeded. */
  floorMs: number;
  floorBy: 'tx-per-second' | 'tokens-per-day' | 'none';
  txPerDay: number;
  tokensPerDay: number;
  /** Share of maxTxPerSecond used (0..1). */
  tpsShare: number;
  /** Share of maxTokensPerDay used (0..1). */
  tokenShare: number;
  costPerRecord: number;
  tokensPerMillionRecords: number;
  /** One transaction per record, as the seed's design did. */
  seedTokensPerMillionRecords: number;
}

export interface AnchorPlan {
  intervalMs: number;
  /** Leaves the next cycle should take (the cap to pass as maxBatchSize). */
  batchSize: number;
  /** Leaves a batch holds at the observed arrival rate. */
  expectedBatchSize: number;
  limitedBy: IntervalLimit;
  /** Worst case for a record arriving now under this plan: one interval plus the slowest inclusion. */
  expectedTimeToAnchorMs: number;
  targetMet: boolean;
  /** Most records per second the budget can anchor. */
  capacityPerSecond: number;
  /** Most records that can wait and still be anchored within the target. */
  pendingLimit: number;
  backpressure: {
    active: boolean;
    reason?: 'arrival-exceeds-capacity' | 'backlog-exceeds-target';
    /** Time to anchor the current queue at the fastest rate the budget allows. */
    drainMs: number;
    /** A Retry-After hint for refused publishes while active, ms. */
    retryAfterMs: number;
  };
  chains: ChainCost[];
}

const DAY_MS = 86_400_000;

const wholeMsUp = (ms: number): number => (Number.isFinite(ms) ? Math.ceil(ms - 1e-6) : ms);

export function planAnchoring(
  chains: readonly ChainLimits[],
  policy: BudgetPolicy,
  load: ObservedLoad,
): AnchorPlan {
  // Programming errors (the anchor cycle passes its configured chains and a validated policy): RangeErrors.
  if (chains.length === 0) throw new RangeError('at least one chain is needed');
  const maxBatch = policy.maxBatchSize ?? 2 ** 20;
  const minInterval = policy.minIntervalMs ?? 1000;
  const anchorBytes = policy.anchorBytes ?? 45;
  const seedBytes = policy.seedBytesPerRecord ?? 32;
  const arrival = Math.max(0, load.arrivalPerSecond);
  const pending = Math.max(0, load.pending);
  if (!(maxBatch >= 1) || !(policy.targetMaxTimeToAnchorMs > 0)) throw new RangeError('bad policy');

  // 1. The budget's floor: the most constrained chain.
  const floors = chains.map((c) => {
    const fee = c.feePerTx(anchorBytes);
    // 1000 / Infinity = 0 (no limit); a limit of 0 makes the floor infinite (this chain cannot be used).
    const byTps = c.maxTxPerSecond > 0 ? 1000 / c.maxTxPerSecond : Infinity;
    const byTokens = fee <= 0 ? 0 : c.maxTokensPerDay > 0 ? (DAY_MS * fee) / c.maxTokensPerDay : Infinity;
    // Whole milliseconds, rounded up (a hair of float error aside): a floor is never under the budget.
    const floorMs = wholeMsUp(Math.max(byTps, byTokens));
    const floorBy: ChainCost['floorBy'] =
      floorMs === 0 ? 'none' : byTokens >= byTps ? 'tokens-per-day' : 'tx-per-second';
    return { c, fee, floorMs, floorBy };
  });
  const worst = floors.reduce((a, b) => (b.floorMs > a.floorMs ? b : a));
  const floor = Math.max(minInterval, worst.floorMs);
  const floorLimit: IntervalLimit =
    worst.floorMs > minInterval
      ? worst.floorBy === 'none'
        ? 'min-interval'
        : worst.floorBy
      : 'min-interval';

  // 2. What the target wants, and the ceiling where arrivals fill a batch.
  const inclusion = Math.max(0, ...chains.map((c) => c.inclusionMs ?? 0));
  const wanted = Math.max(0, policy.targetMaxTimeToAnchorMs - inclusion);
  const ceiling = arrival > 0 ? (maxBatch / arrival) * 1000 : Infinity;

  // 3. Backpressure: can the budget keep up, and can it clear the queue within the target?
  const capacityPerSecond = Number.isFinite(floor) ? (maxBatch / floor) * 1000 : 0;
  const cyclesWithinTarget = Number.isFinite(floor) ? Math.max(1, Math.floor(wanted / floor)) : 0;
  const pendingLimit = cyclesWithinTarget * maxBatch;
  const drainMs =
    pending === 0 ? 0 : Number.isFinite(floor) ? Math.ceil(pending / maxBatch) * floor : Infinity;
  const overArrival = arrival > capacityPerSecond;
  const overBacklog = pending > pendingLimit;

  let intervalMs: number;
  let limitedBy: IntervalLimit;
  if (overArrival || overBacklog) {
    // Behind: anchor as fast as the budget allows, full batches, until the queue is back within reach.
    intervalMs = floor;
    limitedBy = floorLimit;
  } else {
    const preferred = Math.min(wanted, ceiling);
    if (floor >= preferred) {
      intervalMs = floor;
      limitedBy = floorLimit;
    } else {
      intervalMs = preferred;
      limitedBy = ceiling < wanted ? 'batch-size' : 'target';
    }
  }

  const perBatch = Math.min(maxBatch, Math.max(1, (arrival * intervalMs) / 1000));
  const batchSize = Math.min(maxBatch, Math.max(1, Math.ceil((arrival * intervalMs) / 1000), pending));
  const expectedTimeToAnchorMs = intervalMs + inclusion;
  const txPerDay = Number.isFinite(intervalMs) ? DAY_MS / intervalMs : 0;

  const costs: ChainCost[] = floors.map(({ c, fee, floorMs, floorBy }) => {
    const costPerRecord = fee / perBatch;
    return {
      chainId: c.chainId,
      feePerTx: fee,
      floorMs,
      floorBy,
      txPerDay,
      tokensPerDay: txPerDay * fee,
      tpsShare:
        Number.isFinite(c.maxTxPerSecond) && c.maxTxPerSecond > 0 ? txPerDay / 86_400 / c.maxTxPerSecond : 0,
      tokenShare:
        Number.isFinite(c.maxTokensPerDay) && c.maxTokensPerDay > 0
          ? (txPerDay * fee) / c.maxTokensPerDay
          : 0,
      costPerRecord,
      tokensPerMillionRecords: costPerRecord * 1e6,
      seedTokensPerMillionRecords: c.feePerTx(seedBytes) * 1e6,
    };
  });

  const active = overArrival || overBacklog;
  const backpressure: AnchorPlan['backpressure'] = {
    active,
    drainMs,
    // The queue moves one full batch per floor interval: asking devices to come back after one is fair.
    retryAfterMs: active ? (Number.isFinite(floor) ? Math.max(1000, floor) : 60_000) : 0,
  };
  if (overArrival) backpressure.reason = 'arrival-exceeds-capacity';
  else if (overBacklog) backpressure.reason = 'backlog-exceeds-target';

  return {
    intervalMs,
    batchSize,
    expectedBatchSize: perBatch,
    limitedBy,
    expectedTimeToAnchorMs,
    targetMet: expectedTimeToAnchorMs <= policy.targetMaxTimeToAnchorMs && !active,
    capacityPerSecond,
    pendingLimit,
    backpressure,
    chains: costs,
  };
}
