/**
 * What the embedded runtime's startup checks cost on a store with many batches
 * (lib/runtime/embedded-store-checks.ts): opening the ledger (every line's hash chain and Ed25519 signature
 * verified, as before these checks), the pass over every batch's embedded anchors, and the KEK check (one
 * unwrap). The store is written straight through the adapters: N ledger entries signed by the ledger's key
 * (written as one file, since N fsynced appends would only measure the disk) and N batches anchored on them.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EmbeddedLedger, ledgerPublicKey } from '../lib/adapters/local/embedded-ledger.js';
import { LocalKeyVault } from '../lib/adapters/local/local-key-vault.js';
import { writeSecret } from '../lib/adapters/local/secret-file.js';
import { SqliteIndexStore } from '../lib/adapters/local/sqlite-index-store.js';
import { encodeAnchorPayload } from '../lib/core/anchor-payload.js';
import { toBase64, toHex } from '../lib/core/bytes.js';
import { sha256 } from '../lib/core/hash.js';
import { newId } from '../lib/core/ids.js';
import { type LedgerEntry, ledgerChainId, ledgerEntryHash } from '../lib/core/ledger-entry.js';
import { masterKeyContext } from '../lib/devices/provision-device.js';
import type { BatchEntry } from '../lib/ports.js';
import {
  checkBatchesAgainstLedger,
  kekPath,
  ledgerKeyPath,
  ledgerPath,
  openKeyVault,
} from '../lib/runtime/embedded-store-checks.js';
import { median } from './stats.js';
import { diskTempDir } from './temp-dirs.js';

export interface StartupCheckRow {
  batches: number;
  /** EmbeddedLedger open: read and verify every line. */
  ledgerOpenMs: number;
  /** One pass over every batch, a map lookup per embedded anchor. */
  batchCheckMs: number;
  kekCheckMs: number;
  runsBatchCheckMs: number[];
}

export interface StartupCheckFigures {
  rows: StartupCheckRow[];
}

async function makeStore(dir: string, n: number): Promise<void> {
  const der = new Uint8Array(
    generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' }),
  );
  writeSecret(ledgerKeyPath(dir), der);
  const key = (await import('node:crypto')).createPrivateKey({
    key: Buffer.from(der),
    format: 'der',
    type: 'pkcs8',
  });
  const chainId = ledgerChainId(ledgerPublicKey(der));
  const kek = new Uint8Array(randomBytes(32));
  writeSecret(kekPath(dir), kek);

  const index = new SqliteIndexStore(join(dir, 'index.sqlite'), { durable: false });
  const vault = new LocalKeyVault(kek);
  await index.createDevice({
    deviceId: 'bench-dev',
    createdAt: 0,
    status: 'active',
    credentialHash: '00'.repeat(32),
    wrappedMasterKey: toBase64(await vault.wrap(new Uint8Array(32), masterKeyContext('bench-dev'))),
    keys: [],
    allowUnsigned: true,
    keysRevision: 0,
  });
  const lines: string[] = [];
  let prev = '0'.repeat(64);
  const puts: Promise<unknown>[] = [];
  for (let h = 0; h < n; h++) {
    const root = sha256(new TextEncoder().encode(`root ${h}`));
    const batchId = newId(1_700_000_000_000 + h, '');
    const unsigned = {
      height: h,
      time: 1_700_000_000_000 + h,
      prev,
      data: toHex(encodeAnchorPayload({ root, treeSize: 100 })),
    };
    const hash = ledgerEntryHash(unsigned);
    const entry: LedgerEntry = { ...unsigned, hash: toHex(hash), sig: toBase64(sign(null, hash, key)) };
    lines.push(JSON.stringify({ ...entry, dedupKey: batchId }));
    prev = entry.hash;
    const batch: BatchEntry = {
      batchId,
      root: toHex(root),
      size: 100,
      createdAt: unsigned.time,
      state: 'final',
      treeKey: `batches/${batchId}/tree`,
      anchors: [
        {
          chainId,
          txId: entry.hash,
          submittedAt: unsigned.time,
          kind: 'root',
          phase: 'final',
          attempt: 1,
          reorgs: 0,
          confirmations: 1,
          block: { height: h },
          ledgerEntry: entry,
        },
      ],
    };
    puts.push(index.putBatch(batch));
    if (puts.length >= 1000) await Promise.all(puts.splice(0));
  }
  await Promise.all(puts);
  await index.close();
  mkdirSync(join(dir, 'ledger'), { recursive: true });
  writeFileSync(ledgerPath(dir), `${lines.join('\n')}\n`);
}

export async function measureStartupChecks(opts: {
  batchCounts: number[];
  reps: number;
  onProgress?: (msg: string) => void;
}): Promise<StartupCheckFigures> {
  const rows: StartupCheckRow[] = [];
  for (const n of opts.batchCounts) {
    opts.onProgress?.(`startup checks: building a store of ${n} batches`);
    const dir = diskTempDir('startup');
    await makeStore(dir, n);
    const open: number[] = [];
    const check: number[] = [];
    const kek: number[] = [];
    for (let r = 0; r < opts.reps; r++) {
      const index = new SqliteIndexStore(join(dir, 'index.sqlite'));
      const t0 = performance.now();
      await openKeyVault(dir, index);
      const t1 = performance.now();
      const ledger = new EmbeddedLedger(ledgerPath(dir), ledgerKeyPath(dir));
      const t2 = performance.now();
      await checkBatchesAgainstLedger(ledger, ledgerPath(dir), index);
      const t3 = performance.now();
      if (ledger.height !== n) throw new Error(`ledger has ${ledger.height} entries, expected ${n}`);
      ledger.close();
      await index.close();
      kek.push(t1 - t0);
      open.push(t2 - t1);
      check.push(t3 - t2);
    }
    rows.push({
      batches: n,
      ledgerOpenMs: median(open),
      batchCheckMs: median(check),
      kekCheckMs: median(kek),
      runsBatchCheckMs: check,
    });
  }
  return { rows };
}

const ms = (x: number) => (x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US'));

export function startupCheckSection(f: StartupCheckFigures | undefined): string {
  if (!f) return '';
  const rows = f.rows.map(
    (r) =>
      `| ${r.batches.toLocaleString('en-US')} | ${ms(r.batchCheckMs)} ms | ${ms(r.ledgerOpenMs)} ms | ${ms(r.kekCheckMs)} ms | ${r.runsBatchCheckMs.map(ms).join(' / ')} |`,
  );
  return `## Startup checks of the embedded store

What \`npm start\` does before it serves anything (lib/runtime/embedded-store-checks.ts), on a store of N
batches each anchored on the embedded ledger: the pass over every batch's anchors against the ledger
(refusing a ledger cut short), the ledger's own open (every line's hash chain and Ed25519 signature,
unchanged by these checks), and the KEK check (one unwrap). Medians.

| Batches | Batches vs ledger | Ledger open (verify every line) | KEK check | Batches vs ledger per run |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}
