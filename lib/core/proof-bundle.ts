/**
 * The proof bundle: everything needed to check one record, years later, without our servers or code.
 * docs/proof-bundle.md is the normative description; `checkProofBundle` is our implementation of the
 * procedure it gives (formats v1 and v2), and the verify API runs exactly this function on live data.
 *
 * v2 adds the record's origin (its device signature and the key events linking the signing key to the
 * device, each with its own inclusion proof and anchors) and is built so that no field goes unchecked: every
 * byte of a v2 bundle is either verified or derived and compared, so any single-byte change fails.
 */
import { z } from 'zod';
import {
  type AnchorCheck,
  type AnchorOptions,
  type AnchorRules,
  AnchorSchema,
  checkAnchor,
  hex32,
  positionsOf,
  type Reason,
  type SevereReason,
  type Severity,
  safeInt,
  statusOf,
  type VerifyStatus,
} from './anchor-check.js';
import { bytesEqual, fromBase64, fromHex, toHex } from './bytes.js';
import {
  checkCiphertextHash,
  MAX_HEADER_BYTES,
  parseEnvelope,
  parseHeader,
  type RecordHeader,
  recordHashOf,
  recordSigningDigest,
} from './envelope.js';
import { type DeviceKeyPin, judgeOrigin, type OriginJudgement, type PlacedKeyEvent } from './key-chain.js';
import type { KeyEventType } from './key-event.js';
import { classifyLeaf } from './leaf.js';
import { verifyInclusion } from './merkle.js';

export type { AnchorCheck, BundleAnchor, LiveAnchor, Reason, VerifyStatus } from './anchor-check.js';
export { positionsOf, statusOf } from './anchor-check.js';
export type { DeviceKeyPin, OriginJudgement } from './key-chain.js';

export const PROOF_FORMAT = 'iot-notary.proof.v1';
export const PROOF_FORMAT_V2 = 'iot-notary.proof.v2';
/**
 * How hot copies are added to IPFS (IPIP-499's name for Kubo's legacy `ipfs add` defaults: CIDv0, sha2-256,
 * 256 KiB chunks, no raw leaves), so anyone can recompute `record.ipfs.cid` from the ciphertext.
 */
export const IPFS_PROFILE = 'unixfs-v0-2015';
/** Most key events one bundle carries: a chain of rotations plus the events that retired its keys. */
export const MAX_BUNDLE_KEY_EVENTS = 256;
const MAX_HEADER_BASE64 = 4 * Math.ceil(MAX_HEADER_BYTES / 3);

const path = z.array(hex32).max(64);

const RecordFields = {
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
};

export const ProofBundleV1 = z.strictObject({
  format: z.literal(PROOF_FORMAT),
  issuedAt: safeInt,
  record: z.strictObject({
    ...RecordFields,
    /** The hot copy of the ciphertext on IPFS, once pinned (docs/ipfs.md); absent for cold records. */
    ipfs: z
      .strictObject({
        cid: z.string().regex(/^[A-Za-z0-9]{1,128}$/),
        profile: z.literal(IPFS_PROFILE),
      })
      .optional(),
  }),
  inclusion: z
    .strictObject({ batchId: z.string(), leafIndex: safeInt, treeSize: safeInt, path, root: hex32 })
    .optional(),
  anchors: z.array(AnchorSchema),
});
export type ProofBundleV1 = z.infer<typeof ProofBundleV1>;

/** Inclusion in v2: what the check uses, nothing else (a batch id could not be checked). */
export const InclusionV2 = z.strictObject({ leafIndex: safeInt, treeSize: safeInt, path, root: hex32 });

/** One key event of a v2 bundle's origin: the leaf (base64 key event bytes), its inclusion and anchors. */
export const KeyEventItem = z.strictObject({
  leaf: z.string(),
  inclusion: InclusionV2.optional(),
  anchors: z.array(AnchorSchema),
});
export type KeyEventItem = z.infer<typeof KeyEventItem>;

export const ProofBundleV2 = z.strictObject({
  format: z.literal(PROOF_FORMAT_V2),
  record: z.strictObject(RecordFields),
  inclusion: InclusionV2.optional(),
  anchors: z.array(AnchorSchema),
  /** For a v2 (signed) record: the key events linking its signing key to the device. Absent for v1 records. */
  origin: z.strictObject({ keyEvents: z.array(KeyEventItem).max(MAX_BUNDLE_KEY_EVENTS) }).optional(),
});
export type ProofBundleV2 = z.infer<typeof ProofBundleV2>;

/** Either format: what `checkProofBundle` and the offline verifiers accept. */
export const AnyProofBundle = z.discriminatedUnion('format', [ProofBundleV1, ProofBundleV2]);
export type AnyProofBundle = z.infer<typeof AnyProofBundle>;
/** The v1 bundle, under the name it has always had. */
export const ProofBundle = ProofBundleV1;
export type ProofBundle = ProofBundleV1;

export interface KeyEventItemCheck {
  /** `ok` when the leaf is a key event of the record's device. */
  leaf: 'ok' | 'invalid';
  type?: KeyEventType;
  /** Hex key id of the event's subject key. */
  keyId?: string;
  inclusion: 'ok' | 'invalid' | 'pending';
  anchors: AnchorCheck[];
}

export interface Proven {
  /** The header, the stored object when given, and the inclusion proof. */
  integrity: 'proven' | 'not-proven' | 'invalid';
  /** At least one anchor checks: the record existed by `notAfter` (ledger time), on `chainId`. */
  existence: { verdict: 'proven' | 'unpinned' | 'not-proven'; notAfter?: number; chainId?: string };
  origin: OriginJudgement;
  /** A single record says nothing about the records around it: see the completeness document. */
  completeness: { verdict: 'not-covered' };
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
    /** v2 bundles of signed records: one entry per `origin.keyEvents` item, in order. */
    keyEvents?: KeyEventItemCheck[];
  };
  proven: Proven;
}

/** The hot copy: `cid unavailable` says nothing about the record, so only `tampered` changes the status. */
export type IpfsCheck = 'ok' | 'cid unavailable' | 'tampered' | 'not-pinned';

/** What fetching `record.ipfs.cid` gave, as judged by lib/ipfs/verify-cid.ts (its CidCheck fits). */
export interface IpfsVerdict {
  verdict: Exclude<IpfsCheck, 'not-pinned'>;
  code: string;
  message: string;
}

export interface CheckOptions extends AnchorOptions {
  /**
   * The stored envelope: bytes to check against the bundle, null if the store no longer has it, or omitted
   * to check the proof alone.
   */
  envelope?: Uint8Array | null;
  /**
   * The hot copy, when the caller looked: the verdict on the content fetched by the record's CID, null when
   * nothing could be fetched, 'not-pinned' when the record has no CID. A v1 bundle's own `record.ipfs` decides
   * `not-pinned` by itself; a v2 bundle carries no CID (it could not be checked offline), so the caller says.
   * Omitted: `checks.ipfs` stays absent.
   */
  ipfs?: IpfsVerdict | null | 'not-pinned';
  /** Device keys the verifier pinned: origin is `proven` only for a chain that reaches one of them. */
  trustedDeviceKeys?: readonly DeviceKeyPin[];
}

/** The proof of one leaf's inclusion: the leaf hash must lead to the root. */
function inclusionHolds(
  leafHash: Uint8Array,
  inc: { leafIndex: number; treeSize: number; path: readonly string[]; root: string },
): { ok: true } | { ok: false; message: string } {
  const res = verifyInclusion({
    index: inc.leafIndex,
    size: inc.treeSize,
    leafHash,
    proof: inc.path.map((p) => fromHex(p) as Uint8Array),
    root: fromHex(inc.root) as Uint8Array,
  });
  return res.ok ? res : { ok: false, message: `${res.message} (${res.code})` };
}

export function checkProofBundle(bundle: AnyProofBundle, opts: CheckOptions = {}): ProofCheck {
  const v2 = bundle.format === PROOF_FORMAT_V2;
  const rules: AnchorRules = v2 ? 'v2' : 'v1';
  const reasons: SevereReason[] = [];
  const add = (severity: Severity, code: string, message: string) =>
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
  let header: RecordHeader | undefined;
  if (
    !headerBytes ||
    !parsed?.ok ||
    parsed.headerBytes.length !== headerBytes.length ||
    (!v2 && parsed.header.version !== 1)
  ) {
    checks.header = 'invalid';
    add('tampered', 'header-malformed', `record.header is not exactly one ${v2 ? '' : 'v1 '}envelope header`);
  } else {
    recordHash = recordHashOf(headerBytes);
    const h = parsed.header;
    header = h;
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
      toHex(h.prevHash) !== rec.prevHash ||
      (v2 &&
        (rec.envelopeSize !== headerBytes.length + h.ciphertextLength ||
          !isRecordObjectKey(rec.objectKey, h.deviceId, toHex(recordHash))))
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
    const res = inclusionHolds(recordHash, inc);
    if (res.ok) checks.inclusion = 'ok';
    else {
      checks.inclusion = 'invalid';
      add('tampered', 'inclusion-proof-invalid', `inclusion proof fails: ${res.message}`);
    }
  } else {
    checks.inclusion = 'invalid';
  }

  // 4. The root must be on each chain, in a transaction carrying exactly this root and tree size.
  if (inc && bundle.anchors.length === 0)
    add('pending', 'anchor-not-submitted', 'the batch root is not on any chain yet');
  for (const a of bundle.anchors) {
    const v = checkAnchor(
      a,
      {
        ...(inc ? { root: inc.root, treeSize: inc.treeSize } : {}),
        ...(headerBytes ? { recordHeader: headerBytes } : {}),
      },
      opts,
      rules,
    );
    checks.anchors.push(v.check);
    reasons.push(...v.reasons);
  }

  // 5. The hot copy, when the caller fetched it by CID. Unavailable is no finding about the record; content
  // that is intact under its CID and is not the sealed ciphertext is.
  if (opts.ipfs !== undefined) {
    const cid = bundle.format === PROOF_FORMAT ? bundle.record.ipfs?.cid : undefined;
    if (opts.ipfs === 'not-pinned' || (bundle.format === PROOF_FORMAT && !cid)) checks.ipfs = 'not-pinned';
    else if (opts.ipfs === null) checks.ipfs = 'cid unavailable';
    else {
      checks.ipfs = opts.ipfs.verdict;
      if (opts.ipfs.verdict === 'tampered')
        add(
          'tampered',
          'ipfs-content-mismatch',
          `the IPFS copy${cid ? ` ${cid}` : ''} is not the sealed ciphertext: ${opts.ipfs.message} (${opts.ipfs.code})`,
        );
    }
  }

  // 6-7. Origin (v2): the key events, each proven like the record, then the judgement on the signature.
  const recordPositions = inc && checks.inclusion === 'ok' ? positionsOf(checks.anchors, inc) : [];
  let origin: OriginJudgement;
  if (!header) {
    origin = {
      verdict: 'not-proven',
      reasons: [{ code: 'header-malformed', message: 'no header to judge' }],
    };
  } else if (bundle.format === PROOF_FORMAT) {
    origin = judgeOrigin({ deviceId: header.deviceId, digest: new Uint8Array(32), positions: [] }, [], []);
  } else if (!header.signature) {
    if (bundle.origin)
      add('tampered', 'origin-unexpected', 'an unsigned (v1) record has no key events to carry');
    origin = judgeOrigin({ deviceId: header.deviceId, digest: new Uint8Array(32), positions: [] }, [], []);
  } else if (!bundle.origin) {
    origin = {
      verdict: 'not-proven',
      reasons: [{ code: 'key-evidence-absent', message: 'the bundle carries no key events' }],
      keyId: toHex(header.signature.keyId),
    };
  } else {
    const placed = checkKeyEventItems(bundle.origin.keyEvents, header.deviceId, opts, (r) => reasons.push(r));
    checks.keyEvents = placed.checks;
    origin = judgeOrigin(
      {
        deviceId: header.deviceId,
        signature: header.signature,
        digest: recordSigningDigest(headerBytes as Uint8Array),
        positions: recordPositions,
      },
      placed.events,
      opts.trustedDeviceKeys ?? [],
    );
    if (origin.verdict === 'invalid')
      for (const r of origin.reasons) add('tampered', r.code, `origin: ${r.message}`);
  }

  // 8. What is proven, separately.
  const integrity: Proven['integrity'] =
    checks.header === 'invalid' || checks.inclusion === 'invalid' || checks.object === 'mismatch'
      ? 'invalid'
      : checks.inclusion === 'pending' || checks.object === 'missing'
        ? 'not-proven'
        : 'proven';
  const counting = checks.anchors.filter(
    (c) =>
      c.status === 'ok' && (c.method === 'inline' || checks.inclusion === 'ok') && checks.header === 'ok',
  );
  const trusted = counting.filter((c) => c.trust !== 'unpinned');
  const best = (cs: AnchorCheck[]) =>
    cs.reduce<AnchorCheck | undefined>(
      (m, c) =>
        m === undefined || (c.time !== undefined && (m.time === undefined || c.time < m.time)) ? c : m,
      undefined,
    );
  const pick = best(trusted) ?? best(counting);
  const existence: Proven['existence'] = pick
    ? {
        verdict: trusted.length > 0 ? 'proven' : 'unpinned',
        chainId: pick.chainId,
        ...(pick.time === undefined ? {} : { notAfter: pick.time }),
      }
    : { verdict: 'not-proven' };

  return {
    status: statusOf(reasons),
    reasons: reasons.map(({ code, message }) => ({ code, message })),
    checks,
    proven: { integrity, existence, origin, completeness: { verdict: 'not-covered' } },
  };
}

/**
 * Checks each key event item like a record (leaf, inclusion, anchors) and places it in the log. Every item is
 * checked, whether or not the judgement needs it, so no part of a bundle goes unverified.
 */
export function checkKeyEventItems(
  items: readonly KeyEventItem[],
  deviceId: string,
  opts: AnchorOptions,
  report: (r: SevereReason) => void,
): { checks: KeyEventItemCheck[]; events: PlacedKeyEvent[] } {
  const checks: KeyEventItemCheck[] = [];
  const events: PlacedKeyEvent[] = [];
  items.forEach((item, i) => {
    const label = `key event ${i}`;
    const c: KeyEventItemCheck = { leaf: 'ok', inclusion: 'pending', anchors: [] };
    checks.push(c);
    const bytes = fromBase64(item.leaf);
    const leaf = bytes ? classifyLeaf(bytes) : undefined;
    if (!leaf?.ok || leaf.type !== 'key-event' || leaf.deviceId !== deviceId) {
      c.leaf = 'invalid';
      report({
        severity: 'tampered',
        code: 'key-event-malformed',
        message: `${label} is not a key event of device ${deviceId}`,
      });
    } else {
      c.type = leaf.event.type;
      c.keyId = toHex(leaf.keyId);
    }
    const inc = item.inclusion;
    if (!inc) {
      report({
        severity: 'pending',
        code: 'key-event-not-anchored',
        message: `${label} is not in a batch yet`,
      });
    } else if (bytes && c.leaf === 'ok') {
      const res = inclusionHolds(recordHashOf(bytes), inc);
      c.inclusion = res.ok ? 'ok' : 'invalid';
      if (!res.ok)
        report({
          severity: 'tampered',
          code: 'key-event-inclusion-invalid',
          message: `${label}: inclusion proof fails: ${res.message}`,
        });
    } else {
      c.inclusion = 'invalid';
    }
    if (inc && item.anchors.length === 0)
      report({
        severity: 'pending',
        code: 'anchor-not-submitted',
        message: `${label}: its batch root is not on any chain yet`,
      });
    for (const a of item.anchors) {
      const v = checkAnchor(
        a,
        { ...(inc ? { root: inc.root, treeSize: inc.treeSize } : {}), label },
        opts,
        'v2',
      );
      c.anchors.push(v.check);
      for (const r of v.reasons) report(r);
    }
    if (leaf?.ok && leaf.type === 'key-event' && c.leaf === 'ok') {
      events.push({
        event: leaf.event,
        keyId: leaf.keyId,
        positions: inc && c.inclusion === 'ok' ? positionsOf(c.anchors, inc) : [],
      });
    }
  });
  return { checks, events };
}

/**
 * Where ingest may keep a record: alone under its record hash, or in the object of the record pack it came in
 * (`records/<deviceId>/packs/<64 hex>`, docs/envelope.md "Record pack").
 */
function isRecordObjectKey(key: string, deviceId: string, recordHashHex: string): boolean {
  const prefix = `records/${deviceId}/`;
  if (!key.startsWith(prefix)) return false;
  const rest = key.slice(prefix.length);
  return rest === recordHashHex || /^packs\/[0-9a-f]{64}$/.test(rest);
}
