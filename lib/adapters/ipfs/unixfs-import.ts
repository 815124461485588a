/**
 * Kubo's `ipfs add` DAG, built with ipfs-unixfs-importer. A CID is only useful to us if it equals the one Kubo
 * gives for the same bytes and options: then the same ciphertext pinned through any Kubo-RPC endpoint (Kubo,
 * IPFS Cluster, the embedded API) has one CID, and anyone can recompute it.
 *
 * Kubo's defaults, which the importer's `unixfs-v0-2015` profile (IPIP-499) reproduces: balanced layout with
 * at most 174 links per node, fixed-size chunks of 256 KiB, CIDv0, leaves wrapped as UnixFS `file` nodes, links
 * written before data. With cid-version=1 Kubo turns raw leaves on unless told otherwise; so do we.
 *
 * @helia/unixfs is not used for adding: its defaults (1 MiB chunks, 1024 links) sit in the options it passes
 * explicitly, where a profile cannot override them, so files over 256 KiB would get a CID Kubo never gives.
 */

import { type ImporterOptions, importer } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import type { CID } from 'multiformats/cid';
import { CodedError } from '../../core/errors.js';
import type { KuboServerErrorCode } from './kubo-command-error.js';

export const KUBO_CHUNK_SIZE = 262_144;
/** Kubo refuses larger chunks (boxo's ChunkSizeLimit): a block over 1 MiB does not travel over bitswap. */
export const MAX_CHUNK_SIZE = 1_048_576;

export interface ImportSettings {
  cidVersion: 0 | 1;
  rawLeaves: boolean;
  chunkSize: number;
}

/** What the pinner asks for, and what `ipfs add` does with no flags. */
export const KUBO_DEFAULT_IMPORT: Readonly<ImportSettings> = Object.freeze({
  cidVersion: 0,
  rawLeaves: false,
  chunkSize: KUBO_CHUNK_SIZE,
});

export class ImportSettingsError extends CodedError<KuboServerErrorCode> {
  override readonly name = 'ImportSettingsError';
  constructor(message: string) {
    super('import-settings-unsupported', message);
  }
}

/** Kubo's `chunker` option. Only `size-<n>` is supported; rabin and buzhash are refused, not approximated. */
export function parseChunker(chunker: string | undefined): number {
  if (chunker === undefined || chunker === '' || chunker === 'default') return KUBO_CHUNK_SIZE;
  const m = /^size-([0-9]{1,8})$/.exec(chunker);
  if (!m)
    throw new ImportSettingsError(`chunker ${JSON.stringify(chunker)} is not supported; use size-<bytes>`);
  const n = Number(m[1]);
  if (n <= 0) throw new ImportSettingsError('chunker size must be greater than 0');
  if (n > MAX_CHUNK_SIZE)
    throw new ImportSettingsError(
      `chunker parameters may not exceed the maximum chunk size of ${MAX_CHUNK_SIZE}`,
    );
  return n;
}

export function importerOptions(s: ImportSettings): ImporterOptions {
  return {
    profile: 'unixfs-v0-2015',
    cidVersion: s.cidVersion,
    rawLeaves: s.rawLeaves,
    chunker: fixedSize({ chunkSize: s.chunkSize }),
    // Kubo's default: a file is added as itself, not inside a wrapping directory.
    wrapWithDirectory: false,
  };
}

/** Where imported blocks go. The importer only writes. */
export interface BlockSink {
  put(cid: CID, bytes: Uint8Array): Promise<CID> | CID;
}

export interface ImportedFile {
  cid: CID;
  /** Cumulative DAG size: every block's bytes, which is what Kubo reports as `Size`. */
  dagSize: bigint;
  /** File bytes read from the source. */
  bytes: number;
}

/** Imports one file from a byte stream. */
export async function importFile(
  content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: BlockSink,
  s: ImportSettings,
  opts: { signal?: AbortSignal } = {},
): Promise<ImportedFile> {
  let bytes = 0;
  async function* counted() {
    for await (const chunk of content) {
      opts.signal?.throwIfAborted();
      bytes += chunk.length;
      yield chunk;
    }
  }
  let last: { cid: CID; size: bigint } | undefined;
  // The importer's blockstore type wants more than it uses; put() is all a file import calls.
  const store = sink as Parameters<typeof importer>[1];
  for await (const entry of importer([{ content: counted() }], store, importerOptions(s))) last = entry;
  // A programming error (the importer yields one entry per input, and there is one input): a plain Error.
  if (!last) throw new Error('the importer produced nothing');
  return { cid: last.cid, dagSize: last.size, bytes };
}

const discard: BlockSink = { put: (cid) => cid };

/** The CID Kubo gives `bytes` with these settings, computed offline; nothing is stored. */
export async function kuboCid(bytes: Uint8Array, s: ImportSettings = KUBO_DEFAULT_IMPORT): Promise<string> {
  return (await importFile([bytes], discard, s)).cid.toString();
}

/**
 * Recomputes a CID with the settings that would have produced one like `like`: Kubo's defaults for CIDv0, and
 * Kubo's cid-version=1 defaults (raw leaves) otherwise. This is what verify-by-CID passes as `cidOf`.
 */
export function kuboCidLike(bytes: Uint8Array, like: string): Promise<string> {
  const v1 = !like.startsWith('Qm');
  return kuboCid(
    bytes,
    v1 ? { cidVersion: 1, rawLeaves: true, chunkSize: KUBO_CHUNK_SIZE } : KUBO_DEFAULT_IMPORT,
  );
}
