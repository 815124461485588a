/**
 * One anchor of a proof (docs/proof-bundle.md §3.4): does the transaction it names carry this batch's root
 * (or, inline, this record's envelope), is it backed by something other than the proof's own word, and on
 * what trust root. Shared by record anchors, key-event anchors and the batches of a completeness document.
 */
import { z } from 'zod';
import { bytesEqual, fromBase64, fromHex, isHex, toHex } from './bytes.js';
import { checkCiphertextHash, parseEnvelope } from './envelope.js';
import { classifyChainData } from './inline-packet.js';
import type { LogPosition } from './key-chain.js';
import { ledgerChainId, verifyLedgerEntry } from './ledger-entry.js';

export const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
// A loop, not a regular expression: anchor payloads can be large (bytes.ts says why).
export const hexString = z.string().refine(isHex, 'must be lowercase hex of whole bytes');
export const safeInt = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const LedgerEntrySchema = z.strictObject({
  height: safeInt,
  time: safeInt,
  prev: hex32,
  data: hexString,
  hash: hex32,
  sig: z.string(),
});

export const AnchorSchema = z.strictObject({
  chainId: z.string(),
  txId: z.string(),
  payload: hexString,
  height: safeInt.optional(),
  time: safeInt.optional(),
  confirmations: safeInt.optional(),
  /** The block holding the transaction (chains with blocks). */
  blockHash: z.string().max(130).optional(),
  /** How the leaf is on this chain: under the batch root (default) or, for a record, its envelope whole. */
  method: z.enum(['root', 'inline']).optional(),
  /** What the issuer considered final on this chain, so a verifier sees the policy it is judged by. */
  requiredConfirmations: safeInt.optional(),
  evidence: z
    .strictObject({ kind: z.literal('embedded-ledger'), entry: LedgerEntrySchema, publicKey: z.string() })
    .optional(),
});
export type BundleAnchor = z.infer<typeof AnchorSchema>;

export type Severity = 'tampered' | 'missing' | 'pending' | 'unpinned';
export interface Reason {
  code: string;
  message: string;
}
export interface SevereReason extends Reason {
  severity: Severity;
}

/**
 * What backs an anchor that checks: `live` a lookup on the chain itself, `pinned` an embedded-ledger entry
 * signed by a key the verifier pinned, `unpinned` an entry signed by the key the proof itself carries.
 */
export type AnchorTrust = 'live' | 'pinned' | 'unpinned';

export interface AnchorCheck {
  chainId: string;
  txId: string;
  /** 'root': the transaction carries the batch root; 'inline': it carries the record's envelope whole. */
  method: 'root' | 'inline';
  status: 'ok' | 'not-found' | 'mismatch' | 'unconfirmed';
  confirmations?: number;
  /** The confirmations this check required. */
  requiredConfirmations?: number;
  height?: number;
  blockHash?: string;
  /** Ledger time of the transaction, when the evidence or the live lookup gives one. */
  time?: number;
  /** Present when status is `ok`. */
  trust?: AnchorTrust;
}

/** What a live lookup of an anchor transaction saw; `null` in the map means "no such transaction". */
export interface LiveAnchor {
  payload: Uint8Array;
  confirmations: number;
  height?: number;
  blockHash?: string;
  time?: number;
}

export interface AnchorOptions {
  liveAnchors?: ReadonlyMap<string, LiveAnchor | null>;
  requiredConfirmations?: (chainId: string) => number;
  /** Public keys (base64) of embedded ledgers the caller trusts; if given, other keys are refused. */
  trustedLedgerKeys?: readonly string[];
}

/** What the anchor must carry. */
export interface AnchorTarget {
  /** The batch root (hex) and tree size the leaf's inclusion proof leads to; absent without inclusion. */
  root?: string;
  treeSize?: number;
  /** The record's header, when the leaf is a record: only then may the anchor be inline. */
  recordHeader?: Uint8Array;
  /** Names the leaf in messages (e.g. "key event 0"); empty for the bundle's record. */
  label?: string;
}

/**
 * v2 rules (docs/proof-bundle.md §6): no field of an anchor may go unchecked. An anchor backed by an
 * embedded-ledger entry is final by construction, so it carries no confirmations or block hash, and its
 * height and time, when given, are the entry's; its chainId is the one its key defines (also checked in v1).
 */
export type AnchorRules = 'v1' | 'v2';

export interface AnchorVerdict {
  check: AnchorCheck;
  reasons: SevereReason[];
}

export function checkAnchor(
  a: BundleAnchor,
  target: AnchorTarget,
  opts: AnchorOptions,
  rules: AnchorRules,
): AnchorVerdict {
  const reasons: SevereReason[] = [];
  const add = (severity: Severity, code: string, message: string) =>
    reasons.push({ severity, code, message });
  const of = target.label ? ` (${target.label})` : '';
  const live = opts.liveAnchors?.get(a.txId);
  const check: AnchorCheck = { chainId: a.chainId, txId: a.txId, method: a.method ?? 'root', status: 'ok' };
  if (live === null) {
    check.status = 'not-found';
    add('tampered', 'anchor-tx-not-found', `${a.chainId} has no transaction ${a.txId}${of}`);
    return { check, reasons };
  }
  if (live === undefined && !a.evidence) {
    // Nothing but the proof's word: whoever wrote it chose payload and confirmations. It becomes checkable
    // by looking txId up on the chain itself (docs/proof-bundle.md §4).
    check.status = 'unconfirmed';
    add(
      'pending',
      'anchor-unchecked-offline',
      `${a.chainId} tx ${a.txId}${of} carries no evidence; confirm it on the chain itself`,
    );
    return { check, reasons };
  }
  const payload = live ? live.payload : fromHex(a.payload);
  const confirmations = live ? live.confirmations : a.confirmations;
  const height = live ? live.height : a.evidence && rules === 'v2' ? a.evidence.entry.height : a.height;
  const blockHash = live ? live.blockHash : a.blockHash;
  const time = live ? live.time : a.evidence?.entry.time;
  if (confirmations !== undefined) check.confirmations = confirmations;
  if (height !== undefined) check.height = height;
  if (blockHash !== undefined) check.blockHash = blockHash;
  if (time !== undefined) check.time = time;
  // What the transaction carries decides how it is checked (its magic), not what the proof claims; a claim
  // that disagrees with the data is itself a mismatch.
  const carried = payload ? classifyChainData(payload) : undefined;
  if (carried?.kind === 'inline' || a.method === 'inline') {
    check.method = 'inline';
    // The record is on chain whole: one of the envelopes must have exactly this header (which seals the
    // record hash and the ciphertext hash) and a ciphertext that hashes to what the header seals.
    const header = target.recordHeader;
    const found =
      carried?.kind === 'inline' &&
      a.method !== 'root' &&
      header !== undefined &&
      carried.envelopes.some((e) => {
        const env = parseEnvelope(e);
        return env.ok && bytesEqual(env.headerBytes, header) && checkCiphertextHash(env).ok;
      });
    if (!found) {
      check.status = 'mismatch';
      add(
        'tampered',
        'inline-record-not-found',
        `${a.chainId} tx ${a.txId}${of} does not carry this record's envelope`,
      );
    }
  } else {
    const decoded = carried?.kind === 'anchor' ? carried.anchor : undefined;
    if (!decoded || toHex(decoded.root) !== target.root || decoded.treeSize !== target.treeSize) {
      check.status = 'mismatch';
      add(
        'tampered',
        'anchor-root-mismatch',
        `${a.chainId} tx ${a.txId}${of} does not carry this batch's root and size`,
      );
    }
  }
  let trust: AnchorTrust = live ? 'live' : 'unpinned';
  if (check.status === 'ok' && a.evidence) {
    const ev = a.evidence;
    const key = fromBase64(ev.publicKey);
    const sig = key ? verifyLedgerEntry(ev.entry, key) : { ok: false as const, message: 'bad public key' };
    if (!key || !sig.ok || ev.entry.hash !== a.txId || ev.entry.data !== toHex(payload as Uint8Array)) {
      check.status = 'mismatch';
      add('tampered', 'ledger-entry-invalid', `embedded ledger entry for ${a.txId}${of} does not verify`);
    } else if (a.chainId !== ledgerChainId(key)) {
      check.status = 'mismatch';
      add(
        'tampered',
        'chain-id-mismatch',
        `${a.chainId}${of} is not the chain id of the ledger key that signed the entry (${ledgerChainId(key)})`,
      );
    } else if (opts.trustedLedgerKeys && !opts.trustedLedgerKeys.includes(ev.publicKey)) {
      check.status = 'mismatch';
      add(
        'tampered',
        'untrusted-ledger-key',
        `ledger key of ${a.chainId}${of} is not one the verifier trusts`,
      );
    } else if (
      rules === 'v2' &&
      (a.confirmations !== undefined ||
        a.requiredConfirmations !== undefined ||
        a.blockHash !== undefined ||
        (a.height !== undefined && a.height !== ev.entry.height) ||
        (a.time !== undefined && a.time !== ev.entry.time))
    ) {
      check.status = 'mismatch';
      add(
        'tampered',
        'anchor-fields-mismatch',
        `${a.chainId} tx ${a.txId}${of}: height and time must be the entry's, and an entry has no confirmations or block`,
      );
    } else if (!live && opts.trustedLedgerKeys) {
      trust = 'pinned';
    }
  }
  // An embedded-ledger entry in a v2 proof is final by construction: nothing to count.
  const final = rules === 'v2' && a.evidence !== undefined && !live;
  if (!final) {
    const required = opts.requiredConfirmations?.(a.chainId) ?? a.requiredConfirmations ?? 1;
    check.requiredConfirmations = required;
    if (check.status === 'ok' && (confirmations ?? 0) < required) {
      check.status = 'unconfirmed';
      add(
        'pending',
        'awaiting-confirmations',
        `${a.chainId} tx${of} has ${confirmations ?? 0} of ${required} confirmations`,
      );
    }
  }
  if (check.status === 'ok') {
    check.trust = trust;
    if (trust === 'unpinned')
      add(
        'unpinned',
        'ledger-key-unpinned',
        `${a.chainId}${of}: the entry was checked against the key the proof itself carries, which anyone can make; pin the ledger's key`,
      );
  }
  return { check, reasons };
}

/** `unpinned`: every check passed, but some anchor was checked only against a ledger key the proof carries. */
export type VerifyStatus = 'verified' | 'unpinned' | 'pending' | 'tampered' | 'missing';

const SEVERITY_ORDER: readonly Severity[] = ['tampered', 'missing', 'pending', 'unpinned'];

export function statusOf(reasons: readonly SevereReason[]): VerifyStatus {
  for (const s of SEVERITY_ORDER) if (reasons.some((r) => r.severity === s)) return s;
  return 'verified';
}

/** Positions of a leaf in the log: one per checked root anchor of its batch (key-chain.ts). */
export function positionsOf(
  anchors: readonly AnchorCheck[],
  inclusion: { root: string; leafIndex: number },
): LogPosition[] {
  return anchors.flatMap((c) =>
    c.status === 'ok' && c.method === 'root' && c.height !== undefined
      ? [{ chainId: c.chainId, height: c.height, root: inclusion.root, leafIndex: inclusion.leafIndex }]
      : [],
  );
}
