/**
 * Builds v2 proof bundles and completeness documents from lib/core alone, the way the backend assembles them
 * (docs/proof-bundle.md §6, docs/completeness.md): signed devices, batches of leaves in acceptance order,
 * RFC 6962 trees, and batch roots anchored on embedded-ledger-format ledgers held in memory. It lets the core
 * verifiers, the CLI and the Python verifier be tested on real, consistent proofs without the backend.
 */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { BundleAnchor } from '../../lib/core/anchor-check.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { toBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import type { CompletenessDocument, LeafItem } from '../../lib/core/completeness.js';
import { COMPLETENESS_FORMAT } from '../../lib/core/completeness.js';
import { parseHead, signHead } from '../../lib/core/device-head.js';
import {
  generateSigningKey,
  type SigAlg,
  type SigningKey,
  signerOf,
  signingKeyFromPrivate,
} from '../../lib/core/device-signature.js';
import { parseHeader, type SealedRecord, sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { encodeKeyEvent, type RevokeReason, signRotation } from '../../lib/core/key-event.js';
import { type LedgerEntry, ledgerChainId, ledgerEntryHash } from '../../lib/core/ledger-entry.js';
import { buildTree, hashLeaf, inclusionProof, type MerkleTree } from '../../lib/core/merkle.js';
import { type KeyEventItem, PROOF_FORMAT_V2, type ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';

/** A ledger in the embedded ledger's format (docs/proof-bundle.md §4.2), kept in memory. */
export class TestLedger {
  readonly secret: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly entries: LedgerEntry[] = [];

  constructor(seed?: Uint8Array) {
    this.secret = seed ?? new Uint8Array(randomBytes(32));
    this.publicKey = ed25519.getPublicKey(this.secret);
  }

  get chainId(): string {
    return ledgerChainId(this.publicKey);
  }

  get publicKeyBase64(): string {
    return toBase64(this.publicKey);
  }

  append(data: Uint8Array, time: number): LedgerEntry {
    const prev = this.entries.at(-1)?.hash ?? '0'.repeat(64);
    const unsigned = { height: this.entries.length, time, prev, data: toHex(data) };
    const hash = ledgerEntryHash(unsigned);
    const entry: LedgerEntry = {
      ...unsigned,
      hash: toHex(hash),
      sig: toBase64(ed25519.sign(hash, this.secret)),
    };
    this.entries.push(entry);
    return entry;
  }
}

export interface TestBatch {
  id: string;
  leaves: Uint8Array[];
  tree: MerkleTree;
  root: string;
  anchors: BundleAnchor[];
}

/** The anchored log: batches of leaves, in order, each root on the chosen ledgers. */
export class TestLog {
  readonly batches: TestBatch[] = [];
  private time = 1_700_000_100_000;

  constructor(readonly ledgers: TestLedger[] = [new TestLedger()]) {}

  /** Anchors `leaves`, in this order, as one batch on `chains` (default: every ledger of the log). */
  commit(leaves: Uint8Array[], chains: TestLedger[] = this.ledgers): TestBatch {
    const tree = buildTree(leaves.map((l) => hashLeaf(l)));
    const root = toHex(tree.root);
    const payload = encodeAnchorPayload({ root: tree.root, treeSize: tree.size });
    this.time += 1000;
    const anchors = chains.map((ledger): BundleAnchor => {
      const entry = ledger.append(payload, this.time);
      return {
        chainId: ledger.chainId,
        txId: entry.hash,
        payload: toHex(payload),
        height: entry.height,
        time: entry.time,
        evidence: { kind: 'embedded-ledger', entry, publicKey: ledger.publicKeyBase64 },
      };
    });
    const batch: TestBatch = {
      id: `b${this.batches.length}-${root.slice(0, 12)}`,
      leaves,
      tree,
      root,
      anchors,
    };
    this.batches.push(batch);
    return batch;
  }

  locate(leaf: Uint8Array): { batch: TestBatch; leafIndex: number } | undefined {
    const hex = toHex(leaf);
    for (const batch of this.batches) {
      const i = batch.leaves.findIndex((l) => toHex(l) === hex);
      if (i >= 0) return { batch, leafIndex: i };
    }
    return undefined;
  }

  /** A key event item of a v2 bundle; without inclusion and anchors while the leaf is in no batch. */
  keyEventItem(leaf: Uint8Array): KeyEventItem {
    const at = this.locate(leaf);
    if (!at) return { leaf: toBase64(leaf), anchors: [] };
    return {
      leaf: toBase64(leaf),
      inclusion: this.inclusionOf(at),
      anchors: structuredClone(at.batch.anchors),
    };
  }

  inclusionOf(at: { batch: TestBatch; leafIndex: number }) {
    return {
      leafIndex: at.leafIndex,
      treeSize: at.batch.tree.size,
      path: inclusionProof(at.batch.tree, at.leafIndex).map(toHex),
      root: at.batch.root,
    };
  }

  /** The v2 bundle of a record, as the backend assembles it. */
  bundle(record: SealedRecord, keyEvents: readonly Uint8Array[] = []): ProofBundleV2 {
    const h = record.header;
    const recordHash = toHex(record.recordHash);
    const at = this.locate(record.headerBytes);
    return {
      format: PROOF_FORMAT_V2,
      record: {
        recordId: `${h.deviceId}.${h.seq}`,
        deviceId: h.deviceId,
        seq: h.seq,
        timestamp: h.timestamp,
        header: toBase64(record.headerBytes),
        recordHash,
        ciphertextSha256: toHex(h.ciphertextHash),
        prevHash: toHex(h.prevHash),
        envelopeSize: record.envelope.length,
        objectKey: `records/${h.deviceId}/${recordHash}`,
      },
      ...(at ? { inclusion: this.inclusionOf(at) } : {}),
      anchors: at ? structuredClone(at.batch.anchors) : [],
      ...(h.version === 2 ? { origin: { keyEvents: keyEvents.map((e) => this.keyEventItem(e)) } } : {}),
    };
  }

  /** A completeness document over the given leaves (records by seq), as the backend assembles it. */
  completeness(input: {
    deviceId: string;
    fromSeq: number;
    records: readonly Uint8Array[];
    head?: Uint8Array;
    keyEvents: readonly Uint8Array[];
    /** Defaults to the head's count - 1, else the last record's seq. */
    toSeq?: number;
  }): CompletenessDocument {
    const batches: CompletenessDocument['batches'] = {};
    const item = (leaf: Uint8Array): LeafItem => {
      const at = this.locate(leaf);
      if (!at) return { leaf: toBase64(leaf) };
      batches[at.batch.id] = {
        root: at.batch.root,
        treeSize: at.batch.tree.size,
        anchors: structuredClone(at.batch.anchors),
      };
      return {
        leaf: toBase64(leaf),
        batchId: at.batch.id,
        leafIndex: at.leafIndex,
        path: inclusionProof(at.batch.tree, at.leafIndex).map(toHex),
      };
    };
    const parsedHead = input.head ? parseHead(input.head) : undefined;
    const headCount = parsedHead?.ok ? parsedHead.head.count : undefined;
    const lastSeq = (() => {
      const last = input.records.at(-1);
      const p = last ? parseHeader(last) : undefined;
      return p?.ok ? p.header.seq : input.fromSeq - 1;
    })();
    return {
      format: COMPLETENESS_FORMAT,
      deviceId: input.deviceId,
      range: {
        fromSeq: input.fromSeq,
        toSeq: input.toSeq ?? (headCount !== undefined ? headCount - 1 : lastSeq),
      },
      ...(input.head ? { head: item(input.head) } : {}),
      records: input.records.map(item),
      keyEvents: input.keyEvents.map(item),
      batches,
    };
  }
}

/** A device that signs: its key, its sequence and hash chain, and the statements it makes. */
export class SignedDevice {
  key: SigningKey;
  nextSeq = 0;
  prevHash: Uint8Array = ZERO_HASH;
  readonly masterKey = new Uint8Array(32).fill(5);
  clock = 1_700_000_000_000;

  constructor(
    readonly deviceId: string,
    alg: SigAlg = 'ed25519',
    seed?: Uint8Array,
  ) {
    this.key = seed ? signingKeyFromPrivate(alg, seed) : generateSigningKey(alg);
  }

  /** The operator's register event for this device's current key (backend clock). */
  registration(time = this.clock): Uint8Array {
    return registerEvent(this.deviceId, this.key, time);
  }

  /** Seals the next record (signed unless `unsigned`); `key` signs with another key without moving it. */
  seal(opts: { unsigned?: boolean; key?: SigningKey } = {}): SealedRecord {
    const seq = this.nextSeq;
    this.clock += 1000;
    const sealed = sealRecord({
      recordKey: deriveRecordKey(this.masterKey, this.deviceId, this.clock, seq),
      deviceId: this.deviceId,
      seq,
      timestamp: this.clock,
      prevHash: this.prevHash,
      nonce: new Uint8Array(12).fill(seq & 0xff),
      plaintext: utf8(JSON.stringify({ seq, temp: 20 + (seq % 5) })),
      ...(opts.unsigned ? {} : { signer: signerOf(opts.key ?? this.key) }),
    });
    this.nextSeq = seq + 1;
    this.prevHash = sealed.recordHash;
    return sealed;
  }

  /** Rotates to a fresh key (of `alg`), signed by old and new; returns the rotate event. */
  rotate(alg: SigAlg = 'ed25519', next?: SigningKey): Uint8Array {
    const newKey = next ?? generateSigningKey(alg);
    this.clock += 1000;
    const bytes = signRotation({
      deviceId: this.deviceId,
      time: this.clock,
      oldKey: signerOf(this.key),
      newKey: signerOf(newKey),
    });
    this.key = newKey;
    return bytes;
  }

  /** The device's signed head: its count and last record hash. */
  head(key: SigningKey = this.key): Uint8Array {
    this.clock += 1000;
    return signHead(
      { deviceId: this.deviceId, count: this.nextSeq, lastHash: this.prevHash, time: this.clock },
      signerOf(key),
    ).bytes;
  }
}

export function registerEvent(deviceId: string, key: SigningKey, time = 1_699_999_000_000): Uint8Array {
  return encodeKeyEvent({ type: 'register', deviceId, time, alg: key.alg, publicKey: key.publicKey });
}

export function revokeEvent(
  deviceId: string,
  key: SigningKey,
  reason: RevokeReason = 'compromised',
  time = 1_700_000_500_000,
): Uint8Array {
  return encodeKeyEvent({ type: 'revoke', deviceId, time, alg: key.alg, publicKey: key.publicKey, reason });
}

/** Compact JSON, as the server emits v2 bundles and completeness documents. */
export function compact(doc: unknown): string {
  return JSON.stringify(doc);
}
