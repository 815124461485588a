/**
 * How a batch's Merkle tree is stored: one object holding every level, so an inclusion path is a handful of
 * 32-byte range reads and no proof ever needs the whole tree in memory.
 *
 *   "IOTNTREE" | version u8 (1) | size u64 | level 0 (size*32 bytes) | level 1 | ... | root level (32 bytes)
 *
 * Level k holds ceil(size / 2^k) hashes (see lib/core/merkle.ts for why this equals the RFC 6962 tree).
 */
import { concatBytes, utf8 } from '../core/bytes.js';
import type { MerkleTree } from '../core/merkle.js';
import { u64be } from '../core/u64.js';
import type { ObjectStore } from '../ports.js';
import { StorageError } from '../storage-error.js';

const MAGIC = utf8('IOTNTREE');
const HEADER_BYTES = MAGIC.length + 1 + 8;

export function encodeTreeObject(tree: MerkleTree): Uint8Array {
  return concatBytes(MAGIC, new Uint8Array([1]), u64be(tree.size), ...tree.levels);
}

/** Byte offset of node `index` at `level` in a tree object of `size` leaves. */
export function nodeOffset(size: number, level: number, index: number): number {
  let off = HEADER_BYTES;
  let count = size;
  for (let k = 0; k < level; k++) {
    off += count * 32;
    count = Math.ceil(count / 2);
  }
  return off + index * 32;
}

/** Positions of the audit path of leaf `index`, leaf end first (same walk as merkle.inclusionProof). */
export function pathPositions(size: number, index: number): { level: number; index: number }[] {
  const out: { level: number; index: number }[] = [];
  let i = index;
  let n = size;
  for (let level = 0; n > 1; level++) {
    const sib = i ^ 1;
    if (sib < n) out.push({ level, index: sib });
    i >>>= 1;
    n = (n + 1) >>> 1;
  }
  return out;
}

/** A stored Merkle tree object that is gone or shorter than its batch says: storage-malformed. */
export class TreeObjectError extends StorageError {
  override readonly name = 'TreeObjectError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage-malformed', message, options);
  }
}

/** Reads an inclusion path from a stored tree. Throws TreeObjectError if the tree object is gone or short. */
export async function readInclusionPath(
  objects: ObjectStore,
  treeKey: string,
  size: number,
  index: number,
): Promise<Uint8Array[]> {
  return Promise.all(
    pathPositions(size, index).map(async (p) => {
      const bytes = await objects.getRange(treeKey, nodeOffset(size, p.level, p.index), 32);
      if (bytes?.length !== 32) {
        throw new TreeObjectError(`tree object ${treeKey} is missing node ${p.index} at level ${p.level}`);
      }
      return bytes;
    }),
  );
}
