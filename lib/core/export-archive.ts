/**
 * The range export archive, format `iot-notary.export.v1` (docs/export.md is normative): a POSIX ustar archive
 * of one device's records over a range. This module holds what both sides share: the entry names, the
 * manifest and summary schemas, and the entry chain that makes a cut, reordered or edited archive detectable.
 *
 * The chain is a running hash over the entries instead of a list of per-entry hashes: a list for a
 * million-record archive would be two million lines, held in memory by the writer and parsed whole by every
 * reader. The chain costs 32 bytes on each side, and still pins every byte and name of every earlier entry.
 */
import { z } from 'zod';
import { safeInt } from './anchor-check.js';
import { toHex } from './bytes.js';
import { DEVICE_ID_PATTERN } from './device-id.js';
import { sha256 } from './hash.js';

export const EXPORT_FORMAT = 'iot-notary.export.v1';
export const EXPORT_SUMMARY_FORMAT = 'iot-notary.export-summary.v1';
/** The one top-level directory every entry is under. */
export const EXPORT_ROOT = 'iot-notary-export';
export const MANIFEST_ENTRY = `${EXPORT_ROOT}/manifest.json`;
export const COMPLETENESS_ENTRY = `${EXPORT_ROOT}/completeness.json`;
export const SUMMARY_ENTRY = `${EXPORT_ROOT}/summary.json`;
export const bundleEntry = (recordId: string) => `${EXPORT_ROOT}/bundles/${recordId}.proof.json`;
export const envelopeEntry = (recordId: string) => `${EXPORT_ROOT}/envelopes/${recordId}.bin`;
/** Seq ranges the summary lists by name; beyond this it gives only their number and total. */
export const MAX_LISTED_MISSING_RANGES = 1000;

const BUNDLE_NAME =
  /^iot-notary-export\/bundles\/([A-Za-z0-9_-]{1,64}\.(?:0|[1-9][0-9]{0,15}))\.proof\.json$/;
const ENVELOPE_NAME = /^iot-notary-export\/envelopes\/([A-Za-z0-9_-]{1,64}\.(?:0|[1-9][0-9]{0,15}))\.bin$/;

export type EntryKind =
  | { kind: 'manifest' }
  | { kind: 'bundle'; recordId: string }
  | { kind: 'envelope'; recordId: string }
  | { kind: 'completeness' }
  | { kind: 'summary' }
  | { kind: 'unknown' };

/** What an entry of the archive is, by its name. */
export function classifyEntry(name: string): EntryKind {
  if (name === MANIFEST_ENTRY) return { kind: 'manifest' };
  if (name === COMPLETENESS_ENTRY) return { kind: 'completeness' };
  if (name === SUMMARY_ENTRY) return { kind: 'summary' };
  const b = BUNDLE_NAME.exec(name);
  if (b) return { kind: 'bundle', recordId: b[1] as string };
  const e = ENVELOPE_NAME.exec(name);
  if (e) return { kind: 'envelope', recordId: e[1] as string };
  return { kind: 'unknown' };
}

const SeqRange = z.strictObject({ fromSeq: safeInt, toSeq: z.number().int().min(-1) });

export const ExportManifest = z.strictObject({
  format: z.literal(EXPORT_FORMAT),
  deviceId: z.string().regex(DEVICE_ID_PATTERN),
  /**
   * The range as resolved: the seqs it spans and, for an export by device time, the half-open window
   * `from <= timestamp < to` the records were chosen by.
   */
  range: z.strictObject({
    by: z.enum(['seq', 'time']),
    fromSeq: safeInt,
    toSeq: z.number().int().min(-1),
    from: safeInt.optional(),
    to: safeInt.optional(),
  }),
  createdAt: safeInt,
  /** Records (and so bundles) the archive holds: known before the first one is written. */
  records: safeInt,
  includes: z.strictObject({ envelopes: z.boolean(), completeness: z.boolean() }),
  /** Why there is no completeness document, when there is none. */
  completenessOmitted: z.string().max(500).optional(),
  server: z.strictObject({ software: z.literal('iot-notary'), version: z.string().max(64) }),
});
export type ExportManifest = z.infer<typeof ExportManifest>;

export const ExportSummary = z.strictObject({
  format: z.literal(EXPORT_SUMMARY_FORMAT),
  records: safeInt,
  bundles: safeInt,
  envelopes: safeInt,
  /**
   * Seqs of the range with no stored record: `count` seqs in `ranges` ranges, the first
   * MAX_LISTED_MISSING_RANGES of which are listed.
   */
  missing: z.strictObject({
    count: safeInt,
    ranges: safeInt,
    listed: z.array(SeqRange).max(MAX_LISTED_MISSING_RANGES),
  }),
  /** Envelopes the object store no longer had: their bundles are in the archive, their bytes are not. */
  envelopesMissing: z.array(z.string()).max(MAX_LISTED_MISSING_RANGES).optional(),
  /** Every entry before this one: how many, and the chain over them (entryChainStep). */
  entries: z.strictObject({ count: safeInt, chain: z.string().regex(/^[0-9a-f]{64}$/) }),
});
export type ExportSummary = z.infer<typeof ExportSummary>;

export const CHAIN_START = new Uint8Array(32);

/**
 * One step of the entry chain: link' = SHA-256(link ‖ SHA-256(UTF-8 name) ‖ SHA-256(data)), starting from 32
 * zero bytes; the summary carries the link after its last earlier entry.
 */
export function entryChainStep(link: Uint8Array, name: string, data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(96);
  buf.set(link, 0);
  buf.set(sha256(new TextEncoder().encode(name)), 32);
  buf.set(sha256(data), 64);
  return sha256(buf);
}

/** Keeps the chain over entries as they are written or read. */
export class EntryChain {
  private link: Uint8Array = CHAIN_START;
  count = 0;
  add(name: string, data: Uint8Array): void {
    this.link = entryChainStep(this.link, name, data);
    this.count++;
  }
  get hex(): string {
    return toHex(this.link);
  }
}

/** Keeps the missing seqs of an ascending walk over a range, in bounded memory. */
export class MissingSeqs {
  count = 0;
  ranges = 0;
  readonly listed: { fromSeq: number; toSeq: number }[] = [];
  add(fromSeq: number, toSeq: number): void {
    if (toSeq < fromSeq) return;
    this.count += toSeq - fromSeq + 1;
    this.ranges++;
    if (this.listed.length < MAX_LISTED_MISSING_RANGES) this.listed.push({ fromSeq, toSeq });
  }
  toJSON(): ExportSummary['missing'] {
    return { count: this.count, ranges: this.ranges, listed: this.listed };
  }
}
