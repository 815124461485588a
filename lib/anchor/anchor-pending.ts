/**
 * One anchoring cycle: finish any batch a crash left half-done, then take the queued records, build one
 * Merkle tree over their record hashes, store the tree and the batch, place each record in it, and put only
 * the root on each chain.
 *
 * Order, and why it survives a crash at any point:
 *   1. tree object + leaves list     (unreferenced until 2; a crash leaves an orphan object, nothing else)
 *   2. batch entry, state 'built'     (from here the batch is found by listUnanchored on restart)
 *   3. records assigned to the batch  (idempotent; taken out of the queue)
 *   4. root submitted to each chain   (dedupKey = batchId, so a retried submit does not pay twice where the
 *                                      chain can tell; the embedded ledger can)
 *   5. anchor recorded, state 'anchored'
 * Records reach a batch only through 3, and a restart runs 3-5 for unfinished batches before taking new
 * records, so no record is left in limbo and none is put in two batches.
 */

import { encodeAnchorPayload } from '../core/anchor-payload.js';
import { fromHex, toHex } from '../core/bytes.js';
import { parseRecordId } from '../core/device-id.js';
import { sha256 } from '../core/hash.js';
import { buildTree } from '../core/merkle.js';
import type { AnchorRef, BatchEntry, BatchStore, Chain, ObjectStore, RecordIndex } from '../ports.js';
import { encodeTreeObject } from './tree-object.js';

export interface AnchorDeps {
  index: RecordIndex & BatchStore;
  objects: ObjectStore;
  chains: readonly Chain[];
  clock: () => number;
  maxBatchSize: number;
  onChainError?: (e: { batchId: string; chainId: string; error: unknown }) => void;
}

export interface AnchorReport {
  /** Batches from earlier cycles finished in this one. */
  resumed: string[];
  batch?: { batchId: string; size: number; root: string };
  anchors: AnchorRef[];
  /** Chains that refused or failed; their batches stay 'built' and are retried next cycle. */
  failures: { batchId: string; chainId: string; message: string }[];
}

const ASSIGN_CHUNK = 2000;

export const batchTreeKey = (batchId: string): string => `batches/${batchId}/tree`;
export const batchLeavesKey = (batchId: string): string => `batches/${batchId}/leaves.json`;

export interface BatchLeaves {
  v: 1;
  batchId: string;
  root: string;
  size: number;
  /** Record ids in leaf order. */
  records: string[];
}

export function newBatchId(createdAt: number, rootHex: string): string {
  return `${createdAt.toString(36).padStart(11, '0')}-${rootHex.slice(0, 12)}`;
}

export async function anchorPending(deps: AnchorDeps): Promise<AnchorReport> {
  const report: AnchorReport = { resumed: [], anchors: [], failures: [] };
  for (const batch of await deps.index.listUnanchored()) {
    await finishBatch(deps, batch, undefined, report);
    report.resumed.push(batch.batchId);
  }

  const pending = await deps.index.listPending(deps.maxBatchSize);
  if (pending.length === 0) return report;

  const leaves = new Uint8Array(pending.length * 32);
  pending.forEach((r, i) => {
    const h = fromHex(r.recordHash);
    if (h?.length !== 32) throw new Error(`record ${r.recordId} has a malformed record hash`);
    leaves.set(h, i * 32);
  });
  const tree = buildTree(leaves);
  const root = toHex(tree.root);
  const createdAt = deps.clock();
  const batchId = newBatchId(createdAt, root);
  const treeBytes = encodeTreeObject(tree);
  await deps.objects.put(batchTreeKey(batchId), treeBytes, { sha256: sha256(treeBytes) });
  const leavesDoc: BatchLeaves = {
    v: 1,
    batchId,
    root,
    size: tree.size,
    records: pending.map((r) => r.recordId),
  };
  const leavesBytes = new TextEncoder().encode(JSON.stringify(leavesDoc));
  await deps.objects.put(batchLeavesKey(batchId), leavesBytes, { sha256: sha256(leavesBytes) });

  const batch: BatchEntry = {
    batchId,
    root,
    size: tree.size,
    createdAt,
    state: 'built',
    treeKey: batchTreeKey(batchId),
    anchors: [],
  };
  await deps.index.putBatch(batch);
  report.batch = { batchId, size: tree.size, root };
  await finishBatch(
    deps,
    batch,
    pending.map((r) => ({ deviceId: r.deviceId, seq: r.seq })),
    report,
  );
  return report;
}

async function finishBatch(
  deps: AnchorDeps,
  batch: BatchEntry,
  known: { deviceId: string; seq: number }[] | undefined,
  report: AnchorReport,
): Promise<void> {
  const members = known ?? (await loadMembers(deps.objects, batch));
  for (let i = 0; i < members.length; i += ASSIGN_CHUNK) {
    const chunk = members
      .slice(i, i + ASSIGN_CHUNK)
      .map((m, j) => ({ ...m, batchId: batch.batchId, leafIndex: i + j }));
    await deps.index.assignToBatch(chunk);
    // Long batches yield between chunks so ingest keeps flowing while a big batch is placed.
    await new Promise((r) => setImmediate(r));
  }

  const rootBytes = fromHex(batch.root);
  if (!rootBytes) throw new Error(`batch ${batch.batchId} has a malformed root`);
  const payload = encodeAnchorPayload({ root: rootBytes, treeSize: batch.size });
  const anchors = [...batch.anchors];
  for (const chain of deps.chains) {
    if (anchors.some((a) => a.chainId === chain.chainId)) continue;
    try {
      const { txId } = await chain.submit(payload, { dedupKey: batch.batchId });
      const anchor: AnchorRef = { chainId: chain.chainId, txId, submittedAt: deps.clock() };
      anchors.push(anchor);
      const complete = deps.chains.every((c) => anchors.some((a) => a.chainId === c.chainId));
      await deps.index.addAnchor(batch.batchId, anchor, complete ? 'anchored' : 'built');
      report.anchors.push(anchor);
    } catch (error) {
      deps.onChainError?.({ batchId: batch.batchId, chainId: chain.chainId, error });
      report.failures.push({
        batchId: batch.batchId,
        chainId: chain.chainId,
        message: (error as Error).message,
      });
    }
  }
}

async function loadMembers(
  objects: ObjectStore,
  batch: BatchEntry,
): Promise<{ deviceId: string; seq: number }[]> {
  const bytes = await objects.get(batchLeavesKey(batch.batchId));
  if (!bytes) throw new Error(`batch ${batch.batchId} has no leaves list; cannot resume it`);
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as BatchLeaves;
  return doc.records.map((id) => {
    const parsed = parseRecordId(id);
    if (!parsed) throw new Error(`batch ${batch.batchId} lists a malformed record id ${JSON.stringify(id)}`);
    return parsed;
  });
}
