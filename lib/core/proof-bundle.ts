/**
 * The proof bundle: everything needed to check one record, years later, without our servers or code.
 * docs/proof-bundle.md is the normative description; `checkProofBundle` is our implementation of the
 * procedure it gives, and the verify API runs exactly this function on live data.
 */
import { z } from 'zod';
import { bytesEqual, fromBase64, fromHex, isHex, toHex } from './bytes.js';
import {
  checkCiphertextHash,
  MAX_HEADER_BYTES,
  parseEnvelope,
  parseHeader,
  recordHashOf,
} from './envelope.js';
import { classifyChainData } from './inline-packet.js';
import { verifyLedgerEntry } from './ledger-entry.js';
import { verifyInclusion } from './merkle.js';

export const PROOF_FORMAT = 'iot-notary.proof.v1';
/**
 * How hot copies are added to IPFS (IPIP-499's name for Kubo's legacy `ipfs add` defaults: CIDv0, sha2-256,
 * 256 KiB chunks, no raw leaves), so anyone can recompute `record.ipfs.cid` from the ciphertext.
 */
export const IPFS_PROFILE = 'unixfs-v0-2015';
const MAX_HEADER_BASE64 = 4 * Math.ceil(MAX_HEADER_BYTES / 3);

const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
// A loop, not a regular expression: anchor payloads can be large (bytes.ts says why).
const hex = z.string().refine(isHex, 'must be lowercase hex of whole bytes');
const safeInt = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const LedgerEntrySchema = z.strictObject({
  height: safeInt,
  time: safeInt,
  prev: hex32,
  data: hex,
  hash: hex32,
  sig: z.string(),
});

export const ProofBundle = z.strictObject({
  format: z.literal(PROOF_FORMAT),
  issuedAt: safeInt,
  record: z.strictObject({
    recordId: z.string(),
    deviceId: z.string(),
    seq: safeInt,
    timestamp: safeInt,
    header: z.string(),
    recordHash: hex32,
    ciphertextSha256: hex32,
    prevHash: hex32,
    envelopeSize: safeInt,
    objectKey: z.string(),
    /** The hot copy of the ciphertext on IPFS, once pinned (docs/ipfs.md); absent for cold records. */
    ipfs: z
      .strictObject({
        cid: z.string().regex(/^[A-Za-z0-9]{1,128}$/),
        profile: z.literal(IPFS_PROFILE),
      })
      .optional(),
  }),
  inclusion: z
    .strictObject({
      batchId: z.string(),
      leafIndex: safeInt,
      treeSize: safeInt,
      path: z.array(hex32).max(64),
      root: hex32,
    })
    .optional(),
  anchors: z.array(
    z.strictObject({
      chainId: z.string(),
      txId: z.string(),
      payload: hex,
      height: safeInt.optional(),
      time: safeInt.optional(),
      confirmations: safeInt.optional(),
      /** The block holding the transaction (chains with blocks). */
      blockHash: z.string().max(130).optional(),
      /** How the record is on this chain: under the batch root (default) or as its envelope, whole. */
      method: z.enum(['root', 'inline']).optional(),
      /** What the issuer considered final on this chain, so a verifier sees the policy it is judged by. */
      requiredConfirmations: safeInt.optional(),
      evidence: z
        .strictObject({ kind: z.literal('embedded-ledger'), entry: LedgerEntrySchema, publicKey: z.string() })
        .optional(),
    }),
  ),
});
export type ProofBundle = z.infer<typeof ProofBundle>;
export type BundleAnchor = ProofBundle['anchors'][number];

export type VerifyStatus = 'verified' | 'pending' | 'tampered' | 'missing';
export interface Reason {
  code: string;
  message: string;
}

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
}

/** What a live lookup of an anchor transaction saw; `null` in the map means "no such transaction". */
export interface LiveAnchor {
  payload: Uint8Array;
  confirmations: number;
  height?: number;
  blockHash?: string;
}

export interface ProofCheck {
  status: VerifyStatus;
  reasons: Reason[];
  checks: {
    header: 'ok' | 'invalid';
    object: 'ok' | 'missing' | 'mismatch' | 'not-checked';
    inclusion: 'ok' | 'invalid' | 'pending';
    anchors: AnchorCheck[];
    /** Present only when the caller gave an `ipfs` finding (CheckOptions). */
    ipfs?: IpfsCheck;
  };
}

/** The hot copy: `cid unavailable` says nothing about the record, so only `tampered` changes the status. */
export type IpfsCheck = 'ok' | 'cid unavailable' | 'tampered' | 'not-pinned';

/** What fetching `record.ipfs.cid` gave, as judged by lib/ipfs/verify-cid.ts (its CidCheck fits). */
export interface IpfsVerdict {
  verdict: Exclude<IpfsCheck, 'not-pinned'>;
  code: string;
  message: string;
}

export interface CheckOptions {
  /**
   * The stored envelope: bytes to check against the bundle, null if the store no longer has it, or omitted
   * to check the proof alone.
   */
  envelope?: Uint8Array | null;
  /**
   * Live chain lookups by txId, when the caller can reach the chains: they override what the bundle claims.
   * `null` means the chain says no such transaction.
   */
  liveAnchors?: ReadonlyMap<string, LiveAnchor | null>;
  /**
   * Confirmations required before an anchor counts, per chainId. Default: the bundle's own
   * `requiredConfirmations` for the anchor, else 1.
   */
  requiredConfirmations?: (chainId: string) => number;
  /** Public keys (base64) of embedded ledgers the caller trusts; if given, other keys are refused. */
  trustedLedgerKeys?: readonly string[];
  /**
   * The hot copy, when the caller looked: the verdict on the content fetched by `record.ipfs.cid`, or null
   * when nothing could be fetched (no CID in the bundle, or no endpoint to ask). Like live anchors, a finding
   * of the caller's, never the bundle's own claim. Omitted: `checks.ipfs` stays absent.
   */
  ipfs?: IpfsVerdict | null;
}

export function checkProofBundle(bundle: ProofBundle, opts: CheckOptions = {}): ProofCheck {
  const reasons: { code: string; message: string; severity: 'tampered' | 'missing' | 'pending' }[] = [];
  const add = (severity: 'tampered' | 'missing' | 'pending', code: string, message: string) =>
    reasons.push({ severity, code, message });
  const checks: ProofCheck['checks'] = {
    header: 'ok',
    object: 'not-checked',
    inclusion: 'pending',
    anchors: [],
  };
  const rec = bundle.record;

  // 1. The header is the leaf: it must hash to the record hash and agree with the record's fields.
  // Length first: a header longer than the largest one cannot be valid, whatever its bytes.
  const headerBytes = rec.header.length <= MAX_HEADER_BASE64 ? fromBase64(rec.header) : undefined;
  const parsed = headerBytes ? parseHeader(headerBytes) : undefined;
  let recordHash: Uint8Array | undefined;
  if (!headerBytes || !parsed?.ok || parsed.headerBytes.length !== headerBytes.length) {
    checks.header = 'invalid';
    add('tampered', 'header-malformed', 'record.header is not exactly one v1 envelope header');
  } else {
    recordHash = recordHashOf(headerBytes);
    const h = parsed.header;
    if (toHex(recordHash) !== rec.recordHash) {
      checks.header = 'invalid';
      add('tampered', 'record-hash-mismatch', 'SHA-256(0x00 | header) differs from record.recordHash');
    }
    if (
      rec.recordId !== `${h.deviceId}.${h.seq}` ||
      h.deviceId !== rec.deviceId ||
      h.seq !== rec.seq ||
      h.timestamp !== rec.timestamp ||
      toHex(h.ciphertextHash) !== rec.ciphertextSha256 ||
      toHex(h.prevHash) !== rec.prevHash
    ) {
      checks.header = 'invalid';
      add('tampered', 'record-fields-mismatch', 'record fields differ from the ones sealed in the header');
    }
  }

  // 2. The stored object, when given, must be exactly this header plus a ciphertext with the sealed hash.
  if (opts.envelope === null) {
    checks.object = 'missing';
    add('missing', 'object-missing', `the object store has nothing at ${rec.objectKey}`);
  } else if (opts.envelope !== undefined) {
    const env = parseEnvelope(opts.envelope);
    if (!env.ok) {
      checks.object = 'mismatch';
      add('tampered', 'object-malformed', `stored object is not a valid envelope: ${env.message}`);
    } else if (!headerBytes || !bytesEqual(env.headerBytes, headerBytes)) {
      checks.object = 'mismatch';
      add('tampered', 'object-header-mismatch', 'stored object has a different header than the proof');
    } else if (!checkCiphertextHash(env).ok) {
      checks.object = 'mismatch';
      add(
        'tampered',
        'ciphertext-hash-mismatch',
        'SHA-256 of the stored ciphertext differs from the sealed hash',
      );
    } else {
      checks.object = 'ok';
    }
  }

  // 3. The record hash must be in the batch tree.
  const inc = bundle.inclusion;
  if (!inc) {
    add('pending', 'not-yet-anchored', 'the record is queued and not yet in an anchored batch');
  } else if (recordHash) {
    const root = fromHex(inc.root) as Uint8Array;
    const res = verifyInclusion({
      index: inc.leafIndex,
      size: inc.treeSize,
      leafHash: recordHash,
      proof: inc.path.map((p) => fromHex(p) as Uint8Array),
      root,
    });
    if (res.ok) checks.inclusion = 'ok';
    else {
      checks.inclusion = 'invalid';
      add('tampered', 'inclusion-proof-invalid', `inclusion proof fails: ${res.message} (${res.code})`);
    }
  } else {
    checks.inclusion = 'invalid';
  }

  // 4. The root must be on each chain, in a transaction carrying exactly this root and tree size.
  if (inc && bundle.anchors.length === 0)
    add('pending', 'anchor-not-submitted', 'the batch root is not on any chain yet');
  for (const a of bundle.anchors) {
    const live = opts.liveAnchors?.get(a.txId);
    const check: AnchorCheck = { chainId: a.chainId, txId: a.txId, method: a.method ?? 'root', status: 'ok' };
    if (live === null) {
      check.status = 'not-found';
      add('tampered', 'anchor-tx-not-found', `${a.chainId} has no transaction ${a.txId}`);
      checks.anchors.push(check);
      continue;
    }
    if (live === undefined && !a.evidence) {
      // Nothing but the bundle's word: whoever wrote it chose payload and confirmations. It becomes checkable
      // by looking txId up on the chain itself (docs/proof-bundle.md §4).
      check.status = 'unconfirmed';
      add(
        'pending',
        'anchor-unchecked-offline',
        `${a.chainId} tx ${a.txId} carries no evidence; confirm it on the chain itself`,
      );
      checks.anchors.push(check);
      continue;
    }
    const payload = live ? live.payload : fromHex(a.payload);
    const confirmations = live ? live.confirmations : a.confirmations;
    const height = live ? live.height : a.height;
    const blockHash = live ? live.blockHash : a.blockHash;
    if (confirmations !== undefined) check.confirmations = confirmations;
    if (height !== undefined) check.height = height;
    if (blockHash !== undefined) check.blockHash = blockHash;
    // What the transaction carries decides how it is checked (its magic), not what the bundle claims; a
    // claim that disagrees with the data is itself a mismatch.
    const carried = payload ? classifyChainData(payload) : undefined;
    if (carried?.kind === 'inline' || a.method === 'inline') {
      check.method = 'inline';
      // The record is on chain whole: one of the envelopes must have exactly this header (which seals the
      // record hash and the ciphertext hash) and a ciphertext that hashes to what the header seals.
      const found =
        carried?.kind === 'inline' &&
        a.method !== 'root' &&
        headerBytes !== undefined &&
        carried.envelopes.some((e) => {
          const env = parseEnvelope(e);
          return env.ok && bytesEqual(env.headerBytes, headerBytes) && checkCiphertextHash(env).ok;
        });
      if (!found) {
        check.status = 'mismatch';
        add(
          'tampered',
          'inline-record-not-found',
          `${a.chainId} tx ${a.txId} does not carry this record's envelope`,
        );
      }
    } else {
      const decoded = carried?.kind === 'anchor' ? carried.anchor : undefined;
      if (!decoded || !inc || toHex(decoded.root) !== inc.root || decoded.treeSize !== inc.treeSize) {
        check.status = 'mismatch';
        add(
          'tampered',
          'anchor-root-mismatch',
          `${a.chainId} tx ${a.txId} does not carry this batch's root and size`,
        );
      }
    }
    if (check.status === 'ok' && a.evidence) {
      const ev = a.evidence;
      const key = fromBase64(ev.publicKey);
      const sig = key ? verifyLedgerEntry(ev.entry, key) : { ok: false as const, message: 'bad public key' };
      if (!sig.ok || ev.entry.hash !== a.txId || ev.entry.data !== toHex(payload as Uint8Array)) {
        check.status = 'mismatch';
        add('tampered', 'ledger-entry-invalid', `embedded ledger entry for ${a.txId} does not verify`);
      } else if (opts.trustedLedgerKeys && !opts.trustedLedgerKeys.includes(ev.publicKey)) {
        check.status = 'mismatch';
        add('tampered', 'untrusted-ledger-key', `ledger key of ${a.chainId} is not one the verifier trusts`);
      }
    }
    const required = opts.requiredConfirmations?.(a.chainId) ?? a.requiredConfirmations ?? 1;
    check.requiredConfirmations = required;
    if (check.status === 'ok' && (confirmations ?? 0) < required) {
      check.status = 'unconfirmed';
      add(
        'pending',
        'awaiting-confirmations',
        `${a.chainId} tx has ${confirmations ?? 0} of ${required} confirmations`,
      );
    }
    checks.anchors.push(check);
  }

  // 5. The hot copy, when the caller fetched it by CID. Unavailable is no finding about the record; content
  // that is intact under its CID and is not the sealed ciphertext is.
  if (opts.ipfs !== undefined) {
    if (!rec.ipfs) checks.ipfs = 'not-pinned';
    else if (opts.ipfs === null) checks.ipfs = 'cid unavailable';
    else {
      checks.ipfs = opts.ipfs.verdict;
      if (opts.ipfs.verdict === 'tampered')
        add(
          'tampered',
          'ipfs-content-mismatch',
          `the IPFS copy ${rec.ipfs.cid} is not the sealed ciphertext: ${opts.ipfs.message} (${opts.ipfs.code})`,
        );
    }
  }

  const status: VerifyStatus = reasons.some((r) => r.severity === 'tampered')
    ? 'tampered'
    : reasons.some((r) => r.severity === 'missing')
      ? 'missing'
      : reasons.some((r) => r.severity === 'pending')
        ? 'pending'
        : 'verified';
  return { status, reasons: reasons.map(({ code, message }) => ({ code, message })), checks };
}
