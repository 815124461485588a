/**
 * GET /v1/devices/{id}/export against the embedded runtime over real HTTP: a signed device's records,
 * anchored on the runtime's embedded ledger, exported as a tar archive; the archive's bytes are read with the
 * dependency-free reader, every bundle checked with checkProofBundle against its envelope, and the whole
 * archive with checkExportArchive. GNU tar lists the same archive. Auditor scope, the range cap and every
 * malformed range are answered with their documented status and code.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { signHead } from '../../lib/core/device-head.js';
import { generateSigningKey, signerOf } from '../../lib/core/device-signature.js';
import {
  CHAIN_START,
  classifyEntry,
  ExportManifest,
  ExportSummary,
  entryChainStep,
} from '../../lib/core/export-archive.js';
import { checkExportArchive } from '../../lib/core/export-check.js';
import { AnyProofBundle, checkProofBundle } from '../../lib/core/proof-bundle.js';
import { readTar, type TarEntry } from '../../lib/core/tar.js';
import { acceptHead } from '../../lib/devices/device-keys.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { AuditEvent } from '../../lib/ports.js';
import { testOrigin } from '../support/origin.js';
import { startInProcess, tempDir } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
const T0 = 1_700_000_000_000;
const dec = new TextDecoder();
const jsonOf = (e: TarEntry | undefined) => JSON.parse(dec.decode(e?.data)) as unknown;

describe('range export over the embedded runtime', () => {
  let rt: Runtime;
  let ledgerKey: string;
  const key = generateSigningKey('ed25519');
  const dev = new TestDevice('exp-1', undefined, signerOf(key));
  const other = new TestDevice('other-1');
  const dir = tempDir('iotn-export-');

  async function get(path: string, token = rt.operatorToken) {
    const res = await fetch(`${rt.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { res, bytes, body: () => JSON.parse(dec.decode(bytes)) as ErrorBody };
  }
  async function op(method: string, path: string, body: unknown) {
    const res = await fetch(`${rt.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${rt.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  async function ingest(d: TestDevice, sealed: { envelope: Uint8Array }) {
    const out = await ingestEnvelope(
      {
        objects: rt.objects,
        index: rt.index,
        clock: Date.now,
        limits: { maxClockSkewMs: 0 },
        origin: testOrigin(rt.index),
      },
      { deviceId: d.deviceId, bytes: sealed.envelope, via: 'inline' },
    );
    expect(out.status).toBe('stored');
  }
  const expectError = (r: { res: Response; body: () => ErrorBody }, status: number, code: string) => {
    expect({ status: r.res.status, code: r.body().error.code }).toEqual({ status, code });
  };

  beforeAll(async () => {
    rt = await startInProcess({ EXPORT_MAX_RECORDS: '50' });
    const p = await op('POST', '/v1/devices', {
      deviceId: dev.deviceId,
      masterKey: dev.masterKeyBase64,
      signingKey: { alg: 'ed25519', publicKey: toBase64(key.publicKey) },
    });
    expect(p.status).toBe(201);
    expect(
      (await op('POST', '/v1/devices', { deviceId: other.deviceId, masterKey: other.masterKeyBase64 }))
        .status,
    ).toBe(201);
    // Twelve records sealed; seq 5 is lost on the way (a gap the device's head makes visible).
    for (let i = 0; i < 12; i++) {
      const sealed = dev.seal();
      if (i !== 5) await ingest(dev, sealed);
    }
    await ingest(other, other.seal({ signer: null }));
    const head = signHead(
      { deviceId: dev.deviceId, count: 12, lastHash: dev.prevHash, time: T0 + 12_000 },
      signerOf(key),
    ).bytes;
    const h = await acceptHead(
      { devices: rt.index, statements: rt.statements, clock: Date.now, maxClockSkewMs: 0 },
      { deviceId: dev.deviceId, bytes: head },
    );
    expect(h.status).toBe('stored');
    await rt.anchorNow();
    const chains = (await (await get('/v1/chains')).body()) as unknown as {
      items: { kind: string; publicKey?: string }[];
    };
    ledgerKey = chains.items.find((c) => c.kind === 'embedded-ledger')?.publicKey as string;
  });
  afterAll(async () => {
    await rt?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams a ustar archive: manifest first, bundles and envelopes in seq order, summary last with the gap', async () => {
    const r = await get('/v1/devices/exp-1/export?envelopes=true');
    expect(r.res.status).toBe(200);
    expect(r.res.headers.get('content-type')).toBe('application/x-tar');
    expect(r.res.headers.get('x-export-records')).toBe('11');
    const entries = [...readTar(r.bytes)];
    const names = entries.map((e) => e.name);
    const seqs = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11];
    expect(names).toEqual([
      'iot-notary-export/manifest.json',
      ...seqs.flatMap((s) => [
        `iot-notary-export/bundles/exp-1.${s}.proof.json`,
        `iot-notary-export/envelopes/exp-1.${s}.bin`,
      ]),
      'iot-notary-export/completeness.json',
      'iot-notary-export/summary.json',
    ]);
    const manifest = ExportManifest.parse(jsonOf(entries[0]));
    expect(manifest).toMatchObject({
      deviceId: 'exp-1',
      range: { by: 'seq', fromSeq: 0, toSeq: 11 },
      records: 11,
      includes: { envelopes: true, completeness: true },
    });
    // Every bundle verifies against the envelope that follows it, with the ledger and device keys pinned.
    for (let i = 1; i < entries.length - 2; i += 2) {
      const bundle = AnyProofBundle.parse(jsonOf(entries[i]));
      const check = checkProofBundle(bundle, {
        envelope: entries[i + 1]?.data as Uint8Array,
        trustedLedgerKeys: [ledgerKey],
        trustedDeviceKeys: [{ keyId: toHex(key.keyId) }],
      });
      expect({ id: bundle.record.recordId, status: check.status, object: check.checks.object }).toEqual({
        id: classifyEntry(entries[i]?.name as string).kind === 'bundle' ? bundle.record.recordId : '?',
        status: 'verified',
        object: 'ok',
      });
      expect(check.proven.origin.verdict).toBe('proven');
    }
    const summary = ExportSummary.parse(jsonOf(entries.at(-1)));
    expect(summary).toMatchObject({
      records: 11,
      bundles: 11,
      envelopes: 11,
      missing: { count: 1, ranges: 1, listed: [{ fromSeq: 5, toSeq: 5 }] },
    });
    // The summary's chain is over every earlier entry, name and bytes.
    let link: Uint8Array = CHAIN_START;
    for (const e of entries.slice(0, -1)) link = entryChainStep(link, e.name, e.data);
    expect(summary.entries).toEqual({ count: entries.length - 1, chain: toHex(link) });

    // The whole archive, checked as the verifiers check it: the gap shows in the summary and the document.
    const report = await checkExportArchive(entries, {
      trustedLedgerKeys: [ledgerKey],
      trustedDeviceKeys: [{ keyId: toHex(key.keyId) }],
    });
    expect(report.archive).toEqual({ status: 'intact', problems: [] });
    expect(report.records).toMatchObject({
      checked: 11,
      byStatus: { verified: 11, tampered: 0 },
      origins: { proven: 11 },
      envelopes: { checked: 11, missing: 0 },
    });
    expect(report.missing).toEqual({ count: 1, ranges: 1, listed: [{ fromSeq: 5, toSeq: 5 }] });
    expect(report.completeness).toMatchObject({
      included: true,
      outcome: 'incomplete',
      missing: [{ fromSeq: 5, toSeq: 5 }],
    });

    // GNU tar reads the same bytes.
    const path = join(dir, 'exp-1.tar');
    writeFileSync(path, r.bytes);
    expect(execFileSync('tar', ['-tf', path], { encoding: 'utf8' }).trim().split('\n')).toEqual(names);
  });

  it('a cut or edited archive is reported damaged, not verified', async () => {
    const r = await get('/v1/devices/exp-1/export?fromSeq=0&toSeq=3');
    const entries = [...readTar(r.bytes)];
    const cut = await checkExportArchive(entries.slice(0, -2), { trustedLedgerKeys: [ledgerKey] });
    expect(cut.archive.status).toBe('damaged');
    expect(cut.archive.problems.map((p) => p.code)).toContain('archive-truncated');
    expect(cut.status).toBe('tampered');
    const dropped = await checkExportArchive([...entries.slice(0, 2), ...entries.slice(3)], {
      trustedLedgerKeys: [ledgerKey],
    });
    expect(dropped.archive.problems.map((p) => p.code)).toContain('summary-mismatch');
  });

  it('exports by device time, and without envelopes by default', async () => {
    const r = await get(`/v1/devices/exp-1/export?from=${T0 + 2000}&to=${T0 + 8000}`);
    expect(r.res.status).toBe(200);
    expect(r.res.headers.get('x-export-records')).toBe('5');
    const entries = [...readTar(r.bytes)];
    expect(entries.filter((e) => e.name.includes('/envelopes/'))).toEqual([]);
    expect(entries.filter((e) => e.name.includes('/bundles/')).map((e) => e.name.split('/')[2])).toEqual(
      [2, 3, 4, 6, 7].map((s) => `exp-1.${s}.proof.json`),
    );
    expect(ExportManifest.parse(jsonOf(entries[0])).range).toEqual({
      by: 'time',
      fromSeq: 2,
      toSeq: 7,
      from: T0 + 2000,
      to: T0 + 8000,
    });
  });

  it('auditors: in scope exports, out of scope is 403 out-of-scope, a windowed token gets its window only', async () => {
    const mint = async (body: Record<string, unknown>) => {
      const t = await op('POST', '/v1/tokens', {
        name: 'audit',
        ttlSeconds: 600,
        permissions: ['read'],
        ...body,
      });
      expect(t.status).toBe(201);
      return t.body.token as string;
    };
    const plain = await mint({ devices: ['exp-*'] });
    const ok = await get('/v1/devices/exp-1/export?fromSeq=0&toSeq=2', plain);
    expect(ok.res.status).toBe(200);
    expect([...readTar(ok.bytes)].filter((e) => e.name.includes('/bundles/'))).toHaveLength(3);
    expectError(await get('/v1/devices/other-1/export', plain), 403, 'out-of-scope');
    // The refusal runs before any lookup: a device that does not exist answers the same.
    expectError(await get('/v1/devices/nobody/export', plain), 403, 'out-of-scope');

    const windowed = await mint({ devices: ['exp-1'], from: T0 + 1000, to: T0 + 4000 });
    const w = await get('/v1/devices/exp-1/export', windowed);
    expect(w.res.status).toBe(200);
    const we = [...readTar(w.bytes)];
    const m = ExportManifest.parse(jsonOf(we[0]));
    expect(m).toMatchObject({ records: 3, includes: { completeness: false } });
    expect(m.completenessOmitted).toMatch(/time window/);
    expectError(await get('/v1/devices/exp-1/export?fromSeq=0&toSeq=11', windowed), 403, 'out-of-scope');
    expectError(
      await get(`/v1/devices/exp-1/export?from=${T0}&to=${T0 + 9000}`, windowed),
      403,
      'out-of-scope',
    );

    // One audit row per export request, however many records it held.
    const audit = (await (await get('/v1/audit?limit=1000')).body()) as unknown as { items: AuditEvent[] };
    const rows = audit.items.filter((a) => a.action === 'auditor-request' && a.target.endsWith('/export'));
    expect(rows.map((a) => [a.target, a.outcome]).sort()).toEqual(
      [
        ['/v1/devices/exp-1/export', 'failed'],
        ['/v1/devices/exp-1/export', 'failed'],
        ['/v1/devices/exp-1/export', 'succeeded'],
        ['/v1/devices/exp-1/export', 'succeeded'],
        ['/v1/devices/nobody/export', 'failed'],
        ['/v1/devices/other-1/export', 'failed'],
      ].sort(),
    );
  });

  it('refuses a range over EXPORT_MAX_RECORDS and every malformed range, before the archive starts', async () => {
    for (let i = 0; i < 55; i++) await ingest(other, other.seal({ signer: null }));
    const wide = await get('/v1/devices/other-1/export');
    expectError(wide, 400, 'range-too-wide');
    expect(wide.body().error.details).toEqual({ maxRecords: 50 });
    for (const q of [
      'fromSeq=5&toSeq=4',
      'fromSeq=-1',
      'toSeq=abc',
      'fromSeq=0&from=0',
      `from=${T0 + 5}&to=${T0}`,
      'from=yesterday',
      'envelopes=yes',
      'seq=1',
    ])
      expectError(await get(`/v1/devices/exp-1/export?${q}`), 400, 'bad-request');
    expectError(await get('/v1/devices/nobody/export'), 404, 'device-not-found');
    expectError(await get('/v1/devices/bad.id/export'), 400, 'bad-request');
  });
});
