/**
 * Text encodings of bytes for the server: Node's Buffer, which does them natively. bytes.ts validates every
 * input before it gets here, so these functions only convert. `byte-codec.browser.ts` is the same in plain JS
 * for the browser verifier (the web build swaps it in, as for crypto-primitives.ts), where there is no Buffer.
 */

const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Lowercase hex. */
export function encodeHex(bytes: Uint8Array): string {
  return view(bytes).toString('hex');
}

/** `hex` must already be checked as lowercase hex of whole bytes. */
export function decodeHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Standard, padded base64. */
export function encodeBase64(bytes: Uint8Array): string {
  return view(bytes).toString('base64');
}

/** `b64` must already be checked as standard padded base64. */
export function decodeBase64(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

/** One character per byte (ISO 8859-1, every byte value kept). */
export function decodeLatin1(bytes: Uint8Array): string {
  return view(bytes).toString('latin1');
}
