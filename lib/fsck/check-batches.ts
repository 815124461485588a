/**
 * Batches, one at a time, over the ports: their anchors against the embedded ledger, their stored trees
 * against the roots they anchored, and their members (leaves.json) against the record index and, for key
 * events and heads, the statement store. Plain functions over BatchStore, RecordIndex, StatementStore and
 * ObjectStore, so the same check could run over the AWS adapters.
 */
import { type BatchLeaves, batchLeavesKey, type LeafRef } from '../anchor/anchor-pending.js';
import { encodeTreeObject } from '../anchor/tree-object.js';
import { bytesEqual, fromBase64, fromHex, toHex } from '../core/bytes.js';
import { parseRecordId } from '../core/device-id.js';
import { buildTree, hashLeaf } from '../core/merkle.js';
import { readU64be } from '../core/u64.js';
import {
  type AnchorRef,
  type BatchEntry,
  type BatchStore,
  type ObjectStore,
  parseStatementId,
  type RecordIndex,
  type StatementStore,
} from '../ports.js';
import type { FsckFinding } from './findings.js';
import { checkLedgerAnchor, type LedgerLookup } from './ledger-anchors.js';
import type { MissingAnchor } from './ledger-repair.js';

const TREE_HEADER = 8 + 1 + 8;
const TREE_MAGIC = new TextEncoder().encode('IOTNTREE');

export interface BatchPassResult {
  batches: number;
  anchors: number;
  trees: number;
  /** Embedded anchors whose entry the ledger lacks, with their finding: what a ledger repair must give back. */
  missing: (MissingAnchor & { finding: FsckFinding })[];
  /**
   * Anchors whose entry is in the file only past a damaged line (LedgerView.strays): a repair that cannot
   * keep those entries must re-anchor these too.
   */
  onStrays: MissingAnchor[];
  /** Transaction ids of every embedded anchor on the ledger checked, to find entries no batch points to. */
  referenced: Set<string>;
  /** Trees that can be rebuilt from their members' record hashes into exactly the anchored root. */
  rebuildableTrees: { batchId: string; treeKey: string; bytes: Uint8Array }[];
}

export async function checkBatches(
  deps: { index: BatchStore & RecordIndex; objects: ObjectStore; statements?: StatementStore },
  ledger: (LedgerLookup & { inChain(txId: string): boolean }) | undefined,
  findings: FsckFinding[],
): Promise<BatchPassResult> {
  const out: BatchPassResult = {
    batches: 0,
    anchors: 0,
    trees: 0,
    missing: [],
    onStrays: [],
    referenced: new Set(),
    rebuildableTrees: [],
  };
  let cursor: string | undefined;
  do {
    const page = await deps.index.listBatches({ limit: 200, ...(cursor === undefined ? {} : { cursor }) });
    for (const batch of page.items) {
      out.batches++;
      for (const anchor of batch.anchors) checkAnchor(batch, anchor, ledger, findings, out);
      await checkTreeAndMembers(deps, batch, findings, out);
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return out;
}

function checkAnchor(
  batch: BatchEntry,
  anchor: AnchorRef,
  ledger: (LedgerLookup & { inChain(txId: string): boolean }) | undefined,
  findings: FsckFinding[],
  out: BatchPassResult,
): void {
  if (!ledger || !anchor.chainId.startsWith('embedded:')) return;
  out.anchors++;
  if (anchor.chainId === ledger.chainId && anchor.phase !== 'dropped') {
    out.referenced.add(anchor.txId);
    if (ledger.entry(anchor.txId) && !ledger.inChain(anchor.txId)) out.onStrays.push({ batch, anchor });
  }
  const p = checkLedgerAnchor(batch, anchor, ledger, true);
  if (!p) return;
  const finding: FsckFinding = {
    area: 'anchors',
    code: `anchor-${p.code}`,
    severity: 'error',
    subject: batch.batchId,
    message: p.message,
  };
  findings.push(finding);
  // Whether a copy can fill it is only known once the whole ledger plan is made (run-fsck.ts).
  if (p.code === 'entry-missing') out.missing.push({ batch, anchor, finding });
}

async function checkTreeAndMembers(
  deps: { index: RecordIndex; objects: ObjectStore; statements?: StatementStore },
  batch: BatchEntry,
  findings: FsckFinding[],
  out: BatchPassResult,
): Promise<void> {
  const err = (area: FsckFinding['area'], code: string, message: string): FsckFinding => {
    const f: FsckFinding = { area, code, severity: 'error', subject: batch.batchId, message };
    findings.push(f);
    return f;
  };
  out.trees++;
  const stored = await deps.objects.get(batch.treeKey);
  let treeProblem: FsckFinding | undefined;
  let leaves: Uint8Array | undefined;
  if (!stored) {
    treeProblem = err('trees', 'tree-missing', `tree object ${batch.treeKey} is missing`);
  } else {
    const size =
      stored.length >= TREE_HEADER && bytesEqual(stored.subarray(0, 8), TREE_MAGIC) && stored[8] === 1
        ? readU64be(new DataView(stored.buffer, stored.byteOffset, stored.byteLength), 9)
        : undefined;
    if (size === undefined || size !== batch.size || stored.length < TREE_HEADER + size * 32) {
      treeProblem = err(
        'trees',
        'tree-malformed',
        `tree object ${batch.treeKey} is not a tree of ${batch.size} leaves (bad header or length)`,
      );
    } else {
      leaves = stored.subarray(TREE_HEADER, TREE_HEADER + size * 32);
      const rebuilt = buildTree(leaves);
      if (!bytesEqual(encodeTreeObject(rebuilt), stored)) {
        treeProblem = err(
          'trees',
          'tree-mismatch',
          `tree object ${batch.treeKey} does not recompute from its own leaves: a node was changed`,
        );
        leaves = undefined;
      } else if (toHex(rebuilt.root) !== batch.root) {
        treeProblem = err(
          'trees',
          'tree-root-mismatch',
          `tree object ${batch.treeKey} has root ${toHex(rebuilt.root)}, the batch anchored ${batch.root}`,
        );
        leaves = undefined;
      }
    }
  }

  const leavesDoc = await deps.objects.get(batchLeavesKey(batch.batchId));
  let ids: LeafRef[] | undefined;
  try {
    const doc = leavesDoc ? (JSON.parse(new TextDecoder().decode(leavesDoc)) as BatchLeaves) : undefined;
    // v1 lists name records only; v2 lists name each leaf by type (anchor-pending.ts).
    ids =
      doc?.v === 2
        ? doc.leaves
        : doc?.v === 1 && Array.isArray(doc.records)
          ? doc.records.map((id) => ({ type: 'record', id }))
          : undefined;
  } catch {
    ids = undefined;
  }
  if (!Array.isArray(ids)) {
    err('batches', 'leaves-missing', `${batchLeavesKey(batch.batchId)} is missing or unreadable`);
    return;
  }
  if (ids.length !== batch.size) {
    err(
      'batches',
      'batch-size-mismatch',
      `leaves.json lists ${ids.length} leaves, the batch has ${batch.size}`,
    );
  }
  const memberHashes: Uint8Array[] = [];
  let complete = ids.length === batch.size;
  for (const [i, ref] of ids.entries()) {
    const member = await memberOf(deps, ref);
    if (!member) {
      const where = ref?.type === 'statement' ? 'the statement store' : 'the index';
      err(
        'batches',
        'batch-member-missing',
        `${ref?.type ?? 'leaf'} ${String(ref?.id)} (leaf ${i}) is not in ${where}`,
      );
      complete = false;
      continue;
    }
    if (member.batch?.batchId !== batch.batchId || member.batch.leafIndex !== i) {
      err(
        'batches',
        'batch-member-misplaced',
        `${member.name} is leaf ${i} of this batch, but its store places it at ${member.batch ? `${member.batch.batchId} leaf ${member.batch.leafIndex}` : 'no batch'}`,
      );
    }
    if (member.problem) err('batches', 'statement-leaf-mismatch', member.problem);
    const hash = fromHex(member.leafHash);
    if (hash?.length !== 32) complete = false;
    else memberHashes.push(hash);
    if (leaves && hash && !bytesEqual(hash, leaves.subarray(i * 32, i * 32 + 32))) {
      err('batches', 'batch-leaf-mismatch', `leaf ${i} of the tree is not ${member.name}'s hash`);
    }
  }
  if (treeProblem && complete) {
    const tree = buildTree(memberHashes);
    if (toHex(tree.root) === batch.root) {
      treeProblem.repair = 'rebuild-tree';
      out.rebuildableTrees.push({
        batchId: batch.batchId,
        treeKey: batch.treeKey,
        bytes: encodeTreeObject(tree),
      });
    }
  }
}

/** A batch member as its store holds it: its leaf hash and placement, or undefined when it is not there. */
async function memberOf(
  deps: { index: RecordIndex; statements?: StatementStore },
  ref: LeafRef | undefined,
): Promise<
  | { name: string; leafHash: string; batch?: { batchId: string; leafIndex: number }; problem?: string }
  | undefined
> {
  if (ref?.type === 'record') {
    const parsed = typeof ref.id === 'string' ? parseRecordId(ref.id) : undefined;
    const rec = parsed ? await deps.index.getRecord(parsed.deviceId, parsed.seq) : undefined;
    return rec
      ? {
          name: `record ${rec.recordId}`,
          leafHash: rec.recordHash,
          ...(rec.batch ? { batch: rec.batch } : {}),
        }
      : undefined;
  }
  if (ref?.type !== 'statement' || !deps.statements) return undefined;
  const parsed = typeof ref.id === 'string' ? parseStatementId(ref.id) : undefined;
  const st = parsed ? await deps.statements.getStatement(parsed.deviceId, parsed.leafHash) : undefined;
  if (!st) return undefined;
  // The statement's bytes must still be the leaf it was anchored as.
  const bytes = fromBase64(st.leaf);
  const intact = bytes !== undefined && toHex(hashLeaf(bytes)) === st.leafHash;
  return {
    name: `${st.kind} ${st.statementId}`,
    leafHash: st.leafHash,
    ...(st.batch ? { batch: st.batch } : {}),
    ...(intact
      ? {}
      : { problem: `${st.kind} ${st.statementId}: its stored bytes do not hash to its leaf hash` }),
  };
}
