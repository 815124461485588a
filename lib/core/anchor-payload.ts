/**
 * The bytes an anchor transaction carries, whatever the chain:
 *
 *   "IOTA" | version u8 (1) | root [32] | treeSize u64
 *
 * 45 bytes. A verifier finds the transaction by the id in the proof bundle, reads these bytes from it (where
 * each chain keeps them is in docs/proof-bundle.md) and compares the root and size with the bundle's.
 */
import { bytesEqual, concatBytes } from './bytes.js';
import { readU64be, u64be } from './u64.js';

export const ANCHOR_MAGIC = new Uint8Array([0x49, 0x4f, 0x54, 0x41]); // "IOTA"
export const ANCHOR_PAYLOAD_BYTES = 45;

export interface AnchorPayload {
  root: Uint8Array;
  treeSize: number;
}

export function encodeAnchorPayload(p: AnchorPayload): Uint8Array {
  // Programming errors throw RangeError in this file (the root comes from a built tree).
  if (p.root.length !== 32) throw new RangeError('root must be 32 bytes');
  return concatBytes(ANCHOR_MAGIC, new Uint8Array([1]), p.root, u64be(p.treeSize));
}

export function decodeAnchorPayload(data: Uint8Array): AnchorPayload | undefined {
  if (
    data.length !== ANCHOR_PAYLOAD_BYTES ||
    !bytesEqual(data.subarray(0, 4), ANCHOR_MAGIC) ||
    data[4] !== 1
  ) {
    return undefined;
  }
  const treeSize = readU64be(new DataView(data.buffer, data.byteOffset, data.byteLength), 37);
  return treeSize === undefined ? undefined : { root: data.slice(5, 37), treeSize };
}
