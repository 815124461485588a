/**
 * docs/examples/verify_bundle.py, the independent verifier written from the documents, must agree with
 * lib/core (checkProofBundle, checkCompleteness) on every bundle and document the tests produce: valid ones,
 * forged ones, and ones with a byte changed. It runs as a child process, once per set of pins, over a corpus
 * written to a temp dir. Without python3 or its `cryptography` package the suite cannot run: it says so loudly
 * (a warning, and a test that names the reason) instead of passing in silence.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { generateSigningKey } from '../../lib/core/device-signature.js';
import type { DeviceKeyPin } from '../../lib/core/key-chain.js';
import { hashLeaf } from '../../lib/core/merkle.js';
import type { ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { buildDocExamples } from '../support/doc-examples.js';
import {
  compact,
  registerEvent,
  revokeEvent,
  SignedDevice,
  TestLedger,
  TestLog,
} from '../support/proof-builder.js';
import { ours, type PyLine, probePython, theirs, VERIFY_BUNDLE_PY } from '../support/python-verifier.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SCRIPT = VERIFY_BUNDLE_PY;

interface Corpus {
  /** name -> file text */
  files: Map<string, string>;
  ledgerKeys: string[];
  deviceKey: DeviceKeyPin;
}

/** Valid and altered bundles and documents, as compact JSON (some deliberately not JSON at all). */
function buildCorpus(): Corpus {
  const files = new Map<string, string>();
  const add = (name: string, doc: unknown) => files.set(name, typeof doc === 'string' ? doc : compact(doc));
  const ex = buildDocExamples();
  add('example-v2', ex.bundle);
  add('example-completeness', ex.completeness);
  add('example-v1', readFileSync(join(ROOT, 'docs', 'examples', 'proof-bundle.example.json'), 'utf8'));

  // One log for the scenarios, so one ledger key pins them all.
  const ledger = new TestLedger();
  const log = new TestLog([ledger]);
  const dev = new SignedDevice('py-dev');
  const firstKeyId = toHex(dev.key.keyId);
  const reg = dev.registration();
  const r0 = dev.seal();
  log.commit([reg, r0.headerBytes]);
  const rot = dev.rotate('p256');
  const r1 = dev.seal();
  const legacy = dev.seal({ unsigned: true });
  log.commit([rot, r1.headerBytes, legacy.headerBytes]);
  const head = dev.head();
  const queued = dev.seal();
  log.commit([head]);
  add('rotated', log.bundle(r1, [reg, rot]));
  add('legacy-record', log.bundle(legacy));
  add('queued-record', log.bundle(queued, [reg, rot]));
  add('no-key-events', log.bundle(r1, []));
  add('chain-incomplete', log.bundle(r1, [rot]));
  const operatorKey = generateSigningKey('ed25519');
  const fakeReg = registerEvent('py-dev', operatorKey, 1_700_000_900_000);
  const forged = new SignedDevice('py-dev');
  forged.key = operatorKey;
  forged.nextSeq = 9;
  const f = forged.seal();
  log.commit([fakeReg, f.headerBytes]);
  add('operator-key', log.bundle(f, [reg, rot, fakeReg]));
  const revoke = revokeEvent('py-dev', dev.key);
  log.commit([revoke]);
  const late = dev.seal();
  log.commit([late.headerBytes]);
  add('revoked-key', log.bundle(late, [reg, rot, revoke]));
  const badSig = late.headerBytes.slice();
  badSig[badSig.length - 1] = (badSig[badSig.length - 1] as number) ^ 1;
  log.commit([badSig]);
  add(
    'bad-signature',
    log.bundle({ ...late, headerBytes: badSig, recordHash: hashLeaf(badSig) }, [reg, rot]),
  );
  const edited = structuredClone(log.bundle(r1, [reg, rot]));
  (edited.anchors[0] as { confirmations?: number }).confirmations = 3;
  add('anchor-fields', edited);
  const chainId = structuredClone(log.bundle(r1, [reg, rot])) as ProofBundleV2;
  (chainId.anchors[0] as { chainId: string }).chainId = 'embedded:0123456789abcdef';
  add('chain-id', chainId);

  const records = [r0, r1, legacy].map((r) => r.headerBytes);
  const doc = (recs: Uint8Array[], h: Uint8Array | null = head) =>
    log.completeness({
      deviceId: 'py-dev',
      fromSeq: 0,
      records: recs,
      ...(h ? { head: h } : {}),
      keyEvents: [reg, rot],
    });
  add('complete', doc(records));
  add('truncated', doc(records.slice(0, 1)));
  add('dropped-middle', doc([records[0] as Uint8Array, records[2] as Uint8Array]));
  add('reordered', doc([records[1] as Uint8Array, records[0] as Uint8Array, records[2] as Uint8Array]));
  add('no-head', doc(records, null));

  // Single-byte changes: every 7th byte of a v2 bundle and of a document, with a few values each.
  for (const [name, text] of [
    ['m-bundle', compact(log.bundle(r1, [reg, rot]))],
    ['m-doc', compact(doc(records))],
  ] as const) {
    const bytes = Buffer.from(text, 'utf8');
    for (let i = 0; i < bytes.length; i += 7) {
      const delta = [0x01, 0x02, 0x20, 0x41][i % 4] as number;
      const b = Buffer.from(bytes);
      b[i] = (b[i] as number) ^ delta;
      files.set(`${name}-${i}`, b.toString('latin1'));
    }
  }
  // A few that are not even bundles.
  add('not-json', '{"format":');
  add('unknown-format', { format: 'iot-notary.proof.v3' });
  add(
    'non-canonical-b64',
    compact(log.bundle(r1, [reg, rot])).replace(/"header":"([^"]*?)([A-Za-z0-9+/])=?"/, '"header":"$1$2"'),
  );
  return {
    files,
    ledgerKeys: [ledger.publicKeyBase64, ex.ledgerPublicKey],
    deviceKey: { keyId: firstKeyId },
  };
}

const python = probePython();
if (!python.ok) {
  console.warn(`\n*** docs/examples/verify_bundle.py NOT CHECKED against lib/core: ${python.reason} ***\n`);
  describe('verify_bundle.py agreement', () => {
    it('could not run: python3 with the cryptography package is required', () => {
      expect(python.reason).toMatch(/python3/);
    });
  });
} else {
  describe('verify_bundle.py agrees with lib/core', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iotn-verify-py-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const corpus = buildCorpus();
    const paths = [...corpus.files.entries()].map(([name, text]) => {
      const path = join(dir, `${name}.json`);
      writeFileSync(path, Buffer.from(text, 'latin1'));
      return { name, path, text };
    });

    const pinSets: [string, { trustedLedgerKeys?: string[]; trustedDeviceKeys: DeviceKeyPin[] }, string[]][] =
      [
        ['nothing pinned', { trustedDeviceKeys: [] }, []],
        [
          'ledger keys pinned',
          { trustedLedgerKeys: corpus.ledgerKeys, trustedDeviceKeys: [] },
          corpus.ledgerKeys.flatMap((k) => ['--trust-ledger-key', k]),
        ],
        [
          'ledger and device keys pinned',
          { trustedLedgerKeys: corpus.ledgerKeys, trustedDeviceKeys: [corpus.deviceKey] },
          [
            ...corpus.ledgerKeys.flatMap((k) => ['--trust-ledger-key', k]),
            '--trust-device-key',
            corpus.deviceKey.keyId,
          ],
        ],
      ];

    it.each(pinSets)(
      'on %s: every file, the same verdicts',
      (_name, opts, args) => {
        const r = spawnSync('python3', [SCRIPT, '--json', ...args, ...paths.map((p) => p.path)], {
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        });
        expect(r.stderr).toBe('');
        const lines = r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as PyLine);
        expect(lines).toHaveLength(paths.length);
        const disagreements: string[] = [];
        paths.forEach((p, i) => {
          const a = ours(p.text, opts);
          const b = theirs(lines[i] as PyLine);
          if (JSON.stringify(a) !== JSON.stringify(b))
            disagreements.push(`${p.name}:\n  ts ${JSON.stringify(a)}\n  py ${JSON.stringify(b)}`);
        });
        expect(disagreements).toEqual([]);
        // The corpus is not trivially uniform: it holds every kind of outcome.
        const statuses = new Set(paths.map((p) => ours(p.text, opts).status ?? 'unusable'));
        expect(statuses.size).toBeGreaterThanOrEqual(3);
      },
      600_000,
    );

    it('its exit status follows the documented table', () => {
      const at = (name: string) => paths.find((p) => p.name === name)?.path as string;
      const run = (...args: string[]) => spawnSync('python3', [SCRIPT, ...args], { encoding: 'utf8' }).status;
      const ledger = corpus.ledgerKeys.flatMap((k) => ['--trust-ledger-key', k]);
      expect(
        run(at('rotated'), ...ledger, '--trust-device-key', corpus.deviceKey.keyId, '--require-origin'),
      ).toBe(0);
      expect(run(at('rotated'))).toBe(3);
      expect(run(at('rotated'), ...ledger, '--require-origin')).toBe(4);
      expect(run(at('revoked-key'), ...ledger)).toBe(1);
      expect(run(at('truncated'), ...ledger)).toBe(1);
      expect(run(at('no-head'), ...ledger)).toBe(4);
      expect(run(at('not-json'))).toBe(2);
      expect(run(at('rotated'), '--trust-ledger-key', toBase64(new Uint8Array(31)))).toBe(2);
    }, 120_000);
  });
}
