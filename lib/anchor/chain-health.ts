/**
 * Per-chain backoff after failures, and the health it shows in the anchoring status. Keys are a chain id,
 * or `<chainId>#inline` for its inline parts, so a chain whose inline transactions fail still anchors roots.
 *
 * A retryable failure waits the shared exponential delay (lib/core/backoff.ts); one that needs an operator
 * (no funds, key locked) waits the longest, so fixing it needs no restart. Memory only: after a restart
 * every chain is tried at once.
 */
import { type BackoffPolicy, backoffDelayMs } from '../core/backoff.js';
import { isChainFailure } from '../ports.js';

export interface ChainHealth {
  state: 'ok' | 'failing';
  consecutiveFailures: number;
  lastError?: { code: string; message: string; retryable: boolean; at: number };
  nextAttemptAt?: number;
}

export interface FailureDescription {
  code: string;
  message: string;
  retryable: boolean;
}

export class ChainBackoff {
  private readonly h = new Map<string, ChainHealth>();
  constructor(private readonly policy: BackoffPolicy) {}

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

  failed(key: string, error: FailureDescription, now: number): void {
    const n = this.get(key).consecutiveFailures + 1;
    const delay = error.retryable ? backoffDelayMs(n, this.policy) : this.policy.maxMs;
    this.h.set(key, {
      state: 'failing',
      consecutiveFailures: n,
      lastError: { ...error, at: now },
      nextAttemptAt: now + delay,
    });
  }
}

/** A chain's typed failure keeps its code; anything else is 'internal' and worth retrying. */
export function describeFailure(e: unknown): FailureDescription {
  if (isChainFailure(e)) return { code: e.code, message: e.message, retryable: e.retryable };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e), retryable: true };
}
