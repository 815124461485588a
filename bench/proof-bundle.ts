/**
 * Full offline checks of one proof bundle per call (`checkProofBundle`, the function the verify API and an
 * offline verifier both run): header hash, stored envelope and its ciphertext hash, inclusion proof, anchor
 * payload and the embedded ledger's Ed25519 signature. The bundle is built here from lib/core alone, the way
 * the runtime builds one, over a large tree so the inclusion path is as long as a real batch's.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { encodeAnchorPayload } from '../lib/core/anchor-payload.js';
import { toBase64, toHex } from '../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../lib/core/envelope.js';
import { ledgerChainId, ledgerEntryHash } from '../lib/core/ledger-entry.js';
import { buildTree, inclusionProof } from '../lib/core/merkle.js';
import { checkProofBundle, PROOF_FORMAT, type ProofBundle } from '../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../lib/core/record-key.js';
import { randomLeaves } from './merkle.js';
import { perSec, type Series, series } from './stats.js';

export interface SampleBundle {
  bundle: ProofBundle;
  envelope: Uint8Array;
  publicKey: string;
}

export function sampleBundle(treeSize: number, plaintextBytes: number): SampleBundle {
  const deviceId = 'bench-bundle-0001';
  const timestamp = Date.now();
  const seq = 42;
  const sealed = sealRecord({
    recordKey: deriveRecordKey(new Uint8Array(randomBytes(32)), deviceId, timestamp, seq),
    deviceId,
    seq,
    timestamp,
    prevHash: ZERO_HASH,
    nonce: new Uint8Array(randomBytes(12)),
    plaintext: new Uint8Array(randomBytes(plaintextBytes)),
  });
  const leaves = randomLeaves(treeSize);
  const leafIndex = Math.floor(treeSize / 3);
  leaves.set(sealed.recordHash, leafIndex * 32);
  const tree = buildTree(leaves);
  const payload = encodeAnchorPayload({ root: tree.root, treeSize });

  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const rawPub = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url'));
  const fields = { height: 0, time: timestamp, prev: toHex(ZERO_HASH), data: toHex(payload) };
  const entryHash = ledgerEntryHash(fields);
  const entry = { ...fields, hash: toHex(entryHash), sig: toBase64(sign(null, entryHash, privateKey)) };

  const h = sealed.header;
  const bundle: ProofBundle = {
    format: PROOF_FORMAT,
    issuedAt: timestamp,
    record: {
      recordId: `${deviceId}.${seq}`,
      deviceId,
      seq,
      timestamp,
      header: toBase64(sealed.headerBytes),
      recordHash: toHex(sealed.recordHash),
      ciphertextSha256: toHex(h.ciphertextHash),
      prevHash: toHex(h.prevHash),
      envelopeSize: sealed.envelope.length,
      objectKey: `records/${deviceId}/${toHex(sealed.recordHash)}`,
    },
    inclusion: {
      batchId: 'bench-batch',
      leafIndex,
      treeSize,
      path: inclusionProof(tree, leafIndex).map(toHex),
      root: toHex(tree.root),
    },
    anchors: [
      {
        chainId: ledgerChainId(rawPub),
        txId: entry.hash,
        payload: toHex(payload),
        height: 0,
        time: timestamp,
        confirmations: 1,
        evidence: { kind: 'embedded-ledger', entry, publicKey: toBase64(rawPub) },
      },
    ],
  };
  return { bundle, envelope: sealed.envelope, publicKey: toBase64(rawPub) };
}

export interface BundleFigures {
  treeSize: number;
  envelopeBytes: number;
  pathLength: number;
  perSec: Series;
}

export function measureProofBundleChecks(
  treeSize: number,
  plaintextBytes: number,
  count: number,
  reps: number,
): BundleFigures {
  const s = sampleBundle(treeSize, plaintextBytes);
  const opts = { envelope: s.envelope, trustedLedgerKeys: [s.publicKey] };
  const first = checkProofBundle(s.bundle, opts);
  // A bench that times a failing check measures the wrong path; refuse to report it.
  if (first.status !== 'verified')
    throw new Error(`sample bundle does not verify: ${JSON.stringify(first.reasons)}`);
  const runs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) checkProofBundle(s.bundle, opts);
    runs.push(perSec(count, performance.now() - t0));
  }
  return {
    treeSize,
    envelopeBytes: s.envelope.length,
    pathLength: s.bundle.inclusion?.path.length ?? 0,
    perSec: series(runs),
  };
}
