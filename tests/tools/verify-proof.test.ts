/**
 * The offline verifier, run as auditors run it: a child process over a bundle file. The bundle is a real one,
 * made by the same code the backend uses (seal, ingest into the local adapters, anchor on an embedded
 * ledger, build the proof), so the tool is tested against what the API serves, not against a hand-made
 * fixture.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../../lib/adapters/local/sqlite-statement-store.js';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { utf8 } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import type { ProofBundle } from '../../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { buildProofBundle, type VerifyDeps } from '../../lib/verify/record-proof.js';
import { runVerifyProof } from '../../tools/verify-proof.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEVICE = 'auditor-test-1';
const MASTER_KEY = new Uint8Array(32).fill(7);

let dir: string;
let index: SqliteIndexStore;
let ledger: EmbeddedLedger;
let bundle: ProofBundle;
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
  await statements.close();
  expect(report.failures).toEqual([]);

  const deps: VerifyDeps = {
    index,
    objects,
    chains: new Map([[ledger.chainId, ledger]]),
    clock,
    requiredConfirmations: () => 1,
  };
  bundle = await buildProofBundle(deps, `${DEVICE}.1`);
  expect(bundle.inclusion?.path).toHaveLength(2);
  expect(bundle.anchors[0]?.evidence?.kind).toBe('embedded-ledger');
});

afterAll(async () => {
  await index?.close();
  ledger?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('tools/verify-proof', () => {
  it('verifies a real bundle, alone and with the stored object and the pinned ledger key (exit 0)', async () => {
    const file = writeJson('good.json', bundle);
    const alone = await cli([file]);
    expect(alone.code).toBe(0);
    expect(alone.stdout).toMatch(/^status\s+verified$/m);
    expect(alone.stdout).toMatch(/^\s+inclusion\s+ok/m);
    // Unpinned, the signature proves only that the entry is intact; the output has to say so.
    expect(alone.stdout).toContain('--trust-ledger-key');

    const full = await cli([
      file,
      '--object',
      writeBytes('good.bin', envelopes[1] as Uint8Array),
      '--trust-ledger-key',
      ledgerKey,
    ]);
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/^\s+object\s+ok$/m);
    expect(full.stdout).not.toContain('warnings');
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
});
