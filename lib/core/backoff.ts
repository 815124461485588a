/**
 * Exponential backoff, written once for every retry in lib/: pin jobs (lib/ipfs/pin-record.ts) and a chain's
 * submissions and lookups (lib/anchor/chain-health.ts). The delay doubles from `baseMs` per consecutive
 * failure, capped at `maxMs`.
 *
 * Pin jobs add "equal jitter" (half the delay fixed, half random): the fixed half keeps a down endpoint from
 * being hammered, the random half spreads the herd of jobs that all failed in the same outage so they do not
 * return in one burst. A chain's backoff is one timer per chain, not a herd, so it waits the full delay.
 */
export interface BackoffPolicy {
  /** Delay after the first failure. */
  baseMs: number;
  /** No delay grows beyond this: an endpoint back from a long outage is tried again within it. */
  maxMs: number;
}

/** The full delay after `failures` consecutive failed attempts (failures >= 1): base doubling, capped. */
export function backoffDelayMs(failures: number, policy: BackoffPolicy): number {
  const n = Math.max(1, Math.floor(failures));
  // 2^(n-1) overflows to Infinity for huge n, which the cap absorbs.
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
}

/**
 * The delay with equal jitter: between half and all of backoffDelayMs. `random` returns [0, 1); tests pass
 * a constant.
 */
export function retryDelayMs(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const half = backoffDelayMs(failures, policy) / 2;
  return Math.round(half + half * Math.min(Math.max(random(), 0), 1));
}
