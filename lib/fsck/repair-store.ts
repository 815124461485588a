/**
 * The repairs fsck applies when asked, over the ports. Each one only puts back what can be checked against
 * something anchored: a tree whose recomputed root is the batch's anchored root. Re-anchoring is the one
 * that changes history (new ledger heights), so it needs its own flag and a reason, and is audited.
 */
import { addAnchor } from '../anchor/anchor-slots.js';
import { newId } from '../core/ids.js';
import type { AnchorRef, AuditLog, BatchStore, ObjectStore } from '../ports.js';
import type { MissingAnchor } from './ledger-repair.js';

/** Writes rebuilt tree objects (RepairPlan.trees). */
export async function rebuildTrees(
  objects: ObjectStore,
  trees: readonly { treeKey: string; bytes: Uint8Array }[],
): Promise<number> {
  for (const t of trees) await objects.put(t.treeKey, t.bytes);
  return trees.length;
}

/**
 * Marks each anchor whose ledger entry is lost for good as dropped, due now: the anchorer's finality poller
 * then submits the batch's root again (attempt + 1, a new height), keeping the lost txId in `replaced`. One
 * audit event `batch-reanchored` per batch, with the operator's reason and the lost entries.
 */
export async function reanchorLostAnchors(
  deps: { index: BatchStore & AuditLog; clock: () => number },
  lost: readonly MissingAnchor[],
  req: { actor: string; reason: string },
): Promise<{ batches: number; anchors: number }> {
  const byBatch = new Map<string, MissingAnchor[]>();
  for (const m of lost) byBatch.set(m.batch.batchId, [...(byBatch.get(m.batch.batchId) ?? []), m]);
  let anchors = 0;
  for (const [batchId, ms] of byBatch) {
    const now = deps.clock();
    for (const { anchor } of ms) {
      const { ledgerEntry: _lost, ...rest } = anchor;
      const dropped: AnchorRef = {
        ...rest,
        phase: 'dropped',
        nextCheckAt: now,
        lastError: {
          code: 'ledger-entry-lost',
          message: `the embedded ledger lost entry ${anchor.txId}; re-anchored by fsck`,
          at: now,
        },
      };
      await addAnchor(deps.index, batchId, dropped, 'built');
      anchors++;
    }
    const lostEntries = ms
      .map(
        ({ anchor }) =>
          `${anchor.txId}${anchor.block?.height === undefined ? '' : `@${anchor.block.height}`}`,
      )
      .join(', ');
    await deps.index.appendAudit({
      id: newId(now, 'au-'),
      at: now,
      actor: req.actor,
      action: 'batch-reanchored',
      target: batchId,
      reason: `${req.reason} (lost ledger entries: ${lostEntries})`,
      outcome: 'succeeded',
    });
  }
  return { batches: byBatch.size, anchors };
}
