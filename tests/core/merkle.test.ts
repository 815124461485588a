import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import {
  buildTree,
  consistencyProof,
  EMPTY_ROOT,
  hashChildren,
  hashLeaf,
  inclusionPathLength,
  inclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../lib/core/merkle.js';
import { jsonFilesUnder, readJson, VECTORS_DIR } from '../support/vectors.js';

const hex = (s: string): Uint8Array => {
  const b = fromHex(s);
  if (!b) throw new Error(`bad hex in vector: ${s}`);
  return b;
};
// transparency-dev vectors carry some deliberately invalid base64-ish strings ("don't care"); decode leniently.
const b64 = (s: string | null | undefined): Uint8Array =>
  fromBase64(s ?? '') ?? new Uint8Array(Buffer.from(s ?? '', 'base64'));

/** Straight from RFC 6962 §2.1, recursion and all: the reference the fast level-based code is checked against. */
const ref = {
  mth(d: Uint8Array[]): Uint8Array {
    if (d.length === 0) return sha256(new Uint8Array(0));
    if (d.length === 1) return hashLeaf(d[0] as Uint8Array);
    const k = ref.split(d.length);
    return hashChildren(ref.mth(d.slice(0, k)), ref.mth(d.slice(k)));
  },
  split(n: number): number {
    let k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  },
  path(m: number, d: Uint8Array[]): Uint8Array[] {
    if (d.length <= 1) return [];
    const k = ref.split(d.length);
    return m < k
      ? [...ref.path(m, d.slice(0, k)), ref.mth(d.slice(k))]
      : [...ref.path(m - k, d.slice(k)), ref.mth(d.slice(0, k))];
  },
  subproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
    const n = d.length;
    if (m === n) return b ? [] : [ref.mth(d)];
    const k = ref.split(n);
    return m <= k
      ? [...ref.subproof(m, d.slice(0, k), b), ref.mth(d.slice(k))]
      : [...ref.subproof(m - k, d.slice(k), false), ref.mth(d.slice(0, k))];
  },
};

const leavesData = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new TextEncoder().encode(`leaf ${i}`));

describe('RFC 6962 reference vectors (shared/vectors/rfc6962.json)', () => {
  type V = {
    empty_tree_root: string;
    inputs_hex: string[];
    roots: string[];
    inclusion: { tree_size: number; leaf_index: number; leaf_hash: string; path: string[]; root: string }[];
  };
  const v = readJson<V>(join(VECTORS_DIR, 'rfc6962.json'));
  const inputs = v.inputs_hex.map(hex);

  it('hashes the empty tree to SHA-256 of nothing', () => {
    expect(toHex(EMPTY_ROOT)).toBe(v.empty_tree_root);
    expect(toHex(buildTree([]).root)).toBe(v.empty_tree_root);
  });

  it.each(v.roots.map((root, i) => ({ size: i + 1, root })))(
    'root of the first $size inputs',
    ({ size, root }) => {
      const tree = buildTree(inputs.slice(0, size).map(hashLeaf));
      expect(toHex(tree.root)).toBe(root);
    },
  );

  it.each(v.inclusion)('inclusion of leaf $leaf_index in tree of $tree_size', (c) => {
    const tree = buildTree(inputs.slice(0, c.tree_size).map(hashLeaf));
    expect(inclusionProof(tree, c.leaf_index).map(toHex)).toEqual(c.path);
    const check = verifyInclusion({
      index: c.leaf_index,
      size: c.tree_size,
      leafHash: hex(c.leaf_hash),
      proof: c.path.map(hex),
      root: hex(c.root),
    });
    expect(check).toEqual({ ok: true });
  });
});

describe('transparency-dev/merkle vectors, with their mutated negatives', () => {
  const dir = join(VECTORS_DIR, 'transparency-dev-merkle', 'testdata');
  type Inc = {
    leafIdx: number;
    treeSize: number;
    root: string;
    leafHash: string;
    proof: string[] | null;
    wantErr: boolean;
  };
  type Con = {
    size1: number;
    size2: number;
    root1: string;
    root2: string;
    proof: string[] | null;
    wantErr: boolean;
  };

  const inclusion = jsonFilesUnder(join(dir, 'inclusion'));
  const consistency = jsonFilesUnder(join(dir, 'consistency'));

  it('has the vectors on disk', () => {
    expect(inclusion.length).toBeGreaterThan(50);
    expect(consistency.length).toBeGreaterThan(50);
  });

  it.each(inclusion)('inclusion $rel', ({ path }) => {
    const c = readJson<Inc>(path);
    const check = verifyInclusion({
      index: c.leafIdx,
      size: c.treeSize,
      leafHash: b64(c.leafHash),
      proof: (c.proof ?? []).map(b64),
      root: b64(c.root),
    });
    expect(check.ok).toBe(!c.wantErr);
  });

  it.each(consistency)('consistency $rel', ({ path }) => {
    const c = readJson<Con>(path);
    const check = verifyConsistency({
      size1: c.size1,
      size2: c.size2,
      root1: b64(c.root1),
      root2: b64(c.root2),
      proof: (c.proof ?? []).map(b64),
    });
    expect(check.ok).toBe(!c.wantErr);
  });
});

describe('level-based tree against the RFC reference recursion', () => {
  it('matches roots, every inclusion path and every consistency proof up to 40 leaves', () => {
    for (let n = 1; n <= 40; n++) {
      const d = leavesData(n);
      const tree = buildTree(d.map(hashLeaf));
      expect(toHex(tree.root)).toBe(toHex(ref.mth(d)));
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(tree, m);
        expect(proof.map(toHex)).toEqual(ref.path(m, d).map(toHex));
        expect(inclusionPathLength(m, n)).toBe(proof.length);
        expect(
          verifyInclusion({
            index: m,
            size: n,
            leafHash: hashLeaf(d[m] as Uint8Array),
            proof,
            root: tree.root,
          }).ok,
        ).toBe(true);
      }
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(tree, m);
        expect(proof.map(toHex)).toEqual(ref.subproof(m, d, true).map(toHex));
        const root1 = buildTree(d.slice(0, m).map(hashLeaf)).root;
        expect(verifyConsistency({ size1: m, size2: n, root1, root2: tree.root, proof })).toEqual({
          ok: true,
        });
      }
    }
  });
});

describe('properties', () => {
  it('a proof with any one bit flipped no longer verifies', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.nat(), fc.nat(), (n, mRaw, bitRaw) => {
        const m = mRaw % n;
        const d = leavesData(n);
        const tree = buildTree(d.map(hashLeaf));
        const proof = inclusionProof(tree, m).map((p) => p.slice());
        const bit = bitRaw % (proof.length * 256);
        const target = proof[Math.floor(bit / 256)] as Uint8Array;
        const byte = Math.floor((bit % 256) / 8);
        target[byte] = (target[byte] as number) ^ (1 << (bit % 8));
        const check = verifyInclusion({
          index: m,
          size: n,
          leafHash: hashLeaf(d[m] as Uint8Array),
          proof,
          root: tree.root,
        });
        expect(check).toMatchObject({ ok: false, code: 'root-mismatch' });
      }),
      { numRuns: 200 },
    );
  });

  it('rejects malformed inputs with a code instead of throwing', () => {
    const tree = buildTree(leavesData(5).map(hashLeaf));
    const leafHash = tree.levels[0]?.subarray(0, 32) as Uint8Array;
    const proof = inclusionProof(tree, 0);
    const base = { index: 0, size: 5, leafHash, proof, root: tree.root };
    expect(verifyInclusion({ ...base, index: 5 })).toMatchObject({ code: 'index-out-of-range' });
    expect(verifyInclusion({ ...base, index: -1 })).toMatchObject({ code: 'index-out-of-range' });
    expect(verifyInclusion({ ...base, size: 0 })).toMatchObject({ code: 'size-out-of-range' });
    expect(verifyInclusion({ ...base, size: 2 ** 60 })).toMatchObject({ code: 'size-out-of-range' });
    expect(verifyInclusion({ ...base, index: 0.5 })).toMatchObject({ code: 'index-out-of-range' });
    expect(verifyInclusion({ ...base, proof: [...proof, tree.root] })).toMatchObject({
      code: 'proof-too-long',
    });
    expect(verifyInclusion({ ...base, proof: proof.slice(1) })).toMatchObject({ code: 'proof-too-short' });
    expect(verifyInclusion({ ...base, proof: [new Uint8Array(31), ...proof.slice(1)] })).toMatchObject({
      code: 'bad-hash-length',
    });
    expect(verifyInclusion({ ...base, root: new Uint8Array(0) })).toMatchObject({ code: 'bad-hash-length' });
    expect(() => inclusionProof(tree, 5)).toThrow(RangeError);
    expect(() => consistencyProof(tree, 0)).toThrow(RangeError);
  });
});
