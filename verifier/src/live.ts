/**
 * Live checks (docs/proof-bundle.md §4.4 and §3.6): anchors looked up on their own chains, and a v1 bundle's
 * hot copy fetched from IPFS by its CID. This is an implementation of its own, written from the document, not
 * the backend's chain adapters: a verifier that shared the backend's code would share its mistakes.
 *
 * - EVM (`evm:<EIP-155 id>`): `eth_chainId` once per node, so a node only answers for anchors of its own
 *   chain; then `eth_getTransactionByHash(txId)` (its `input` is the payload; `blockHash` null: not in a
 *   block yet) and `eth_blockNumber` (confirmations = head − blockNumber + 1).
 * - BigBang Core (`bigbang:<network>`): `gettransaction {txid}` (`transaction.data` is vchData; skip
 *   21 + data[20] bytes; `blockhash` "" or zeros: not in a block yet; confirmations = its `confirmations` + 1)
 *   and `getforkheight {}` for the height (fork height − its `confirmations`).
 * - IPFS: Kubo RPC `POST /api/v0/cat?arg=<cid>&length=<ctLen + 1>`, judged as §3.6 says.
 *
 * A node that cannot be reached, or answers something malformed, settles nothing: the anchor stays as it was
 * offline (`anchor-unchecked-offline`), and a note says why. Only a node's clear "no such transaction"
 * becomes `anchor-tx-not-found`.
 */
import type { BundleAnchor, LiveAnchor } from '../../lib/core/anchor-check.js';
import { bytesEqual, fromBase64, fromHex } from '../../lib/core/bytes.js';
import { parseHeader } from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import type { AnyProofBundle, IpfsVerdict } from '../../lib/core/proof-bundle.js';

export interface LiveEndpoints {
  evm: string[];
  bigbang?: string;
  ipfs?: string;
}

const TIMEOUT_MS = 15_000;
/** Lookups remembered: many records share one batch's anchor transaction. */
const CACHE = 4096;

class RpcError extends Error {
  constructor(
    message: string,
    readonly rpcCode?: number,
  ) {
    super(message);
  }
}

/** fetch refuses URLs with credentials: they travel as a Basic Authorization header instead. */
function endpoint(url: string): { url: string; headers: Record<string, string> } {
  const u = new URL(url);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (u.username || u.password) {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    headers.authorization = `Basic ${btoa(`${user}:${pass}`)}`;
    u.username = '';
    u.password = '';
  }
  return { url: u.toString(), headers };
}

/** Where a URL points, for notes: never its credentials. */
function shown(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

let rpcId = 0;
async function rpc(url: string, method: string, params: unknown): Promise<unknown> {
  const e = endpoint(url);
  const res = await fetch(e.url, {
    method: 'POST',
    headers: e.headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  let body: { result?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    body = JSON.parse(text);
  } catch {
    throw new RpcError(`${method}: HTTP ${res.status}, not JSON`);
  }
  if (body.error) {
    const code = typeof body.error.code === 'number' ? body.error.code : undefined;
    throw new RpcError(`${method}: ${String(body.error.message)} (${code})`, code);
  }
  if (!res.ok) throw new RpcError(`${method}: HTTP ${res.status}`);
  return body.result;
}

const quantity = (v: unknown, what: string): number => {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(v))
    throw new RpcError(`${what} is not a quantity`);
  return Number.parseInt(v.slice(2), 16);
};

async function evmLookup(url: string, txId: string): Promise<LiveAnchor | null> {
  const tx = (await rpc(url, 'eth_getTransactionByHash', [txId])) as {
    hash?: unknown;
    input?: unknown;
    blockHash?: unknown;
    blockNumber?: unknown;
  } | null;
  if (tx === null) return null;
  if (typeof tx !== 'object' || typeof tx.input !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(tx.input))
    throw new RpcError('eth_getTransactionByHash: no input');
  if (typeof tx.hash === 'string' && tx.hash.toLowerCase() !== txId.toLowerCase())
    throw new RpcError(`eth_getTransactionByHash: asked for ${txId}, got ${tx.hash}`);
  const payload = fromHex(tx.input.slice(2).toLowerCase()) as Uint8Array;
  if (tx.blockHash === null || tx.blockHash === undefined || tx.blockNumber === null)
    return { payload, confirmations: 0 };
  const height = quantity(tx.blockNumber, 'blockNumber');
  const head = quantity(await rpc(url, 'eth_blockNumber', []), 'eth_blockNumber');
  return {
    payload,
    // A node whose head lags the block still holds the block: at least one confirmation.
    confirmations: Math.max(1, head - height + 1),
    height,
    blockHash: String(tx.blockHash).toLowerCase(),
  };
}

const PENDING_BLOCK = /^(0{64})?$/;

async function bigbangLookup(url: string, txId: string): Promise<LiveAnchor | null> {
  let got: {
    transaction?: {
      txid?: unknown;
      data?: unknown;
      blockhash?: unknown;
      confirmations?: unknown;
      time?: unknown;
    };
  };
  try {
    got = (await rpc(url, 'gettransaction', { txid: txId })) as typeof got;
  } catch (e) {
    // -32600 "No information available about transaction"; -6 "Invalid txid" (64 zeros): no such transaction.
    if (e instanceof RpcError && (e.rpcCode === -32600 || e.rpcCode === -6)) return null;
    throw e;
  }
  const t = got?.transaction;
  if (!t || typeof t.data !== 'string') throw new RpcError('gettransaction: no transaction.data');
  if (t.txid !== undefined && t.txid !== txId)
    throw new RpcError(`gettransaction: asked for ${txId}, got ${String(t.txid)}`);
  const vch = fromHex(t.data.toLowerCase()) ?? new Uint8Array(0);
  // uuid (16) | time u32 (4) | description length (1) | description | payload
  const skip = vch.length >= 21 ? 21 + (vch[20] as number) : vch.length;
  const payload = vch.subarray(Math.min(skip, vch.length));
  const time = typeof t.time === 'number' ? t.time * 1000 : undefined;
  const blockhash = typeof t.blockhash === 'string' ? t.blockhash : '';
  if (PENDING_BLOCK.test(blockhash))
    return { payload, confirmations: 0, ...(time === undefined ? {} : { time }) };
  const conf = typeof t.confirmations === 'number' && t.confirmations >= 0 ? t.confirmations : 0;
  const fork = await rpc(url, 'getforkheight', {});
  return {
    payload,
    confirmations: conf + 1,
    blockHash: blockhash,
    ...(typeof fork === 'number' && fork >= conf ? { height: fork - conf } : {}),
    ...(time === undefined ? {} : { time }),
  };
}

/** Looks anchors up on the chains given on the command line, remembering what it saw. */
export class LiveChains {
  private evmByChain: Promise<Map<string, string>> | undefined;
  private readonly cache = new Map<string, LiveAnchor | null>();
  private readonly counts = new Map<string, number>();
  private readonly problems: string[] = [];

  constructor(private readonly endpoints: LiveEndpoints) {}

  private evmNodes(): Promise<Map<string, string>> {
    this.evmByChain ??= (async () => {
      const out = new Map<string, string>();
      for (const url of this.endpoints.evm) {
        try {
          const id = quantity(await rpc(url, 'eth_chainId', []), 'eth_chainId');
          out.set(`evm:${id}`, url);
        } catch (e) {
          this.note(`--evm-rpc ${shown(url)}: ${(e as Error).message}; its anchors stay unchecked`);
        }
      }
      return out;
    })();
    return this.evmByChain;
  }

  private note(text: string): void {
    if (this.problems.length < 20 && !this.problems.includes(text)) this.problems.push(text);
  }

  /** What a live lookup saw, by txId, for every anchor a node given could answer for. */
  async lookup(anchors: readonly BundleAnchor[]): Promise<Map<string, LiveAnchor | null>> {
    const out = new Map<string, LiveAnchor | null>();
    const evm = await this.evmNodes();
    for (const a of anchors) {
      if (a.evidence) continue; // an embedded ledger's entry is checked against its key, offline
      const key = `${a.chainId} ${a.txId}`;
      const cached = this.cache.get(key);
      if (cached !== undefined) {
        out.set(a.txId, cached);
        continue;
      }
      const evmUrl = evm.get(a.chainId);
      const bigbang = a.chainId.startsWith('bigbang:') ? this.endpoints.bigbang : undefined;
      const url = evmUrl ?? bigbang;
      if (!url) continue;
      try {
        const seen = evmUrl ? await evmLookup(url, a.txId) : await bigbangLookup(url, a.txId);
        if (this.cache.size >= CACHE) this.cache.delete(this.cache.keys().next().value as string);
        this.cache.set(key, seen);
        this.counts.set(a.chainId, (this.counts.get(a.chainId) ?? 0) + 1);
        out.set(a.txId, seen);
      } catch (e) {
        this.note(`${a.chainId} via ${shown(url)}: ${(e as Error).message}; the anchor stays unchecked`);
      }
    }
    return out;
  }

  /** What was looked up where, and what could not be. */
  notes(): string[] {
    return [
      ...[...this.counts].map(([chain, n]) => `${chain}: ${n} transaction(s) looked up`),
      ...this.problems,
    ];
  }
}

// ---------------------------------------------------------------- IPFS (§3.6)

export function bundleIpfsCid(b: AnyProofBundle): string | undefined {
  return b.format === 'iot-notary.proof.v1' ? b.record.ipfs?.cid : undefined;
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let s = '';
  while (n > 0n) {
    s = B58[Number(n % 58n)] + s;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    s = `1${s}`;
  }
  return s;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Kubo's chunk size under the bundle's profile (`unixfs-v0-2015`): one block up to this size. */
const CHUNK = 256 * 1024;

/**
 * The CIDv0 of `bytes` under the profile `unixfs-v0-2015` (dag-pb, no raw leaves), for content of one chunk:
 * a dag-pb node whose Data is UnixFS {Type: File, Data: bytes, filesize}. Larger content spans several
 * blocks and is not recomputed here (undefined).
 */
export function unixfsV0Cid(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length > CHUNK) return undefined;
  const unixfs = [0x08, 0x02, 0x12, ...varint(bytes.length)];
  const tail = [0x18, ...varint(bytes.length)];
  const inner = new Uint8Array(unixfs.length + bytes.length + tail.length);
  inner.set(unixfs, 0);
  inner.set(bytes, unixfs.length);
  inner.set(tail, unixfs.length + bytes.length);
  const prefix = [0x0a, ...varint(inner.length)];
  const node = new Uint8Array(prefix.length + inner.length);
  node.set(prefix, 0);
  node.set(inner, prefix.length);
  return base58(new Uint8Array([0x12, 0x20, ...sha256(node)]));
}

/**
 * Fetches `cid` and judges it against the bundle's header (§3.6): `ok`, `tampered` (content intact under its
 * CID and not the sealed ciphertext), or null (`cid unavailable`: nothing fetched, or bytes that are not the
 * CID's content, the endpoint's fault).
 */
export async function fetchIpfsVerdict(
  url: string,
  b: AnyProofBundle,
  cid: string,
): Promise<IpfsVerdict | null> {
  const headerBytes = fromBase64(b.record.header);
  const parsed = headerBytes ? parseHeader(headerBytes) : undefined;
  if (!parsed?.ok) return null; // the check itself reports the header
  const { ciphertextLength, ciphertextHash } = parsed.header;
  let bytes: Uint8Array;
  try {
    const e = endpoint(url);
    const u = new URL(
      `api/v0/cat?arg=${encodeURIComponent(cid)}&length=${ciphertextLength + 1}`,
      `${e.url.replace(/\/$/, '')}/`,
    );
    const res = await fetch(u, {
      method: 'POST',
      headers: e.headers,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!res.ok) return null;
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch {
    return null;
  }
  const matches = bytes.length === ciphertextLength && bytesEqual(sha256(bytes), ciphertextHash);
  if (matches)
    return { verdict: 'ok', code: 'ok', message: 'the content behind the CID is the sealed ciphertext' };
  // Not the ciphertext: the record's CID names other content only if these bytes really are the CID's.
  const recomputed = unixfsV0Cid(bytes.subarray(0, CHUNK));
  if (recomputed === undefined || recomputed !== cid) return null;
  return {
    verdict: 'tampered',
    code: bytes.length !== ciphertextLength ? 'length-mismatch' : 'ciphertext-hash-mismatch',
    message: `the content behind ${cid} is ${bytes.length} bytes that are not the sealed ciphertext`,
  };
}
