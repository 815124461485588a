/**
 * BigBang Core's transaction data field (vchData), as the node validates it for a token transaction to a
 * pubkey address (core.cpp ValidateTransaction: at least 21 bytes, and a description that is valid base64):
 *
 *   uuid [16] | timestamp u32 | descLen u8 | description (descLen ASCII bytes of base64) | payload
 *
 * The node checks only the length and the description; the uuid and timestamp are ours to fill. We write the
 * timestamp little-endian, like every integer in BigBang's own serialisation. The payload is the 45-byte
 * anchor payload (lib/core/anchor-payload.ts) or an inline packet (lib/anchor/inline-packet.ts).
 *
 * Pure: no I/O. The decoder reads bytes a node returned, so it checks every length before slicing.
 */
import { createHash } from 'node:crypto';
import { concatBytes } from '../../core/bytes.js';

export const VCHDATA_UUID_BYTES = 16;
/** uuid + timestamp + description length: the node refuses non-empty data shorter than this. */
export const VCHDATA_MIN_BYTES = 21;
export const VCHDATA_MAX_DESCRIPTION_BYTES = 255;

export interface VchData {
  uuid: Uint8Array;
  /** Seconds since the Unix epoch, u32. */
  timestamp: number;
  /** The description as text (UTF-8 inside the base64). */
  description: string;
  payload: Uint8Array;
}

export type VchDataErrorCode = 'too-short' | 'description-overflow' | 'description-not-base64';

export type VchDataDecoded =
  | { ok: true; value: VchData }
  | { ok: false; code: VchDataErrorCode; message: string };

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function encodeVchData(v: VchData): Uint8Array {
  // Programming errors throw RangeError in this file (the adapter builds the vchData it encodes).
  if (v.uuid.length !== VCHDATA_UUID_BYTES) throw new RangeError('uuid must be 16 bytes');
  if (!Number.isInteger(v.timestamp) || v.timestamp < 0 || v.timestamp > 0xffffffff) {
    throw new RangeError('timestamp must be a u32 count of seconds');
  }
  const desc = v.description === '' ? '' : Buffer.from(v.description, 'utf8').toString('base64');
  if (desc.length > VCHDATA_MAX_DESCRIPTION_BYTES) {
    throw new RangeError(`description is ${desc.length} bytes of base64; at most 255 fit`);
  }
  const fixed = new Uint8Array(5);
  const view = new DataView(fixed.buffer);
  view.setUint32(0, v.timestamp, true);
  fixed[4] = desc.length;
  return concatBytes(v.uuid, fixed, new Uint8Array(Buffer.from(desc, 'latin1')), v.payload);
}

export function decodeVchData(bytes: Uint8Array): VchDataDecoded {
  if (bytes.length < VCHDATA_MIN_BYTES) {
    return {
      ok: false,
      code: 'too-short',
      message: `vchData is ${bytes.length} bytes; at least 21 expected`,
    };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const descLen = bytes[20] as number;
  const end = VCHDATA_MIN_BYTES + descLen;
  if (end > bytes.length) {
    return { ok: false, code: 'description-overflow', message: 'description runs past the end of vchData' };
  }
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset + VCHDATA_MIN_BYTES, descLen).toString('latin1');
  if (!B64_RE.test(b64)) {
    return { ok: false, code: 'description-not-base64', message: 'description is not base64' };
  }
  return {
    ok: true,
    value: {
      uuid: bytes.slice(0, VCHDATA_UUID_BYTES),
      timestamp: view.getUint32(VCHDATA_UUID_BYTES, true),
      description: Buffer.from(b64, 'base64').toString('utf8'),
      payload: bytes.slice(end),
    },
  };
}

/** Bytes vchData adds around a payload for a given description: what the fee and size limits must cover. */
export function vchDataOverhead(description: string): number {
  const desc = description === '' ? 0 : Buffer.from(description, 'utf8').toString('base64').length;
  return VCHDATA_MIN_BYTES + desc;
}

/**
 * A name-based UUID (RFC 9562 version 8, SHA-256 of a domain tag and the key). The same dedupKey always gives
 * the same uuid, so a retried anchor of one batch is recognisable on chain as the same batch.
 */
export function uuidFromKey(key: string): Uint8Array {
  const h = createHash('sha256').update('iot-notary/bigbang-uuid/v1\0').update(key, 'utf8').digest();
  const u = new Uint8Array(h.subarray(0, 16));
  u[6] = ((u[6] as number) & 0x0f) | 0x80;
  u[8] = ((u[8] as number) & 0x3f) | 0x80;
  return u;
}

export function formatUuid(u: Uint8Array): string {
  const h = Buffer.from(u).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
