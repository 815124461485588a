/**
 * The range export (docs/export.md): one device's records over a seq or time range as a POSIX ustar archive
 * of proof bundles, optionally their envelopes, and the completeness document of the range, between a
 * manifest (first) and a summary (last).
 *
 * Memory stays flat whatever the range: `prepareExport` resolves and counts the range in pages (so the
 * manifest and `X-Export-Records` give the count up front) and checks a windowed auditor token against every
 * record before a byte is sent; `parts` then reads the range again in pages, one batch reader per page (a
 * batch's tree and anchors are read once for its records in the page), and yields the archive's bytes as it
 * goes. Nothing is produced faster than it is consumed: the caller pulls.
 */
import {
  hasTimeWindow,
  outOfScopeError,
  type Principal,
  timeInScope,
  timeRangeFor,
} from '../access/scope.js';
import { type CompletenessDocument, MAX_COMPLETENESS_RECORDS } from '../core/completeness.js';
import { isNotaryError, NotaryError } from '../core/errors.js';
import {
  bundleEntry,
  COMPLETENESS_ENTRY,
  EntryChain,
  EXPORT_FORMAT,
  EXPORT_SUMMARY_FORMAT,
  type ExportManifest,
  type ExportSummary,
  envelopeEntry,
  MANIFEST_ENTRY,
  MAX_LISTED_MISSING_RANGES,
  MissingSeqs,
  SUMMARY_ENTRY,
} from '../core/export-archive.js';
import { tarEntry, tarTrailer } from '../core/tar.js';
import type { BatchEntry, RecordEntry } from '../ports.js';
import { readRecordEnvelope } from '../record-object.js';
import { BatchReader, pathsFromTree } from '../verify/batch-evidence.js';
import { buildCompletenessDocument } from '../verify/completeness-document.js';
import { bundleOfRecord, deviceKeyEventSource, type VerifyDeps } from '../verify/record-proof.js';

/** Default most records one export may hold (EXPORT_MAX_RECORDS). */
export const DEFAULT_EXPORT_MAX_RECORDS = 1_000_000;
/** Records read per index page, in both passes. */
const PAGE = 500;

export type ExportRange =
  | { by: 'seq'; fromSeq?: number; toSeq?: number }
  /** Device time, half-open: from <= timestamp < to; a bound left out is the token's, or open. */
  | { by: 'time'; from?: number; to?: number };

export interface ExportRequest {
  deviceId: string;
  range: ExportRange;
  envelopes: boolean;
  principal: Principal;
  maxRecords: number;
}

export interface ExportDeps extends VerifyDeps {
  version: string;
}

export interface PreparedExport {
  manifest: ExportManifest;
  /** The archive's bytes, in order; read once. */
  parts(): AsyncGenerator<Uint8Array, void, undefined>;
}

const enc = new TextEncoder();

function tooWide(max: number): NotaryError {
  return new NotaryError(
    'range-too-wide',
    `one export holds at most ${max} records; split the range into several exports`,
    { maxRecords: max },
  );
}

/** Every record of the seq span in pages, ascending. */
async function* bySeq(
  deps: ExportDeps,
  deviceId: string,
  fromSeq: number,
  toSeq: number,
): AsyncGenerator<RecordEntry[]> {
  for (let next = fromSeq; next <= toSeq; ) {
    const page = await deps.index.listBySeq(deviceId, { fromSeq: next, toSeq, limit: PAGE });
    if (page.length > 0) yield page;
    const last = page.at(-1);
    if (page.length < PAGE || !last) return;
    next = last.seq + 1;
  }
}

interface Resolved {
  fromSeq: number;
  toSeq: number;
  from?: number;
  to?: number;
  count: number;
}

async function resolveRange(deps: ExportDeps, req: ExportRequest): Promise<Resolved> {
  const { deviceId, range, principal: p, maxRecords } = req;
  const windowed = p.role === 'auditor' && hasTimeWindow(p.scope);
  if (range.by === 'time') {
    const { from, to } = timeRangeFor(p, range);
    if (to <= from) throw new NotaryError('bad-request', `to (${to}) must be later than from (${from})`);
    let count = 0;
    let lowest: number | undefined;
    let highest: number | undefined;
    let cursor: string | undefined;
    do {
      const page = await deps.index.listByTime(deviceId, {
        from,
        to,
        limit: PAGE,
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const r of page.items) {
        lowest = lowest === undefined ? r.seq : Math.min(lowest, r.seq);
        highest = highest === undefined ? r.seq : Math.max(highest, r.seq);
      }
      count += page.items.length;
      if (count > maxRecords) throw tooWide(maxRecords);
      cursor = page.next;
    } while (cursor !== undefined);
    return { fromSeq: lowest ?? 0, toSeq: highest ?? -1, from, to, count };
  }
  const fromSeq = range.fromSeq ?? 0;
  let toSeq = range.toSeq;
  if (toSeq !== undefined && toSeq < fromSeq)
    throw new NotaryError('bad-request', `toSeq ${toSeq} is below fromSeq ${fromSeq}`);
  if (toSeq === undefined) {
    // As far as the device said it got (its latest head), else the highest stored seq: records dropped at
    // the end then show as missing in the summary.
    const [latest, highest] = await Promise.all([
      deps.statements.listHeads(deviceId, { by: 'count', order: 'desc', limit: 1 }),
      deps.index.maxSeq(deviceId),
    ]);
    toSeq = Math.max((latest.items[0]?.head?.count ?? 0) - 1, highest ?? -1);
  }
  let count = 0;
  for await (const page of bySeq(deps, deviceId, fromSeq, toSeq)) {
    // A windowed token sees a seq range only if every record stored in it lies in its window.
    if (windowed && p.role === 'auditor' && page.some((r) => !timeInScope(p.scope, r.timestamp)))
      throw outOfScopeError();
    count += page.length;
    if (count > maxRecords) throw tooWide(maxRecords);
  }
  // A windowed token learns nothing about a range with no record in it (it may lie outside its window).
  if (windowed && count === 0) throw outOfScopeError();
  return { fromSeq, toSeq, count };
}

/** The completeness document of the range, or why there is none (docs/export.md §3). */
async function completenessOf(
  deps: ExportDeps,
  req: ExportRequest,
  r: Resolved,
): Promise<{ doc: CompletenessDocument } | { omitted: string }> {
  const p = req.principal;
  if (p.role === 'auditor' && hasTimeWindow(p.scope))
    return { omitted: 'a token with a time window does not receive completeness documents' };
  if (r.toSeq < r.fromSeq) return { omitted: 'the range holds no record' };
  if (r.toSeq - r.fromSeq + 1 > MAX_COMPLETENESS_RECORDS)
    return {
      omitted: `the range spans more than ${MAX_COMPLETENESS_RECORDS} seqs, the most one document covers; ask GET /v1/devices/${req.deviceId}/completeness for parts of it`,
    };
  try {
    const doc = await buildCompletenessDocument(deps, req.deviceId, {
      by: 'seq',
      fromSeq: r.fromSeq,
      toSeq: r.toSeq,
    });
    if (!doc.head) return { omitted: 'no head the device signed covers the range' };
    return { doc };
  } catch (e) {
    // The earliest head covering the range may reach far beyond it; the records are still exported.
    if (isNotaryError(e) && (e.code === 'range-too-wide' || e.code === 'not-found'))
      return { omitted: e.message };
    throw e;
  }
}

/**
 * Resolves, checks and counts the range, and builds the completeness document; everything that can refuse
 * the export does so here, before the answer starts.
 */
export async function prepareExport(deps: ExportDeps, req: ExportRequest): Promise<PreparedExport> {
  const { deviceId } = req;
  if (!(await deps.index.getDevice(deviceId)))
    throw new NotaryError('device-not-found', `no device ${deviceId}`);
  const r = await resolveRange(deps, req);
  const completeness = await completenessOf(deps, req, r);
  const createdAt = deps.clock();
  const manifest: ExportManifest = {
    format: EXPORT_FORMAT,
    deviceId,
    range: {
      by: req.range.by,
      fromSeq: r.fromSeq,
      toSeq: r.toSeq,
      ...(r.from === undefined ? {} : { from: r.from }),
      ...(r.to === undefined ? {} : { to: r.to }),
    },
    createdAt,
    records: r.count,
    includes: { envelopes: req.envelopes, completeness: 'doc' in completeness },
    ...('omitted' in completeness ? { completenessOmitted: completeness.omitted } : {}),
    server: { software: 'iot-notary', version: deps.version },
  };
  return { manifest, parts: () => archiveParts(deps, req, r, manifest, completeness) };
}

async function* archiveParts(
  deps: ExportDeps,
  req: ExportRequest,
  r: Resolved,
  manifest: ExportManifest,
  completeness: { doc: CompletenessDocument } | { omitted: string },
): AsyncGenerator<Uint8Array, void, undefined> {
  const mtime = Math.floor(manifest.createdAt / 1000);
  const chain = new EntryChain();
  function* entry(name: string, data: Uint8Array): Generator<Uint8Array> {
    chain.add(name, data);
    yield* tarEntry(name, data, mtime);
  }
  yield* entry(MANIFEST_ENTRY, enc.encode(JSON.stringify(manifest)));

  const keyEvents = deviceKeyEventSource(deps.statements, req.deviceId);
  const trees = new CurrentTree(deps);
  const missing = new MissingSeqs();
  const envelopesMissing: string[] = [];
  let bundles = 0;
  let envelopes = 0;
  let expected = r.fromSeq;
  for await (const page of bySeq(deps, req.deviceId, r.fromSeq, r.toSeq)) {
    // One reader per page: batches and anchors read once for the page's records, then let go.
    const reader = new BatchReader(deps, 'v2');
    const paths = await pagePaths(reader, trees, page);
    for (const rec of page) {
      missing.add(expected, rec.seq - 1);
      expected = rec.seq + 1;
      if (r.from !== undefined && r.to !== undefined && !(rec.timestamp >= r.from && rec.timestamp < r.to))
        continue;
      const { bundle } = await bundleOfRecord(
        rec,
        reader,
        keyEvents,
        rec.batch ? paths.get(rec.batch.batchId)?.get(rec.batch.leafIndex) : undefined,
      );
      yield* entry(bundleEntry(rec.recordId), enc.encode(JSON.stringify(bundle)));
      bundles++;
      if (!req.envelopes) continue;
      const bytes = await readRecordEnvelope(deps.objects, rec);
      if (!bytes) {
        if (envelopesMissing.length < MAX_LISTED_MISSING_RANGES) envelopesMissing.push(rec.recordId);
        continue;
      }
      yield* entry(envelopeEntry(rec.recordId), bytes);
      envelopes++;
    }
  }
  missing.add(expected, r.toSeq);
  if ('doc' in completeness) yield* entry(COMPLETENESS_ENTRY, enc.encode(JSON.stringify(completeness.doc)));
  const summary: ExportSummary = {
    format: EXPORT_SUMMARY_FORMAT,
    records: manifest.records,
    bundles,
    envelopes,
    missing: missing.toJSON(),
    ...(envelopesMissing.length > 0 ? { envelopesMissing } : {}),
    entries: { count: chain.count, chain: chain.hex },
  };
  yield* tarEntry(SUMMARY_ENTRY, enc.encode(JSON.stringify(summary)), mtime);
  yield tarTrailer();
}

/**
 * The tree object of the batch the export is in, kept while consecutive pages fall in it: a batch of 100,000
 * leaves is a 6.4 MB object, and reading it again for every page made garbage that grew the process by
 * hundreds of MB before the collector ran (measured: BENCHMARKS.md, "Range export").
 */
class CurrentTree {
  private batchId: string | undefined;
  private tree: Uint8Array | undefined;
  constructor(private readonly deps: ExportDeps) {}
  async of(batch: BatchEntry): Promise<Uint8Array | undefined> {
    if (this.batchId !== batch.batchId) {
      // Let go of the previous tree before reading the next: one tree in memory at a time.
      this.tree = undefined;
      this.tree = await this.deps.objects.get(batch.treeKey);
      this.batchId = batch.batchId;
    }
    return this.tree;
  }
}

/** Inclusion paths of a page's records, by batch then leaf index: one tree read per batch, not per leaf. */
async function pagePaths(reader: BatchReader, trees: CurrentTree, page: readonly RecordEntry[]) {
  const byBatch = new Map<string, number[]>();
  for (const rec of page) {
    if (!rec.batch) continue;
    const list = byBatch.get(rec.batch.batchId) ?? [];
    list.push(rec.batch.leafIndex);
    byBatch.set(rec.batch.batchId, list);
  }
  const out = new Map<string, Map<number, string[]>>();
  for (const [batchId, indices] of byBatch) {
    const batch = await reader.batch(batchId, `a record of batch ${batchId}`);
    out.set(batchId, pathsFromTree(batch, await trees.of(batch), indices));
  }
  return out;
}

/** Bytes per chunk handed to the HTTP layer: large writes, small memory. */
const CHUNK = 64 * 1024;

/**
 * The archive as a Web stream that produces only when asked (pull), so a slow client slows the export down
 * instead of filling memory. A client that goes away stops it (cancel ends the generator).
 */
export function exportStream(
  parts: AsyncGenerator<Uint8Array, void, undefined>,
  onError: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const got: Uint8Array[] = [];
        let size = 0;
        try {
          while (size < CHUNK) {
            const next = await parts.next();
            if (next.done) break;
            got.push(next.value);
            size += next.value.length;
          }
        } catch (err) {
          // Mid-stream there is no status left to change: the archive ends without its summary and end
          // blocks, which every reader reports as truncated (docs/export.md §4).
          onError(err);
          controller.error(err);
          return;
        }
        if (size > 0) {
          const out = new Uint8Array(size);
          let at = 0;
          for (const g of got) {
            out.set(g, at);
            at += g.length;
          }
          controller.enqueue(out);
        }
        if (size < CHUNK) controller.close();
      },
      async cancel() {
        await parts.return(undefined);
      },
    },
    { highWaterMark: 1 },
  );
}
