/**
 * The evidence for one batch, as proofs carry it: each chain's anchor of its root (and the inline
 * transactions that carry a given record whole), looked up live where the chain can be asked, and the
 * inclusion path of a leaf from the stored tree. Shared by proof bundles (the record and its key events) and
 * completeness documents (every batch they reference), so all follow the same anchor rules.
 *
 * v2 rules (docs/proof-bundle.md): an anchor backed by an embedded-ledger entry is final by construction and
 * carries exactly what the entry says (height and time equal to the entry's, no confirmations, no block); any
 * other field a verifier could not check would be a field a forger could change unnoticed.
 */
import { nodeOffset, pathPositions, readInclusionPath, TreeObjectError } from '../anchor/tree-object.js';
import type { BundleAnchor, LiveAnchor } from '../core/anchor-check.js';
import { encodeAnchorPayload } from '../core/anchor-payload.js';
import { fromHex, toHex } from '../core/bytes.js';
import { NotaryError } from '../core/errors.js';
import {
  type BatchEntry,
  type BatchStore,
  type Chain,
  type ChainTx,
  isChainFailure,
  type ObjectStore,
} from '../ports.js';

export interface BatchEvidenceDeps {
  index: BatchStore;
  objects: ObjectStore;
  chains: ReadonlyMap<string, Chain>;
  requiredConfirmations: (chainId: string) => number;
}

/** Leaves of one batch above which the whole tree object is read at once. */
const WHOLE_TREE_FROM = 32;

/** What live lookups saw, by txId; `null`: the chain says no such transaction. */
export type LiveAnchors = Map<string, LiveAnchor | null>;

export interface BatchAnchors {
  anchors: BundleAnchor[];
  /** Chains configured here that have not taken the batch's root yet (only while the batch is `built`). */
  awaiting: string[];
}

/** Reads batches once per proof: a completeness document may name the same batch for thousands of leaves. */
export class BatchReader {
  private readonly batches = new Map<string, Promise<BatchEntry>>();
  private readonly anchors = new Map<string, Promise<BatchAnchors>>();
  /** Live lookups of every anchor read through this reader. */
  readonly live: LiveAnchors = new Map();

  constructor(
    private readonly deps: BatchEvidenceDeps,
    private readonly rules: 'v1' | 'v2',
  ) {}

  batch(batchId: string, what: string): Promise<BatchEntry> {
    let b = this.batches.get(batchId);
    if (!b) {
      b = this.deps.index.getBatch(batchId).then((found) => {
        if (!found) throw new NotaryError('batch-not-found', `${what} names batch ${batchId}, which is gone`);
        return found;
      });
      this.batches.set(batchId, b);
    }
    return b;
  }

  /** The inclusion path of leaf `leafIndex`; empty when the tree cannot be read (the check then fails it). */
  async path(batch: BatchEntry, leafIndex: number): Promise<string[]> {
    try {
      return (await readInclusionPath(this.deps.objects, batch.treeKey, batch.size, leafIndex)).map(toHex);
    } catch (e) {
      if (!(e instanceof TreeObjectError)) throw e;
      return [];
    }
  }

  /**
   * Inclusion paths of many leaves of one batch, by leaf index. Beyond a few leaves the whole tree object is
   * read once (2 x size x 32 bytes) instead of one 32-byte range read per level per leaf.
   */
  async paths(batch: BatchEntry, leafIndices: readonly number[]): Promise<Map<number, string[]>> {
    const out = new Map<number, string[]>();
    if (leafIndices.length <= WHOLE_TREE_FROM) {
      for (const i of leafIndices) out.set(i, await this.path(batch, i));
      return out;
    }
    const tree = await this.deps.objects.get(batch.treeKey);
    for (const i of leafIndices) {
      const path: string[] = [];
      for (const p of pathPositions(batch.size, i)) {
        const at = nodeOffset(batch.size, p.level, p.index);
        // A short tree object yields an empty path, which the check reports as an invalid proof.
        if (!tree || at + 32 > tree.length) {
          path.length = 0;
          break;
        }
        path.push(toHex(tree.subarray(at, at + 32)));
      }
      out.set(i, path);
    }
    return out;
  }

  /** Root anchors of the batch (and, with `inlineRecordId`, the inline ones carrying that record). */
  rootAnchors(batch: BatchEntry, inlineRecordId?: string): Promise<BatchAnchors> {
    const key = `${batch.batchId}#${inlineRecordId ?? ''}`;
    let a = this.anchors.get(key);
    if (!a) {
      a = this.gather(batch, inlineRecordId);
      this.anchors.set(key, a);
    }
    return a;
  }

  private async gather(batch: BatchEntry, inlineRecordId: string | undefined): Promise<BatchAnchors> {
    const rootBytes = encodeAnchorPayload({ root: fromHex(batch.root) as Uint8Array, treeSize: batch.size });
    const anchors: BundleAnchor[] = [];
    for (const a of batch.anchors) {
      const inline = a.kind === 'inline';
      if (inline) {
        const part = batch.inline?.[a.part ?? 0];
        if (
          inlineRecordId === undefined ||
          part?.chainId !== a.chainId ||
          !part.records.includes(inlineRecordId)
        )
          continue;
      }
      const chain = this.deps.chains.get(a.chainId);
      let tx: ChainTx | undefined;
      let asked = chain !== undefined;
      if (chain) {
        try {
          tx = await chain.lookup(a.txId);
        } catch (e) {
          // The chain cannot be asked now: the proof carries what the finality poller last saw, and the
          // check reports the anchor as unchecked (pending) rather than failing the whole request.
          if (!isChainFailure(e)) throw e;
          asked = false;
        }
      }
      // Not (or no longer) in a block but not final either: the poller resubmits a dropped or reorganised
      // transaction, so this is "0 confirmations so far", not evidence of tampering. An inline copy in that
      // state is left out (the record's root anchor on the same chain speaks for it).
      const unsettled = a.phase !== undefined && a.phase !== 'final';
      if (asked && !tx && unsettled && inline) continue;
      if (asked) {
        this.live.set(
          a.txId,
          tx
            ? {
                payload: tx.data,
                confirmations: tx.confirmations,
                ...(tx.height === undefined ? {} : { height: tx.height }),
                ...(tx.blockHash === undefined ? {} : { blockHash: tx.blockHash }),
                ...(tx.time === undefined ? {} : { time: tx.time }),
              }
            : unsettled
              ? { payload: rootBytes, confirmations: 0 }
              : null,
        );
      }
      const anchor: BundleAnchor = {
        chainId: a.chainId,
        txId: a.txId,
        payload: tx ? toHex(tx.data) : inline ? '' : toHex(rootBytes),
        method: inline ? 'inline' : 'root',
      };
      if (tx?.evidence && this.rules === 'v2') {
        // Final by construction: the entry's own height and time, nothing to count.
        anchor.height = tx.evidence.entry.height;
        anchor.time = tx.evidence.entry.time;
        anchor.evidence = tx.evidence;
      } else {
        anchor.requiredConfirmations = this.deps.requiredConfirmations(a.chainId);
        const height = tx ? tx.height : asked ? undefined : a.block?.height;
        const blockHash = tx ? tx.blockHash : asked ? undefined : a.block?.hash;
        const confirmations = tx ? tx.confirmations : asked ? undefined : a.confirmations;
        if (height !== undefined) anchor.height = height;
        if (blockHash !== undefined) anchor.blockHash = blockHash;
        if (tx?.time !== undefined) anchor.time = tx.time;
        if (confirmations !== undefined) anchor.confirmations = confirmations;
        if (tx?.evidence) anchor.evidence = tx.evidence;
      }
      anchors.push(anchor);
    }
    // A batch still being anchored that some configured chain has not taken yet (it was down or refused):
    // the leaf is not on every chain it will be on. A finished batch is judged by the anchors it has, so
    // adding a chain later leaves older proofs verified.
    const awaiting =
      batch.state === 'built'
        ? [...this.deps.chains.keys()].filter(
            (id) => !batch.anchors.some((x) => x.chainId === id && (x.kind ?? 'root') === 'root'),
          )
        : [];
    return { anchors, awaiting };
  }
}
