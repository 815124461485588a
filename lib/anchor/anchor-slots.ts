/**
 * A batch's anchors: which slot each one fills (one root transaction per chain, one per inline part), the
 * batch state they add up to, and the AnchorRef of a transaction just submitted. The submit path
 * (anchor-pending.ts) and the finality poller (finality-poller.ts) both change anchors; one pure function of
 * the anchors (batchStateOf) keeps them from disagreeing.
 */
import type { AnchorRef, BatchEntry, BatchState } from '../ports.js';
import { anchorSlot } from '../ports.js';

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
