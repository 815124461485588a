/**
 * The finality poller: confirmations and reorganisations of stored anchors, the bridge between the pure
 * state machine (finality-machine.ts), the chains and the BatchStore. Each anchor of a batch (one root
 * transaction per chain, plus inline transactions) carries its finality state in its AnchorRef; the poller
 * takes the batches whose anchors are due (BatchStore.listAnchorsDue), looks each due transaction up, steps
 * the machine, acts on it (a dropped or reorganised transaction is submitted again) and writes the anchor
 * back with the batch's new state (anchor-slots.ts: batchStateOf).
 *
 * A transaction pending past `stuckAfterMs` on a chain that can bump fees (Chain.replace: EVM) is replaced by
 * one paying more, under the same nonce; the old txId goes to `replaced`, and the stuck timer starts over, so
 * the fee rises once per `stuckAfterMs` until it is mined or the chain's fee cap stops it (then the 'stuck'
 * alert stays). Only one of the two can be mined: if the new one never shows up and an earlier one of
 * `replaced` is in a block, the anchor points back to that one.
 */
import type { LedgerEntry } from '../core/ledger-entry.js';
import {
  type AnchorRef,
  type BatchEntry,
  type BatchState,
  type BatchStore,
  type Chain,
  type ChainTx,
  isChainFailure,
  type ObjectStore,
  type RecordIndex,
} from '../ports.js';
import { dedupKeyOf, inlinePacket, rootPayload } from './anchor-bytes.js';
import { LeaseLostError } from './anchor-lease.js';
import { addAnchor, batchStateOf, withAnchor } from './anchor-slots.js';
import {
  type FinalityAction,
  type FinalityConfig,
  type FinalityEvent,
  type FinalityState,
  type LookupObservation,
  resubmitted,
  stepFinality,
} from './finality-machine.js';

/** Used when a runtime gives no finality configuration for a chain: one confirmation, as the ledger needs. */
export const DEFAULT_FINALITY: FinalityConfig = {
  confirmations: 1,
  dropAfterMs: 10 * 60_000,
  stuckAfterMs: 30 * 60_000,
  pollMs: 5_000,
};

/** A stop state ('mismatch') or an unknown chain is looked at again this much later, so it stays visible. */
export const STOPPED_RECHECK_MS = 60 * 60_000;

/** What the poller and the submit path report, for logs and metrics. */
export interface AnchorEvent {
  batchId: string;
  chainId: string;
  txId: string;
  kind: 'root' | 'inline';
  event:
    | FinalityEvent['kind']
    | 'resubmitted'
    | 'resubmit-failed'
    | 'fee-bumped'
    | 'bump-failed'
    | 'earlier-tx-mined'
    | 'lookup-failed'
    | 'alert'
    | 'chain-not-configured';
  at: number;
  detail?: string;
  /** The failure's stable code, for the *-failed events. */
  code?: string;
}

export interface ChainFinality {
  chain: Chain;
  finality: FinalityConfig;
  /** Whether this chain also takes inline parts (an inline part of a chain without it is not waited for). */
  inline: boolean;
}

function toState(a: AnchorRef, payload: string): FinalityState {
  const s: FinalityState = {
    chainId: a.chainId,
    txId: a.txId,
    phase: a.phase ?? 'submitted',
    payload,
    attempt: a.attempt ?? 1,
    submittedAt: a.submittedAt,
    confirmations: a.confirmations ?? 0,
    reorgs: a.reorgs ?? 0,
  };
  if (a.seenAt !== undefined) s.seenAt = a.seenAt;
  if (a.block !== undefined) s.block = a.block;
  if (a.anchoredAt !== undefined) s.anchoredAt = a.anchoredAt;
  if (a.finalAt !== undefined) s.finalAt = a.finalAt;
  if (a.nextCheckAt !== undefined) s.nextCheckAt = a.nextCheckAt;
  if (a.lastError !== undefined) s.lastError = a.lastError;
  return s;
}

/** The anchor with the machine's state written back; what only the anchor knows (kind, fee...) is kept. */
function fromState(a: AnchorRef, s: FinalityState): AnchorRef {
  const {
    block: _b,
    seenAt: _s,
    anchoredAt: _a,
    finalAt: _f,
    nextCheckAt: _n,
    lastError: _e,
    confirmations: _c,
    ...kept
  } = a;
  const out: AnchorRef = {
    ...kept,
    txId: s.txId,
    submittedAt: s.submittedAt,
    phase: s.phase,
    attempt: s.attempt,
    reorgs: s.reorgs,
    confirmations: s.confirmations,
  };
  if (s.seenAt !== undefined) out.seenAt = s.seenAt;
  if (s.block !== undefined) out.block = s.block;
  if (s.anchoredAt !== undefined) out.anchoredAt = s.anchoredAt;
  if (s.finalAt !== undefined) out.finalAt = s.finalAt;
  if (s.nextCheckAt !== undefined) out.nextCheckAt = s.nextCheckAt;
  if (s.lastError !== undefined) out.lastError = s.lastError;
  return out;
}

/** The expected data of an anchor, in the machine's terms: the root payload's hex, or an inline digest. */
function expectedPayload(batch: BatchEntry, a: AnchorRef): string {
  if (a.kind === 'inline') return `sha256:${a.payloadSha256 ?? ''}`;
  return Buffer.from(rootPayload(batch)).toString('hex');
}

async function observe(chain: Chain, txId: string): Promise<{ obs: LookupObservation; tx?: ChainTx }> {
  try {
    const tx = await chain.lookup(txId);
    return tx ? { obs: { kind: 'found', tx }, tx } : { obs: { kind: 'not-found' } };
  } catch (e) {
    const code = isChainFailure(e) ? e.code : 'lookup-failed';
    return { obs: { kind: 'error', code, message: e instanceof Error ? e.message : String(e) } };
  }
}

export interface StepResult {
  anchor: AnchorRef;
  action: FinalityAction;
  events: AnchorEvent[];
  /** The lookup failed: the chain could not be asked. */
  lookupFailed?: { code: string; message: string };
}

/**
 * One look at one anchor: lookup, state machine, and (on 'resubmit') the new submission. Never throws for a
 * chain's failure: it ends up in the anchor's lastError and in the events.
 */
export async function stepAnchor(
  deps: {
    index: RecordIndex;
    objects: ObjectStore;
    clock: () => number;
    /** Whether a resubmission may be sent now (the chain's backoff); default yes. */
    mayResubmit?: () => boolean;
    onResubmit?: (ok: boolean, error?: unknown) => void;
  },
  batch: BatchEntry,
  anchor: AnchorRef,
  cf: ChainFinality,
): Promise<StepResult> {
  const now = deps.clock();
  const kind = anchor.kind ?? 'root';
  const ev = (
    e: Omit<AnchorEvent, 'batchId' | 'chainId' | 'kind' | 'at'> & { at?: number },
  ): AnchorEvent => ({
    batchId: batch.batchId,
    chainId: anchor.chainId,
    kind,
    at: now,
    ...e,
  });
  const events: AnchorEvent[] = [];
  let state = toState(anchor, expectedPayload(batch, anchor));
  let action: FinalityAction = { kind: 'none' };
  let fee: string | undefined = anchor.fee;
  let lookupFailed: StepResult['lookupFailed'];
  let ledgerEntry: LedgerEntry | undefined;
  /** What this step did to the anchor's txId: the txIds it no longer points at, oldest first. */
  let replaced = anchor.replaced ?? [];
  const bytesOf = () =>
    kind === 'inline'
      ? inlinePacket(deps.index, deps.objects, batch.inline?.[anchor.part ?? 0]?.records ?? [])
      : Promise.resolve(rootPayload(batch));

  if (state.phase !== 'dropped') {
    let { obs, tx } = await observe(cf.chain, anchor.txId);
    if (obs.kind === 'not-found' && state.phase === 'submitted' && replaced.length > 0) {
      // After a fee bump only one of the two can be mined: an earlier one in a block is the anchor.
      const earlier = await minedEarlier(cf.chain, replaced);
      if (earlier) {
        events.push(
          ev({ txId: earlier.txId, event: 'earlier-tx-mined', detail: `instead of ${anchor.txId}` }),
        );
        replaced = [...replaced.filter((r) => r !== earlier.txId), anchor.txId];
        state = { ...state, txId: earlier.txId };
        obs = { kind: 'found', tx: earlier.tx };
        tx = earlier.tx;
      }
    }
    if (tx?.evidence?.kind === 'embedded-ledger' && tx.evidence.entry.hash === state.txId)
      ledgerEntry = tx.evidence.entry;
    const step = stepFinality(state, obs, cf.finality, now);
    state = step.state;
    action = step.action;
    for (const e of step.events) {
      events.push(ev({ txId: state.txId, event: e.kind, ...(e.detail ? { detail: e.detail } : {}) }));
    }
    if (obs.kind === 'error') {
      lookupFailed = { code: obs.code, message: obs.message };
      events.push(ev({ txId: anchor.txId, event: 'lookup-failed', code: obs.code, detail: obs.message }));
    }
    if (tx?.fee !== undefined && (state.phase === 'anchored' || state.phase === 'final')) fee = tx.fee;
    if (action.kind === 'alert' && action.reason === 'stuck' && cf.chain.replace) {
      const bumped = await bump(cf.chain, state.txId, bytesOf, deps.mayResubmit);
      if (bumped.kind === 'replaced') {
        const at = deps.clock();
        events.push(ev({ txId: bumped.txId, event: 'fee-bumped', detail: `replaces ${state.txId}` }));
        replaced = [...replaced, state.txId];
        state = { ...resubmitted(state, bumped.txId, at, cf.finality), nextCheckAt: at };
        fee = undefined;
        action = { kind: 'none' };
      } else if (bumped.kind === 'failed') {
        events.push(
          ev({ txId: state.txId, event: 'bump-failed', code: bumped.code, detail: bumped.message }),
        );
        deps.onResubmit?.(false, bumped.error);
      }
    }
    if (action.kind === 'alert') {
      events.push(ev({ txId: state.txId, event: 'alert', detail: action.reason }));
    }
    // A stop state needs an operator; looked at again hourly so it stays listed as due and visible.
    if (state.phase === 'mismatch') state = { ...state, nextCheckAt: now + STOPPED_RECHECK_MS };
  }

  let out = fromState(anchor, state);
  if (replaced.length > 0) out.replaced = replaced;
  if (fee !== undefined && out.phase !== 'dropped') out.fee = fee;
  else delete out.fee;
  // Kept once: what a ledger that loses its tail can be given back (lib/fsck/ledger-repair.ts).
  if (ledgerEntry && out.ledgerEntry === undefined) out.ledgerEntry = ledgerEntry;

  if (state.phase === 'dropped') {
    // Dropped or reorganised out: the same bytes again, under the next attempt's dedup key.
    if (deps.mayResubmit && !deps.mayResubmit()) {
      out.nextCheckAt = now + cf.finality.pollMs;
      return { anchor: out, action, events, ...(lookupFailed ? { lookupFailed } : {}) };
    }
    const attempt = state.attempt + 1;
    try {
      const bytes = await bytesOf();
      const { txId } = await cf.chain.submit(bytes, { dedupKey: dedupKeyOf(batch.batchId, anchor, attempt) });
      const at = deps.clock();
      const next = resubmitted(state, txId, at, cf.finality);
      out = fromState(anchor, { ...next, nextCheckAt: at });
      delete out.fee;
      delete out.ledgerEntry;
      out.replaced = [...replaced, state.txId];
      events.push(ev({ txId, event: 'resubmitted', detail: `attempt ${attempt}, replaces ${state.txId}` }));
      deps.onResubmit?.(true);
    } catch (e) {
      if (e instanceof LeaseLostError) throw e;
      const code = isChainFailure(e) ? e.code : 'resubmit-failed';
      const message = e instanceof Error ? e.message : String(e);
      out = {
        ...out,
        phase: 'dropped',
        lastError: { code, message, at: now },
        nextCheckAt: now + cf.finality.pollMs,
      };
      events.push(ev({ txId: state.txId, event: 'resubmit-failed', code, detail: message }));
      deps.onResubmit?.(false, e);
    }
  }
  return { anchor: out, action, events, ...(lookupFailed ? { lookupFailed } : {}) };
}

/** The most recent of `replaced` (at most three) that a lookup finds in a block, if any. */
async function minedEarlier(
  chain: Chain,
  replaced: readonly string[],
): Promise<{ txId: string; tx: ChainTx } | undefined> {
  for (const txId of replaced.slice(-3).reverse()) {
    const { tx } = await observe(chain, txId);
    if (tx && tx.confirmations >= 1) return { txId, tx };
  }
  return undefined;
}

type BumpResult =
  | { kind: 'replaced'; txId: string }
  | { kind: 'unchanged' }
  | { kind: 'failed'; code: string; message: string; error: unknown };

/** A stuck transaction, replaced by one paying more (Chain.replace), when the chain's backoff allows. */
async function bump(
  chain: Chain,
  txId: string,
  bytesOf: () => Promise<Uint8Array>,
  mayTry: (() => boolean) | undefined,
): Promise<BumpResult> {
  if (!chain.replace || (mayTry && !mayTry())) return { kind: 'unchanged' };
  try {
    const r = await chain.replace(txId, await bytesOf());
    return r.txId === txId ? { kind: 'unchanged' } : { kind: 'replaced', txId: r.txId };
  } catch (e) {
    if (e instanceof LeaseLostError) throw e;
    return {
      kind: 'failed',
      code: isChainFailure(e) ? e.code : 'bump-failed',
      message: e instanceof Error ? e.message : String(e),
      error: e,
    };
  }
}

export interface PollDeps {
  index: RecordIndex & BatchStore;
  objects: ObjectStore;
  chains: ReadonlyMap<string, ChainFinality>;
  clock: () => number;
  /** Most batches looked at per poll. Default 100. */
  limit?: number;
  /** Backoff of a chain whose lookups fail (rpc down): when its anchors may be looked at again. */
  retryAt?: (chainId: string) => number | undefined;
  onLookup?: (chainId: string, ok: boolean, error?: { code: string; message: string }) => void;
  mayResubmit?: (chainId: string) => boolean;
  onResubmit?: (chainId: string, ok: boolean, error?: unknown) => void;
}

export interface PollReport {
  checked: number;
  events: AnchorEvent[];
  /** Batches whose state changed, with the new state. */
  changed: { batchId: string; state: BatchState }[];
}

/**
 * Looks at every due anchor once. A chain whose lookup fails is not asked again in the same poll (it is
 * down or hanging; asking once per anchor would only multiply the timeouts): its other due anchors are
 * pushed to its retry time.
 */
export async function pollFinality(deps: PollDeps): Promise<PollReport> {
  const report: PollReport = { checked: 0, events: [], changed: [] };
  const now = deps.clock();
  const due = await deps.index.listAnchorsDue(now, deps.limit ?? 100);
  const failing = new Map<string, number>();
  const configured = [...deps.chains.values()].map((c) => ({ chainId: c.chain.chainId, inline: c.inline }));
  for (const batch of due) {
    let anchors = [...batch.anchors];
    let dirty = false;
    for (const a of batch.anchors) {
      if (a.nextCheckAt === undefined || a.nextCheckAt > now) continue;
      const cf = deps.chains.get(a.chainId);
      let updated: AnchorRef;
      if (!cf) {
        updated = {
          ...a,
          nextCheckAt: now + STOPPED_RECHECK_MS,
          lastError: { code: 'chain-not-configured', message: `${a.chainId} is not configured`, at: now },
        };
        report.events.push({
          batchId: batch.batchId,
          chainId: a.chainId,
          txId: a.txId,
          kind: a.kind ?? 'root',
          event: 'chain-not-configured',
          at: now,
        });
      } else {
        const backoff = failing.get(a.chainId) ?? deps.retryAt?.(a.chainId);
        if (backoff !== undefined && backoff > now) {
          if (a.nextCheckAt >= backoff) continue;
          updated = { ...a, nextCheckAt: backoff };
        } else {
          const r = await stepAnchor(
            {
              index: deps.index,
              objects: deps.objects,
              clock: deps.clock,
              mayResubmit: () => deps.mayResubmit?.(a.chainId) ?? true,
              onResubmit: (ok, e) => deps.onResubmit?.(a.chainId, ok, e),
            },
            { ...batch, anchors },
            a,
            cf,
          );
          report.checked++;
          report.events.push(...r.events);
          updated = r.anchor;
          deps.onLookup?.(a.chainId, r.lookupFailed === undefined, r.lookupFailed);
          if (r.lookupFailed) {
            const retry = deps.retryAt?.(a.chainId);
            failing.set(a.chainId, retry !== undefined && retry > now ? retry : now + cf.finality.pollMs);
            if (updated.nextCheckAt !== undefined)
              updated.nextCheckAt = Math.max(updated.nextCheckAt, failing.get(a.chainId) as number);
          }
        }
      }
      anchors = withAnchor(anchors, updated);
      await addAnchor(deps.index, batch.batchId, updated, batchStateOf({ ...batch, anchors }, configured));
      dirty = true;
    }
    const state = batchStateOf({ ...batch, anchors }, configured);
    if (dirty && state !== batch.state) report.changed.push({ batchId: batch.batchId, state });
  }
  return report;
}
