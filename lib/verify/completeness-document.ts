/**
 * Assembles a device's completeness document (docs/completeness.md) from the index, the statement store,
 * the stored batch trees and the chains: the records of a sequence range, each with its place in an anchored
 * batch, up to a head the device signed, with the key events their signatures need and each batch's anchors.
 * The pure `checkCompleteness` (lib/core/completeness.ts) judges it, offline.
 *
 * Which range, and which head:
 *  - The document runs from `fromSeq` to the chosen head's `count - 1`: the range is resolved here and is not
 *    a free claim of the document.
 *  - The head is the earliest one covering the requested end (count - 1 >= toSeq), preferring one already in
 *    a batch; a head still queued makes the document `pending` until the next anchor cycle.
 *  - No head covers the requested end yet: the latest head inside the range is used, so the document proves
 *    completeness up to it (its range is shorter than asked, as it says). No head at all: the document ends at
 *    the last record present, and its outcome is `unproven`.
 *  - A time range resolves to seqs: from the first seq the device may have sealed at or after `from` (the
 *    lowest stored seq in the time range, or the count of its last head signed before `from`, whichever is
 *    lower) to the highest seq it sealed before `to` (stored, or by its last head signed before `to`).
 */
import { fromBase64, toHex } from '../core/bytes.js';
import {
  COMPLETENESS_FORMAT,
  type CompletenessDocument,
  type LeafItem,
  MAX_COMPLETENESS_KEY_EVENTS,
  MAX_COMPLETENESS_RECORDS,
} from '../core/completeness.js';
import { parseHead } from '../core/device-head.js';
import { parseHeader } from '../core/envelope.js';
import { NotaryError } from '../core/errors.js';
import type {
  BatchEntry,
  BatchStore,
  DeviceRegistry,
  RecordEntry,
  RecordIndex,
  StatementEntry,
  StatementStore,
} from '../ports.js';
import { type BatchEvidenceDeps, BatchReader } from './batch-evidence.js';
import { deviceKeyEvents, keyEventsFor } from './key-evidence.js';

export interface CompletenessDeps extends BatchEvidenceDeps {
  index: RecordIndex & BatchStore & DeviceRegistry;
  statements: StatementStore;
}

export type CompletenessQuery =
  | { by: 'seq'; fromSeq?: number; toSeq?: number }
  | { by: 'time'; from: number; to: number };

const PAGE = 5000;
/** Heads looked at for one that is already in a batch, before settling for a queued one. */
const HEAD_CANDIDATES = 20;

export async function buildCompletenessDocument(
  deps: CompletenessDeps,
  deviceId: string,
  q: CompletenessQuery,
): Promise<CompletenessDocument> {
  if (!(await deps.index.getDevice(deviceId)))
    throw new NotaryError('device-not-found', `no device ${deviceId}`);
  const { fromSeq, target } =
    q.by === 'seq' ? await seqRange(deps, deviceId, q) : await timeRange(deps, deviceId, q);
  // An empty range at the start still takes a head: a head of count 0 proves the device sealed nothing.
  const head =
    target >= fromSeq - 1 ? await chooseHead(deps.statements, deviceId, fromSeq, target) : undefined;
  const headCount = head?.head?.count;
  // With a head the range is fixed by it; without one it ends at the last record present.
  const end = headCount !== undefined ? headCount - 1 : target;
  if (end - fromSeq + 1 > MAX_COMPLETENESS_RECORDS) {
    throw new NotaryError(
      'range-too-wide',
      headCount !== undefined && headCount - 1 > target
        ? `the earliest head covering seq ${target} has count ${headCount}: seqs ${fromSeq}..${end} are more than ${MAX_COMPLETENESS_RECORDS} records; raise fromSeq`
        : `seqs ${fromSeq}..${end} are more than ${MAX_COMPLETENESS_RECORDS} records; narrow the range`,
      { fromSeq, toSeq: end, max: MAX_COMPLETENESS_RECORDS },
    );
  }
  const records = end >= fromSeq ? await recordsIn(deps.index, deviceId, fromSeq, end) : [];
  const toSeq = headCount !== undefined ? headCount - 1 : (records.at(-1)?.seq ?? fromSeq - 1);

  // The keys that signed something in the document, and the key events that tie them to the device.
  const signers = new Set<string>();
  for (const r of records) {
    const bytes = fromBase64(r.header);
    const parsed = bytes ? parseHeader(bytes) : undefined;
    if (parsed?.ok && parsed.header.signature) signers.add(toHex(parsed.header.signature.keyId));
  }
  const headBytes = head ? fromBase64(head.leaf) : undefined;
  const parsedHead = headBytes ? parseHead(headBytes) : undefined;
  if (parsedHead?.ok) signers.add(toHex(parsedHead.head.keyId));
  const keyEvents =
    signers.size > 0 ? keyEventsFor(await deviceKeyEvents(deps.statements, deviceId), signers) : [];
  if (keyEvents.length > MAX_COMPLETENESS_KEY_EVENTS)
    throw new NotaryError(
      'range-too-wide',
      `the range needs ${keyEvents.length} key events, more than the ${MAX_COMPLETENESS_KEY_EVENTS} a document carries; narrow it`,
    );

  const reader = new BatchReader(deps, 'v2');
  const placed: { leaf: string; batch?: { batchId: string; leafIndex: number } }[] = [
    ...records.map((r) => ({ leaf: r.header, ...(r.batch ? { batch: r.batch } : {}) })),
    ...keyEvents.map(statementLeaf),
    ...(head ? [statementLeaf(head)] : []),
  ];
  const byBatch = new Map<string, number[]>();
  for (const p of placed) {
    if (!p.batch) continue;
    const list = byBatch.get(p.batch.batchId) ?? [];
    list.push(p.batch.leafIndex);
    byBatch.set(p.batch.batchId, list);
  }
  const batches: CompletenessDocument['batches'] = {};
  const paths = new Map<string, Map<number, string[]>>();
  for (const [batchId, indices] of byBatch) {
    const batch: BatchEntry = await reader.batch(batchId, `a leaf of device ${deviceId}`);
    paths.set(batchId, await reader.paths(batch, indices));
    batches[batchId] = {
      root: batch.root,
      treeSize: batch.size,
      anchors: (await reader.rootAnchors(batch)).anchors,
    };
  }
  const item = (p: (typeof placed)[number]): LeafItem =>
    p.batch
      ? {
          leaf: p.leaf,
          batchId: p.batch.batchId,
          leafIndex: p.batch.leafIndex,
          path: paths.get(p.batch.batchId)?.get(p.batch.leafIndex) ?? [],
        }
      : { leaf: p.leaf };
  const items = placed.map(item);
  return {
    format: COMPLETENESS_FORMAT,
    deviceId,
    range: { fromSeq, toSeq },
    ...(head ? { head: items[items.length - 1] as LeafItem } : {}),
    records: items.slice(0, records.length),
    keyEvents: items.slice(records.length, records.length + keyEvents.length),
    batches,
  };
}

const statementLeaf = (s: StatementEntry) => ({ leaf: s.leaf, ...(s.batch ? { batch: s.batch } : {}) });

async function seqRange(
  deps: CompletenessDeps,
  deviceId: string,
  q: { fromSeq?: number; toSeq?: number },
): Promise<{ fromSeq: number; target: number }> {
  const fromSeq = q.fromSeq ?? 0;
  if (q.toSeq !== undefined) {
    if (q.toSeq < fromSeq)
      throw new NotaryError('bad-request', `toSeq ${q.toSeq} is below fromSeq ${fromSeq}`);
    return { fromSeq, target: q.toSeq };
  }
  // By default: as far as the device itself said it got (its latest head), else the highest stored seq.
  const [latest, highest] = await Promise.all([
    deps.statements.listHeads(deviceId, { by: 'count', order: 'desc', limit: 1 }),
    deps.index.maxSeq(deviceId),
  ]);
  const headEnd = (latest.items[0]?.head?.count ?? 0) - 1;
  return { fromSeq, target: Math.max(headEnd, highest ?? -1) };
}

async function timeRange(
  deps: CompletenessDeps,
  deviceId: string,
  q: { from: number; to: number },
): Promise<{ fromSeq: number; target: number }> {
  if (q.to <= q.from) throw new NotaryError('bad-request', `to (${q.to}) must be after from (${q.from})`);
  let lowest: number | undefined;
  let highest: number | undefined;
  let seen = 0;
  let cursor: string | undefined;
  do {
    const page = await deps.index.listByTime(deviceId, {
      from: q.from,
      to: q.to,
      limit: 1000,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const r of page.items) {
      lowest = lowest === undefined ? r.seq : Math.min(lowest, r.seq);
      highest = highest === undefined ? r.seq : Math.max(highest, r.seq);
    }
    seen += page.items.length;
    if (seen > MAX_COMPLETENESS_RECORDS)
      throw new NotaryError(
        'range-too-wide',
        `more than ${MAX_COMPLETENESS_RECORDS} records between ${q.from} and ${q.to}; narrow the time range`,
      );
    cursor = page.next;
  } while (cursor !== undefined);
  const lastBefore = async (t: number) =>
    t <= 0
      ? undefined
      : (await deps.statements.listHeads(deviceId, { by: 'time', max: t - 1, order: 'desc', limit: 1 }))
          .items[0]?.head;
  const [beforeFrom, beforeTo] = await Promise.all([lastBefore(q.from), lastBefore(q.to)]);
  const starts = [lowest, beforeFrom?.count].filter((n): n is number => n !== undefined);
  const ends = [highest, beforeTo ? beforeTo.count - 1 : undefined].filter(
    (n): n is number => n !== undefined,
  );
  if (ends.length === 0 || Math.max(...ends) < 0)
    throw new NotaryError(
      'not-found',
      `device ${deviceId} has no stored record and signed no head between ${q.from} and ${q.to}`,
    );
  const fromSeq = starts.length > 0 ? Math.min(...starts) : 0;
  return { fromSeq, target: Math.max(...ends) };
}

/** The head the document ends at (see the file comment), or none. */
async function chooseHead(
  statements: StatementStore,
  deviceId: string,
  fromSeq: number,
  target: number,
): Promise<StatementEntry | undefined> {
  const covering = await statements.listHeads(deviceId, {
    by: 'count',
    min: target + 1,
    order: 'asc',
    limit: HEAD_CANDIDATES,
  });
  const first = covering.items.find((h) => h.batch) ?? covering.items[0];
  if (first) return first;
  const inside = await statements.listHeads(deviceId, {
    by: 'count',
    min: fromSeq + 1,
    max: target,
    order: 'desc',
    limit: HEAD_CANDIDATES,
  });
  return inside.items.find((h) => h.batch) ?? inside.items[0];
}

async function recordsIn(
  index: RecordIndex,
  deviceId: string,
  fromSeq: number,
  toSeq: number,
): Promise<RecordEntry[]> {
  const out: RecordEntry[] = [];
  for (let next = fromSeq; next <= toSeq; ) {
    const page = await index.listBySeq(deviceId, { fromSeq: next, toSeq, limit: PAGE });
    out.push(...page);
    const last = page.at(-1);
    if (page.length < PAGE || !last) break;
    next = last.seq + 1;
  }
  return out;
}
