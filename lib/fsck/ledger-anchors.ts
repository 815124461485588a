/**
 * Batches against an embedded ledger: every anchor a batch holds on the ledger must name an entry the ledger
 * still has, carrying the batch's anchor payload. A ledger file cut short still verifies on its own (a
 * shorter hash chain is a valid one); only the batches that point past its end can tell. The runtime runs
 * the cheap half of this at every start (lib/runtime/embedded-store-checks.ts), tools/fsck.ts all of it.
 */

import { rootPayload } from '../anchor/anchor-bytes.js';
import { bytesEqual, fromHex } from '../core/bytes.js';
import type { LedgerEntry } from '../core/ledger-entry.js';
import type { AnchorRef, BatchEntry, BatchStore } from '../ports.js';

/** Chain ids of embedded ledgers (the file ledger and its DynamoDB twin) start with this. */
export const EMBEDDED_CHAIN_PREFIX = 'embedded:';

/** What is known of the ledger being checked: its id and its entries by transaction id. */
export interface LedgerLookup {
  chainId: string;
  entry(txId: string): LedgerEntry | undefined;
}

export type LedgerAnchorProblemCode =
  /** The batch names an entry the ledger does not have: cut off, or never written to this file. */
  | 'entry-missing'
  /** The batch is anchored on an embedded ledger with another key: the ledger or its key was replaced. */
  | 'other-ledger'
  /** The entry exists but carries other bytes than the batch's root and size. */
  | 'data-mismatch'
  /** The batch's copy of the signed entry differs from the ledger's. */
  | 'copy-differs'
  /** The height recorded with the anchor is not the entry's height. */
  | 'height-mismatch';

export interface LedgerAnchorProblem {
  code: LedgerAnchorProblemCode;
  batchId: string;
  chainId: string;
  txId: string;
  kind: 'root' | 'inline';
  part?: number;
  /** The height the batch recorded for the entry, if it did. */
  height?: number;
  message: string;
}

/** Every anchor of every batch on an embedded ledger, newest batch first, reading the store page by page. */
export async function* embeddedAnchors(
  batches: Pick<BatchStore, 'listBatches'>,
  pageSize = 1000,
): AsyncGenerator<{ batch: BatchEntry; anchor: AnchorRef }> {
  let cursor: string | undefined;
  do {
    const page = await batches.listBatches({ limit: pageSize, ...(cursor === undefined ? {} : { cursor }) });
    for (const batch of page.items)
      for (const anchor of batch.anchors)
        if (anchor.chainId.startsWith(EMBEDDED_CHAIN_PREFIX)) yield { batch, anchor };
    cursor = page.next;
  } while (cursor !== undefined);
}

/**
 * What is wrong with one anchor against the ledger, or undefined. `thorough` adds the checks that need more
 * than a map lookup (the payload, the kept copy, the height); without it only a missing entry or another
 * ledger is reported, which is what startup needs. An anchor already marked dropped is waiting to be
 * submitted again (`fsck --reanchor`), so its old entry is expected to be gone.
 */
export function checkLedgerAnchor(
  batch: BatchEntry,
  anchor: AnchorRef,
  ledger: LedgerLookup,
  thorough: boolean,
): LedgerAnchorProblem | undefined {
  if (anchor.phase === 'dropped') return undefined;
  const kind = anchor.kind ?? 'root';
  const base = {
    batchId: batch.batchId,
    chainId: anchor.chainId,
    txId: anchor.txId,
    kind,
    ...(anchor.part === undefined ? {} : { part: anchor.part }),
    ...(anchor.block?.height === undefined ? {} : { height: anchor.block.height }),
  };
  const at = anchor.block?.height === undefined ? '' : ` at height ${anchor.block.height}`;
  if (anchor.chainId !== ledger.chainId) {
    return {
      code: 'other-ledger',
      ...base,
      message: `batch ${batch.batchId} is anchored on ${anchor.chainId}, but this ledger is ${ledger.chainId}`,
    };
  }
  const entry = ledger.entry(anchor.txId);
  if (!entry) {
    return {
      code: 'entry-missing',
      ...base,
      message: `batch ${batch.batchId} is anchored by entry ${anchor.txId}${at}, which the ledger does not have`,
    };
  }
  if (!thorough) return undefined;
  if (kind === 'root') {
    const want = safeRootPayload(batch);
    const got = fromHex(entry.data);
    if (!want || !got || !bytesEqual(want, got)) {
      return {
        code: 'data-mismatch',
        ...base,
        message: `ledger entry ${anchor.txId} does not carry batch ${batch.batchId}'s root and size`,
      };
    }
  }
  if (anchor.block?.height !== undefined && anchor.block.height !== entry.height) {
    return {
      code: 'height-mismatch',
      ...base,
      message: `batch ${batch.batchId} recorded height ${anchor.block.height} for entry ${anchor.txId}, which is at ${entry.height}`,
    };
  }
  if (anchor.ledgerEntry && !sameEntry(anchor.ledgerEntry, entry)) {
    return {
      code: 'copy-differs',
      ...base,
      message: `batch ${batch.batchId}'s copy of entry ${anchor.txId} differs from the ledger's`,
    };
  }
  return undefined;
}

function safeRootPayload(batch: BatchEntry): Uint8Array | undefined {
  try {
    return rootPayload(batch);
  } catch {
    return undefined;
  }
}

export function sameEntry(a: LedgerEntry, b: LedgerEntry): boolean {
  return (
    a.height === b.height &&
    a.time === b.time &&
    a.prev === b.prev &&
    a.data === b.data &&
    a.hash === b.hash &&
    a.sig === b.sig
  );
}
