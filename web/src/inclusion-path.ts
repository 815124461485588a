/**
 * The inclusion proof of a leaf, step by step, for drawing: which side each sibling hash is on and the node
 * each step computes, following RFC 9162 §2.1.3.2 exactly as lib/core/merkle.ts rootFromInclusionProof does.
 * The verdict comes from lib/core (checkProofBundle); this only explains it.
 */
import { fromHex, toHex } from '../../lib/core/bytes.js';
import { hashChildren } from '../../lib/core/merkle.js';

export interface PathStep {
  /** The proof hash at this level and the side of the tree it sits on. */
  sibling: string;
  side: 'left' | 'right';
  /** The node this step computes: hash(left | right). */
  parent: string;
}

export interface InclusionPath {
  leafIndex: number;
  treeSize: number;
  leaf: string;
  steps: PathStep[];
  /** The root the path leads to, and whether it is the one the proof claims. */
  computedRoot: string;
  claimedRoot: string;
  matches: boolean;
}

export function inclusionPath(
  leafHash: string,
  inc: { leafIndex: number; treeSize: number; path: readonly string[]; root: string },
): InclusionPath | undefined {
  let r = fromHex(leafHash);
  if (!r || inc.leafIndex >= inc.treeSize || inc.treeSize < 1) return undefined;
  let fn = inc.leafIndex;
  let sn = inc.treeSize - 1;
  const steps: PathStep[] = [];
  for (const hex of inc.path) {
    const p = fromHex(hex);
    if (!p || sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      steps.push({ sibling: hex, side: 'left', parent: toHex(r) });
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
    } else {
      r = hashChildren(r, p);
      steps.push({ sibling: hex, side: 'right', parent: toHex(r) });
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  const computedRoot = toHex(r);
  return {
    leafIndex: inc.leafIndex,
    treeSize: inc.treeSize,
    leaf: leafHash,
    steps,
    computedRoot,
    claimedRoot: inc.root,
    matches: sn === 0 && computedRoot === inc.root,
  };
}
