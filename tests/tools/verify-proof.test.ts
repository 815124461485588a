/**
 * The offline verifier, run as auditors run it: a child process over a bundle file. The bundle is a real one,
 * made by the same code the backend uses (seal, ingest into the local adapters, anchor on an embedded
 * ledger, build the proof), so the tool is tested against what the API serves, not against a hand-made
 * fixture.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../../lib/adapters/local/sqlite-statement-store.js';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { toHex, utf8 } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import type { ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { buildProofBundle, type VerifyDeps } from '../../lib/verify/record-proof.js';
import { runVerifyProof } from '../../tools/verify-proof.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { compact, SignedDevice, TestLog } from '../support/proof-builder.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEVICE = 'auditor-test-1';
const MASTER_KEY = new Uint8Array(32).fill(7);

let dir: string;
let index: SqliteIndexStore;
let ledger: EmbeddedLedger;
let bundle: ProofBundleV2;
let envelopes: Uint8Array[];
let ledgerKey: string;

/** Runs the CLI in its own process, as `npm run verify-proof` does. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'tools/verify-proof.ts', ...args],
      { cwd: ROOT, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

function writeJson(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return path;
}

function writeBytes(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iotn-verify-proof-'));
  let now = 1_700_000_000_000;
  const clock = () => now;
  const objects = new SqliteObjectStore({ path: join(dir, 'objects.sqlite'), durable: false });
  index = new SqliteIndexStore(join(dir, 'index.sqlite'));
  ledger = new EmbeddedLedger(join(dir, 'ledger.jsonl'), join(dir, 'ledger.pk8'), clock);
  ledgerKey = (await ledger.describe()).publicKey as string;

  await provisionLegacyDevices(index, [DEVICE]);
  // Three chained records, so the inclusion path is not empty and the leaf is not the last one.
  envelopes = [];
  let prevHash: Uint8Array = ZERO_HASH;
  for (let seq = 0; seq < 3; seq++) {
    const timestamp = now - 1000 + seq;
    const sealed = sealRecord({
      recordKey: deriveRecordKey(MASTER_KEY, DEVICE, timestamp, seq),
      deviceId: DEVICE,
      seq,
      timestamp,
      prevHash,
      nonce: new Uint8Array(12).fill(seq + 1),
      plaintext: utf8(JSON.stringify({ t: timestamp, temp: 20 + seq })),
    });
    const outcome = await ingestEnvelope(
      { objects, index, clock, limits: { maxClockSkewMs: 60_000 }, origin: testOrigin(index) },
      { deviceId: DEVICE, bytes: sealed.envelope, via: 'inline' },
    );
    expect(outcome.status).toBe('stored');
    envelopes.push(sealed.envelope);
    prevHash = sealed.recordHash;
  }
  now += 1000;
  const statements = new SqliteStatementStore(join(dir, 'statements.sqlite'));
  const report = await anchorPending({
    index,
    statements,
    objects,
    chains: [ledger],
    clock,
    maxBatchSize: 100,
  });
  expect(report.failures).toEqual([]);

  const deps: VerifyDeps = {
    index,
    statements,
    objects,
    chains: new Map([[ledger.chainId, ledger]]),
    clock,
    requiredConfirmations: () => 1,
  };
  bundle = await buildProofBundle(deps, `${DEVICE}.1`);
  await statements.close();
  expect(bundle.inclusion?.path).toHaveLength(2);
  expect(bundle.anchors[0]?.evidence?.kind).toBe('embedded-ledger');
});

afterAll(async () => {
  await index?.close();
  ledger?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('tools/verify-proof', () => {
  it('verifies a real bundle: unpinned alone (exit 3), verified with the pinned ledger key (exit 0)', async () => {
    const file = writeJson('good.json', bundle);
    const alone = await cli([file]);
    // Unpinned, the signature proves only that the entry is intact: a distinct outcome, not `verified`.
    expect(alone.code).toBe(3);
    expect(alone.stdout).toMatch(/^status\s+unpinned$/m);
    expect(alone.stdout).toMatch(/^\s+inclusion\s+ok/m);
    expect(alone.stdout).toContain('ledger-key-unpinned');

    const full = await cli([
      file,
      '--object',
      writeBytes('good.bin', envelopes[1] as Uint8Array),
      '--trust-ledger-key',
      ledgerKey,
    ]);
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/^status\s+verified$/m);
    expect(full.stdout).toMatch(/^\s+object\s+ok$/m);
    // A v1 record says plainly that its origin is not proven.
    expect(full.stdout).toMatch(/^\s+origin\s+not-proven: unsigned-record$/m);
  });

  it('reports one flipped hex character in the inclusion path as tampered (exit 1)', async () => {
    const path = [...(bundle.inclusion?.path ?? [])];
    const first = path[0] as string;
    path[0] = `${first[0] === 'a' ? 'b' : 'a'}${first.slice(1)}`;
    const forged = { ...bundle, inclusion: { ...(bundle.inclusion as object), path } };
    const r = await cli([writeJson('flipped.json', forged)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^status\s+tampered$/m);
    expect(r.stdout).toContain('inclusion-proof-invalid');
  });

  it('reports stored bytes that are not this record as tampered (exit 1)', async () => {
    const file = writeJson('good-2.json', bundle);
    const other = await cli([file, '--object', writeBytes('other.bin', envelopes[2] as Uint8Array)]);
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/^status\s+tampered$/m);
    expect(other.stdout).toContain('object-header-mismatch');

    const corrupt = (envelopes[1] as Uint8Array).slice();
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 0x01;
    const flipped = await cli([file, '--object', writeBytes('corrupt.bin', corrupt)]);
    expect(flipped.code).toBe(1);
    expect(flipped.stdout).toMatch(/^status\s+tampered$/m);
    expect(flipped.stdout).toContain('ciphertext-hash-mismatch');
  });

  it('refuses a ledger entry signed by a key other than the pinned one (exit 1)', async () => {
    const other = Buffer.alloc(32, 1).toString('base64');
    const r = await cli([writeJson('good-3.json', bundle), '--trust-ledger-key', other]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('untrusted-ledger-key');
  });

  it('does not take an anchor without evidence on the bundle’s word (exit 1)', async () => {
    // What a forger would send: a root of their choosing, "confirmed", and no signed entry to check.
    const anchors = bundle.anchors.map(({ evidence: _dropped, ...a }) => ({ ...a, confirmations: 99 }));
    const r = await cli([
      writeJson('no-evidence.json', { ...bundle, anchors }),
      '--trust-ledger-key',
      ledgerKey,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^status\s+pending$/m);
    expect(r.stdout).toContain('anchor-unchecked-offline');
  });

  it('reports a 5 MB header as malformed, tampered (exit 1), instead of crashing', async () => {
    // Valid base64 and not: either way too long to be a header, and neither may overflow the stack.
    for (const header of ['A'.repeat(5 * 1024 * 1024), `${'A'.repeat(5 * 1024 * 1024)}!`]) {
      const huge = { ...bundle, record: { ...bundle.record, header } };
      const r = await cli([writeJson('huge-header.json', huge), '--trust-ledger-key', ledgerKey]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^status\s+tampered$/m);
      expect(r.stdout).toMatch(/^ {2}header\s+invalid$/m);
      expect(r.stdout).toContain('header-malformed');
    }
  });

  it('exits 2 for malformed JSON, a bundle of the wrong shape, and a bad command line', async () => {
    const malformed = await cli([writeJson('malformed.json', '{"format": "iot-notary.proof.v1",')]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('is not JSON');

    const wrongShape = await cli([writeJson('shape.json', { ...bundle, format: 'something-else' })]);
    expect(wrongShape.code).toBe(2);
    expect(wrongShape.stderr).toContain('format');

    const out: string[] = [];
    const io = {
      out: (t: string) => out.push(t),
      err: (t: string) => out.push(t),
      readFile: () => new Uint8Array(),
    };
    expect(runVerifyProof([], io)).toBe(2);
    expect(runVerifyProof(['a.json', '--trust-ledger-key', 'not-a-key'], io)).toBe(2);
    expect(out.join('')).toContain('usage:');
  });

  it('depends on nothing but lib/core and Node built-ins, so it can be packaged alone', () => {
    const source = readFileSync(join(ROOT, 'tools', 'verify-proof.ts'), 'utf8');
    const imports = [...source.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] as string);
    expect(imports.length).toBeGreaterThan(3);
    expect(imports.filter((i) => !i.startsWith('node:') && !i.startsWith('../lib/core/'))).toEqual([]);
  });

  it('refuses bad --trust-device-key and --to-seq values (exit 2)', () => {
    const out: string[] = [];
    const io = {
      out: (t: string) => out.push(t),
      err: (t: string) => out.push(t),
      readFile: () => new Uint8Array(),
    };
    expect(runVerifyProof(['a.json', '--trust-device-key', 'abc'], io)).toBe(2);
    expect(runVerifyProof(['a.json', '--trust-device-key', `bad.id=${'ab'.repeat(32)}`], io)).toBe(2);
    expect(runVerifyProof(['a.json', '--to-seq', '-1'], io)).toBe(2);
    expect(out.join('')).toContain('--trust-device-key');
  });
});

describe('tools/verify-proof on v2 bundles and completeness documents', () => {
  const log = new TestLog();
  const dev = new SignedDevice('cli-dev');
  const reg = dev.registration();
  const r0 = dev.seal();
  log.commit([reg, r0.headerBytes]);
  const r1 = dev.seal();
  const head = dev.head();
  log.commit([r1.headerBytes, head]);
  const ledger = log.ledgers[0]?.publicKeyBase64 as string;
  const deviceKey = toHex(dev.key.keyId);

  it('a v2 bundle: exit 0 pinned, 4 when origin is required but unpinned, 3 with nothing pinned, 1 forged', async () => {
    const file = writeJson('v2.json', compact(log.bundle(r1, [reg])));
    const pinned = await cli([
      file,
      '--trust-ledger-key',
      ledger,
      '--trust-device-key',
      `cli-dev=${deviceKey}`,
      '--require-origin',
    ]);
    expect(pinned.code).toBe(0);
    expect(pinned.stdout).toMatch(/^\s+origin\s+proven \(key [0-9a-f]{64}, pinned [0-9a-f]{64}\)$/m);
    expect(pinned.stdout).toMatch(/^\s+key event 0\s+register of key [0-9a-f]{64}: leaf ok, inclusion ok/m);
    const noDevicePin = await cli([file, '--trust-ledger-key', ledger, '--require-origin']);
    expect(noDevicePin.code).toBe(4);
    expect(noDevicePin.stdout).toMatch(/^\s+origin\s+unpinned/m);
    expect((await cli([file, '--trust-ledger-key', ledger])).code).toBe(0);
    expect((await cli([file])).code).toBe(3);

    const forged = log.bundle(r1, [reg]);
    forged.record.objectKey = 'records/cli-dev/elsewhere';
    const bad = await cli([
      writeJson('v2-bad.json', compact(forged)),
      '--trust-ledger-key',
      ledger,
      '--json',
    ]);
    expect(bad.code).toBe(1);
    const json = JSON.parse(bad.stdout) as {
      kind: string;
      exit: number;
      status: string;
      reasons: { code: string }[];
    };
    expect(json).toMatchObject({ kind: 'bundle', exit: 1, status: 'tampered' });
    expect(json.reasons.map((r) => r.code)).toEqual(['record-fields-mismatch']);
  });

  it('a completeness document: exit 0 complete, 1 truncated, 4 unproven or short of --to-seq', async () => {
    const pins = ['--trust-ledger-key', ledger, '--trust-device-key', deviceKey];
    const records = [r0.headerBytes, r1.headerBytes];
    const complete = writeJson(
      'c.json',
      compact(log.completeness({ deviceId: 'cli-dev', fromSeq: 0, records, head, keyEvents: [reg] })),
    );
    const ok = await cli([complete, ...pins]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^outcome\s+complete$/m);
    expect((await cli([complete, ...pins, '--to-seq', '1'])).code).toBe(0);
    expect((await cli([complete, ...pins, '--to-seq', '2'])).code).toBe(4);
    expect((await cli([complete, '--trust-ledger-key', ledger])).code).toBe(3);

    const truncated = writeJson(
      't.json',
      compact(
        log.completeness({
          deviceId: 'cli-dev',
          fromSeq: 0,
          records: [r0.headerBytes],
          head,
          keyEvents: [reg],
        }),
      ),
    );
    const t = await cli([truncated, ...pins]);
    expect(t.code).toBe(1);
    expect(t.stdout).toMatch(/^outcome\s+incomplete$/m);
    expect(t.stdout).toMatch(/^missing\s+1$/m);

    const noHead = writeJson(
      'n.json',
      compact(log.completeness({ deviceId: 'cli-dev', fromSeq: 0, records, keyEvents: [reg] })),
    );
    const n = await cli([noHead, ...pins]);
    expect(n.code).toBe(4);
    expect(n.stdout).toMatch(/^outcome\s+unproven$/m);
  });
});
