import { expect } from 'vitest';
import { toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';

/**
 * Asserts `actual` is a Uint8Array holding exactly `expected`. Large values are compared by length and
 * SHA-256 so a failure prints two short strings, not megabytes of hex.
 */
export function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  const a = actual as Uint8Array;
  expect(a.length).toBe(expected.length);
  if (expected.length <= 256) expect(toHex(a)).toBe(toHex(expected));
  else expect(toHex(sha256(a))).toBe(toHex(sha256(expected)));
}

/** Deterministic, non-repeating bytes (so a shifted or truncated copy never compares equal by accident). */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** True if `needle` occurs as a contiguous run inside `haystack`. */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) !== -1;
}

/** A copy with one bit of byte `index` flipped. */
export function flipByte(bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice();
  out[index] = (out[index] as number) ^ 0x01;
  return out;
}
