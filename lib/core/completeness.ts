/**
 * The completeness document (docs/completeness.md): a device's records over a sequence range, each included
 * in an anchored batch and linked to the one before by prevHash, up to a head the device signed. Checked
 * offline by `checkCompleteness`, it shows that nothing was dropped from the range (truncation included), or
 * names what is missing and which links are broken.
 *
 * Like a v2 proof bundle, the document has no unchecked field: records carry only their leaf (the header),
 * the range ends at the head's count - 1, and batches are keyed by ids the leaves must reference.
 */
import { z } from 'zod';
import {
  type AnchorCheck,
  type AnchorOptions,
  AnchorSchema,
  checkAnchor,
  hex32,
  positionsOf,
  type Reason,
  type SevereReason,
  type Severity,
  safeInt,
  statusOf,
  type VerifyStatus,
} from './anchor-check.js';
import { bytesEqual, fromBase64, fromHex, toHex } from './bytes.js';
import { type DeviceHead, headDigest } from './device-head.js';
import { DEVICE_ID_PATTERN } from './device-id.js';
import { type RecordHeader, recordHashOf, recordSigningDigest, ZERO_HASH } from './envelope.js';
import {
  type DeviceKeyPin,
  judgeOrigin,
  type LogPosition,
  type OriginJudgement,
  type OriginVerdict,
  type PlacedKeyEvent,
} from './key-chain.js';
import { type ClassifiedLeaf, classifyLeaf, type LeafType } from './leaf.js';
import { verifyInclusion } from './merkle.js';

export const COMPLETENESS_FORMAT = 'iot-notary.completeness.v1';
/** Most records one document covers (the API refuses wider ranges with `range-too-wide`). */
export const MAX_COMPLETENESS_RECORDS = 10_000;
export const MAX_COMPLETENESS_KEY_EVENTS = 256;

const BATCH_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** A leaf and, once it is in a batch, where: the batch (by id) and its inclusion path there. */
export const LeafItem = z.strictObject({
  leaf: z.string(),
  batchId: z.string().regex(BATCH_ID).optional(),
  leafIndex: safeInt.optional(),
  path: z.array(hex32).max(64).optional(),
});
export type LeafItem = z.infer<typeof LeafItem>;

export const BatchItem = z.strictObject({ root: hex32, treeSize: safeInt, anchors: z.array(AnchorSchema) });

export const CompletenessDocument = z
  .strictObject({
    format: z.literal(COMPLETENESS_FORMAT),
    deviceId: z.string().regex(DEVICE_ID_PATTERN),
    /** fromSeq through toSeq; toSeq is the head's count - 1 (checked), so the range is empty when -1. */
    range: z.strictObject({ fromSeq: safeInt, toSeq: z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER) }),
    head: LeafItem.optional(),
    records: z.array(LeafItem).max(MAX_COMPLETENESS_RECORDS),
    keyEvents: z.array(LeafItem).max(MAX_COMPLETENESS_KEY_EVENTS),
    batches: z.record(z.string().regex(BATCH_ID), BatchItem),
  })
  .refine((d) => d.range.toSeq - d.range.fromSeq < MAX_COMPLETENESS_RECORDS, {
    message: `a document covers at most ${MAX_COMPLETENESS_RECORDS} sequence numbers`,
    path: ['range'],
  });
export type CompletenessDocument = z.infer<typeof CompletenessDocument>;

export interface CompletenessOptions extends AnchorOptions {
  trustedDeviceKeys?: readonly DeviceKeyPin[];
}

export interface ChainBreak {
  seq: number;
  prevHash: string;
  expectedPrevHash: string;
}

export interface CompletenessCheck {
  /** The evidence: `tampered`, `pending` (something not anchored yet), `unpinned` (a trust root assumed). */
  status: VerifyStatus;
  /**
   * `complete`: every seq of the range present and linked up to a valid head. `incomplete`: a seq is missing,
   * a link broken, or the head disagrees. `unproven`: no head with proven (or unpinned) origin covers the range.
   */
  outcome: 'complete' | 'incomplete' | 'unproven';
  deviceId: string;
  range: { fromSeq: number; toSeq: number };
  /** Seq ranges with no record in the document. */
  missing: { fromSeq: number; toSeq: number }[];
  chainBreaks: ChainBreak[];
  head: {
    status: 'ok' | 'absent' | 'mismatch' | 'invalid' | 'pending' | 'unproven';
    count?: number;
    origin?: OriginJudgement;
  };
  /** Records by the verdict on their origin; `unsigned` counts v1 records. */
  origins: Record<OriginVerdict | 'unsigned', number>;
  /** Seqs of records whose origin is invalid. */
  invalidOrigins: number[];
  reasons: Reason[];
  batches: Record<string, { anchors: AnchorCheck[] }>;
}

interface PlacedLeaf {
  leaf: ClassifiedLeaf;
  bytes: Uint8Array;
  positions: LogPosition[];
  /** `queued`: in no batch yet; `invalid`: its place in a batch does not check. */
  state: 'anchored' | 'queued' | 'invalid';
}

export function checkCompleteness(
  doc: CompletenessDocument,
  opts: CompletenessOptions = {},
): CompletenessCheck {
  const reasons: SevereReason[] = [];
  const add = (severity: Severity, code: string, message: string) =>
    reasons.push({ severity, code, message });
  const { deviceId } = doc;
  const { fromSeq, toSeq } = doc.range;

  // 1. Batches: each anchored like a bundle's batch, each referenced by some leaf.
  const batches: CompletenessCheck['batches'] = {};
  const referenced = new Set<string>();
  for (const [id, b] of Object.entries(doc.batches)) {
    const anchors: AnchorCheck[] = [];
    if (b.anchors.length === 0)
      add('pending', 'anchor-not-submitted', `batch ${id}: its root is not on any chain yet`);
    for (const a of b.anchors) {
      const v = checkAnchor(a, { root: b.root, treeSize: b.treeSize, label: `batch ${id}` }, opts, 'v2');
      anchors.push(v.check);
      reasons.push(...v.reasons);
    }
    batches[id] = { anchors };
  }

  // 2. Leaves: each of the device and of its list's type, each included in the batch it names.
  const place = (item: LeafItem, type: LeafType, label: string): PlacedLeaf | undefined => {
    const bytes = fromBase64(item.leaf);
    const leaf = bytes ? classifyLeaf(bytes) : undefined;
    if (!bytes || !leaf?.ok || leaf.type !== type || leaf.deviceId !== deviceId) {
      add('tampered', 'leaf-malformed', `${label} is not a ${type} leaf of device ${deviceId}`);
      return undefined;
    }
    const parts = [item.batchId, item.leafIndex, item.path].filter((x) => x !== undefined).length;
    if (parts === 0) {
      add('pending', 'not-yet-anchored', `${label} is not in a batch yet`);
      return { leaf, bytes, positions: [], state: 'queued' };
    }
    const batch = item.batchId === undefined ? undefined : doc.batches[item.batchId];
    if (item.batchId !== undefined) referenced.add(item.batchId);
    if (parts !== 3 || !batch) {
      add(
        'tampered',
        'batch-missing',
        `${label} names no batch the document holds, or only part of its place`,
      );
      return { leaf, bytes, positions: [], state: 'invalid' };
    }
    const res = verifyInclusion({
      index: item.leafIndex as number,
      size: batch.treeSize,
      leafHash: recordHashOf(bytes),
      proof: (item.path as string[]).map((p) => fromHex(p) as Uint8Array),
      root: fromHex(batch.root) as Uint8Array,
    });
    if (!res.ok) {
      add(
        'tampered',
        'inclusion-proof-invalid',
        `${label}: inclusion proof fails: ${res.message} (${res.code})`,
      );
      return { leaf, bytes, positions: [], state: 'invalid' };
    }
    const checksOfBatch = batches[item.batchId as string]?.anchors ?? [];
    const positions = positionsOf(checksOfBatch, { root: batch.root, leafIndex: item.leafIndex as number });
    return { leaf, bytes, positions, state: 'anchored' };
  };

  const events: PlacedKeyEvent[] = [];
  doc.keyEvents.forEach((item, i) => {
    const p = place(item, 'key-event', `key event ${i}`);
    if (p?.leaf.type === 'key-event')
      events.push({ event: p.leaf.event, keyId: p.leaf.keyId, positions: p.positions });
  });
  const records: { seq: number; header: RecordHeader; bytes: Uint8Array; positions: LogPosition[] }[] = [];
  doc.records.forEach((item, i) => {
    const p = place(item, 'record', `record ${i}`);
    if (p?.leaf.type === 'record')
      records.push({ seq: p.leaf.header.seq, header: p.leaf.header, bytes: p.bytes, positions: p.positions });
  });
  const headLeaf = doc.head ? place(doc.head, 'head', 'the head') : undefined;
  for (const id of Object.keys(doc.batches))
    if (!referenced.has(id))
      add('tampered', 'batch-unreferenced', `batch ${id} holds no leaf of the document`);

  // 3. The range: records strictly by seq, inside it; it ends at the head's count - 1.
  for (let i = 1; i < records.length; i++) {
    if ((records[i] as { seq: number }).seq <= (records[i - 1] as { seq: number }).seq) {
      add('tampered', 'records-out-of-order', 'records are not strictly in sequence order');
      break;
    }
  }
  if (records.some((r) => r.seq < fromSeq || r.seq > toSeq))
    add('tampered', 'record-out-of-range', `a record lies outside ${fromSeq}..${toSeq}`);
  const head: DeviceHead | undefined = headLeaf?.leaf.type === 'head' ? headLeaf.leaf.head : undefined;
  const expectedTo = head
    ? head.count - 1
    : records.length > 0
      ? (records[records.length - 1]?.seq as number)
      : fromSeq - 1;
  if (toSeq !== expectedTo || toSeq < fromSeq - 1)
    add(
      'tampered',
      'range-mismatch',
      `range.toSeq is ${toSeq}; ${head ? "the head's count - 1" : 'the last record'} says ${expectedTo}`,
    );

  // 4. Each record's origin, judged at its own place in the log.
  const pins = opts.trustedDeviceKeys ?? [];
  const origins: CompletenessCheck['origins'] = {
    proven: 0,
    unpinned: 0,
    'not-proven': 0,
    invalid: 0,
    unsigned: 0,
  };
  const invalidOrigins: number[] = [];
  for (const r of records) {
    if (!r.header.signature) {
      origins.unsigned++;
      continue;
    }
    const o = judgeOrigin(
      {
        deviceId,
        signature: r.header.signature,
        digest: recordSigningDigest(r.bytes),
        positions: r.positions,
      },
      events,
      pins,
    );
    origins[o.verdict]++;
    if (o.verdict === 'invalid') {
      invalidOrigins.push(r.seq);
      add(
        'tampered',
        'record-origin-invalid',
        `record ${r.seq}: ${o.reasons.map((x) => x.message).join('; ')}`,
      );
    }
  }

  // 5. Every seq present; consecutive records linked.
  const bySeq = new Map(records.map((r) => [r.seq, r]));
  const missing: CompletenessCheck['missing'] = [];
  const chainBreaks: ChainBreak[] = [];
  let gapStart: number | undefined;
  for (let s = fromSeq; s <= toSeq; s++) {
    const r = bySeq.get(s);
    if (!r) {
      gapStart ??= s;
      continue;
    }
    if (gapStart !== undefined) {
      missing.push({ fromSeq: gapStart, toSeq: s - 1 });
      gapStart = undefined;
    }
    const prev =
      s === 0
        ? { hash: ZERO_HASH }
        : bySeq.has(s - 1)
          ? { hash: recordHashOf((bySeq.get(s - 1) as { bytes: Uint8Array }).bytes) }
          : undefined;
    if (prev && !bytesEqual(prev.hash, r.header.prevHash))
      chainBreaks.push({ seq: s, prevHash: toHex(r.header.prevHash), expectedPrevHash: toHex(prev.hash) });
  }
  if (gapStart !== undefined) missing.push({ fromSeq: gapStart, toSeq });
  for (const m of missing)
    add(
      'missing',
      'record-missing',
      `no record ${m.fromSeq === m.toSeq ? m.fromSeq : `${m.fromSeq}..${m.toSeq}`}`,
    );
  for (const b of chainBreaks)
    add('missing', 'chain-break', `record ${b.seq} does not link to record ${b.seq - 1}`);

  // 6. The head: signed by a valid device key, anchored, its lastHash the hash of record count - 1.
  const headCheck: CompletenessCheck['head'] = { status: 'absent' };
  if (doc.head && !head) headCheck.status = 'invalid';
  if (head && headLeaf) {
    headCheck.count = head.count;
    const o = judgeOrigin(
      {
        deviceId,
        signature: { alg: head.alg, keyId: head.keyId, sig: head.sig },
        digest: headDigest(head),
        positions: headLeaf.positions,
      },
      events,
      pins,
    );
    headCheck.origin = o;
    const last = bySeq.get(head.count - 1);
    if (o.verdict === 'invalid') {
      headCheck.status = 'invalid';
      add('tampered', 'head-invalid', `the head: ${o.reasons.map((x) => x.message).join('; ')}`);
    } else if (headLeaf.state !== 'anchored') {
      headCheck.status = headLeaf.state === 'queued' ? 'pending' : 'invalid';
    } else if (head.count > 0 && last && !bytesEqual(recordHashOf(last.bytes), head.lastHash)) {
      headCheck.status = 'mismatch';
      add('missing', 'head-mismatch', `the head's lastHash is not the hash of record ${head.count - 1}`);
    } else if (o.verdict === 'not-proven') {
      headCheck.status = 'unproven';
    } else {
      headCheck.status = 'ok';
      if (o.verdict === 'unpinned')
        add('unpinned', 'head-key-unpinned', "the head's key chain reaches no pinned device key");
    }
  }

  const outcome: CompletenessCheck['outcome'] =
    missing.length > 0 || chainBreaks.length > 0 || headCheck.status === 'mismatch'
      ? 'incomplete'
      : headCheck.status === 'ok'
        ? 'complete'
        : 'unproven';
  // Missing records and broken links are findings about the device's history, not about the document: they
  // decide the outcome, while the status speaks of the evidence.
  const evidence = reasons.filter(
    (r) => r.code !== 'record-missing' && r.code !== 'chain-break' && r.code !== 'head-mismatch',
  );
  return {
    status: statusOf(evidence),
    outcome,
    deviceId,
    range: { fromSeq, toSeq },
    missing,
    chainBreaks,
    head: headCheck,
    origins,
    invalidOrigins,
    reasons: reasons.map(({ code, message }) => ({ code, message })),
    batches,
  };
}
