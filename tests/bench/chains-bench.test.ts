/**
 * The chains bench (bench/chains.ts) at toy size: three chains at once (embedded ledger, ganache, the BigBang
 * stand-in), every record anchored on each, and the report section with its per-chain rows and scale note. No
 * timing thresholds: the figures are what BENCHMARKS.md reports, never what a test asserts.
 */
import { describe, expect, it } from 'vitest';
import { chainsSection, measureChains } from '../../bench/chains.js';

describe('bench: anchoring to three chains', () => {
  it('anchors every record on each chain and reports records per tx, tokens and time-to-anchor', async () => {
    const f = await measureChains({ durationMs: 1_500, recordsPerSecond: 40, targetMs: 2_000, devices: 3 });
    expect(f.records).toBeGreaterThan(0);
    expect(f.rows.map((r) => r.label)).toEqual([
      'embedded ledger',
      'EVM (ganache 7.9.2, local)',
      'BigBang (stand-in, 1 block/s)',
    ]);
    for (const r of f.rows) {
      expect(r.records).toBe(f.records);
      expect(r.txs).toBeGreaterThanOrEqual(f.batches);
      expect(r.recordsPerTx).toBeGreaterThan(0);
      expect(r.timeToAnchorMs.p99).toBeGreaterThanOrEqual(r.timeToAnchorMs.p50);
    }
    const [ledger, evm, bbc] = f.rows;
    expect(ledger?.tokensPerMillionRecords).toBe(0);
    expect(evm?.tokensPaid).toBeGreaterThan(0);
    // CalcMinTxFee: 0.03 BBC per anchor; the seed's one transaction per record is 30,000 BBC per million.
    expect(bbc?.tokensPaid).toBeCloseTo(0.03 * (bbc?.txs ?? 0), 9);
    expect(bbc?.seedTokensPerMillionRecords).toBeCloseTo(30_000, 6);
    const md = chainsSection(f);
    expect(md).toContain('## Chains: anchoring under a budget');
    expect(md).toContain('| BigBang (stand-in, 1 block/s) |');
    expect(md).toContain('proof depth of 20');
  });
});
