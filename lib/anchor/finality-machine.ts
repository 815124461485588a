/**
 * Confirmations and reorganisations of one anchor transaction (one batch on one chain), as a pure state
 * machine: (previous state, what a lookup saw, config, now) → (next state, what to do). The anchorer stores
 * the state with the batch, calls Chain.lookup when `nextCheckAt` comes, and acts on the action. No I/O.
 *
 *   submitted ──in a block──▶ anchored ──≥ N confirmations──▶ final
 *       │  ▲                     │  │                           │
 *       │  └──back in the pool───┘  └─other block: re-anchored  │
 *       │                           (reorg, stays anchored)      │
 *       └─unseen past the grace─▶ dropped ◀──gone after being in a block (reorganised out)
 *                                    │
 *                                    └─action 'resubmit' → resubmitted(): submitted, attempt + 1
 *
 * Why these rules:
 * - "Not found" right after submitting is normal behind load-balanced RPC (the node asked is not the one
 *   that took it), so a never-seen transaction is only declared dropped after `dropAfterMs`.
 * - A transaction seen in a block and then not found was reorganised out (or its block was orphaned and the
 *   mempool forgot it): resubmit at once; the data is the same, so nothing is lost but a fee.
 * - The same transaction in a different block (new blockHash) is a reorganisation it survived: it stays
 *   anchored with the new block, its confirmations start over, and the reorg is counted and reported.
 * - 'final' is where polling stops, but a lookup that still happens (verify does them) and finds the
 *   transaction gone is reported loudly: a reorganisation deeper than N is an operator's business.
 * - Data that differs from what was submitted means the txId names someone else's transaction: 'mismatch',
 *   a stop state, never silently accepted.
 */

import { toHex } from '../core/bytes.js';
import { sha256 } from '../core/hash.js';

export type FinalityPhase = 'submitted' | 'anchored' | 'final' | 'dropped' | 'mismatch';

export interface FinalityConfig {
  /** Confirmations (head − block + 1) at which the anchor is final. 1 for the embedded ledger. */
  confirmations: number;
  /** A transaction never seen on chain this long after submission is treated as dropped. */
  dropAfterMs: number;
  /** A transaction seen but still not in a block this long after submission is reported stuck. */
  stuckAfterMs: number;
  /** How soon to look again while not final. */
  pollMs: number;
}

export interface FinalityState {
  chainId: string;
  txId: string;
  phase: FinalityPhase;
  /**
   * Hex of the bytes submitted, to check what the chain returns against; or `sha256:` + the hex SHA-256 of
   * them, for payloads the anchorer does not keep (inline packets).
   */
  payload: string;
  /** 1 for the first submission; each resubmission adds one. */
  attempt: number;
  submittedAt: number;
  /** Last time a lookup found the transaction at all. */
  seenAt?: number;
  block?: { height?: number; hash?: string };
  confirmations: number;
  /** First time it was seen in a block, for time-to-anchor. */
  anchoredAt?: number;
  finalAt?: number;
  /** Reorganisations this anchor went through (moved to another block or back to the pool). */
  reorgs: number;
  nextCheckAt?: number;
  /** Last lookup failure, kept visible until a lookup succeeds. */
  lastError?: { code: string; message: string; at: number };
}

/** What the lookup returned, in the terms the machine needs (ChainTx fits it). */
export type LookupObservation =
  | {
      kind: 'found';
      tx: { data: Uint8Array; height?: number; blockHash?: string; confirmations: number };
    }
  | { kind: 'not-found' }
  | { kind: 'error'; code: string; message: string };

export type FinalityAction =
  | { kind: 'none' }
  /** Submit the same payload again (new dedupKey per attempt), then call resubmitted(). */
  | { kind: 'resubmit'; reason: 'dropped' | 'reorganised' | 'reorganised-after-final' }
  /** Tell an operator; nothing automatic helps (fee too low, deep reorg, foreign data). */
  | { kind: 'alert'; reason: 'stuck' | 'mismatch' | 'reorg-after-final' };

export interface FinalityEvent {
  kind: 'anchored' | 'final' | 'reorg' | 'dropped' | 'back-to-pool' | 'mismatch' | 'stuck';
  at: number;
  detail?: string;
}

export interface FinalityStep {
  state: FinalityState;
  action: FinalityAction;
  events: FinalityEvent[];
}

export function submittedState(a: {
  chainId: string;
  txId: string;
  payload: Uint8Array;
  submittedAt: number;
  cfg: FinalityConfig;
}): FinalityState {
  return {
    chainId: a.chainId,
    txId: a.txId,
    phase: 'submitted',
    payload: toHex(a.payload),
    attempt: 1,
    submittedAt: a.submittedAt,
    confirmations: 0,
    reorgs: 0,
    nextCheckAt: a.submittedAt + a.cfg.pollMs,
  };
}

/** After acting on 'resubmit': the new transaction starts over; the history (attempt, reorgs) stays. */
export function resubmitted(
  prev: FinalityState,
  txId: string,
  now: number,
  cfg: FinalityConfig,
): FinalityState {
  const { block: _b, anchoredAt: _a, finalAt: _f, seenAt: _s, lastError: _e, ...rest } = prev;
  return {
    ...rest,
    txId,
    phase: 'submitted',
    attempt: prev.attempt + 1,
    submittedAt: now,
    confirmations: 0,
    nextCheckAt: now + cfg.pollMs,
  };
}

const NONE: FinalityAction = { kind: 'none' };

export function stepFinality(
  prev: FinalityState,
  obs: LookupObservation,
  cfg: FinalityConfig,
  now: number,
): FinalityStep {
  const events: FinalityEvent[] = [];
  // Stop states: only a resubmission (or an operator) moves them.
  if (prev.phase === 'dropped' || prev.phase === 'mismatch') {
    return { state: prev, action: NONE, events };
  }

  if (obs.kind === 'error') {
    // The chain could not be asked; nothing is concluded from silence. Look again later.
    return {
      state: {
        ...prev,
        lastError: { code: obs.code, message: obs.message, at: now },
        nextCheckAt: now + cfg.pollMs,
      },
      action: NONE,
      events,
    };
  }

  const { lastError: _cleared, ...base } = prev;

  if (obs.kind === 'not-found') {
    const everInBlock = prev.anchoredAt !== undefined;
    if (prev.phase === 'final') {
      events.push({ kind: 'dropped', at: now, detail: 'final anchor no longer on chain' });
      return {
        state: withoutBlock({ ...base, phase: 'dropped', reorgs: prev.reorgs + 1 }),
        action: { kind: 'resubmit', reason: 'reorganised-after-final' },
        events,
      };
    }
    if (everInBlock) {
      events.push({ kind: 'dropped', at: now, detail: 'reorganised out after being in a block' });
      return {
        state: withoutBlock({ ...base, phase: 'dropped', reorgs: prev.reorgs + 1 }),
        action: { kind: 'resubmit', reason: 'reorganised' },
        events,
      };
    }
    // Never in a block: give the network the grace period, counted from the last sighting or submission.
    if (now - (prev.seenAt ?? prev.submittedAt) >= cfg.dropAfterMs) {
      events.push({ kind: 'dropped', at: now, detail: 'not found on chain' });
      return {
        state: withoutBlock({ ...base, phase: 'dropped' }),
        action: { kind: 'resubmit', reason: 'dropped' },
        events,
      };
    }
    return { state: { ...base, nextCheckAt: now + cfg.pollMs }, action: NONE, events };
  }

  const tx = obs.tx;
  if (!carriesPayload(tx.data, prev.payload)) {
    events.push({ kind: 'mismatch', at: now, detail: 'transaction carries other data than was submitted' });
    return {
      state: { ...base, phase: 'mismatch', seenAt: now },
      action: { kind: 'alert', reason: 'mismatch' },
      events,
    };
  }

  const inBlock = tx.confirmations >= 1 && (tx.blockHash !== undefined || tx.height !== undefined);
  if (!inBlock) {
    let reorgs = prev.reorgs;
    if (prev.phase === 'anchored' || prev.phase === 'final') {
      reorgs++;
      events.push({ kind: 'back-to-pool', at: now, detail: `left block ${describeBlock(prev.block)}` });
    }
    const state = withoutBlock({ ...base, phase: 'submitted', seenAt: now, confirmations: 0, reorgs });
    delete state.anchoredAt;
    delete state.finalAt;
    state.nextCheckAt = now + cfg.pollMs;
    const stuck = now - prev.submittedAt >= cfg.stuckAfterMs;
    if (stuck) events.push({ kind: 'stuck', at: now, detail: `pending for ${now - prev.submittedAt} ms` });
    return {
      state,
      action:
        prev.phase === 'final'
          ? { kind: 'alert', reason: 'reorg-after-final' }
          : stuck
            ? { kind: 'alert', reason: 'stuck' }
            : NONE,
      events,
    };
  }

  const block: { height?: number; hash?: string } = {};
  if (tx.height !== undefined) block.height = tx.height;
  if (tx.blockHash !== undefined) block.hash = tx.blockHash;
  const moved =
    prev.block !== undefined &&
    ((prev.block.hash !== undefined && block.hash !== undefined && prev.block.hash !== block.hash) ||
      (prev.block.hash === undefined && prev.block.height !== block.height));
  let reorgs = prev.reorgs;
  let anchoredAt = prev.anchoredAt;
  if (moved) {
    reorgs++;
    events.push({ kind: 'reorg', at: now, detail: `${describeBlock(prev.block)} → ${describeBlock(block)}` });
  }
  if (anchoredAt === undefined) {
    anchoredAt = now;
    events.push({ kind: 'anchored', at: now, detail: describeBlock(block) });
  }
  const isFinal = tx.confirmations >= cfg.confirmations;
  const state: FinalityState = {
    ...base,
    phase: isFinal ? 'final' : 'anchored',
    seenAt: now,
    block,
    confirmations: tx.confirmations,
    anchoredAt,
    reorgs,
  };
  if (isFinal) {
    state.finalAt = prev.phase === 'final' && !moved && prev.finalAt !== undefined ? prev.finalAt : now;
    if (prev.phase !== 'final' || moved)
      events.push({ kind: 'final', at: now, detail: `${tx.confirmations} confirmations` });
    delete state.nextCheckAt;
  } else {
    delete state.finalAt;
    state.nextCheckAt = now + cfg.pollMs;
  }
  const action: FinalityAction =
    prev.phase === 'final' && moved ? { kind: 'alert', reason: 'reorg-after-final' } : NONE;
  return { state, action, events };
}

const DIGEST = 'sha256:';

/** Whether `data` is what was submitted: the bytes themselves, or their digest. */
function carriesPayload(data: Uint8Array, payload: string): boolean {
  return payload.startsWith(DIGEST)
    ? toHex(sha256(data)) === payload.slice(DIGEST.length)
    : toHex(data) === payload;
}

/** The `payload` of a FinalityState that keeps only the digest of `data`. */
export function payloadDigest(data: Uint8Array): string {
  return `${DIGEST}${toHex(sha256(data))}`;
}

function withoutBlock(s: FinalityState): FinalityState {
  const { block: _b, ...rest } = s;
  return { ...rest, confirmations: 0 };
}

function describeBlock(b: { height?: number; hash?: string } | undefined): string {
  if (!b) return 'no block';
  const h = b.hash ? b.hash.slice(0, 18) : '?';
  return b.height === undefined ? h : `#${b.height} ${h}`;
}

/** Time from (the latest) submission to the first block it was seen in; the chain's share of time-to-anchor. */
export function inclusionDelay(s: FinalityState): number | undefined {
  return s.anchoredAt === undefined ? undefined : s.anchoredAt - s.submittedAt;
}
