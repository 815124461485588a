/**
 * When a failed pin job is tried again. Exponential, capped, with "equal jitter" (half the delay fixed, half
 * random): the fixed half keeps a down endpoint from being hammered, the random half spreads the herd of jobs
 * that all failed in the same outage so they do not return in one burst.
 */
export interface BackoffPolicy {
  /** Delay after the first failure. */
  baseMs: number;
  /** No delay grows beyond this: an endpoint back from a long outage is tried again within it. */
  maxMs: number;
}

export const DEFAULT_PIN_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000 };

/**
 * Delay before the attempt that follows `failures` failed ones (failures >= 1). `random` returns [0, 1);
 * tests pass a constant.
 */
export function retryDelayMs(
  failures: number,
  policy: BackoffPolicy = DEFAULT_PIN_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(failures));
  // 2^(n-1) overflows to Infinity for huge n, which the cap absorbs.
  const full = Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
  const half = full / 2;
  return Math.round(half + half * Math.min(Math.max(random(), 0), 1));
}
