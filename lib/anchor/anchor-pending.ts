/**
 * One anchoring cycle: finish any batch a crash (or a failing chain) left half-done, then take the queued
 * records, build one Merkle tree over their record hashes, store the tree and the batch, place each record in
 * it, and put only the root on each chain (plus, where configured, some small records whole: inline parts).
 *
 * Order, and why it survives a crash at any point:
 *   1. tree object + leaves list     (unreferenced until 2; a crash leaves an orphan object, nothing else)
 *   2. batch entry, state 'built'     (from here the batch is found by listUnanchored on restart); it also
 *                                      holds the inline plan, decided here once
 *   3. records assigned to the batch  (idempotent; taken out of the queue)
 *   4. root submitted to each chain   (dedupKey = batchId, so a retried submit does not pay twice where the
 *                                      chain can tell; the embedded ledger and, within a process, EVM can)
 *   5. anchor recorded ('submitted'), looked up once at once (finality.ts), state from all anchors
 *   6. inline parts submitted and recorded the same way
 * Records reach a batch only through 3, and a restart runs 3-6 for unfinished batches before taking new
 * records, so no record is left in limbo and none is put in two batches. An anchor exists only after 3
 * completed, so a batch with any anchor needs no placing again.
 *
 * While some batch lacks a chain's root transaction (the chain is down, or refuses), no new batch is built:
 * the records stay queued, where they wait at no cost, and the chain never owes more than one batch.
 */

import { fromHex, toHex } from '../core/bytes.js';
import { parseRecordId } from '../core/device-id.js';
import { sha256 } from '../core/hash.js';
import { buildTree } from '../core/merkle.js';
import {
  type AnchorRef,
  anchorSlot,
  type BatchEntry,
  type BatchStore,
  type Chain,
  type InlinePart,
  isChainFailure,
  type ObjectStore,
  type RecordEntry,
  type RecordIndex,
} from '../ports.js';
import {
  type AnchorEvent,
  batchStateOf,
  DEFAULT_FINALITY,
  inlinePacket,
  rootPayload,
  stepAnchor,
  submittedAnchor,
} from './anchor-finality.js';
import type { FinalityConfig } from './finality.js';
import { encodeTreeObject } from './tree-object.js';

export interface AnchorDeps {
  index: RecordIndex & BatchStore;
  objects: ObjectStore;
  chains: readonly Chain[];
  clock: () => number;
  maxBatchSize: number;
  onChainError?: (e: { batchId: string; chainId: string; kind: 'root' | 'inline'; error: unknown }) => void;
  /** Finality per chain, for the look right after a submit. Default DEFAULT_FINALITY. */
  finality?: (chainId: string) => FinalityConfig;
  /** Chains that take inline parts. Default none. */
  inlineChains?: ReadonlySet<string>;
  /**
   * Whether a chain may be tried now (`key` is the chainId, or `<chainId>#inline`): the caller's backoff
   * after failures. Default always.
   */
  mayTry?: (key: string) => boolean;
  onTried?: (key: string, ok: boolean, error?: unknown) => void;
  /** Which records of a new batch also go on chain whole (oldest first); default none. */
  planInline?: (records: readonly RecordEntry[]) => InlinePart[];
  /** false: only finish unfinished batches (the budget's interval has not come). Default true. */
  buildNew?: boolean;
}

export interface AnchorReport {
  /** Batches from earlier cycles worked on (placed or submitted) in this one. */
  resumed: string[];
  batch?: {
    batchId: string;
    size: number;
    root: string;
    createdAt: number;
    inlineParts: number;
    /** Arrival (receivedAt) of the batch's oldest record. */
    oldestReceivedAt: number;
    /** Set when every chain took the root in this cycle: when the last one did. */
    anchoredAt?: number;
  };
  anchors: AnchorRef[];
  /** Chains that refused or failed; their batches stay 'built' and are retried next cycle. */
  failures: {
    batchId: string;
    chainId: string;
    message: string;
    kind?: 'root' | 'inline';
    code?: string;
    retryable?: boolean;
  }[];
  /** Set when no new batch was built although records may be queued, and why. */
  held?: 'unsubmitted-batch';
  /** Finality events of the look right after each submit. */
  events?: AnchorEvent[];
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
  let held = false;
  for (const batch of await deps.index.listUnanchored()) {
    const { worked, complete } = await finishBatch(deps, batch, undefined, report);
    if (worked) report.resumed.push(batch.batchId);
    if (!complete) held = true;
  }
  if (held) {
    report.held = 'unsubmitted-batch';
    return report;
  }
  if (deps.buildNew === false) return report;

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

  const inline = deps.planInline?.(pending) ?? [];
  const batch: BatchEntry = {
    batchId,
    root,
    size: tree.size,
    createdAt,
    state: 'built',
    treeKey: batchTreeKey(batchId),
    anchors: [],
    ...(inline.length > 0 ? { inline } : {}),
  };
  await deps.index.putBatch(batch);
  const oldestReceivedAt = pending.reduce((m, r) => Math.min(m, r.receivedAt), Number.POSITIVE_INFINITY);
  report.batch = { batchId, size: tree.size, root, createdAt, inlineParts: inline.length, oldestReceivedAt };
  const { complete } = await finishBatch(
    deps,
    batch,
    pending.map((r) => ({ deviceId: r.deviceId, seq: r.seq })),
    report,
  );
  if (complete) report.batch.anchoredAt = deps.clock();
  return report;
}

/**
 * Steps 3-6 for one batch. `complete`: every chain has its root transaction (submitted, at least); what
 * decides whether new batches may be built.
 */
async function finishBatch(
  deps: AnchorDeps,
  batch: BatchEntry,
  known: { deviceId: string; seq: number }[] | undefined,
  report: AnchorReport,
): Promise<{ worked: boolean; complete: boolean }> {
  let worked = false;
  // An anchor is only ever added after the placing finished, so a batch with one needs no placing again.
  if (known || batch.anchors.length === 0) {
    worked = true;
    const members = known ?? (await loadMembers(deps.objects, batch));
    for (let i = 0; i < members.length; i += ASSIGN_CHUNK) {
      const chunk = members
        .slice(i, i + ASSIGN_CHUNK)
        .map((m, j) => ({ ...m, batchId: batch.batchId, leafIndex: i + j }));
      await deps.index.assignToBatch(chunk);
      // Long batches yield between chunks so ingest keeps flowing while a big batch is placed.
      await new Promise((r) => setImmediate(r));
    }
  }

  const configured = deps.chains.map((c) => ({
    chainId: c.chainId,
    inline: deps.inlineChains?.has(c.chainId) ?? false,
  }));
  let anchors = [...batch.anchors];
  const record = async (chain: Chain, ref: AnchorRef) => {
    // The look right after the submit: an instant chain (the ledger, an instamining node) is settled now.
    const step = await stepAnchor(
      { index: deps.index, objects: deps.objects, clock: deps.clock },
      { ...batch, anchors },
      ref,
      { chain, finality: deps.finality?.(chain.chainId) ?? DEFAULT_FINALITY, inline: false },
    );
    const slot = anchorSlot(step.anchor);
    anchors = anchors.filter((a) => anchorSlot(a) !== slot).concat(step.anchor);
    await deps.index.addAnchor(batch.batchId, step.anchor, batchStateOf({ ...batch, anchors }, configured));
    report.anchors.push(step.anchor);
    if (step.events.length > 0) {
      report.events = [...(report.events ?? []), ...step.events];
    }
  };
  const failed = (chainId: string, kind: 'root' | 'inline', error: unknown) => {
    deps.onChainError?.({ batchId: batch.batchId, chainId, kind, error });
    deps.onTried?.(kind === 'inline' ? `${chainId}#inline` : chainId, false, error);
    report.failures.push({
      batchId: batch.batchId,
      chainId,
      message: error instanceof Error ? error.message : String(error),
      ...(kind === 'inline' ? { kind } : {}),
      ...(isChainFailure(error) ? { code: error.code, retryable: error.retryable } : {}),
    });
  };

  let complete = true;
  let payload: Uint8Array | undefined;
  for (const chain of deps.chains) {
    if (anchors.some((a) => a.chainId === chain.chainId && (a.kind ?? 'root') === 'root')) continue;
    if (deps.mayTry && !deps.mayTry(chain.chainId)) {
      complete = false;
      continue;
    }
    worked = true;
    payload ??= rootPayload(batch);
    let txId: string;
    try {
      ({ txId } = await chain.submit(payload, { dedupKey: batch.batchId }));
    } catch (error) {
      failed(chain.chainId, 'root', error);
      complete = false;
      continue;
    }
    deps.onTried?.(chain.chainId, true);
    await record(chain, submittedAnchor({ chainId: chain.chainId, txId, at: deps.clock(), kind: 'root' }));
  }

  // Inline parts ride on a chain whose root transaction is out; a failure here never holds new batches.
  for (const [part, p] of (batch.inline ?? []).entries()) {
    const chain = deps.chains.find((c) => c.chainId === p.chainId);
    if (!chain || !deps.inlineChains?.has(p.chainId)) continue;
    if (anchors.some((a) => anchorSlot(a) === anchorSlot({ chainId: p.chainId, kind: 'inline', part })))
      continue;
    if (!anchors.some((a) => a.chainId === p.chainId && (a.kind ?? 'root') === 'root')) continue;
    const key = `${p.chainId}#inline`;
    if (deps.mayTry && !deps.mayTry(key)) continue;
    worked = true;
    try {
      const bytes = await inlinePacket(deps.index, deps.objects, p.records);
      const { txId } = await chain.submit(bytes, { dedupKey: `${batch.batchId}#inline#${part}` });
      deps.onTried?.(key, true);
      await record(
        chain,
        submittedAnchor({
          chainId: chain.chainId,
          txId,
          at: deps.clock(),
          kind: 'inline',
          part,
          payloadSha256: toHex(sha256(bytes)),
        }),
      );
    } catch (error) {
      failed(p.chainId, 'inline', error);
    }
  }
  return { worked, complete };
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
