/**
 * Byte helpers shared by the backend and the device stub. Everything that crosses a boundary as text is
 * lowercase hex (hashes) or standard base64 (opaque blobs); the decoders are strict because their inputs
 * come from devices and proof bundles, which we do not trust.
 */

const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict lowercase hex; returns undefined instead of silently dropping bad characters like Buffer does. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (!HEX_RE.test(hex)) return undefined;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Strict, padded, canonical standard base64. Canonical (RFC 4648 §3.5): the unused low bits of the last
 * character are zero, so each byte string has exactly one encoding and a changed character always changes
 * the bytes (Buffer alone would decode "QR==" and "QQ==" alike).
 */
export function fromBase64(b64: string): Uint8Array | undefined {
  if (!B64_RE.test(b64)) return undefined;
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  return toBase64(bytes) === b64 ? bytes : undefined;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
