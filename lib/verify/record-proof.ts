/**
 * Proof bundles and verification for one record. Gathering is I/O over the ports; judging is the pure
 * `checkProofBundle`, the same function an offline verifier runs on a downloaded bundle.
 */

import { readInclusionPath, TreeObjectError } from '../anchor/tree-object.js';
import { encodeAnchorPayload } from '../core/anchor-payload.js';
import { fromHex, toHex } from '../core/bytes.js';
import { parseRecordId } from '../core/device-id.js';
import { NotaryError } from '../core/errors.js';
import {
  type BundleAnchor,
  checkProofBundle,
  PROOF_FORMAT,
  type ProofBundle,
  type ProofCheck,
} from '../core/proof-bundle.js';
import type { BatchStore, Chain, ObjectStore, RecordEntry, RecordIndex } from '../ports.js';

export interface VerifyDeps {
  index: RecordIndex & BatchStore;
  objects: ObjectStore;
  chains: ReadonlyMap<string, Chain>;
  clock: () => number;
  requiredConfirmations: (chainId: string) => number;
}

type Live = Map<string, { payload: Uint8Array; confirmations: number; height?: number } | null>;

export async function getRecordEntry(index: RecordIndex, recordId: string): Promise<RecordEntry> {
  const id = parseRecordId(recordId);
  if (!id)
    throw new NotaryError('bad-request', `${JSON.stringify(recordId)} is not a record id (<deviceId>.<seq>)`);
  const rec = await index.getRecord(id.deviceId, id.seq);
  if (!rec) throw new NotaryError('record-not-found', `no record ${recordId}`);
  return rec;
}

async function assemble(
  deps: VerifyDeps,
  recordId: string,
): Promise<{ bundle: ProofBundle; live: Live; rec: RecordEntry }> {
  const rec = await getRecordEntry(deps.index, recordId);
  const bundle: ProofBundle = {
    format: PROOF_FORMAT,
    issuedAt: deps.clock(),
    record: {
      recordId: rec.recordId,
      deviceId: rec.deviceId,
      seq: rec.seq,
      timestamp: rec.timestamp,
      header: rec.header,
      recordHash: rec.recordHash,
      ciphertextSha256: rec.ciphertextHash,
      prevHash: rec.prevHash,
      envelopeSize: rec.envelopeSize,
      objectKey: rec.objectKey,
    },
    anchors: [],
  };
  const live: Live = new Map();
  if (!rec.batch) return { bundle, live, rec };

  const batch = await deps.index.getBatch(rec.batch.batchId);
  if (!batch)
    throw new NotaryError(
      'batch-not-found',
      `record ${recordId} names batch ${rec.batch.batchId}, which is gone`,
    );
  let path: string[] = [];
  try {
    path = (await readInclusionPath(deps.objects, batch.treeKey, batch.size, rec.batch.leafIndex)).map(toHex);
  } catch (e) {
    // A tree that cannot be read yields an empty path, which the check reports as an invalid proof.
    if (!(e instanceof TreeObjectError)) throw e;
  }
  bundle.inclusion = {
    batchId: batch.batchId,
    leafIndex: rec.batch.leafIndex,
    treeSize: batch.size,
    path,
    root: batch.root,
  };

  for (const a of batch.anchors) {
    const chain = deps.chains.get(a.chainId);
    const tx = chain ? await chain.lookup(a.txId) : undefined;
    const anchor: BundleAnchor = {
      chainId: a.chainId,
      txId: a.txId,
      payload: tx
        ? toHex(tx.data)
        : toHex(encodeAnchorPayload({ root: fromHex(batch.root) as Uint8Array, treeSize: batch.size })),
    };
    if (chain)
      live.set(
        a.txId,
        tx
          ? {
              payload: tx.data,
              confirmations: tx.confirmations,
              ...(tx.height === undefined ? {} : { height: tx.height }),
            }
          : null,
      );
    if (tx?.height !== undefined) anchor.height = tx.height;
    if (tx?.time !== undefined) anchor.time = tx.time;
    if (tx) anchor.confirmations = tx.confirmations;
    if (tx?.evidence) anchor.evidence = tx.evidence;
    bundle.anchors.push(anchor);
  }
  return { bundle, live, rec };
}

export async function buildProofBundle(deps: VerifyDeps, recordId: string): Promise<ProofBundle> {
  return (await assemble(deps, recordId)).bundle;
}

export interface VerifyReport extends ProofCheck {
  recordId: string;
  deviceId: string;
  seq: number;
  recordHash: string;
  batchId?: string;
  checkedAt: number;
}

/** Recomputes the hash from the stored object, checks the inclusion proof and the root on every chain. */
export async function verifyRecord(deps: VerifyDeps, recordId: string): Promise<VerifyReport> {
  const { bundle, live, rec } = await assemble(deps, recordId);
  const envelope = (await deps.objects.get(rec.objectKey)) ?? null;
  const check = checkProofBundle(bundle, {
    envelope,
    liveAnchors: live,
    requiredConfirmations: deps.requiredConfirmations,
  });
  return {
    recordId: rec.recordId,
    deviceId: rec.deviceId,
    seq: rec.seq,
    recordHash: rec.recordHash,
    ...(rec.batch ? { batchId: rec.batch.batchId } : {}),
    checkedAt: deps.clock(),
    ...check,
  };
}
