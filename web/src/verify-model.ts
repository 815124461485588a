/**
 * What the page verifies, as plain functions over plain data (no DOM): files are classified, then checked
 * with lib/core exactly as the API and the command-line verifier check them (checkProofBundle,
 * checkCompleteness, openRecord). The page only draws the result (render.ts).
 */
import type { VerifyStatus } from '../../lib/core/anchor-check.js';
import { bytesEqual, fromBase64, latin1, toHex } from '../../lib/core/bytes.js';
import {
  COMPLETENESS_FORMAT,
  type CompletenessCheck,
  CompletenessDocument,
  checkCompleteness,
} from '../../lib/core/completeness.js';
import { isDeviceId } from '../../lib/core/device-id.js';
import { ENVELOPE_MAGIC, openRecord, parseEnvelope, recordHashOf } from '../../lib/core/envelope.js';
import { classifyEntry } from '../../lib/core/export-archive.js';
import { checkExportArchive, type ExportCheck, NotAnExportError } from '../../lib/core/export-check.js';
import type { DeviceKeyPin } from '../../lib/core/key-chain.js';
import { classifyLeaf } from '../../lib/core/leaf.js';
import { AnyProofBundle, checkProofBundle, type ProofCheck } from '../../lib/core/proof-bundle.js';
import { readTar, TarError } from '../../lib/core/tar.js';

export const KEYS_FORMAT = 'iot-notary.keys.v1';

/** A POSIX tar announces itself with "ustar" at byte 257 of its first header. */
export function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= 512 && latin1(bytes.subarray(257, 262)) === 'ustar';
}

export interface DroppedFile {
  name: string;
  bytes: Uint8Array;
}

export type FileKind = 'bundle' | 'completeness' | 'keys' | 'envelope' | 'archive' | 'unusable';

/** One line of the "files" list: what a file was taken for. */
export interface FileNote {
  name: string;
  kind: FileKind;
  detail: string;
}

export interface Material {
  bundles: { source: string; bundle: AnyProofBundle }[];
  completeness?: { source: string; doc: CompletenessDocument };
  /** Record keys by record hash (hex). */
  keys: Map<string, { recordId: string; key: Uint8Array }>;
  /** Envelopes by record hash (hex). */
  envelopes: Map<string, Uint8Array>;
  /** An export archive (one at a time), checked as a whole by lib/core/export-check.ts. */
  archive?: DroppedFile;
  notes: FileNote[];
}

/** The archive as the page shows it: lib/core's ExportCheck, and the file it came from. */
export interface ArchiveResult {
  name: string;
  check: ExportCheck;
}

export interface Pins {
  ledgerKeys: string[];
  deviceKeys: DeviceKeyPin[];
}

export type PinError = { field: 'ledger' | 'device'; message: string };

/** Reads the pin text areas: one base64 ledger key, or one key id / deviceId=keyId, per line. */
export function parsePins(ledgerText: string, deviceText: string): { pins: Pins } | { error: PinError } {
  const lines = (t: string) =>
    t
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
  const ledgerKeys = lines(ledgerText);
  for (const k of ledgerKeys)
    if (fromBase64(k)?.length !== 32)
      return { error: { field: 'ledger', message: `"${k}" is not a 32-byte key in padded base64` } };
  const deviceKeys: DeviceKeyPin[] = [];
  for (const l of lines(deviceText)) {
    const eq = l.lastIndexOf('=');
    const deviceId = eq >= 0 ? l.slice(0, eq) : undefined;
    const keyId = eq >= 0 ? l.slice(eq + 1) : l;
    if (!/^[0-9a-f]{64}$/.test(keyId) || (deviceId !== undefined && !isDeviceId(deviceId)))
      return { error: { field: 'device', message: `"${l}" is not a 64-hex key id or <deviceId>=<keyId>` } };
    deviceKeys.push(deviceId === undefined ? { keyId } : { deviceId, keyId });
  }
  return { pins: { ledgerKeys, deviceKeys } };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function jsonOf(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

const issues = (e: { issues: { path: PropertyKey[]; message: string }[] }) =>
  e.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');

function isEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytesEqual(bytes.subarray(0, 4), ENVELOPE_MAGIC);
}

/** Takes in one file (or archive entry) by its content; names matter only inside an archive. */
function takeIn(m: Material, name: string, bytes: Uint8Array, inArchive: boolean): FileNote {
  const note = (kind: FileKind, detail: string): FileNote => ({ name, kind, detail });
  if (isEnvelope(bytes)) {
    const env = parseEnvelope(bytes);
    if (!env.ok) return note('unusable', `an envelope that does not parse: ${env.message}`);
    const hash = toHex(recordHashOf(env.headerBytes));
    m.envelopes.set(hash, bytes);
    return note('envelope', `envelope of ${env.header.deviceId}.${env.header.seq}`);
  }
  if (!inArchive && isTar(bytes)) return note('archive', 'export archive');
  const json = jsonOf(bytes);
  const format = (json as { format?: unknown } | undefined)?.format;
  if (format === undefined) return note('unusable', 'not JSON with a "format", an envelope or a tar archive');
  if (format === COMPLETENESS_FORMAT) {
    const r = CompletenessDocument.safeParse(json);
    if (!r.success) return note('unusable', `not a valid completeness document: ${issues(r.error)}`);
    if (m.completeness) return note('unusable', 'a second completeness document (only one is checked)');
    m.completeness = { source: name, doc: r.data as CompletenessDocument };
    return note('completeness', `completeness of ${r.data.deviceId}`);
  }
  if (format === KEYS_FORMAT) {
    const keys = (json as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) return note('unusable', 'a keys file without a "keys" list');
    let n = 0;
    for (const k of keys as { recordId?: unknown; recordHash?: unknown; key?: unknown }[]) {
      const key = typeof k.key === 'string' ? fromBase64(k.key) : undefined;
      if (typeof k.recordHash !== 'string' || !/^[0-9a-f]{64}$/.test(k.recordHash) || key?.length !== 32)
        continue;
      m.keys.set(k.recordHash, { recordId: String(k.recordId), key });
      n++;
    }
    return note('keys', `${n} record key${n === 1 ? '' : 's'}`);
  }
  if (typeof format === 'string' && format.startsWith('iot-notary.proof.')) {
    const r = AnyProofBundle.safeParse(json);
    if (!r.success) return note('unusable', `not a valid proof bundle: ${issues(r.error)}`);
    m.bundles.push({ source: name, bundle: r.data as AnyProofBundle });
    return note('bundle', `proof of ${r.data.record.recordId}`);
  }
  return note('unusable', `unknown format ${JSON.stringify(format)}`);
}

function takeInArchive(m: Material, file: DroppedFile): FileNote {
  if (m.archive) return { name: file.name, kind: 'unusable', detail: 'a second archive (one at a time)' };
  m.archive = file;
  // Envelopes inside are also what released keys decrypt; the archive itself is checked in verifyMaterial.
  let envelopes = 0;
  try {
    for (const e of readTar(file.bytes))
      if (classifyEntry(e.name).kind === 'envelope' && takeIn(m, e.name, e.data, true).kind === 'envelope')
        envelopes++;
  } catch (err) {
    if (!(err instanceof TarError)) throw err;
  }
  return {
    name: file.name,
    kind: 'archive',
    detail: `export archive${envelopes ? ` with ${envelopes} envelopes` : ''}`,
  };
}

export function loadFiles(files: readonly DroppedFile[]): Material {
  const m: Material = { bundles: [], keys: new Map(), envelopes: new Map(), notes: [] };
  for (const f of files)
    m.notes.push(isTar(f.bytes) ? takeInArchive(m, f) : takeIn(m, f.name, f.bytes, false));
  m.bundles.sort(
    (a, b) =>
      a.bundle.record.deviceId.localeCompare(b.bundle.record.deviceId) ||
      a.bundle.record.seq - b.bundle.record.seq,
  );
  return m;
}

export type Reading =
  | { state: 'decrypted'; text: string }
  | { state: 'failed'; message: string }
  | { state: 'no-envelope' }
  | { state: 'no-key' };

export interface RecordResult {
  recordId: string;
  deviceId: string;
  seq: number;
  timestamp: number;
  bundle: AnyProofBundle;
  check: ProofCheck;
  envelope: boolean;
  reading: Reading;
}

export interface Timeline {
  deviceId: string;
  fromSeq: number;
  toSeq: number;
  /** Records the evidence holds, by seq, with their status. */
  records: { seq: number; status: VerifyStatus; timestamp?: number }[];
  gaps: { fromSeq: number; toSeq: number }[];
  /** The last record of each anchored batch: where its root went on chain. */
  anchors: { seq: number; chainId: string; time?: number }[];
}

export interface Report {
  status: VerifyStatus | 'nothing';
  records: RecordResult[];
  counts: Record<VerifyStatus, number>;
  completeness?: CompletenessCheck;
  archive?: ArchiveResult;
  timeline?: Timeline;
  decrypted: { ok: number; failed: number; withoutEnvelope: number; keys: number };
}

const SEVERITY: readonly VerifyStatus[] = ['tampered', 'missing', 'pending', 'unpinned', 'verified'];
export const worst = (ss: readonly VerifyStatus[]): VerifyStatus | undefined =>
  SEVERITY.find((s) => ss.includes(s));

function readingOf(m: Material, r: AnyProofBundle['record'], envelope: Uint8Array | undefined): Reading {
  const key = m.keys.get(r.recordHash);
  if (!key) return { state: 'no-key' };
  if (!envelope) return { state: 'no-envelope' };
  const env = parseEnvelope(envelope);
  if (!env.ok) return { state: 'failed', message: env.message };
  const opened = openRecord(env, key.key);
  if (!opened.ok) return { state: 'failed', message: opened.message };
  let text: string;
  try {
    text = decoder.decode(opened.plaintext);
  } catch {
    return {
      state: 'decrypted',
      text: `(binary, ${opened.plaintext.length} bytes) ${toHex(opened.plaintext)}`,
    };
  }
  return { state: 'decrypted', text };
}

function gapsOf(seqs: readonly number[], from: number, to: number): { fromSeq: number; toSeq: number }[] {
  const have = new Set(seqs);
  const gaps: { fromSeq: number; toSeq: number }[] = [];
  for (let s = from; s <= to; s++) {
    if (have.has(s)) continue;
    const last = gaps.at(-1);
    if (last && last.toSeq === s - 1) last.toSeq = s;
    else gaps.push({ fromSeq: s, toSeq: s });
  }
  return gaps;
}

function timelineOf(
  records: RecordResult[],
  c: CompletenessCheck | undefined,
  doc: CompletenessDocument | undefined,
  archive: ExportCheck | undefined,
): Timeline | undefined {
  const deviceId = c?.deviceId ?? records[0]?.deviceId;
  if (deviceId === undefined) return undefined;
  const own = records.filter((r) => r.deviceId === deviceId);
  const rows: Timeline['records'] = own.map((r) => ({
    seq: r.seq,
    status: r.check.status,
    timestamp: r.timestamp,
  }));
  if (own.length === 0 && doc && c) {
    // A document alone: its records, judged with the document.
    for (const item of doc.records) {
      const leaf = fromBase64(item.leaf);
      const l = leaf ? classifyLeaf(leaf) : undefined;
      if (l?.ok && l.type === 'record')
        rows.push({ seq: l.header.seq, status: c.status, timestamp: l.header.timestamp });
    }
  }
  const seqs = rows.map((r) => r.seq);
  const range = c?.range ?? archive?.manifest.range;
  const fromSeq = range ? range.fromSeq : Math.min(...seqs);
  const toSeq = range ? range.toSeq : Math.max(...seqs);
  const gaps = c ? c.missing : archive ? archive.missing.listed : gapsOf(seqs, fromSeq, toSeq);
  const anchors: Timeline['anchors'] = [];
  const lastOfRoot = new Map<string, RecordResult>();
  for (const r of own) if (r.bundle.inclusion) lastOfRoot.set(r.bundle.inclusion.root, r);
  for (const r of lastOfRoot.values()) {
    const a = r.check.checks.anchors.find((x) => x.status === 'ok') ?? r.check.checks.anchors[0];
    if (a)
      anchors.push({ seq: r.seq, chainId: a.chainId, ...(a.time === undefined ? {} : { time: a.time }) });
  }
  anchors.sort((a, b) => a.seq - b.seq);
  return { deviceId, fromSeq, toSeq, records: rows, gaps, anchors };
}

function recordResult(
  m: Material,
  bundle: AnyProofBundle,
  check: ProofCheck,
  envelope: boolean,
): RecordResult {
  const r = bundle.record;
  return {
    recordId: r.recordId,
    deviceId: r.deviceId,
    seq: r.seq,
    timestamp: r.timestamp,
    bundle,
    check,
    envelope,
    reading: readingOf(m, r, m.envelopes.get(r.recordHash)),
  };
}

/**
 * Checks everything given: an archive with checkExportArchive (its shape, summary and entry chain, then each
 * bundle and the completeness document), loose bundles with checkProofBundle, a loose document with
 * checkCompleteness; then decrypts what released keys open.
 */
export async function verifyMaterial(m: Material, pins: Pins): Promise<Report> {
  const trust = {
    ...(pins.ledgerKeys.length > 0 ? { trustedLedgerKeys: pins.ledgerKeys } : {}),
    trustedDeviceKeys: pins.deviceKeys,
  };
  const records: RecordResult[] = [];
  let archive: ArchiveResult | undefined;
  if (m.archive) {
    const file = m.archive;
    try {
      const check = await checkExportArchive(readTar(file.bytes), {
        ...trust,
        onRecord: (outcome, bundle, c) =>
          records.push(recordResult(m, bundle, c, outcome.envelope !== 'not-checked')),
      });
      archive = { name: file.name, check };
    } catch (err) {
      if (!(err instanceof NotAnExportError)) throw err;
      m.notes.push({ name: file.name, kind: 'unusable', detail: err.message });
    }
  }
  for (const { bundle } of m.bundles) {
    const envelope = m.envelopes.get(bundle.record.recordHash);
    const check = checkProofBundle(bundle, { ...trust, ...(envelope ? { envelope } : {}) });
    records.push(recordResult(m, bundle, check, envelope !== undefined));
  }
  const fromArchive = archive?.check.completeness;
  const completeness =
    fromArchive?.included === true
      ? (({ included: _, ...c }) => c)(fromArchive)
      : m.completeness
        ? checkCompleteness(m.completeness.doc, trust)
        : undefined;
  const counts: Record<VerifyStatus, number> = {
    verified: 0,
    unpinned: 0,
    pending: 0,
    tampered: 0,
    missing: 0,
  };
  for (const r of records) counts[r.check.status]++;
  const statuses: VerifyStatus[] = records.map((r) => r.check.status);
  if (archive) statuses.push(archive.check.status);
  if (completeness) statuses.push(completeness.status);
  // A gap is what an auditor most needs to see: records missing from the range make the verdict `missing`,
  // even when every record present verifies (the evidence is sound; the history is not whole).
  if (completeness?.outcome === 'incomplete' || (archive && archive.check.missing.count > 0))
    statuses.push('missing');
  const decrypted = { ok: 0, failed: 0, withoutEnvelope: 0, keys: m.keys.size };
  for (const r of records) {
    if (r.reading.state === 'decrypted') decrypted.ok++;
    else if (r.reading.state === 'failed') decrypted.failed++;
    else if (r.reading.state === 'no-envelope') decrypted.withoutEnvelope++;
  }
  const timeline =
    records.length > 1 || completeness || archive
      ? timelineOf(records, completeness, m.completeness?.doc, archive?.check)
      : undefined;
  return {
    status: worst(statuses) ?? 'nothing',
    records,
    counts,
    ...(completeness ? { completeness } : {}),
    ...(archive ? { archive } : {}),
    ...(timeline ? { timeline } : {}),
    decrypted,
  };
}
