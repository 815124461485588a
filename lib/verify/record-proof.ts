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
  IPFS_PROFILE,
  type IpfsVerdict,
  type LiveAnchor,
  PROOF_FORMAT,
  type ProofBundle,
  type ProofCheck,
} from '../core/proof-bundle.js';
import { type VerifyCidDeps, verifyRecordCid } from '../ipfs/verify-cid.js';
import {
  type BatchStore,
  type Chain,
  type ChainTx,
  isChainFailure,
  type ObjectStore,
  type RecordEntry,
  type RecordIndex,
} from '../ports.js';

export interface VerifyDeps {
  index: RecordIndex & BatchStore;
  objects: ObjectStore;
  chains: ReadonlyMap<string, Chain>;
  clock: () => number;
  requiredConfirmations: (chainId: string) => number;
  /** Fetches hot copies by CID (an IPFS endpoint); without it a recorded CID reads `cid unavailable`. */
  ipfs?: VerifyCidDeps;
}

type Live = Map<string, LiveAnchor | null>;

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
): Promise<{ bundle: ProofBundle; live: Live; rec: RecordEntry; awaiting: string[] }> {
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
      ...(rec.ipfs ? { ipfs: { cid: rec.ipfs.cid, profile: IPFS_PROFILE } } : {}),
    },
    anchors: [],
  };
  const live: Live = new Map();
  if (!rec.batch) return { bundle, live, rec, awaiting: [] };

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

  // Every chain's root anchor, and the inline transactions that carry this very record whole.
  const rootBytes = encodeAnchorPayload({ root: fromHex(batch.root) as Uint8Array, treeSize: batch.size });
  for (const a of batch.anchors) {
    const inline = a.kind === 'inline';
    if (inline) {
      const part = batch.inline?.[a.part ?? 0];
      if (part?.chainId !== a.chainId || !part.records.includes(rec.recordId)) continue;
    }
    const chain = deps.chains.get(a.chainId);
    let tx: ChainTx | undefined;
    let asked = chain !== undefined;
    if (chain) {
      try {
        tx = await chain.lookup(a.txId);
      } catch (e) {
        // The chain cannot be asked now: the bundle then carries what the finality poller last saw, and
        // the check reports the anchor as unchecked (pending) rather than failing the whole request.
        if (!isChainFailure(e)) throw e;
        asked = false;
      }
    }
    // Not (or no longer) in a block but not final either: the poller resubmits a dropped or reorganised
    // transaction, so this is "0 confirmations so far", not evidence of tampering. An inline copy in that
    // state is left out (the record's root anchor on the same chain speaks for it).
    const unsettled = a.phase !== undefined && a.phase !== 'final';
    if (asked && !tx && unsettled && inline) continue;
    const requiredConfirmations = deps.requiredConfirmations(a.chainId);
    const anchor: BundleAnchor = {
      chainId: a.chainId,
      txId: a.txId,
      payload: tx ? toHex(tx.data) : inline ? '' : toHex(rootBytes),
      method: inline ? 'inline' : 'root',
      requiredConfirmations,
    };
    if (asked) {
      live.set(
        a.txId,
        tx
          ? {
              payload: tx.data,
              confirmations: tx.confirmations,
              ...(tx.height === undefined ? {} : { height: tx.height }),
              ...(tx.blockHash === undefined ? {} : { blockHash: tx.blockHash }),
            }
          : unsettled
            ? { payload: rootBytes, confirmations: 0 }
            : null,
      );
    }
    const height = tx ? tx.height : asked ? undefined : a.block?.height;
    const blockHash = tx ? tx.blockHash : asked ? undefined : a.block?.hash;
    const confirmations = tx ? tx.confirmations : asked ? undefined : a.confirmations;
    if (height !== undefined) anchor.height = height;
    if (blockHash !== undefined) anchor.blockHash = blockHash;
    if (tx?.time !== undefined) anchor.time = tx.time;
    if (confirmations !== undefined) anchor.confirmations = confirmations;
    if (tx?.evidence) anchor.evidence = tx.evidence;
    bundle.anchors.push(anchor);
  }
  // A batch still being anchored that some configured chain has not taken yet (it was down or refused):
  // the record is not on every chain it will be on. A finished batch is judged by the anchors it has,
  // so adding a chain later leaves older records verified.
  const awaiting =
    batch.state === 'built'
      ? [...deps.chains.keys()].filter(
          (id) => !batch.anchors.some((a) => a.chainId === id && (a.kind ?? 'root') === 'root'),
        )
      : [];
  return { bundle, live, rec, awaiting };
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
  /** Configured chains that have not taken the record's batch yet (reason `anchor-not-submitted`). */
  awaitingChains?: string[];
  /** The hot copy checked (`checks.ipfs` holds the verdict): which CID, and what fetching it gave. */
  ipfs?: { cid: string; code: string; message: string };
}

/** Recomputes the hash from the stored object, checks the inclusion proof and the root on every chain. */
export async function verifyRecord(deps: VerifyDeps, recordId: string): Promise<VerifyReport> {
  const { bundle, live, rec, awaiting } = await assemble(deps, recordId);
  const envelope = (await deps.objects.get(rec.objectKey)) ?? null;
  const hotCopy = await checkHotCopy(deps, rec);
  const check = checkProofBundle(bundle, {
    envelope,
    liveAnchors: live,
    requiredConfirmations: deps.requiredConfirmations,
    ipfs: hotCopy?.verdict ?? null,
  });
  // With no anchor at all the check already says `anchor-not-submitted`; otherwise name each chain owed.
  for (const chainId of bundle.anchors.length > 0 ? awaiting : []) {
    check.reasons.push({
      code: 'anchor-not-submitted',
      message: `${chainId} has not taken batch ${rec.batch?.batchId} yet (being submitted, or retried after a failure)`,
    });
  }
  if (awaiting.length > 0 && check.status === 'verified') check.status = 'pending';
  return {
    recordId: rec.recordId,
    deviceId: rec.deviceId,
    seq: rec.seq,
    recordHash: rec.recordHash,
    ...(rec.batch ? { batchId: rec.batch.batchId } : {}),
    checkedAt: deps.clock(),
    ...check,
    ...(awaiting.length > 0 ? { awaitingChains: awaiting } : {}),
    ...(hotCopy ? { ipfs: hotCopy.detail } : {}),
  };
}

/** Fetches the record's hot copy by its CID and judges it; undefined for a record with no CID. */
async function checkHotCopy(
  deps: VerifyDeps,
  rec: RecordEntry,
): Promise<
  { verdict: IpfsVerdict | null; detail: { cid: string; code: string; message: string } } | undefined
> {
  if (!rec.ipfs) return undefined;
  const { cid } = rec.ipfs;
  if (!deps.ipfs)
    return {
      verdict: null,
      detail: {
        cid,
        code: 'ipfs-not-configured',
        message: 'no IPFS endpoint is configured to fetch the CID from',
      },
    };
  const c = await verifyRecordCid(deps.ipfs, { cid, header: rec.header, recordHash: rec.recordHash });
  return { verdict: c, detail: { cid, code: c.code, message: c.message } };
}
