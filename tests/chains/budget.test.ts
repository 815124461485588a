/** Anchoring under a budget: interval, batch size, backpressure and cost per record. Pure. */
import { describe, expect, it } from 'vitest';
import { COIN, calcMinTxFee } from '../../lib/adapters/bigbang/fees.js';
import { calldataGasUpperBound } from '../../lib/adapters/evm/evm-gas.js';
import { type ChainLimits, planAnchoring } from '../../lib/anchor/budget.js';

/** An EVM chain at 20 gwei after EIP-7623: 22,800 gas for the 45-byte payload = 0.000456 ETH. */
const evm = (over: Partial<ChainLimits> = {}): ChainLimits => ({
  chainId: 'evm:1',
  maxTxPerSecond: 1,
  maxTokensPerDay: 1,
  feePerTx: (bytes) => (calldataGasUpperBound(bytes, { eip7623: true }) * 20e9) / 1e18,
  inclusionMs: 12_000,
  ...over,
});
/** BigBang: CalcMinTxFee of the vchData around the payload (21 + 16 bytes of framing), in BBC. */
const bigbang = (over: Partial<ChainLimits> = {}): ChainLimits => ({
  chainId: 'bigbang:mainnet',
  maxTxPerSecond: 0.5,
  maxTokensPerDay: 100,
  feePerTx: (bytes) => calcMinTxFee(bytes + 37) / COIN,
  inclusionMs: 60_000,
  ...over,
});
const embedded: ChainLimits = {
  chainId: 'embedded:x',
  maxTxPerSecond: Number.POSITIVE_INFINITY,
  maxTokensPerDay: Number.POSITIVE_INFINITY,
  feePerTx: () => 0,
};

describe('planAnchoring', () => {
  it('the issue’s scale: a million records a minute go in one root a minute', () => {
    const plan = planAnchoring(
      [evm()],
      { targetMaxTimeToAnchorMs: 5 * 60_000, maxBatchSize: 1_000_000 },
      { arrivalPerSecond: 1_000_000 / 60, pending: 0 },
    );
    expect(plan.intervalMs).toBeCloseTo(60_000, 6);
    expect(plan.limitedBy).toBe('batch-size');
    expect(plan.expectedBatchSize).toBeCloseTo(1_000_000, 3);
    const c = plan.chains[0];
    expect(c?.feePerTx).toBeCloseTo(0.000456, 9);
    expect(c?.txPerDay).toBeCloseTo(1440, 6);
    expect(c?.tokensPerDay).toBeCloseTo(0.65664, 6);
    // One transaction per million records, against a million transactions in the seed's design.
    expect(c?.tokensPerMillionRecords).toBeCloseTo(0.000456, 9);
    expect(c?.seedTokensPerMillionRecords).toBeCloseTo(445.6, 6);
    expect(plan.backpressure.active).toBe(false);
    expect(plan.targetMet).toBe(true);
  });

  it('a slow trickle is anchored as rarely as the latency target allows: the cheapest plan that meets it', () => {
    const plan = planAnchoring(
      [evm()],
      { targetMaxTimeToAnchorMs: 10 * 60_000 },
      { arrivalPerSecond: 2, pending: 5 },
    );
    expect(plan.limitedBy).toBe('target');
    expect(plan.intervalMs).toBe(10 * 60_000 - 12_000);
    expect(plan.expectedTimeToAnchorMs).toBe(10 * 60_000);
    expect(plan.expectedBatchSize).toBeCloseTo(1176, 6);
    expect(plan.chains[0]?.costPerRecord).toBeCloseTo(0.000456 / 1176, 12);
  });

  it('a token budget sets a floor under the interval, and says when the target cannot be met', () => {
    // 0.000456 ETH per tx and 0.1 ETH a day: at most ~219 tx a day, one every ~394 s.
    const plan = planAnchoring(
      [evm({ maxTokensPerDay: 0.1 })],
      { targetMaxTimeToAnchorMs: 60_000 },
      { arrivalPerSecond: 10, pending: 0 },
    );
    expect(plan.limitedBy).toBe('tokens-per-day');
    expect(plan.intervalMs).toBeCloseTo((86_400_000 * 0.000456) / 0.1, 3);
    expect(plan.chains[0]?.tokensPerDay).toBeCloseTo(0.1, 9);
    expect(plan.chains[0]?.tokenShare).toBeCloseTo(1, 9);
    expect(plan.targetMet).toBe(false);
  });

  it('a TPS share sets a floor too', () => {
    const plan = planAnchoring(
      [evm({ maxTxPerSecond: 0.005, maxTokensPerDay: 1000 })],
      { targetMaxTimeToAnchorMs: 60_000 },
      { arrivalPerSecond: 1, pending: 0 },
    );
    expect(plan.limitedBy).toBe('tx-per-second');
    expect(plan.intervalMs).toBe(200_000);
    expect(plan.chains[0]?.tpsShare).toBeCloseTo(1, 9);
  });

  it('with several chains the most constrained one sets the pace', () => {
    const plan = planAnchoring(
      [embedded, evm({ maxTokensPerDay: 10 }), bigbang({ maxTokensPerDay: 20 })],
      { targetMaxTimeToAnchorMs: 30_000 },
      { arrivalPerSecond: 100, pending: 0 },
    );
    // BigBang: 0.03 BBC per tx, 20 BBC a day → one every 129.6 s; EVM: one every ~3.9 s.
    expect(plan.intervalMs).toBeCloseTo(129_600, 6);
    expect(plan.limitedBy).toBe('tokens-per-day');
    expect(plan.chains.map((c) => c.chainId)).toEqual(['embedded:x', 'evm:1', 'bigbang:mainnet']);
    expect(plan.chains[2]?.feePerTx).toBeCloseTo(0.03, 9);
    expect(plan.chains[0]?.costPerRecord).toBe(0);
  });

  it('the embedded ledger alone is bounded only by the minimum interval', () => {
    const plan = planAnchoring(
      [embedded],
      { targetMaxTimeToAnchorMs: 500, minIntervalMs: 1_000 },
      { arrivalPerSecond: 5, pending: 0 },
    );
    expect(plan.intervalMs).toBe(1_000);
    expect(plan.limitedBy).toBe('min-interval');
  });

  it('arrivals beyond what the budget can anchor → backpressure, full batches at the fastest pace, nothing dropped', () => {
    const plan = planAnchoring(
      [bigbang({ maxTokensPerDay: 43.2 })], // one tx a minute
      { targetMaxTimeToAnchorMs: 120_000, maxBatchSize: 10_000 },
      { arrivalPerSecond: 500, pending: 40_000 },
    );
    expect(plan.capacityPerSecond).toBeCloseTo(10_000 / 60, 6);
    expect(plan.backpressure).toMatchObject({ active: true, reason: 'arrival-exceeds-capacity' });
    expect(plan.intervalMs).toBeCloseTo(60_000, 6);
    expect(plan.batchSize).toBe(10_000);
    expect(plan.backpressure.drainMs).toBeCloseTo(4 * 60_000, 6);
    expect(plan.backpressure.retryAfterMs).toBeCloseTo(60_000, 6);
    expect(plan.targetMet).toBe(false);
  });

  it('a backlog larger than the target can clear → backpressure even when arrivals are within capacity', () => {
    const plan = planAnchoring(
      [bigbang({ maxTokensPerDay: 43.2, inclusionMs: 0 })],
      { targetMaxTimeToAnchorMs: 180_000, maxBatchSize: 10_000 },
      { arrivalPerSecond: 10, pending: 35_000 },
    );
    expect(plan.pendingLimit).toBe(30_000); // three one-minute cycles of 10,000
    expect(plan.backpressure).toMatchObject({ active: true, reason: 'backlog-exceeds-target' });
    expect(plan.batchSize).toBe(10_000);
    const calmer = planAnchoring(
      [bigbang({ maxTokensPerDay: 43.2, inclusionMs: 0 })],
      { targetMaxTimeToAnchorMs: 180_000, maxBatchSize: 10_000 },
      { arrivalPerSecond: 10, pending: 25_000 },
    );
    expect(calmer.backpressure.active).toBe(false);
    expect(calmer.batchSize).toBe(10_000);
  });

  it('refuses nonsense', () => {
    expect(() =>
      planAnchoring([], { targetMaxTimeToAnchorMs: 1 }, { arrivalPerSecond: 0, pending: 0 }),
    ).toThrow(RangeError);
    expect(() =>
      planAnchoring([embedded], { targetMaxTimeToAnchorMs: 0 }, { arrivalPerSecond: 0, pending: 0 }),
    ).toThrow(RangeError);
  });
});
