/**
 * The store check (tools/fsck.ts runs it over the embedded store): the ledger's chain and signatures, every
 * batch against the ledger and its stored tree, every record against its envelope and its device's hash
 * chain. Reads only. It returns what it found and what a repair could do about it; applying repairs is
 * separate (repair-store.ts), and only on request.
 */
import type { IndexStore, ObjectStore, StatementStore } from '../ports.js';
import { checkBatches } from './check-batches.js';
import { checkRecords } from './check-records.js';
import type { FsckCounts, FsckFinding, FsckReport, LedgerView } from './findings.js';
import type { LedgerLookup } from './ledger-anchors.js';
import { type LedgerRestorePlan, planLedgerRestore } from './ledger-repair.js';

export interface RepairPlan {
  ledger?: LedgerRestorePlan;
  trees: { batchId: string; treeKey: string; bytes: Uint8Array }[];
}

export async function runFsck(deps: {
  index: IndexStore;
  objects: ObjectStore;
  /** Key events and heads (statements.sqlite), when the store has them: members of batches too. */
  statements?: StatementStore;
  /** The embedded ledger, when the store has one. */
  ledger?: LedgerView;
}): Promise<FsckReport & { plan: RepairPlan }> {
  const findings: FsckFinding[] = [];
  const view = deps.ledger;

  if (view) {
    for (const p of view.problems) {
      findings.push({
        area: 'ledger',
        code: `ledger-${p.code}`,
        severity: 'error',
        subject: `ledger ${p.where}`,
        message: p.message,
      });
    }
    if (view.torn) {
      findings.push({
        area: 'ledger',
        code: 'ledger-torn-tail',
        severity: 'warning',
        subject: `ledger ${view.torn.where}`,
        message: 'an append that never finished; the ledger cuts it off when it opens',
        repair: 'cut-torn-line',
      });
    }
  }

  // Anchors are looked up among every entry that verifies on its own, so damage to one line shows as that
  // line and the one batch pointing to it, not as every later batch.
  let lookup: (LedgerLookup & { inChain(txId: string): boolean }) | undefined;
  if (view) {
    const byHash = new Map([...view.entries, ...view.strays].map((e) => [e.hash, e]));
    const chain = new Set(view.entries.map((e) => e.hash));
    lookup = {
      chainId: view.chainId,
      entry: (txId) => byHash.get(txId),
      inChain: (txId) => chain.has(txId),
    };
  }
  const batches = await checkBatches(deps, lookup, findings);

  let ledgerPlan: LedgerRestorePlan | undefined;
  if (view) {
    for (const [i, e] of view.entries.entries()) {
      if (!batches.referenced.has(e.hash)) {
        findings.push({
          area: 'ledger',
          code: 'ledger-entry-unreferenced',
          severity: 'warning',
          subject: `ledger height ${i}`,
          message: `entry ${e.hash} is anchored by no batch (a crash between submitting and recording it leaves one until the next start)`,
        });
      }
    }
    ledgerPlan = planLedgerRestore(view, batches.missing, batches.onStrays);
    const restored = new Set(ledgerPlan.append.map((e) => e.hash));
    // A rewrite that would drop verifiable entries is not a repair: it waits for --reanchor.
    const canRepair = !ledgerPlan.rewrite || ledgerPlan.lossless;
    for (const m of batches.missing)
      m.finding.repair = canRepair && restored.has(m.anchor.txId) ? 'restore-ledger' : 'reanchor';
    if (canRepair)
      for (const f of findings)
        if (f.area === 'ledger' && f.severity === 'error' && f.repair === undefined)
          f.repair = 'restore-ledger';
  }

  const records = await checkRecords(deps, findings);
  const counts: FsckCounts = {
    ledgerEntries: view?.entries.length ?? 0,
    batches: batches.batches,
    anchors: batches.anchors,
    trees: batches.trees,
    devices: records.devices,
    records: records.records,
  };
  return {
    findings,
    counts,
    plan: { ...(ledgerPlan ? { ledger: ledgerPlan } : {}), trees: batches.rebuildableTrees },
  };
}
