/**
 * Device signature checks per second, by each verifier ingest can use (lib/ingest/signature-verifier.ts):
 * lib/core's pure @noble/curves verifier (what offline verifiers run), node:crypto on the calling thread (what
 * Lambda runs), and the node:crypto worker pool (what the embedded runtime runs). Every check has its own
 * digest and signature, over a handful of device keys (a device's key is checked again and again, its
 * signatures never): the core verifier remembers exact inputs, so repeated ones would measure its memo.
 */
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { generateSigningKey, type SigAlg, type SigningKey } from '../lib/core/device-signature.js';
import {
  coreVerifier,
  createInlineVerifier,
  createVerifierPool,
  type SignatureVerifier,
} from '../lib/ingest/signature-verifier.js';
import { perSec, type Series, series } from './stats.js';

export interface SignatureRow {
  alg: SigAlg;
  verifier: SignatureVerifier['kind'];
  /** Worker threads of the pool; 0 for the verifiers that run on the caller's thread. */
  threads: number;
  checks: number;
  perSec: Series;
}

export interface SignatureBenchOptions {
  /** Checks per repetition for the core verifier (slow) and for the node:crypto ones. */
  coreChecks: number;
  nodeChecks: number;
  /** Pool sizes to measure (the runtime's default among them). */
  poolThreads: number[];
  reps: number;
  onProgress?: (msg: string) => void;
}

interface Item {
  publicKey: Uint8Array;
  digest: Uint8Array;
  sig: Uint8Array;
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const PKCS8_P256 = Buffer.from(
  '3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420',
  'hex',
);

/** Signed by node:crypto (fast enough to make tens of thousands); P-256 low-S as devices must sign. */
function makeItems(alg: SigAlg, count: number): Item[] {
  const keys: SigningKey[] = Array.from({ length: 8 }, () => generateSigningKey(alg));
  const signers = keys.map((k) =>
    createPrivateKey({
      key: Buffer.concat([alg === 'ed25519' ? PKCS8_ED25519 : PKCS8_P256, k.privateKey]),
      format: 'der',
      type: 'pkcs8',
    }),
  );
  return Array.from({ length: count }, (_, i) => {
    const key = keys[i % keys.length] as SigningKey;
    const digest = new Uint8Array(randomBytes(32));
    const signer = signers[i % keys.length];
    if (!signer) throw new Error('no signer');
    let sig = new Uint8Array(
      alg === 'ed25519'
        ? sign(null, digest, signer)
        : sign('sha256', digest, { key: signer, dsaEncoding: 'ieee-p1363' }),
    );
    if (alg === 'p256') {
      const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`);
      if (s > P256_N / 2n)
        sig = Uint8Array.from([
          ...sig.subarray(0, 32),
          ...Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex'),
        ]);
    }
    return { publicKey: key.publicKey, digest, sig };
  });
}

/** All checks asked for at once, as a busy broker turn does; every one must pass. */
async function run(v: SignatureVerifier, alg: SigAlg, items: Item[]): Promise<number> {
  const t0 = performance.now();
  const ok = await Promise.all(items.map((x) => v.verify(alg, x.publicKey, x.digest, x.sig)));
  const ms = performance.now() - t0;
  if (!ok.every(Boolean)) throw new Error(`${v.kind} refused a valid ${alg} signature`);
  return perSec(items.length, ms);
}

export async function measureSignatureChecks(o: SignatureBenchOptions): Promise<SignatureRow[]> {
  const rows: SignatureRow[] = [];
  for (const alg of ['ed25519', 'p256'] as const) {
    const candidates: { v: () => SignatureVerifier; threads: number; checks: number }[] = [
      { v: () => coreVerifier, threads: 0, checks: o.coreChecks },
      { v: createInlineVerifier, threads: 0, checks: o.nodeChecks },
      ...o.poolThreads.map((threads) => ({
        v: () => createVerifierPool({ threads }),
        threads,
        checks: o.nodeChecks,
      })),
    ];
    for (const c of candidates) {
      const verifier = c.v();
      try {
        // Warm-up: JIT, KeyObjects, worker start.
        await run(verifier, alg, makeItems(alg, Math.min(200, c.checks)));
        const rates: number[] = [];
        for (let r = 0; r < o.reps; r++) rates.push(await run(verifier, alg, makeItems(alg, c.checks)));
        rows.push({
          alg,
          verifier: verifier.kind,
          threads: c.threads,
          checks: c.checks,
          perSec: series(rates),
        });
        o.onProgress?.(
          `signatures ${alg} ${verifier.kind}${c.threads ? ` ×${c.threads}` : ''}: ${Math.round(series(rates).median)}/s`,
        );
      } finally {
        await verifier.close();
      }
    }
  }
  return rows;
}
