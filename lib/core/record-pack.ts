/**
 * The record pack: several complete record envelopes of one device in one MQTT message, so that a device pays
 * for one publish, one rule, one ingest invocation and one ack for many records, and the backend for one object
 * write. docs/envelope.md ("Record pack") is the normative description; this file implements it.
 *
 *   pack  = magic "IOTP" | version u8 (1) | count u16 | entry × count
 *   entry = length u32 | envelope (length bytes, a whole v1 or v2 envelope)
 *
 * Integers are big-endian. The pack adds no hash or signature of its own: every envelope inside carries its
 * own, and ingest checks each as if it had come alone. What the pack itself can get wrong (its framing, an
 * envelope of another device, a seq twice) refuses the whole pack, before anything is stored.
 */
import { bytesEqual, concatBytes } from './bytes.js';
import { parseHeader } from './envelope.js';

export const PACK_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x50]); // "IOTP"
export const PACK_VERSION = 1;
/** magic, version, count. */
export const PACK_HEADER_BYTES = 7;
export const PACK_ENTRY_PREFIX_BYTES = 4;
/** u16 count. */
export const PACK_MAX_ENTRIES = 0xffff;

export type PackErrorCode =
  | 'pack-truncated'
  | 'pack-bad-magic'
  | 'pack-unsupported-version'
  | 'pack-empty'
  | 'pack-count-mismatch'
  | 'pack-trailing-bytes'
  | 'pack-envelope-malformed'
  | 'pack-device-mismatch'
  | 'pack-duplicate-seq';

export type PackFailure = { ok: false; code: PackErrorCode; message: string };

/** One envelope of a pack, and where it lies in the pack's bytes. */
export interface PackEntry {
  /** Offset of the envelope (after its length prefix) in the pack. */
  offset: number;
  bytes: Uint8Array;
}

export interface ParsedPack {
  ok: true;
  entries: PackEntry[];
}

const failure = (code: PackErrorCode, message: string): PackFailure => ({ ok: false, code, message });

/** Encodes envelopes, in the order given, as one pack. Throws on 0 or more than 65535 envelopes. */
export function encodeRecordPack(envelopes: readonly Uint8Array[]): Uint8Array {
  // Programming errors throw RangeError in this file (the packer passes 1..PACK_MAX_ENTRIES envelopes it built; decoding a pack returns a result value).
  if (envelopes.length === 0 || envelopes.length > PACK_MAX_ENTRIES)
    throw new RangeError(`a pack holds 1 to ${PACK_MAX_ENTRIES} envelopes, not ${envelopes.length}`);
  const head = new Uint8Array(PACK_HEADER_BYTES);
  head.set(PACK_MAGIC, 0);
  head[4] = PACK_VERSION;
  new DataView(head.buffer).setUint16(5, envelopes.length);
  const parts: Uint8Array[] = [head];
  for (const e of envelopes) {
    const len = new Uint8Array(PACK_ENTRY_PREFIX_BYTES);
    new DataView(len.buffer).setUint32(0, e.length);
    parts.push(len, e);
  }
  return concatBytes(...parts);
}

/** The size `encodeRecordPack` gives for envelopes of these sizes. */
export function recordPackSize(envelopeSizes: readonly number[]): number {
  return envelopeSizes.reduce((n, s) => n + PACK_ENTRY_PREFIX_BYTES + s, PACK_HEADER_BYTES);
}

/**
 * Splits a pack into its envelopes: framing only (docs/envelope.md, checks P1-P7). The envelopes are views
 * into `bytes`, not copies.
 */
export function parseRecordPack(bytes: Uint8Array): ParsedPack | PackFailure {
  if (bytes.length < PACK_HEADER_BYTES)
    return failure('pack-truncated', 'shorter than the 7-byte pack header');
  if (!bytesEqual(bytes.subarray(0, 4), PACK_MAGIC))
    return failure('pack-bad-magic', 'does not start with "IOTP"');
  if (bytes[4] !== PACK_VERSION)
    return failure('pack-unsupported-version', `pack version ${bytes[4]} is not supported`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(5);
  if (count === 0) return failure('pack-empty', 'the pack holds no envelope');
  const entries: PackEntry[] = [];
  let off = PACK_HEADER_BYTES;
  while (entries.length < count) {
    if (off === bytes.length)
      return failure('pack-count-mismatch', `the pack says ${count} envelopes and holds ${entries.length}`);
    if (off + PACK_ENTRY_PREFIX_BYTES > bytes.length)
      return failure('pack-truncated', `envelope ${entries.length} has no whole length prefix`);
    const length = view.getUint32(off);
    const start = off + PACK_ENTRY_PREFIX_BYTES;
    if (start + length > bytes.length)
      return failure(
        'pack-truncated',
        `envelope ${entries.length} runs ${start + length - bytes.length} bytes past the end`,
      );
    entries.push({ offset: start, bytes: bytes.subarray(start, start + length) });
    off = start + length;
  }
  if (off !== bytes.length)
    return failure(
      'pack-trailing-bytes',
      `${bytes.length - off} bytes follow the last of ${count} envelopes`,
    );
  return { ok: true, entries };
}

/**
 * What the pack claims about its envelopes, checked before any of them is looked at on its own (checks P8-P10):
 * each starts with a header that parses, all are of `deviceId` (the topic's device), and no seq repeats. A
 * header is enough here; the rest of each envelope is checked by ingest, envelope by envelope.
 */
export function checkPackEnvelopes(
  pack: ParsedPack,
  deviceId: string,
): { ok: true; seqs: number[] } | PackFailure {
  const seqs: number[] = [];
  const seen = new Set<number>();
  for (const [i, e] of pack.entries.entries()) {
    const h = parseHeader(e.bytes);
    if (!h.ok) return failure('pack-envelope-malformed', `envelope ${i}: ${h.code}: ${h.message}`);
    if (h.header.deviceId !== deviceId)
      return failure(
        'pack-device-mismatch',
        `envelope ${i} (seq ${h.header.seq}) is for device ${h.header.deviceId}, published by ${deviceId}`,
      );
    if (seen.has(h.header.seq))
      return failure('pack-duplicate-seq', `seq ${h.header.seq} is in the pack more than once`);
    seen.add(h.header.seq);
    seqs.push(h.header.seq);
  }
  return { ok: true, seqs };
}
