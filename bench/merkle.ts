/**
 * Merkle figures over one large batch: building the tree and cutting every inclusion proof (what anchoring a
 * batch of that size costs), and checking proofs (what a verifier pays per record).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { buildTree, inclusionProof, type MerkleTree, verifyInclusion } from '../lib/core/merkle.js';
import { perSec, type Series, series } from './stats.js';

export interface BuildFigures {
  leaves: number;
  buildMs: Series;
  proofsMs: Series;
  totalMs: Series;
  /** Node hashes buildTree performs: n - 1 for n leaves. */
  nodeHashes: number;
}

export function randomLeaves(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n * 32));
}

/** Every proof, consumed just enough that the loop cannot be optimised away. */
function allProofs(tree: MerkleTree): number {
  let total = 0;
  for (let i = 0; i < tree.size; i++) total += inclusionProof(tree, i).length;
  return total;
}

export function measureBuildAndProofs(leaves: number, reps: number): BuildFigures {
  const build: number[] = [];
  const proofs: number[] = [];
  const total: number[] = [];
  for (let r = 0; r < reps; r++) {
    // Fresh leaves each time so no repetition rides on caches the previous one warmed.
    const level0 = randomLeaves(leaves);
    const t0 = performance.now();
    const tree = buildTree(level0);
    const t1 = performance.now();
    const pathHashes = allProofs(tree);
    const t2 = performance.now();
    if (pathHashes === 0 && leaves > 1) throw new Error('no proof hashes: the bench is broken');
    build.push(t1 - t0);
    proofs.push(t2 - t1);
    total.push(t2 - t0);
  }
  return {
    leaves,
    buildMs: series(build),
    proofsMs: series(proofs),
    totalMs: series(total),
    nodeHashes: Math.max(0, leaves - 1),
  };
}

export interface VerifyFigures {
  treeSize: number;
  perSec: Series;
  /** Mean hashes per proof: the floor on each verification's cost. */
  meanPathLength: number;
}

/** verifyInclusion over `count` proofs of random leaves of one tree of `treeSize` leaves. */
export function measureVerifyInclusion(treeSize: number, count: number, reps: number): VerifyFigures {
  const tree = buildTree(randomLeaves(treeSize));
  const cases = Array.from({ length: count }, () => {
    const index = randomInt(treeSize);
    return {
      index,
      size: treeSize,
      leafHash: tree.levels[0]?.subarray(index * 32, index * 32 + 32) as Uint8Array,
      proof: inclusionProof(tree, index),
      root: tree.root,
    };
  });
  const meanPathLength = cases.reduce((a, c) => a + c.proof.length, 0) / Math.max(1, cases.length);
  const runs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    let bad = 0;
    for (const c of cases) if (!verifyInclusion(c).ok) bad++;
    const ms = performance.now() - t0;
    if (bad) throw new Error(`${bad} valid proofs failed to verify`);
    runs.push(perSec(count, ms));
  }
  return { treeSize, perSec: series(runs), meanPathLength };
}
