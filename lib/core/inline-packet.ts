/**
 * The inline packet: small envelopes on chain whole (the seed's "method 2"), encoded in a transaction's data
 * instead of (in addition to) the batch root. docs/chains.md §6 and docs/proof-bundle.md §4.5 describe it:
 *
 *   "IOTI" | version u8 (1) | count u8 (1..255) | count × ( length u32 | envelope )
 *
 * It is told apart from the 45-byte anchor payload ("IOTA" | 1 | root | size) by its magic, not its length:
 * a verifier reading a transaction dispatches on the first four bytes (classifyChainData). Pure, and in
 * lib/core because checkProofBundle reads it; the decoder reads chain data, which anyone can write, so it
 * checks every length before slicing and parses each envelope's structure, and never throws.
 */
import { ANCHOR_MAGIC, type AnchorPayload, decodeAnchorPayload } from './anchor-payload.js';
import { bytesEqual, concatBytes } from './bytes.js';
import { parseEnvelope } from './envelope.js';

export const INLINE_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x49]); // "IOTI"
export const INLINE_VERSION = 1;
export const INLINE_MAX_ENVELOPES = 255;
const HEADER_BYTES = 6;
const LENGTH_BYTES = 4;

/** Bytes the container adds to `n` envelopes. */
export function inlineOverhead(n: number): number {
  return HEADER_BYTES + LENGTH_BYTES * n;
}

export function encodeInlinePacket(envelopes: readonly Uint8Array[]): Uint8Array {
  // Programming errors throw RangeError in this file (the anchorer passes envelopes it stored; decoding returns a result value).
  if (envelopes.length < 1 || envelopes.length > INLINE_MAX_ENVELOPES) {
    throw new RangeError(`1 to ${INLINE_MAX_ENVELOPES} envelopes per transaction`);
  }
  const parts: Uint8Array[] = [INLINE_MAGIC, new Uint8Array([INLINE_VERSION, envelopes.length])];
  for (const e of envelopes) {
    if (!parseEnvelope(e).ok) throw new RangeError('not a well-formed envelope');
    const len = new Uint8Array(LENGTH_BYTES);
    new DataView(len.buffer).setUint32(0, e.length);
    parts.push(len, e);
  }
  return concatBytes(...parts);
}

export type InlineErrorCode =
  | 'not-inline'
  | 'unsupported-version'
  | 'truncated'
  | 'trailing-bytes'
  | 'bad-envelope';

export type InlineDecoded =
  | { ok: true; envelopes: Uint8Array[] }
  | { ok: false; code: InlineErrorCode; message: string };

export function decodeInlinePacket(data: Uint8Array): InlineDecoded {
  if (data.length < HEADER_BYTES || !bytesEqual(data.subarray(0, 4), INLINE_MAGIC)) {
    return { ok: false, code: 'not-inline', message: 'does not start with "IOTI"' };
  }
  if (data[4] !== INLINE_VERSION) {
    return { ok: false, code: 'unsupported-version', message: `inline packet version ${data[4]}` };
  }
  const count = data[5] as number;
  if (count === 0) return { ok: false, code: 'truncated', message: 'inline packet holds no envelope' };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const envelopes: Uint8Array[] = [];
  let off = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (off + LENGTH_BYTES > data.length) {
      return { ok: false, code: 'truncated', message: `envelope ${i} has no length` };
    }
    const len = view.getUint32(off);
    off += LENGTH_BYTES;
    if (len > data.length - off) {
      return { ok: false, code: 'truncated', message: `envelope ${i} runs past the end` };
    }
    const env = data.slice(off, off + len);
    const parsed = parseEnvelope(env);
    if (!parsed.ok) {
      return {
        ok: false,
        code: 'bad-envelope',
        message: `envelope ${i}: ${parsed.message} (${parsed.code})`,
      };
    }
    envelopes.push(env);
    off += len;
  }
  if (off !== data.length) {
    return {
      ok: false,
      code: 'trailing-bytes',
      message: `${data.length - off} bytes after the last envelope`,
    };
  }
  return { ok: true, envelopes };
}

export type ChainData =
  | { kind: 'anchor'; anchor: AnchorPayload }
  | { kind: 'inline'; envelopes: Uint8Array[] }
  | { kind: 'unknown'; reason: string };

/** What a transaction's data is, by its magic: what verify dispatches on. */
export function classifyChainData(data: Uint8Array): ChainData {
  if (data.length >= 4 && bytesEqual(data.subarray(0, 4), ANCHOR_MAGIC)) {
    const anchor = decodeAnchorPayload(data);
    return anchor ? { kind: 'anchor', anchor } : { kind: 'unknown', reason: 'malformed anchor payload' };
  }
  if (data.length >= 4 && bytesEqual(data.subarray(0, 4), INLINE_MAGIC)) {
    const d = decodeInlinePacket(data);
    return d.ok ? { kind: 'inline', envelopes: d.envelopes } : { kind: 'unknown', reason: d.message };
  }
  return { kind: 'unknown', reason: 'neither an anchor payload nor an inline packet' };
}
