/**
 * Origin: was a signed leaf (a v2 record or a head) signed by the device's own key? docs/device-keys.md §5-§6
 * is the normative description of this judgement; proof bundles and completeness documents both use it.
 *
 * The signing key is linked to the device by the device-key log: a register event (the operator's word) and
 * any number of rotations, each signed by the key before it. Each link must be anchored before the next one
 * and the last before the signed leaf (log order, `precedes`), and no key may have been revoked or rotated
 * away before it was used. The chain proves origin only if it reaches a key the verifier pinned (obtained
 * out of band, from the device or its maker): without one, the first registration is only the operator's
 * word, and a key the operator registered itself is indistinguishable from the device's (`unpinned`).
 */
import { toHex } from './bytes.js';
import type { SigAlg } from './device-signature.js';
import { verifyDigest } from './device-signature.js';
import { type KeyEvent, verifyKeyEvent } from './key-event.js';

/** Where a leaf sits in the log of one chain: its batch's anchor height there, and its index in the batch. */
export interface LogPosition {
  chainId: string;
  height: number;
  /** Batch root, hex: two leaves under one root are in one batch. */
  root: string;
  leafIndex: number;
}

/**
 * True iff, on some chain where both have a checked anchor, `a` is at a lower height than `b`, or both are in
 * the same batch and `a` has the lower leaf index. Equal heights in different batches are not comparable.
 */
export function precedes(a: readonly LogPosition[], b: readonly LogPosition[]): boolean {
  return a.some((pa) =>
    b.some(
      (pb) =>
        pa.chainId === pb.chainId &&
        (pa.root === pb.root ? pa.leafIndex < pb.leafIndex : pa.height < pb.height),
    ),
  );
}

/** A key event as the proof shows it: parsed, and placed in the log by its checked anchors (maybe none). */
export interface PlacedKeyEvent {
  event: KeyEvent;
  /** Key id of the event's subject key. */
  keyId: Uint8Array;
  positions: readonly LogPosition[];
}

/** A device key the verifier trusts: for one device, or (no deviceId) for whichever device names it. */
export interface DeviceKeyPin {
  deviceId?: string;
  /** Hex key id (docs/device-keys.md §1). */
  keyId: string;
}

export type OriginVerdict = 'proven' | 'unpinned' | 'not-proven' | 'invalid';

export interface OriginJudgement {
  verdict: OriginVerdict;
  reasons: { code: string; message: string }[];
  /** The signing key (hex), when the leaf is signed. */
  keyId?: string;
  /** The pinned key the chain reached (hex), when proven. */
  pinnedKeyId?: string;
}

export interface SignedLeaf {
  deviceId: string;
  /** Absent for an unsigned (v1) record. */
  signature?: { alg: SigAlg; keyId: Uint8Array; sig: Uint8Array };
  /** The digest the signature is over. */
  digest: Uint8Array;
  positions: readonly LogPosition[];
}

const INVALID = new Set([
  'algorithm-mismatch',
  'signature-invalid',
  'rotation-signature-invalid',
  'key-revoked',
]);

/** Judges the origin of one signed leaf against the key events the proof carries and the verifier's pins. */
export function judgeOrigin(
  leaf: SignedLeaf,
  events: readonly PlacedKeyEvent[],
  pins: readonly DeviceKeyPin[],
): OriginJudgement {
  const reasons: { code: string; message: string }[] = [];
  const add = (code: string, message: string) => reasons.push({ code, message });
  const sig = leaf.signature;
  if (!sig) {
    return {
      verdict: 'not-proven',
      reasons: [{ code: 'unsigned-record', message: 'a version 1 record carries no device signature' }],
    };
  }
  const keyId = toHex(sig.keyId);
  const pinned = new Set(pins.filter((p) => !p.deviceId || p.deviceId === leaf.deviceId).map((p) => p.keyId));
  const introducing = (k: string) =>
    events.find(
      (e) => e.event.type !== 'revoke' && toHex(e.keyId) === k && e.event.deviceId === leaf.deviceId,
    );
  const retiring = (k: string) =>
    events.filter(
      (e) =>
        e.event.deviceId === leaf.deviceId &&
        ((e.event.type === 'revoke' && toHex(e.keyId) === k) ||
          (e.event.type === 'rotate' && toHex(e.event.oldKeyId) === k)),
    );
  /** No event that retires `k` may come before `use` (other than `except`, the rotation `use` itself is). */
  const checkNotRetired = (k: string, use: readonly LogPosition[], except?: PlacedKeyEvent) => {
    for (const r of retiring(k)) {
      if (r === except) continue;
      if (r.positions.length === 0)
        add('key-evidence-pending', `an event that ${r.event.type}s key ${k} is not anchored yet`);
      // Not provably after the use: conservatively, before it.
      else if (!precedes(use, r.positions))
        add(
          'key-revoked',
          `key ${k} was ${r.event.type === 'revoke' ? 'revoked' : 'rotated away'} before it signed`,
        );
    }
  };

  let link = introducing(keyId);
  if (!link) {
    add('key-evidence-absent', `no key event in the proof introduces the signing key ${keyId}`);
    return { verdict: 'not-proven', reasons, keyId };
  }
  if (link.event.alg !== sig.alg) {
    add('algorithm-mismatch', `the leaf names ${sig.alg}, key ${keyId} is ${link.event.alg}`);
  } else if (!verifyDigest(sig.alg, link.event.publicKey, leaf.digest, sig.sig)) {
    add('signature-invalid', `the device signature does not verify with key ${keyId}`);
  }
  checkNotRetired(keyId, leaf.positions);

  // Walk back from the signing key towards a pinned key or a registration.
  let later = leaf.positions;
  let reached: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const k = toHex(link.keyId);
    if (pinned.has(k)) {
      reached = k;
      break;
    }
    if (seen.has(k)) {
      add('key-chain-incomplete', `the key chain loops back to key ${k}`);
      break;
    }
    seen.add(k);
    if (link.positions.length === 0) {
      add('key-evidence-pending', `the ${link.event.type} event of key ${k} is not anchored yet`);
      break;
    }
    if (!precedes(link.positions, later))
      add(
        'key-not-registered-before',
        `the ${link.event.type} event of key ${k} is not in the log before its use`,
      );
    const ev = link.event;
    if (ev.type !== 'rotate') break; // a registration: the root of the chain
    const oldId = toHex(ev.oldKeyId);
    const old = introducing(oldId);
    if (!old) {
      add('key-chain-incomplete', `no key event in the proof introduces key ${oldId}, which rotated to ${k}`);
      break;
    }
    const rot = verifyKeyEvent(ev, old.event);
    if (!rot.ok) add('rotation-signature-invalid', `rotation to key ${k}: ${rot.message}`);
    checkNotRetired(oldId, link.positions, link);
    later = link.positions;
    link = old;
  }
  if (reasons.some((r) => INVALID.has(r.code))) return { verdict: 'invalid', reasons, keyId };
  if (reasons.length > 0) return { verdict: 'not-proven', reasons, keyId };
  if (reached) return { verdict: 'proven', reasons, keyId, pinnedKeyId: reached };
  if (pinned.size > 0) {
    add('key-chain-unpinned', 'the key chain does not reach any device key the verifier pinned');
    return { verdict: 'not-proven', reasons, keyId };
  }
  add(
    'device-key-unpinned',
    'the key chain starts at a registration, which is the operator’s word: pin a device key to prove origin',
  );
  return { verdict: 'unpinned', reasons, keyId };
}
