/**
 * One anchoring cycle: finish any batch a crash (or a failing chain) left half-done, then take the queued
 * leaves (records, and the statements: key events and device heads), build one Merkle tree over their leaf
 * hashes, store the tree and the batch, place each leaf in it, and put only the root on each chain (plus,
 * where configured, some small records whole: inline parts).
 *
 * Leaf order is acceptance order (docs/device-keys.md, "ordering"): records and statements merged by
 * receivedAt; within one millisecond key events, then records, then heads; then device and seq or leaf hash.
 * Both queues list in that same order, so the first maxBatchSize of the merge are exactly the oldest
 * leaves. That is what puts a key registered just before a device's first record ahead of it, even in the
 * same batch.
 *
 * Order, and why it survives a crash at any point:
 *   1. tree object + leaves list     (unreferenced until 2; a crash leaves an orphan object, nothing else)
 *   2. batch entry, state 'built'     (from here the batch is found by listUnanchored on restart); it also
 *                                      holds the inline plan, decided here once
 *   3. leaves assigned to the batch   (idempotent; taken out of the queues)
 *   4. root submitted to each chain   (dedupKey = batchId, so a retried submit does not pay twice where the
 *                                      chain can tell; the embedded ledger and, within a process, EVM can)
 *   5. anchor recorded ('submitted'), looked up once at once (finality-poller.ts), state from all anchors
 *   6. inline parts submitted and recorded the same way
 * Leaves reach a batch only through 3, and a restart runs 3-6 for unfinished batches (their members read
 * back from the leaves list) before taking new ones, so no leaf is left in limbo and none is put in two
 * batches. An anchor exists only after 3
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
  type BatchEntry,
  type BatchStore,
  type Chain,
  type InlinePart,
  isChainFailure,
  type ObjectStore,
  parseStatementId,
  type RecordEntry,
  type RecordIndex,
  type StatementEntry,
  type StatementStore,
} from '../ports.js';
import { inlinePacket, rootPayload } from './anchor-bytes.js';
import { AnchorError } from './anchor-error.js';
import { LeaseLostError } from './anchor-lease.js';
import { addAnchor, anchorSlot, batchStateOf, submittedAnchor, withAnchor } from './anchor-slots.js';
import type { FinalityConfig } from './finality-machine.js';
import { type AnchorEvent, DEFAULT_FINALITY, stepAnchor } from './finality-poller.js';
import { encodeTreeObject } from './tree-object.js';

export interface AnchorDeps {
  index: RecordIndex & BatchStore;
  /** Key events and device heads, anchored in the same batches as records. */
  statements: StatementStore;
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

/** A leaf of a batch, by what it is: a record (`<deviceId>.<seq>`) or a statement (`<deviceId>:<leafHash>`). */
export type LeafRef = { type: 'record'; id: string } | { type: 'statement'; id: string };

/** batches/<id>/leaves.json: what a resumed batch places. v1 (records only) was written before statements. */
export type BatchLeaves =
  | { v: 1; batchId: string; root: string; size: number; records: string[] }
  | { v: 2; batchId: string; root: string; size: number; leaves: LeafRef[] };

type PendingLeaf = { type: 'record'; entry: RecordEntry } | { type: 'statement'; entry: StatementEntry };

/** Within one millisecond: key events, then records, then heads (the order both queues list in). */
const rankOf = (l: PendingLeaf): number => (l.type === 'record' ? 1 : l.entry.kind === 'key-event' ? 0 : 2);

function compareLeaves(a: PendingLeaf, b: PendingLeaf): number {
  const byTime = a.entry.receivedAt - b.entry.receivedAt;
  if (byTime !== 0) return byTime;
  const byRank = rankOf(a) - rankOf(b);
  if (byRank !== 0) return byRank;
  if (a.entry.deviceId !== b.entry.deviceId) return a.entry.deviceId < b.entry.deviceId ? -1 : 1;
  if (a.type === 'record' && b.type === 'record') return a.entry.seq - b.entry.seq;
  if (a.type === 'statement' && b.type === 'statement')
    return a.entry.leafHash < b.entry.leafHash ? -1 : a.entry.leafHash > b.entry.leafHash ? 1 : 0;
  return 0;
}

/** The oldest `limit` queued leaves in acceptance order: a merge of the two queues, each already in it. */
export async function pendingLeaves(
  deps: Pick<AnchorDeps, 'index' | 'statements'>,
  limit: number,
): Promise<PendingLeaf[]> {
  const [records, statements] = await Promise.all([
    deps.index.listPending(limit),
    deps.statements.listPending(limit),
  ]);
  const out: PendingLeaf[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit) {
    const r = records[i];
    const s = statements[j];
    if (!r && !s) break;
    const rl: PendingLeaf | undefined = r ? { type: 'record', entry: r } : undefined;
    const sl: PendingLeaf | undefined = s ? { type: 'statement', entry: s } : undefined;
    if (rl && (!sl || compareLeaves(rl, sl) <= 0)) {
      out.push(rl);
      i++;
    } else if (sl) {
      out.push(sl);
      j++;
    }
  }
  return out;
}

const leafHashHex = (l: PendingLeaf): string => (l.type === 'record' ? l.entry.recordHash : l.entry.leafHash);
const leafRefOf = (l: PendingLeaf): LeafRef =>
  l.type === 'record'
    ? { type: 'record', id: l.entry.recordId }
    : { type: 'statement', id: l.entry.statementId };

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

  const pending = await pendingLeaves(deps, deps.maxBatchSize);
  if (pending.length === 0) return report;

  const leaves = new Uint8Array(pending.length * 32);
  pending.forEach((l, i) => {
    const h = fromHex(leafHashHex(l));
    if (h?.length !== 32)
      throw new AnchorError('batch-malformed', `leaf ${leafRefOf(l).id} has a malformed leaf hash`);
    leaves.set(h, i * 32);
  });
  const tree = buildTree(leaves);
  const root = toHex(tree.root);
  const createdAt = deps.clock();
  const batchId = newBatchId(createdAt, root);
  const treeBytes = encodeTreeObject(tree);
  await deps.objects.put(batchTreeKey(batchId), treeBytes, { sha256: sha256(treeBytes) });
  const members = pending.map(leafRefOf);
  const leavesDoc: BatchLeaves = { v: 2, batchId, root, size: tree.size, leaves: members };
  const leavesBytes = new TextEncoder().encode(JSON.stringify(leavesDoc));
  await deps.objects.put(batchLeavesKey(batchId), leavesBytes, { sha256: sha256(leavesBytes) });

  // Only records go on chain whole; statements are small and anchored by the root alone.
  const inline = deps.planInline?.(pending.flatMap((l) => (l.type === 'record' ? [l.entry] : []))) ?? [];
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
  // Records and statements alike: each leaf waited from its acceptance until this batch.
  const oldestReceivedAt = pending.reduce(
    (m, l) => Math.min(m, l.entry.receivedAt),
    Number.POSITIVE_INFINITY,
  );
  report.batch = { batchId, size: tree.size, root, createdAt, inlineParts: inline.length, oldestReceivedAt };
  const { complete } = await finishBatch(deps, batch, members, report);
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
  known: readonly LeafRef[] | undefined,
  report: AnchorReport,
): Promise<{ worked: boolean; complete: boolean }> {
  let worked = false;
  // An anchor is only ever added after the placing finished, so a batch with one needs no placing again.
  if (known || batch.anchors.length === 0) {
    worked = true;
    const members = known ?? (await loadMembers(deps.objects, batch));
    for (let i = 0; i < members.length; i += ASSIGN_CHUNK) {
      const records: { deviceId: string; seq: number; batchId: string; leafIndex: number }[] = [];
      const statements: { deviceId: string; leafHash: string; batchId: string; leafIndex: number }[] = [];
      members.slice(i, i + ASSIGN_CHUNK).forEach((m, j) => {
        const at = { batchId: batch.batchId, leafIndex: i + j };
        if (m.type === 'record') records.push({ ...memberRecord(batch, m.id), ...at });
        else statements.push({ ...memberStatement(batch, m.id), ...at });
      });
      await deps.index.assignToBatch(records);
      await deps.statements.assignToBatch(statements);
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
    anchors = withAnchor(anchors, step.anchor);
    await addAnchor(deps.index, batch.batchId, step.anchor, batchStateOf({ ...batch, anchors }, configured));
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
      // Not the chain's failure: this process lost the anchor lease and must write nothing more.
      if (error instanceof LeaseLostError) throw error;
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
      if (error instanceof LeaseLostError) throw error;
      failed(p.chainId, 'inline', error);
    }
  }
  return { worked, complete };
}

/** The batch's leaves, in leaf order, from its leaves list (v1: records only; v2: typed). */
async function loadMembers(objects: ObjectStore, batch: BatchEntry): Promise<LeafRef[]> {
  const bytes = await objects.get(batchLeavesKey(batch.batchId));
  if (!bytes)
    throw new AnchorError('batch-missing', `batch ${batch.batchId} has no leaves list; cannot resume it`);
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as BatchLeaves;
  const members: LeafRef[] =
    doc.v === 1 ? doc.records.map((id) => ({ type: 'record', id })) : doc.v === 2 ? doc.leaves : [];
  if (members.length !== batch.size)
    throw new AnchorError(
      'batch-malformed',
      `batch ${batch.batchId}: its leaves list names ${members.length} leaves, the batch has ${batch.size}`,
    );
  // Every id must parse before anything is placed: a batch is placed whole or not at all.
  for (const m of members) {
    if (m.type === 'record') memberRecord(batch, m.id);
    else memberStatement(batch, m.id);
  }
  return members;
}

function memberRecord(batch: BatchEntry, id: string): { deviceId: string; seq: number } {
  const parsed = parseRecordId(id);
  if (!parsed)
    throw new AnchorError(
      'batch-malformed',
      `batch ${batch.batchId} lists a malformed record id ${JSON.stringify(id)}`,
    );
  return parsed;
}

function memberStatement(batch: BatchEntry, id: string): { deviceId: string; leafHash: string } {
  const parsed = parseStatementId(id);
  if (!parsed)
    throw new AnchorError(
      'batch-malformed',
      `batch ${batch.batchId} lists a malformed statement id ${JSON.stringify(id)}`,
    );
  return parsed;
}
