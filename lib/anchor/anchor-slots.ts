/**
 * A batch's anchors: which slot each one fills (one root transaction per chain, one per inline part), how one
 * is merged into the list, when the batch is next due for the finality poller, the batch state they add up
 * to, and the AnchorRef of a transaction just submitted. Every adapter stores what these rules compute; none
 * of them repeats one.
 *
 * Writes go through addAnchor: a compare-and-set on the batch's version (BatchStore.compareAndSetAnchors),
 * retried on conflict over a fresh read. The submit path (anchor-pending.ts), the finality poller
 * (finality-poller.ts) and fsck's repair may write the same batch at once, in one process or in two (a
 * runtime and a Lambda, two Lambdas during a lease handover); each write lands on top of the others.
 */
import type { AnchorRef, BatchEntry, BatchState, BatchStore } from '../ports.js';
import { AnchorError } from './anchor-error.js';

/** Which anchor of a batch an AnchorRef is: adding an anchor replaces the one in the same slot. */
export const anchorSlot = (a: Pick<AnchorRef, 'chainId' | 'kind' | 'part'>): string =>
  a.kind === 'inline' ? `${a.chainId}#inline#${a.part ?? 0}` : a.chainId;

/** The anchors with `anchor` in its slot: added, or in place of the one there. */
export function withAnchor(anchors: readonly AnchorRef[], anchor: AnchorRef): AnchorRef[] {
  const slot = anchorSlot(anchor);
  return anchors.filter((a) => anchorSlot(a) !== slot).concat(anchor);
}

/** The earliest nextCheckAt of a batch's anchors: the key of BatchStore.listAnchorsDue. */
export const batchNextCheckAt = (anchors: readonly AnchorRef[]): number | undefined => {
  let min: number | undefined;
  for (const a of anchors) {
    if (a.nextCheckAt !== undefined && (min === undefined || a.nextCheckAt < min)) min = a.nextCheckAt;
  }
  return min;
};

/** How many fresh reads a write may take before giving up: each conflict means another writer progressed. */
const ADD_ANCHOR_ATTEMPTS = 10;

/**
 * Adds (or replaces) the anchor in its slot and sets the batch's state, over whatever the batch holds when
 * the write lands. Idempotent. Throws if the batch does not exist, or if it lost ADD_ANCHOR_ATTEMPTS races
 * in a row.
 */
export async function addAnchor(
  store: Pick<BatchStore, 'getBatchVersioned' | 'compareAndSetAnchors'>,
  batchId: string,
  anchor: AnchorRef,
  state: BatchState,
): Promise<void> {
  for (let attempt = 0; attempt < ADD_ANCHOR_ATTEMPTS; attempt++) {
    const current = await store.getBatchVersioned(batchId);
    if (!current) throw new AnchorError('batch-missing', `batch ${batchId} not found`);
    const anchors = withAnchor(current.batch.anchors, anchor);
    const r = await store.compareAndSetAnchors(batchId, current.version, { anchors, state });
    if (r.status === 'written') return;
    if (r.status === 'not-found') throw new AnchorError('batch-missing', `batch ${batchId} not found`);
  }
  throw new AnchorError(
    'anchor-contended',
    `batch ${batchId}: gave up adding an anchor after ${ADD_ANCHOR_ATTEMPTS} concurrent updates`,
  );
}

/**
 * The batch's state from its anchors: every configured chain's root anchor, and every planned inline part of
 * a chain that takes them, must be in a block for 'anchored' and final for 'final'. An anchor written before
 * finality was tracked (no phase) was accepted on submission and counts as in a block.
 */
export function batchStateOf(
  batch: Pick<BatchEntry, 'anchors' | 'inline'>,
  chains: readonly { chainId: string; inline: boolean }[],
): BatchState {
  const slots: string[] = [];
  for (const c of chains) {
    slots.push(c.chainId);
    if (!c.inline) continue;
    (batch.inline ?? []).forEach((p, part) => {
      if (p.chainId === c.chainId) slots.push(anchorSlot({ chainId: c.chainId, kind: 'inline', part }));
    });
  }
  if (slots.length === 0) return 'built';
  const bySlot = new Map(batch.anchors.map((a) => [anchorSlot(a), a]));
  let allFinal = true;
  for (const slot of slots) {
    const a = bySlot.get(slot);
    if (!a) return 'built';
    const phase = a.phase ?? 'anchored';
    if (phase !== 'anchored' && phase !== 'final') return 'built';
    if (phase !== 'final') allFinal = false;
  }
  return allFinal ? 'final' : 'anchored';
}

/** The AnchorRef of a transaction just submitted: due for a look at once. */
export function submittedAnchor(a: {
  chainId: string;
  txId: string;
  at: number;
  kind: 'root' | 'inline';
  part?: number;
  payloadSha256?: string;
}): AnchorRef {
  const ref: AnchorRef = {
    chainId: a.chainId,
    txId: a.txId,
    submittedAt: a.at,
    kind: a.kind,
    phase: 'submitted',
    attempt: 1,
    reorgs: 0,
    confirmations: 0,
    nextCheckAt: a.at,
  };
  if (a.part !== undefined) ref.part = a.part;
  if (a.payloadSha256 !== undefined) ref.payloadSha256 = a.payloadSha256;
  return ref;
}
