/**
 * RFC 6962 / RFC 9162 Merkle trees: building, inclusion and consistency proofs, and their verification.
 *
 * A tree is kept as its levels, each one flat Uint8Array of 32-byte hashes. Pairing nodes level by level and
 * carrying an unpaired last node up unchanged yields exactly the RFC's recursive MTH (split at the largest
 * power of two below n), so any proof is a walk over stored levels with no re-hashing.
 *
 * Every verification input may come from an attacker (a proof bundle downloaded years later), so sizes and
 * lengths are checked before any hashing, and failures come back as a result with a stable code.
 */
import { bytesEqual } from './bytes.js';
import { SHA256_BYTES, sha256 } from './hash.js';

export const LEAF_PREFIX = 0x00;
export const NODE_PREFIX = 0x01;
const H = SHA256_BYTES;

export type MerkleErrorCode =
  | 'bad-hash-length'
  | 'index-out-of-range'
  | 'size-out-of-range'
  | 'proof-too-long'
  | 'proof-too-short'
  | 'proof-not-empty'
  | 'root-mismatch'
  | 'empty-tree';

export type MerkleCheck = { ok: true } | { ok: false; code: MerkleErrorCode; message: string };

const OK: MerkleCheck = { ok: true };
const fail = (code: MerkleErrorCode, message: string): MerkleCheck => ({ ok: false, code, message });

export function hashLeaf(data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(data.length + 1);
  buf[0] = LEAF_PREFIX;
  buf.set(data, 1);
  return sha256(buf);
}

const nodeScratch = new Uint8Array(1 + 2 * H);
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeScratch[0] = NODE_PREFIX;
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + H);
  return sha256(nodeScratch);
}

/** The RFC's hash of an empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

export interface MerkleTree {
  readonly size: number;
  /** levels[0] holds the leaf hashes; levels[k] holds ceil(size / 2^k) nodes; the last level holds the root. */
  readonly levels: readonly Uint8Array[];
  readonly root: Uint8Array;
}

/** Largest tree we build in one piece: level indexes stay in 31-bit integer range. */
export const MAX_TREE_SIZE = 2 ** 30;

/**
 * Builds a tree over leaf hashes (already `hashLeaf`ed), given either as one flat buffer of n*32 bytes or as
 * a list of 32-byte hashes.
 */
export function buildTree(leafHashes: Uint8Array | readonly Uint8Array[]): MerkleTree {
  const level0 = Array.isArray(leafHashes) ? flatten(leafHashes) : (leafHashes as Uint8Array);
  // Programming errors throw RangeError in this file (trees are built from stored leaf hashes and indexes the caller computed).
  if (level0.length % H !== 0) throw new RangeError('leaf hashes must be a multiple of 32 bytes');
  const size = level0.length / H;
  if (size > MAX_TREE_SIZE) throw new RangeError(`tree size ${size} exceeds ${MAX_TREE_SIZE}`);
  if (size === 0) return { size: 0, levels: [], root: EMPTY_ROOT };

  const levels: Uint8Array[] = [level0];
  let cur = level0;
  let n = size;
  const scratch = new Uint8Array(1 + 2 * H);
  scratch[0] = NODE_PREFIX;
  while (n > 1) {
    const m = (n + 1) >>> 1;
    const next = new Uint8Array(m * H);
    const pairs = n >>> 1;
    for (let i = 0; i < pairs; i++) {
      scratch.set(cur.subarray(2 * i * H, (2 * i + 2) * H), 1);
      next.set(sha256(scratch), i * H);
    }
    if (n & 1) next.set(cur.subarray((n - 1) * H, n * H), pairs * H);
    levels.push(next);
    cur = next;
    n = m;
  }
  return { size, levels, root: cur.slice(0, H) };
}

function flatten(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * H);
  hashes.forEach((h, i) => {
    if (h.length !== H) throw new RangeError(`leaf hash ${i} is ${h.length} bytes, expected ${H}`);
    out.set(h, i * H);
  });
  return out;
}

function nodeAt(tree: MerkleTree, level: number, index: number): Uint8Array {
  const lv = tree.levels[level];
  if (!lv || (index + 1) * H > lv.length) throw new RangeError(`no node ${index} at level ${level}`);
  return lv.subarray(index * H, (index + 1) * H);
}

export function leafHashAt(tree: MerkleTree, index: number): Uint8Array {
  return nodeAt(tree, 0, index);
}

/** Number of hashes in the inclusion path of leaf `index` in a tree of `size` leaves. */
export function inclusionPathLength(index: number, size: number): number {
  let len = 0;
  let i = index;
  let n = size;
  while (n > 1) {
    if ((i ^ 1) < n) len++;
    i >>>= 1;
    n = (n + 1) >>> 1;
  }
  return len;
}

/** The RFC 9162 audit path for leaf `index`, leaf end first. Returned hashes are views into the tree. */
export function inclusionProof(tree: MerkleTree, index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= tree.size) {
    throw new RangeError(`leaf index ${index} outside tree of size ${tree.size}`);
  }
  const path: Uint8Array[] = [];
  let i = index;
  let n = tree.size;
  for (let level = 0; n > 1; level++) {
    const sib = i ^ 1;
    if (sib < n) path.push(nodeAt(tree, level, sib));
    i >>>= 1;
    n = (n + 1) >>> 1;
  }
  return path;
}

/** MTH(D[lo:hi]) for the ranges that proofs use, read from stored levels where one node covers the range. */
function subtreeHash(tree: MerkleTree, lo: number, hi: number): Uint8Array {
  const width = hi - lo;
  let level = 0;
  while (2 ** level < width) level++;
  const covered = lo % 2 ** level === 0 && (2 ** level === width || hi === tree.size);
  if (covered) return nodeAt(tree, level, lo / 2 ** level);
  const k = largestPowerOfTwoBelow(width);
  return hashChildren(subtreeHash(tree, lo, lo + k), subtreeHash(tree, lo + k, hi));
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 9162 consistency proof from the tree's first `size1` leaves to the whole tree. */
export function consistencyProof(tree: MerkleTree, size1: number): Uint8Array[] {
  if (!Number.isInteger(size1) || size1 < 1 || size1 > tree.size) {
    throw new RangeError(`size1 ${size1} must be in 1..${tree.size}`);
  }
  const out: Uint8Array[] = [];
  const sub = (m: number, lo: number, hi: number, complete: boolean): void => {
    const n = hi - lo;
    if (m === n) {
      if (!complete) out.push(subtreeHash(tree, lo, hi));
      return;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      sub(m, lo, lo + k, complete);
      out.push(subtreeHash(tree, lo + k, hi));
    } else {
      sub(m - k, lo + k, hi, false);
      out.push(subtreeHash(tree, lo, lo + k));
    }
  };
  sub(size1, 0, tree.size, true);
  return out;
}

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

function checkHashes(hashes: readonly Uint8Array[], what: string): MerkleCheck {
  for (let i = 0; i < hashes.length; i++) {
    if (hashes[i]?.length !== H) return fail('bad-hash-length', `${what}[${i}] is not ${H} bytes`);
  }
  return OK;
}

export interface InclusionInput {
  index: number;
  size: number;
  leafHash: Uint8Array;
  proof: readonly Uint8Array[];
  root: Uint8Array;
}

/** Root implied by an inclusion proof (RFC 9162 §2.1.3.2), or the reason the proof is malformed. */
export function rootFromInclusionProof(
  input: Omit<InclusionInput, 'root'>,
): { ok: true; root: Uint8Array } | Extract<MerkleCheck, { ok: false }> {
  const { index, size, leafHash, proof } = input;
  if (!Number.isSafeInteger(size) || size < 1)
    return { ok: false, code: 'size-out-of-range', message: `tree size ${size} is not a positive integer` };
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    return {
      ok: false,
      code: 'index-out-of-range',
      message: `leaf index ${index} is outside tree size ${size}`,
    };
  }
  if (leafHash.length !== H)
    return { ok: false, code: 'bad-hash-length', message: `leaf hash is not ${H} bytes` };
  const hashes = checkHashes(proof, 'proof');
  if (!hashes.ok) return hashes;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0)
      return {
        ok: false,
        code: 'proof-too-long',
        message: 'inclusion proof has more hashes than the tree has levels',
      };
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0)
    return { ok: false, code: 'proof-too-short', message: 'inclusion proof ends before the root' };
  return { ok: true, root: r };
}

export function verifyInclusion(input: InclusionInput): MerkleCheck {
  if (input.root.length !== H) return fail('bad-hash-length', `root is not ${H} bytes`);
  const got = rootFromInclusionProof(input);
  if (!got.ok) return got;
  return bytesEqual(got.root, input.root)
    ? OK
    : fail('root-mismatch', 'inclusion proof does not lead to the root');
}

export interface ConsistencyInput {
  size1: number;
  size2: number;
  root1: Uint8Array;
  root2: Uint8Array;
  proof: readonly Uint8Array[];
}

/**
 * RFC 9162 §2.1.4.2. A consistency check against an empty first tree proves nothing, so size1 = 0 is refused
 * rather than accepted vacuously (as transparency-dev/merkle's vectors expect).
 */
export function verifyConsistency(input: ConsistencyInput): MerkleCheck {
  const { size1, size2, root1, root2, proof } = input;
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < 0) {
    return fail('size-out-of-range', 'tree sizes must be non-negative integers');
  }
  if (size1 > size2) return fail('size-out-of-range', `size1 ${size1} is larger than size2 ${size2}`);
  if (size1 === 0) return fail('empty-tree', 'consistency with an empty tree proves nothing');
  if (size1 === size2) {
    if (proof.length > 0) return fail('proof-not-empty', 'equal sizes need an empty proof');
    return bytesEqual(root1, root2) ? OK : fail('root-mismatch', 'equal sizes but different roots');
  }
  if (root1.length !== H || root2.length !== H) return fail('bad-hash-length', `roots must be ${H} bytes`);
  if (proof.length === 0) return fail('proof-too-short', 'empty consistency proof');
  const hashes = checkHashes(proof, 'proof');
  if (!hashes.ok) return hashes;

  let path = proof;
  if (isPowerOfTwo(size1)) path = [root1, ...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  const first = path[0] as Uint8Array;
  let fr = first;
  let sr = first;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return fail('proof-too-long', 'consistency proof has more hashes than needed');
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return fail('proof-too-short', 'consistency proof ends before the second root');
  if (!bytesEqual(fr, root1)) return fail('root-mismatch', 'proof does not lead to the first root');
  if (!bytesEqual(sr, root2)) return fail('root-mismatch', 'proof does not lead to the second root');
  return OK;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}
