/**
 * Leaves of an anchored batch tree. Every leaf is `leafHash = SHA-256(0x00 | leafData)` (RFC 6962), and
 * leafData starts with a 4-byte ASCII magic naming its type, which is the domain separation between them:
 *
 *   "IOTN"  a record: exactly one envelope header, v1 or v2 (lib/core/envelope.ts)
 *   "IOTK"  a key event: register, rotate or revoke (lib/core/key-event.ts)
 *   "IOTH"  a device head (lib/core/device-head.ts)
 *
 * A leaf is always the whole structure with nothing after it, so one leaf hash has one reading.
 */
import { bytesEqual } from './bytes.js';
import { type DeviceHead, HEAD_MAGIC, parseHead } from './device-head.js';
import { ENVELOPE_MAGIC, parseHeader, type RecordHeader } from './envelope.js';
import { KEY_EVENT_MAGIC, type KeyEvent, parseKeyEvent } from './key-event.js';
import { hashLeaf } from './merkle.js';

export type LeafType = 'record' | 'key-event' | 'head';

export type ClassifiedLeaf =
  | { ok: true; type: 'record'; deviceId: string; header: RecordHeader; bytes: Uint8Array }
  | { ok: true; type: 'key-event'; deviceId: string; event: KeyEvent; keyId: Uint8Array; bytes: Uint8Array }
  | { ok: true; type: 'head'; deviceId: string; head: DeviceHead; bytes: Uint8Array };

export type LeafFailure = {
  ok: false;
  /** 'unknown-leaf-type' for an unknown magic; otherwise the parser's own code, prefixed with the type. */
  code: string;
  message: string;
};

/** What a leaf's data is, by its magic, fully parsed. Never throws. */
export function classifyLeaf(bytes: Uint8Array): ClassifiedLeaf | LeafFailure {
  const magic = bytes.subarray(0, 4);
  if (bytesEqual(magic, ENVELOPE_MAGIC)) {
    const p = parseHeader(bytes);
    if (!p.ok) return { ok: false, code: `record-${p.code}`, message: p.message };
    if (p.headerBytes.length !== bytes.length)
      return { ok: false, code: 'record-length-mismatch', message: 'bytes follow the record header' };
    return { ok: true, type: 'record', deviceId: p.header.deviceId, header: p.header, bytes: p.headerBytes };
  }
  if (bytesEqual(magic, KEY_EVENT_MAGIC)) {
    const p = parseKeyEvent(bytes);
    if (!p.ok) return { ok: false, code: `key-event-${p.code}`, message: p.message };
    return {
      ok: true,
      type: 'key-event',
      deviceId: p.event.deviceId,
      event: p.event,
      keyId: p.keyId,
      bytes: p.bytes,
    };
  }
  if (bytesEqual(magic, HEAD_MAGIC)) {
    const p = parseHead(bytes);
    if (!p.ok) return { ok: false, code: `head-${p.code}`, message: p.message };
    return { ok: true, type: 'head', deviceId: p.head.deviceId, head: p.head, bytes: p.bytes };
  }
  return { ok: false, code: 'unknown-leaf-type', message: 'leaf data starts with no known magic' };
}

/** The Merkle leaf hash of leaf data of any type: SHA-256(0x00 | bytes). */
export function leafHashOf(bytes: Uint8Array): Uint8Array {
  return hashLeaf(bytes);
}
