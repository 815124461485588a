/** A batch: records and statements under one Merkle root, and the anchors of that root on each chain. */
import { z } from 'zod';
import type { LedgerEntry } from '../core/ledger-entry.js';
import { absent, jsonText } from './stored-form.js';

/** Where an anchor stands on its chain (lib/anchor/finality-machine.ts keeps it). */
export type AnchorPhase = 'submitted' | 'anchored' | 'final' | 'dropped' | 'mismatch';

export interface AnchorRef {
  /** Which ledger: e.g. `embedded:3f9a0c1b2d4e5f60`, `evm:31337`, `bigbang:testnet`. */
  chainId: string;
  txId: string;
  submittedAt: number;
  /**
   * 'root' (default): the transaction carries the batch's anchor payload. 'inline': it carries envelopes of
   * some of the batch's records whole (lib/core/inline-packet.ts), the part `part` of `BatchEntry.inline`.
   */
  kind?: 'root' | 'inline';
  /** For 'inline': which entry of `BatchEntry.inline` this transaction carries. */
  part?: number;
  /** For 'inline': hex SHA-256 of the bytes submitted, to recognise them on chain without keeping them. */
  payloadSha256?: string;
  /** Finality (lib/anchor/finality-machine.ts). Absent on anchors written before finality was tracked. */
  phase?: AnchorPhase;
  /** The block it was last seen in. */
  block?: { height?: number; hash?: string };
  confirmations?: number;
  /** Last time a lookup found the transaction at all (the grace before "dropped" counts from it). */
  seenAt?: number;
  /** When it was first seen in a block, and when it reached the chain's required confirmations. */
  anchoredAt?: number;
  finalAt?: number;
  /** 1 for the first transaction; each resubmission (a drop, a reorganisation, a fee bump) adds one. */
  attempt?: number;
  /** Reorganisations it went through (moved block, back to the pool, or lost). */
  reorgs?: number;
  /** When the finality poller should look again; absent once final (polling stops). */
  nextCheckAt?: number;
  /** Fee paid once included, in the chain's smallest unit (wei, BigBang units), as a decimal string. */
  fee?: string;
  /** txIds of earlier attempts on this chain: dropped, reorganised out, or replaced by a fee bump. */
  replaced?: string[];
  /** The last failed lookup or resubmission, kept until one succeeds, so it stays visible. */
  lastError?: { code: string; message: string; at: number };
  /**
   * On an embedded ledger (file or DynamoDB): its signed entry for `txId`, as the first lookup returned it. A
   * ledger that lost entries can be given them back byte for byte from these copies (docs/operations.md).
   */
  ledgerEntry?: LedgerEntry;
}

/**
 * 'built': some chain's root anchor is missing or not in a block yet; 'anchored': every chain's root
 * anchor is in a block; 'final': every one has its chain's required confirmations.
 */
export type BatchState = 'built' | 'anchored' | 'final';

/** Records of a batch that also go on one chain whole, in one transaction (docs/chains.md §6). */
export interface InlinePart {
  chainId: string;
  /** Record ids, in the order their envelopes are in the transaction. */
  records: string[];
  /** Bytes of the transaction's data. */
  dataBytes: number;
}

export interface BatchEntry {
  batchId: string;
  /** Hex Merkle root over the leaf hashes in leaf order. */
  root: string;
  size: number;
  createdAt: number;
  state: BatchState;
  /** Object key of the tree's levels (see lib/anchor/tree-object.ts). */
  treeKey: string;
  anchors: AnchorRef[];
  /** Planned inline transactions, decided when the batch was built; AnchorRef.part indexes this list. */
  inline?: InlinePart[];
}

/** A batch as read for a compare-and-set of its anchors; a batch no write has touched is at version 0. */
export interface VersionedBatch {
  batch: BatchEntry;
  version: number;
}

/**
 * An anchor as stored: its identity is checked, the rest is kept as written, since anchors written by earlier
 * versions lack the fields finality tracking added and must still read back byte for byte.
 */
const storedAnchors = z
  .array(z.looseObject({ chainId: z.string(), txId: z.string(), submittedAt: z.number() }))
  .transform((a) => a as AnchorRef[]);

const inlineParts = z.array(
  z.object({ chainId: z.string(), records: z.array(z.string()), dataBytes: z.number() }),
);

/** A batch as stored; `anchors` and `inline` are JSON text. A state this version does not know reads as 'built'. */
export const storedBatch = z
  .object({
    batchId: z.string(),
    root: z.string(),
    size: z.number(),
    createdAt: z.number(),
    state: z.string(),
    treeKey: z.string(),
    anchors: jsonText(storedAnchors),
    inline: jsonText(inlineParts).nullish(),
  })
  .transform(
    (b): BatchEntry => ({
      batchId: b.batchId,
      root: b.root,
      size: b.size,
      createdAt: b.createdAt,
      state: b.state === 'anchored' || b.state === 'final' ? b.state : 'built',
      treeKey: b.treeKey,
      anchors: b.anchors,
      ...(absent(b.inline) ? {} : { inline: b.inline }),
    }),
  )
  .describe('batch');
