/**
 * What fsck reports: one finding per thing wrong, with a stable code (docs/operations.md lists them), the
 * subject it is about and, when `--repair` can fix it safely, which repair would.
 */
import type { LedgerEntry } from '../core/ledger-entry.js';

export type FsckArea = 'ledger' | 'anchors' | 'trees' | 'batches' | 'records' | 'chains' | 'files';

export type FsckRepair =
  /** Entries a batch kept a copy of, or that the file still holds past a damaged line, put back in place. */
  | 'restore-ledger'
  /** A torn final line (an append that never returned) cut off, as the ledger does on open. */
  | 'cut-torn-line'
  /** A damaged tree object rebuilt from its members' record hashes, when that gives the anchored root. */
  | 'rebuild-tree'
  /** A file others can read made 0600. */
  | 'chmod'
  /** Only with --reanchor: a lost anchor marked dropped, so the anchorer submits the batch at a new height. */
  | 'reanchor';

export interface FsckFinding {
  area: FsckArea;
  code: string;
  /** 'error': data is lost, changed or unverifiable. 'warning': worth knowing, nothing is wrong with the data. */
  severity: 'error' | 'warning';
  /** What it is about: `ledger line 7`, a batch id, a record id, a path. */
  subject: string;
  message: string;
  repair?: FsckRepair;
}

/** An embedded ledger as fsck sees it: its own verification result, for any backend that stores one. */
export interface LedgerView {
  chainId: string;
  publicKey: Uint8Array;
  /** The entries that verify as a chain from height 0, in order. */
  entries: readonly (LedgerEntry & { dedupKey?: string })[];
  /** Stored entries that do not verify in place, e.g. `line 7`. */
  problems: readonly { where: string; code: string; message: string }[];
  /** Entries after the first problem whose own hash and signature verify (not part of the chain). */
  strays: readonly (LedgerEntry & { dedupKey?: string })[];
  /** An unfinished final append. */
  torn?: { where: string };
}

export interface FsckCounts {
  ledgerEntries: number;
  batches: number;
  anchors: number;
  trees: number;
  devices: number;
  records: number;
}

export interface FsckReport {
  findings: FsckFinding[];
  counts: FsckCounts;
}

export const errorsIn = (findings: readonly FsckFinding[]) => findings.filter((f) => f.severity === 'error');
