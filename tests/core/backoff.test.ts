/**
 * The one backoff of lib/ (lib/core/backoff.ts) and the per-chain health the anchor cycle keeps over it
 * (lib/anchor/chain-health.ts). Pin-job jitter is tested with the pin queue (tests/ipfs/sqlite-pin-queue.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { EvmChainError } from '../../lib/adapters/evm/evm-errors.js';
import { ChainBackoff, describeFailure } from '../../lib/anchor/chain-health.js';
import { backoffDelayMs, retryDelayMs } from '../../lib/core/backoff.js';

const policy = { baseMs: 1_000, maxMs: 60_000 };

describe('backoffDelayMs', () => {
  it('doubles from the base per failure and stops at the cap, however many failures', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n, policy))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000,
    ]);
    expect(backoffDelayMs(10_000, policy)).toBe(60_000);
    expect(backoffDelayMs(0, policy)).toBe(1_000);
  });

  it('is the upper end of the jittered delay', () => {
    for (const n of [1, 3, 9]) expect(retryDelayMs(n, policy, () => 1)).toBe(backoffDelayMs(n, policy));
  });
});

describe('ChainBackoff', () => {
  it('waits the doubling delay after retryable failures, the longest after one that needs an operator', () => {
    const b = new ChainBackoff(policy);
    const down = { code: 'rpc-unavailable', message: 'down', retryable: true };
    expect(b.mayTry('evm:1', 0)).toBe(true);
    b.failed('evm:1', down, 0);
    b.failed('evm:1', down, 1_000);
    expect(b.get('evm:1')).toMatchObject({ state: 'failing', consecutiveFailures: 2, nextAttemptAt: 3_000 });
    expect(b.mayTry('evm:1', 2_999)).toBe(false);
    expect(b.mayTry('evm:1', 3_000)).toBe(true);
    b.failed('evm:1', { code: 'insufficient-funds', message: 'fund me', retryable: false }, 5_000);
    expect(b.retryAt('evm:1')).toBe(65_000);
    expect(b.get('evm:1').lastError).toEqual({
      code: 'insufficient-funds',
      message: 'fund me',
      retryable: false,
      at: 5_000,
    });
    b.ok('evm:1');
    expect(b.get('evm:1')).toEqual({ state: 'ok', consecutiveFailures: 0 });
    expect(b.mayTry('evm:1', 5_001)).toBe(true);
  });

  it("keeps a chain's typed failure code, and calls anything else internal and retryable", () => {
    const e = new EvmChainError('insufficient-funds', 'evm:1: no funds', { chainId: 'evm:1' });
    expect(describeFailure(e)).toEqual({
      code: 'insufficient-funds',
      message: 'evm:1: no funds',
      retryable: false,
    });
    expect(describeFailure(new Error('boom'))).toEqual({
      code: 'internal',
      message: 'boom',
      retryable: true,
    });
  });
});
