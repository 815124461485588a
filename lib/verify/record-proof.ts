/**
 * Proof bundles and verification for one record. Gathering is I/O over the ports; judging is the pure
 * `checkProofBundle`, the same function an offline verifier runs on a downloaded bundle.
 *
 * The server issues v2 bundles (docs/proof-bundle.md): every field checked or derived, and for a signed (v2)
 * record its origin, the key events linking its signing key to the device (keyEventsFor), each with its own
 * inclusion proof and anchors. An unsigned (v1) record gets a v2 bundle without origin, whose verdict says
 * origin is not proven; bundles issued before (v1) still verify.
 */

import { fromBase64, toHex } from '../core/bytes.js';
import { parseRecordId } from '../core/device-id.js';
import { parseHeader } from '../core/envelope.js';
import { NotaryError } from '../core/errors.js';
import {
  checkProofBundle,
  type IpfsVerdict,
  type KeyEventItem,
  PROOF_FORMAT_V2,
  type ProofBundleV2,
  type ProofCheck,
} from '../core/proof-bundle.js';
import { type VerifyCidDeps, verifyRecordCid } from '../ipfs/verify-cid.js';
import type {
  BatchStore,
  Chain,
  DeviceRegistry,
  ObjectStore,
  RecordEntry,
  RecordIndex,
  StatementEntry,
  StatementStore,
} from '../ports.js';
import { readRecordEnvelope } from '../record-object.js';
import { BatchReader, type LiveAnchors } from './batch-evidence.js';
import { deviceKeyEvents, keyEventsFor } from './key-evidence.js';

export interface VerifyDeps {
  index: RecordIndex & BatchStore & DeviceRegistry;
  /** Key events (a signed record's origin) and device heads (completeness). */
  statements: StatementStore;
  objects: ObjectStore;
  chains: ReadonlyMap<string, Chain>;
  clock: () => number;
  requiredConfirmations: (chainId: string) => number;
  /** Fetches hot copies by CID (an IPFS endpoint); without it a recorded CID reads `cid unavailable`. */
  ipfs?: VerifyCidDeps;
}

export async function getRecordEntry(index: RecordIndex, recordId: string): Promise<RecordEntry> {
  const id = parseRecordId(recordId);
  if (!id)
    throw new NotaryError('bad-request', `${JSON.stringify(recordId)} is not a record id (<deviceId>.<seq>)`);
  const rec = await index.getRecord(id.deviceId, id.seq);
  if (!rec) throw new NotaryError('record-not-found', `no record ${recordId}`);
  return rec;
}

/** Where a bundle's key events come from: the device's log, read once per export instead of once per record. */
export type KeyEventSource = (keyIds: readonly string[]) => Promise<StatementEntry[]>;

/** Key events of one device for the keys asked, reading the device's log once and answering from memory after. */
export function deviceKeyEventSource(statements: StatementStore, deviceId: string): KeyEventSource {
  let events: Promise<StatementEntry[]> | undefined;
  return async (keyIds) => {
    events ??= deviceKeyEvents(statements, deviceId);
    return keyEventsFor(await events, keyIds);
  };
}

/**
 * The v2 bundle of a stored record, with its batch evidence read through `reader` (which caches batches and
 * anchors, so many records of one batch cost one read) and, when given, a leaf's path already read.
 */
export async function bundleOfRecord(
  rec: RecordEntry,
  reader: BatchReader,
  keyEvents: KeyEventSource,
  knownPath?: string[],
): Promise<{ bundle: ProofBundleV2; awaiting: string[] }> {
  const bundle: ProofBundleV2 = {
    format: PROOF_FORMAT_V2,
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
  let awaiting: string[] = [];
  if (rec.batch) {
    const batch = await reader.batch(rec.batch.batchId, `record ${rec.recordId}`);
    bundle.inclusion = {
      leafIndex: rec.batch.leafIndex,
      treeSize: batch.size,
      path: knownPath ?? (await reader.path(batch, rec.batch.leafIndex)),
      root: batch.root,
    };
    const a = await reader.rootAnchors(batch, rec.recordId);
    bundle.anchors = a.anchors;
    awaiting = a.awaiting;
  }
  // A signed record: the key events that tie its key to the device.
  const headerBytes = fromBase64(rec.header);
  const parsed = headerBytes ? parseHeader(headerBytes) : undefined;
  const signature = parsed?.ok ? parsed.header.signature : undefined;
  if (signature) {
    const events = await keyEvents([toHex(signature.keyId)]);
    const items: KeyEventItem[] = [];
    for (const e of events) {
      if (!e.batch) {
        items.push({ leaf: e.leaf, anchors: [] });
        continue;
      }
      const batch = await reader.batch(e.batch.batchId, `key event ${e.statementId}`);
      items.push({
        leaf: e.leaf,
        inclusion: {
          leafIndex: e.batch.leafIndex,
          treeSize: batch.size,
          path: await reader.path(batch, e.batch.leafIndex),
          root: batch.root,
        },
        anchors: (await reader.rootAnchors(batch)).anchors,
      });
    }
    bundle.origin = { keyEvents: items };
  }
  return { bundle, awaiting };
}

async function assemble(
  deps: VerifyDeps,
  recordId: string,
): Promise<{ bundle: ProofBundleV2; live: LiveAnchors; rec: RecordEntry; awaiting: string[] }> {
  const rec = await getRecordEntry(deps.index, recordId);
  const reader = new BatchReader(deps, 'v2');
  const { bundle, awaiting } = await bundleOfRecord(
    rec,
    reader,
    deviceKeyEventSource(deps.statements, rec.deviceId),
  );
  return { bundle, live: reader.live, rec, awaiting };
}

export async function buildProofBundle(deps: VerifyDeps, recordId: string): Promise<ProofBundleV2> {
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

/**
 * Recomputes the hash from the stored object, checks the inclusion proof, the root on every chain (looked up
 * live) and, for a signed record, its origin. The server pins its own ledgers' keys; it pins no device key,
 * so origin is at best `unpinned` here: proving it takes a device key the auditor obtained out of band.
 */
export async function verifyRecord(deps: VerifyDeps, recordId: string): Promise<VerifyReport> {
  const { bundle, live, rec, awaiting } = await assemble(deps, recordId);
  const envelope = (await readRecordEnvelope(deps.objects, rec)) ?? null;
  const hotCopy = await checkHotCopy(deps, rec);
  const ledgerKeys = await ownLedgerKeys(deps.chains);
  const check = checkProofBundle(bundle, {
    envelope,
    liveAnchors: live,
    requiredConfirmations: deps.requiredConfirmations,
    // An empty list would refuse every ledger key: without a ledger of its own the server pins none.
    ...(ledgerKeys.length > 0 ? { trustedLedgerKeys: ledgerKeys } : {}),
    ipfs: hotCopy ? hotCopy.verdict : 'not-pinned',
  });
  // With no anchor at all the check already says `anchor-not-submitted`; otherwise name each chain owed.
  for (const chainId of bundle.anchors.length > 0 ? awaiting : []) {
    check.reasons.push({
      code: 'anchor-not-submitted',
      message: `${chainId} has not taken batch ${rec.batch?.batchId} yet (being submitted, or retried after a failure)`,
    });
  }
  if (awaiting.length > 0 && (check.status === 'verified' || check.status === 'unpinned'))
    check.status = 'pending';
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

/** The public keys of the embedded ledgers this server runs: the trust roots it pins for itself. */
async function ownLedgerKeys(chains: ReadonlyMap<string, Chain>): Promise<string[]> {
  const keys: string[] = [];
  for (const chain of chains.values()) {
    const d = await chain.describe();
    if (d.kind === 'embedded-ledger') keys.push(d.publicKey);
  }
  return keys;
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
