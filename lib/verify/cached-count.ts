/**
 * A count served from memory for a while. The public `/v1/health` on AWS counts the sparse pending index
 * (up to BACKLOG_THRESHOLD items, i.e. up to a million reads) on every call, and anyone can call it: served
 * from this cache, one warm verify instance counts at most once per `ttlMs`, however often it is asked.
 * Concurrent callers share the count in flight; a count that fails is not kept, so the next call tries again.
 */
export type CachedCount = () => Promise<number>;

export function cachedCount(
  count: () => Promise<number>,
  opts: { ttlMs: number; clock: () => number },
): CachedCount {
  // Programming errors (settings reach here validated by lib/runtime/config.ts or chain-config.ts): RangeErrors.
  if (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs < 0)
    throw new RangeError(`cache ttl ${opts.ttlMs} is not a non-negative integer`);
  let kept: { value: number; at: number } | undefined;
  let inFlight: Promise<number> | undefined;
  return () => {
    if (kept && opts.clock() - kept.at < opts.ttlMs) return Promise.resolve(kept.value);
    if (inFlight) return inFlight;
    const started = opts.clock();
    inFlight = count().then(
      (value) => {
        kept = { value, at: started };
        inFlight = undefined;
        return value;
      },
      (err: unknown) => {
        inFlight = undefined;
        throw err;
      },
    );
    return inFlight;
  };
}
