/**
 * What can honestly be given back to an embedded ledger that lost or changed entries. Only entries the
 * ledger itself signed qualify: those still in the file past a damaged line, and the copies batches keep of
 * their anchors' entries (AnchorRef.ledgerEntry). Each must verify under the ledger's key and chain onto the
 * one before, so the repaired ledger holds, byte for byte, what proofs already hold. What cannot be given
 * back is listed, for a restore from backup or an explicit, audited re-anchoring (docs/operations.md).
 */
import { dedupKeyOf } from '../anchor/anchor-bytes.js';
import { type LedgerEntry, verifyLedgerEntry } from '../core/ledger-entry.js';
import type { AnchorRef, BatchEntry } from '../ports.js';
import type { LedgerView } from './findings.js';

export type RestorableEntry = LedgerEntry & { dedupKey?: string };

/** A batch's anchor whose ledger entry is missing, with the batch's copy of it if it kept one. */
export interface MissingAnchor {
  batch: BatchEntry;
  anchor: AnchorRef;
}

export interface LedgerRestorePlan {
  /** Entries to follow the ledger's verified prefix, in height order. */
  append: RestorableEntry[];
  /**
   * Whether the repaired ledger keeps every entry the stored one verifiably holds. When false, some valid
   * entries sit after a gap nothing can fill; the ledger is only rewritten under --reanchor.
   */
  lossless: boolean;
  /** Whether the stored ledger must be rewritten (a damaged line or torn tail), rather than appended to. */
  rewrite: boolean;
  /** Anchors still without an entry once the ledger is its verified prefix plus `append`. */
  unrestorable: MissingAnchor[];
}

/**
 * `missing`: anchors whose entry the ledger does not hold at all; `onStrays`: anchors whose entry survives
 * only past a damaged line, and is kept only if the repaired chain reaches it.
 */
export function planLedgerRestore(
  view: LedgerView,
  missing: readonly MissingAnchor[],
  onStrays: readonly MissingAnchor[] = [],
): LedgerRestorePlan {
  const byHeight = new Map<number, RestorableEntry[]>();
  const add = (e: RestorableEntry) => {
    if (!verifyLedgerEntry(e, view.publicKey).ok) return;
    const list = byHeight.get(e.height) ?? [];
    if (!list.some((x) => x.hash === e.hash)) list.push(e);
    byHeight.set(e.height, list);
  };
  for (const e of view.strays) add(e);
  for (const { batch, anchor } of missing) {
    if (anchor.ledgerEntry && anchor.ledgerEntry.hash === anchor.txId)
      add({ ...anchor.ledgerEntry, dedupKey: dedupKeyOf(batch.batchId, anchor, anchor.attempt ?? 1) });
  }

  const append: RestorableEntry[] = [];
  let prev = view.entries.at(-1)?.hash ?? '0'.repeat(64);
  for (let h = view.entries.length; ; h++) {
    const next = byHeight.get(h)?.find((e) => e.prev === prev);
    if (!next) break;
    append.push(next);
    prev = next.hash;
  }
  const kept = new Set(append.map((e) => e.hash));
  return {
    append,
    lossless: view.strays.every((e) => kept.has(e.hash)),
    rewrite: view.problems.length > 0 || view.torn !== undefined,
    unrestorable: [...missing, ...onStrays].filter(({ anchor }) => !kept.has(anchor.txId)),
  };
}
