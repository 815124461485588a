/**
 * Checks an export archive (docs/export.md §4) entry by entry, as it is read: the archive's own shape (the
 * manifest first, bundles in seq order each followed by its envelope when envelopes are included, the
 * summary last, its counts and entry chain), then every bundle with `checkProofBundle` and the completeness
 * document with `checkCompleteness`, the same functions the API and the single-file verifiers run.
 *
 * Memory is one entry and the counters: results are tallied, and only the first `maxFailures` records that
 * did not verify are kept whole. Live anchor lookups, when the caller can make them (the command line with
 * `--evm-rpc`, `--bigbang-rpc`), come in through `liveAnchors`; this module does no I/O itself.
 */
import type { BundleAnchor, LiveAnchor, Reason, VerifyStatus } from './anchor-check.js';
import { statusOf } from './anchor-check.js';
import {
  type CompletenessCheck,
  CompletenessDocument,
  type CompletenessOptions,
  checkCompleteness,
} from './completeness.js';
import { CodedError } from './errors.js';
import {
  classifyEntry,
  EntryChain,
  ExportManifest,
  ExportSummary,
  MAX_LISTED_MISSING_RANGES,
  MissingSeqs,
} from './export-archive.js';
import type { OriginVerdict } from './key-chain.js';
import { AnyProofBundle, type CheckOptions, checkProofBundle, type ProofCheck } from './proof-bundle.js';
import { type TarEntry, TarError } from './tar.js';

export interface ExportCheckOptions extends Omit<CheckOptions, 'envelope' | 'liveAnchors' | 'ipfs'> {
  /** Looks anchors up on their chains; without it, anchors with no evidence stay `anchor-unchecked-offline`. */
  liveAnchors?: (anchors: readonly BundleAnchor[]) => Promise<ReadonlyMap<string, LiveAnchor | null>>;
  /** Records that did not verify kept whole in the report; default 10. */
  maxFailures?: number;
  /** Called for every record checked, in archive order: progress, timelines. */
  onRecord?: (r: RecordOutcome, bundle: AnyProofBundle, check: ProofCheck) => void;
}

export interface RecordOutcome {
  recordId: string;
  seq: number;
  timestamp: number;
  status: VerifyStatus;
  origin: OriginVerdict;
  /** `ok`, `missing` (envelopes were included, this one is not) or `not-checked`. */
  envelope: 'ok' | 'mismatch' | 'missing' | 'not-checked';
  reasons: Reason[];
}

export type ArchiveProblemCode =
  | 'archive-malformed'
  | 'archive-truncated'
  | 'manifest-invalid'
  | 'entry-unexpected'
  | 'entry-invalid'
  | 'summary-invalid'
  | 'summary-mismatch';

export interface ExportCheck {
  kind: 'export';
  manifest: ExportManifest;
  /** The archive as a container: `intact`, or `damaged` with what is wrong (the records may still check). */
  archive: { status: 'intact' | 'damaged'; problems: { code: ArchiveProblemCode; message: string }[] };
  records: {
    checked: number;
    byStatus: Record<VerifyStatus, number>;
    origins: Record<OriginVerdict, number>;
    envelopes: { checked: number; missing: number };
  };
  /** Seqs of the range with no record in the archive (for a seq range, as the verifier itself counted). */
  missing: ExportSummary['missing'];
  completeness: { included: false; reason: string } | ({ included: true } & CompletenessCheck);
  failures: RecordOutcome[];
  /** The worst of every record, the completeness document and the archive (damaged counts as tampered). */
  status: VerifyStatus;
}

/** The input is not an export archive at all (no manifest first): a usage error, not a finding. */
export class NotAnExportError extends CodedError<'not-an-export'> {
  override readonly name = 'NotAnExportError';
  constructor(message: string) {
    super('not-an-export', message);
  }
}

const STATUSES: readonly VerifyStatus[] = ['verified', 'unpinned', 'pending', 'tampered', 'missing'];
const ORIGINS: readonly OriginVerdict[] = ['proven', 'unpinned', 'not-proven', 'invalid'];
const zeroes = <K extends string>(keys: readonly K[]) =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

const dec = new TextDecoder('utf-8', { fatal: true });
function json(data: Uint8Array): unknown {
  return JSON.parse(dec.decode(data));
}

/** Anchors of a bundle a live lookup may settle: the record's and its key events'. */
export function bundleAnchors(b: AnyProofBundle): BundleAnchor[] {
  return [
    ...b.anchors,
    ...(b.format === 'iot-notary.proof.v2' ? (b.origin?.keyEvents ?? []) : []).flatMap((k) => k.anchors),
  ];
}

export async function checkExportArchive(
  entries: AsyncIterable<TarEntry> | Iterable<TarEntry>,
  opts: ExportCheckOptions = {},
): Promise<ExportCheck> {
  const maxFailures = opts.maxFailures ?? 10;
  const problems: ExportCheck['archive']['problems'] = [];
  const problem = (code: ArchiveProblemCode, message: string) => {
    if (problems.length < MAX_LISTED_MISSING_RANGES) problems.push({ code, message });
  };
  const chain = new EntryChain();
  const byStatus = zeroes(STATUSES);
  const origins = zeroes(ORIGINS);
  const failures: RecordOutcome[] = [];
  const envelopes = { checked: 0, missing: 0 };
  const missing = new MissingSeqs();
  let manifest: ExportManifest | undefined;
  let summary: ExportSummary | undefined;
  let summaryChain: { count: number; chain: string } | undefined;
  let completeness: ExportCheck['completeness'] | undefined;
  let checked = 0;
  let envelopesSeen = 0;
  let lastSeq = -1;
  let expectedSeq = 0;
  let pending: { bundle: AnyProofBundle; name: string } | undefined;

  const { liveAnchors, maxFailures: _m, onRecord, ...checkOpts } = opts;

  async function judge(bundle: AnyProofBundle, envelope: Uint8Array | null | undefined): Promise<void> {
    const live = liveAnchors ? await liveAnchors(bundleAnchors(bundle)) : undefined;
    const check = checkProofBundle(bundle, {
      ...checkOpts,
      ...(envelope === undefined ? {} : { envelope }),
      ...(live ? { liveAnchors: live } : {}),
    });
    checked++;
    byStatus[check.status]++;
    origins[check.proven.origin.verdict]++;
    const outcome: RecordOutcome = {
      recordId: bundle.record.recordId,
      seq: bundle.record.seq,
      timestamp: bundle.record.timestamp,
      status: check.status,
      origin: check.proven.origin.verdict,
      envelope:
        envelope === undefined
          ? 'not-checked'
          : envelope === null
            ? 'missing'
            : check.checks.object === 'ok'
              ? 'ok'
              : 'mismatch',
      reasons: check.reasons,
    };
    if (check.status !== 'verified' && check.status !== 'unpinned' && failures.length < maxFailures)
      failures.push(outcome);
    onRecord?.(outcome, bundle, check);
  }

  /** The bundle waiting for its envelope is judged without one (the archive has none for it). */
  async function flush(): Promise<void> {
    if (!pending) return;
    const p = pending;
    pending = undefined;
    envelopes.missing++;
    await judge(p.bundle, null);
  }

  try {
    let first = true;
    for await (const e of entries) {
      if (first) {
        first = false;
        if (classifyEntry(e.name).kind !== 'manifest')
          throw new NotAnExportError(`the first entry is ${JSON.stringify(e.name)}, not the export manifest`);
        let parsed: unknown;
        try {
          parsed = json(e.data);
        } catch {
          throw new NotAnExportError('the manifest is not JSON');
        }
        const m = ExportManifest.safeParse(parsed);
        if (!m.success)
          throw new NotAnExportError(
            `the manifest is not ${'iot-notary.export.v1'}: ${m.error.issues[0]?.message}`,
          );
        manifest = m.data;
        expectedSeq = manifest.range.fromSeq;
        chain.add(e.name, e.data);
        continue;
      }
      const m = manifest as ExportManifest;
      if (summary !== undefined) {
        problem('entry-unexpected', `${e.name} follows the summary, which must be the last entry`);
        continue;
      }
      const kind = classifyEntry(e.name);
      if (kind.kind === 'summary') {
        await flush();
        summaryChain = { count: chain.count, chain: chain.hex };
        try {
          const s = ExportSummary.safeParse(json(e.data));
          if (s.success) summary = s.data;
          else problem('summary-invalid', `the summary does not parse: ${s.error.issues[0]?.message}`);
        } catch {
          problem('summary-invalid', 'the summary is not JSON');
        }
        // A summary that does not parse still ends the archive: nothing may follow it.
        summary ??= undefined;
        if (!summary) break;
        continue;
      }
      if (kind.kind === 'envelope') {
        chain.add(e.name, e.data);
        if (!pending || pending.bundle.record.recordId !== kind.recordId) {
          problem('entry-unexpected', `${e.name} does not follow its own bundle`);
          continue;
        }
        const p = pending;
        pending = undefined;
        envelopesSeen++;
        envelopes.checked++;
        await judge(p.bundle, e.data);
        continue;
      }
      await flush();
      chain.add(e.name, e.data);
      if (kind.kind === 'bundle') {
        let bundle: AnyProofBundle | undefined;
        try {
          const b = AnyProofBundle.safeParse(json(e.data));
          if (b.success) bundle = b.data as AnyProofBundle;
          else problem('entry-invalid', `${e.name} is not a proof bundle: ${b.error.issues[0]?.message}`);
        } catch {
          problem('entry-invalid', `${e.name} is not JSON`);
        }
        if (!bundle) {
          // Counted as a record that failed: the archive promised a bundle here.
          checked++;
          byStatus.tampered++;
          if (failures.length < maxFailures)
            failures.push({
              recordId: kind.recordId,
              seq: -1,
              timestamp: 0,
              status: 'tampered',
              origin: 'invalid',
              envelope: 'not-checked',
              reasons: [{ code: 'bundle-invalid', message: `${e.name} does not parse as a proof bundle` }],
            });
          continue;
        }
        const r = bundle.record;
        if (r.recordId !== kind.recordId || r.deviceId !== m.deviceId)
          problem('entry-unexpected', `${e.name} holds the bundle of ${r.recordId} (device ${r.deviceId})`);
        if (r.seq <= lastSeq) problem('entry-unexpected', `${e.name} is out of seq order`);
        if (r.seq < m.range.fromSeq || r.seq > m.range.toSeq)
          problem('entry-unexpected', `${e.name} is outside the manifest's range`);
        if (r.seq > lastSeq) {
          if (r.seq >= expectedSeq) missing.add(expectedSeq, r.seq - 1);
          expectedSeq = Math.max(expectedSeq, r.seq + 1);
          lastSeq = r.seq;
        }
        if (m.includes.envelopes) pending = { bundle, name: e.name };
        else await judge(bundle, undefined);
        continue;
      }
      if (kind.kind === 'completeness') {
        if (!m.includes.completeness)
          problem('entry-unexpected', 'a completeness document the manifest does not list');
        let doc: CompletenessDocument | undefined;
        try {
          const d = CompletenessDocument.safeParse(json(e.data));
          if (d.success) doc = d.data as CompletenessDocument;
          else
            problem(
              'entry-invalid',
              `the completeness document does not parse: ${d.error.issues[0]?.message}`,
            );
        } catch {
          problem('entry-invalid', 'the completeness document is not JSON');
        }
        if (doc) {
          const anchors = Object.values(doc.batches).flatMap((b) => b.anchors);
          const live = liveAnchors ? await liveAnchors(anchors) : undefined;
          const copts: CompletenessOptions = { ...checkOpts, ...(live ? { liveAnchors: live } : {}) };
          completeness = { included: true, ...checkCompleteness(doc, copts) };
          if (doc.deviceId !== m.deviceId)
            problem('entry-unexpected', `the completeness document is about device ${doc.deviceId}`);
        }
        continue;
      }
      problem('entry-unexpected', `${e.name} is not an entry of ${'iot-notary.export.v1'}`);
    }
    if (first) throw new NotAnExportError('the archive is empty');
    await flush();
  } catch (e) {
    if (e instanceof NotAnExportError) throw e;
    if (!(e instanceof TarError)) throw e;
    if (!manifest) throw new NotAnExportError(`not a tar archive: ${e.message}`);
    problem(e.code === 'tar-truncated' ? 'archive-truncated' : 'archive-malformed', e.message);
    await flush();
  }
  const m = manifest as ExportManifest;

  if (m.range.by === 'seq') missing.add(expectedSeq, m.range.toSeq);
  if (!summary) {
    if (!problems.some((p) => p.code === 'archive-truncated' || p.code === 'summary-invalid'))
      problem('archive-truncated', 'the archive has no summary: it was cut short');
  } else {
    const s = summary;
    const sc = summaryChain as { count: number; chain: string };
    if (s.entries.count !== sc.count || s.entries.chain !== sc.chain)
      problem(
        'summary-mismatch',
        `the entries before the summary are not the ones it was written over (${sc.count} read, ${s.entries.count} listed)`,
      );
    if (s.records !== m.records || s.bundles !== m.records || checked !== m.records)
      problem(
        'summary-mismatch',
        `the manifest announces ${m.records} records, the summary ${s.bundles} bundles, the archive holds ${checked}`,
      );
    if (s.envelopes !== envelopesSeen)
      problem(
        'summary-mismatch',
        `the summary counts ${s.envelopes} envelopes, the archive holds ${envelopesSeen}`,
      );
    if (m.range.by === 'seq' && s.missing.count !== missing.count)
      problem(
        'summary-mismatch',
        `the summary says ${s.missing.count} seqs are missing, the archive lacks ${missing.count}`,
      );
  }
  if (!completeness)
    completeness = m.includes.completeness
      ? { included: false, reason: 'the manifest lists a completeness document the archive does not hold' }
      : { included: false, reason: m.completenessOmitted ?? 'not included' };
  if (m.includes.completeness && !completeness.included)
    problem('entry-unexpected', 'the completeness document the manifest lists is absent');

  const severities = [
    ...STATUSES.filter((s) => s !== 'verified' && byStatus[s] > 0).map((s) => ({
      severity: s as Exclude<VerifyStatus, 'verified'>,
      code: s,
      message: '',
    })),
    ...(completeness.included && completeness.status !== 'verified'
      ? [
          {
            severity: completeness.status as Exclude<VerifyStatus, 'verified'>,
            code: 'completeness',
            message: '',
          },
        ]
      : []),
    ...(problems.length > 0 ? [{ severity: 'tampered' as const, code: 'archive', message: '' }] : []),
  ];
  return {
    kind: 'export',
    manifest: m,
    archive: { status: problems.length > 0 ? 'damaged' : 'intact', problems },
    records: { checked, byStatus, origins, envelopes },
    missing: m.range.by === 'seq' ? missing.toJSON() : (summary?.missing ?? missing.toJSON()),
    completeness,
    failures,
    status: statusOf(severities),
  };
}
