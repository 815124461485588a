/**
 * Byte helpers shared by the backend and the device stub. Everything that crosses a boundary as text is
 * lowercase hex (hashes) or standard base64 (opaque blobs); the decoders are strict because their inputs
 * come from devices and proof bundles, which we do not trust.
 */

/**
 * The format checks are plain loops, not regular expressions: V8 runs a pattern such as
 * `^(?:[A-Za-z0-9+/]{4})*(…)?$` recursively and overflows its stack on a few megabytes of input (a 5 MB
 * `masterKey` made the API answer 500). A loop is linear in time and constant in stack for any length.
 */
const isLowerHexCode = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
const isBase64Code = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || // A-Z
  (c >= 0x61 && c <= 0x7a) || // a-z
  (c >= 0x30 && c <= 0x39) || // 0-9
  c === 0x2b || // +
  c === 0x2f; // /

/** Lowercase hex of whole bytes (an even number of [0-9a-f]); the empty string is zero bytes. */
export function isHex(s: string): boolean {
  if (s.length % 2 !== 0) return false;
  for (let i = 0; i < s.length; i++) if (!isLowerHexCode(s.charCodeAt(i))) return false;
  return true;
}

/** Standard base64 with its padding: groups of 4 of [A-Za-z0-9+/], the last ending in at most two '='. */
export function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  for (let i = 0; i < s.length - pad; i++) if (!isBase64Code(s.charCodeAt(i))) return false;
  return true;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict lowercase hex; returns undefined instead of silently dropping bad characters like Buffer does. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (!isHex(hex)) return undefined;
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
  if (!isBase64(b64)) return undefined;
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
