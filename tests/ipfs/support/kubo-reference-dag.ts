/**
 * A naive reference for the CID `ipfs add` gives a file, written from the specs and from Kubo's builder, not
 * from the importer we ship: dag-pb (ipld/specs, PBNode with links before data), the UnixFS Data protobuf
 * (proto2, repeated fields unpacked), and go-unixfs/boxo's balanced layout (importer/balanced/builder.go:
 * the first leaf is the root; while data remains, the root becomes the first child of a node one level
 * deeper, which is then filled depth-first up to 174 links per node).
 *
 * It is slow and keeps everything in memory; it exists so the shipped importer is checked against something
 * that shares none of its code. It is itself checked against Kubo's published CIDs (cid-vectors.test.ts).
 */
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';

const DAG_PB = 0x70;
const RAW = 0x55;
const SHA2_256 = 0x12;
const UNIXFS_FILE = 2;
export const KUBO_MAX_LINKS = 174;

function varint(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return new Uint8Array(out);
}

const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const key = (field: number, wire: number) => varint(field * 8 + wire);
const bytesField = (field: number, b: Uint8Array) => cat(key(field, 2), varint(b.length), b);
const intField = (field: number, n: number) => cat(key(field, 0), varint(n));

/** UnixFS `Data` message: Type, Data (omitted when empty), filesize, blocksizes (one tag per entry). */
function unixfsFile(data: Uint8Array | undefined, filesize: number, blocksizes: number[]): Uint8Array {
  const parts = [intField(1, UNIXFS_FILE)];
  if (data && data.length > 0) parts.push(bytesField(2, data));
  parts.push(intField(3, filesize));
  for (const b of blocksizes) parts.push(intField(4, b));
  return cat(...parts);
}

interface Node {
  cid: CID;
  /** Bytes of this block plus the cumulative sizes of its links: the link's Tsize. */
  cumulative: number;
  /** File bytes under this node: the parent's blocksizes entry. */
  fileSize: number;
}

interface Link {
  cid: CID;
  tsize: number;
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

function cidOf(block: Uint8Array, codec: number, version: 0 | 1): CID {
  const digest = Digest.create(SHA2_256, sha256(block));
  return version === 0 ? CID.createV0(digest) : CID.createV1(codec, digest);
}

/** PBNode: Links (field 2) first, each PBLink {Hash 1, Name 2 (always written, empty), Tsize 3}; Data (1). */
function dagPbNode(links: Link[], data: Uint8Array, version: 0 | 1): { cid: CID; block: Uint8Array } {
  const parts: Uint8Array[] = [];
  for (const l of links) {
    const link = cat(bytesField(1, l.cid.bytes), bytesField(2, new Uint8Array(0)), intField(3, l.tsize));
    parts.push(bytesField(2, link));
  }
  parts.push(bytesField(1, data));
  const block = cat(...parts);
  return { cid: cidOf(block, DAG_PB, version), block };
}

export interface ReferenceSettings {
  cidVersion: 0 | 1;
  rawLeaves: boolean;
  chunkSize: number;
  maxLinks?: number;
}

export function referenceKuboCid(
  bytes: Uint8Array,
  s: ReferenceSettings,
): { cid: string; cumulativeSize: number } {
  const maxLinks = s.maxLinks ?? KUBO_MAX_LINKS;
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += s.chunkSize)
    chunks.push(bytes.subarray(off, off + s.chunkSize));
  let next = 0;
  const done = () => next >= chunks.length;

  const leaf = (): Node => {
    const chunk = chunks[next++] ?? new Uint8Array(0);
    if (s.rawLeaves) return { cid: cidOf(chunk, RAW, 1), cumulative: chunk.length, fileSize: chunk.length };
    const { cid, block } = dagPbNode([], unixfsFile(chunk, chunk.length, []), s.cidVersion);
    return { cid, cumulative: block.length, fileSize: chunk.length };
  };

  const internal = (children: Node[]): Node => {
    const fileSize = children.reduce((a, c) => a + c.fileSize, 0);
    const links = children.map((c) => ({ cid: c.cid, tsize: c.cumulative }));
    const data = unixfsFile(
      undefined,
      fileSize,
      children.map((c) => c.fileSize),
    );
    const { cid, block } = dagPbNode(links, data, s.cidVersion);
    return { cid, cumulative: block.length + links.reduce((a, l) => a + l.tsize, 0), fileSize };
  };

  const fill = (children: Node[], depth: number): Node => {
    while (children.length < maxLinks && !done()) children.push(depth === 1 ? leaf() : fill([], depth - 1));
    return internal(children);
  };

  if (done()) {
    // An empty file is one leaf with no data: boxo's balanced Layout calls NewLeafNode(nil), which with raw
    // leaves is a raw block of nothing (bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku), and
    // otherwise an empty UnixFS file node (QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH).
    if (s.rawLeaves) return { cid: cidOf(new Uint8Array(0), RAW, 1).toString(), cumulativeSize: 0 };
    const { cid, block } = dagPbNode([], unixfsFile(undefined, 0, []), s.cidVersion);
    return { cid: cid.toString(), cumulativeSize: block.length };
  }
  let root = leaf();
  for (let depth = 1; !done(); depth++) root = fill([root], depth);
  return { cid: root.cid.toString(), cumulativeSize: root.cumulative };
}
