/**
 * The Pinner over any Kubo RPC endpoint, through kubo-rpc-client: a Kubo daemon, IPFS Cluster's
 * Kubo-compatible proxy (which turns add-with-pin into a cluster pin), or the embedded API.
 *
 * Every call gets its own deadline. kubo-rpc-client's `timeout` option does not take effect on numbers (it
 * tests `isNaN(timeout)` where it means the opposite), so the deadline is an AbortSignal passed per call.
 *
 * Failures are sorted into IpfsError codes by what the endpoint or the network said, never by guessing from
 * timing: refused or reset connections and gateway errors are `ipfs-unavailable`, our deadline is
 * `ipfs-timeout`, Kubo's "could not find" family is `cid-not-found`, the rest `ipfs-error`.
 */
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { CID } from 'multiformats/cid';
import { IpfsError, type IpfsErrorCode } from '../../ipfs/errors.js';
import type { Pinner } from '../../ports.js';
import { KUBO_CHUNK_SIZE } from './unixfs-import.js';

export interface KuboPinnerOptions {
  /** Base URL of the RPC API, e.g. http://127.0.0.1:5001 (kubo-rpc-client appends /api/v0). */
  url: string;
  /** Deadline of each call. Default 30 s: a 2 MiB add on a busy node is seconds, not minutes. */
  timeoutMs?: number;
  /** Extra headers, e.g. an Authorization for a cluster proxy behind a reverse proxy. */
  headers?: Record<string, string>;
}

/** Network-level failure codes undici and node:net report when nothing usable answered. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** What Kubo (boxo, go-ipld-format) says when content is not to be had; the embedded API says the same. */
const NOT_FOUND_RE = /could not find|not found|no link named|failed to find/i;

function errorCodeChain(e: unknown): string[] {
  const codes: string[] = [];
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string') codes.push(c);
    cur = (cur as { cause?: unknown }).cause;
  }
  return codes;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Sorts one failure of a call into an IpfsError. */
export function classifyKuboFailure(
  e: unknown,
  ctx: { endpoint: string; what: string; timedOut: boolean; timeoutMs: number },
): IpfsError {
  if (e instanceof IpfsError) return e;
  const make = (code: IpfsErrorCode, message: string) =>
    new IpfsError(code, `${ctx.what} at ${ctx.endpoint}: ${message}`, { cause: e });
  if (ctx.timedOut) return make('ipfs-timeout', `no answer within ${ctx.timeoutMs} ms`);
  const name = e instanceof Error ? e.name : '';
  if (name === 'TimeoutError') return make('ipfs-timeout', messageOf(e));
  if (name === 'HTTPError') {
    const status = (e as { response?: { status?: unknown } }).response?.status;
    const msg = messageOf(e);
    if (status === 502 || status === 503 || status === 504)
      return make('ipfs-unavailable', `HTTP ${status}: ${msg}`);
    // Only a command error (500) is Kubo speaking; a 404 is an HTTP server that is not a Kubo RPC endpoint.
    if (status === 500 && NOT_FOUND_RE.test(msg)) return make('cid-not-found', msg);
    return make('ipfs-error', `HTTP ${String(status)}: ${msg}`);
  }
  if (errorCodeChain(e).some((c) => UNREACHABLE.has(c)))
    return make('ipfs-unavailable', errorCodeChain(e).join(' / ') || messageOf(e));
  // undici's "fetch failed" / "terminated" without a known code is still a transport failure.
  if (e instanceof TypeError && /fetch failed|terminated/.test(e.message))
    return make('ipfs-unavailable', messageOf(e));
  return make('ipfs-error', messageOf(e));
}

export class KuboPinner implements Pinner {
  readonly endpoint: string;
  private readonly client: KuboRPCClient;
  private readonly timeoutMs: number;

  constructor(opts: KuboPinnerOptions) {
    this.endpoint = `kubo-rpc:${opts.url}`;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.client = create({ url: opts.url, ...(opts.headers ? { headers: opts.headers } : {}) });
  }

  /** Runs `fn` under this call's deadline (and the caller's signal), sorting any failure into an IpfsError. */
  private async call<T>(what: string, signal: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<T>) {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const s = signal ? AbortSignal.any([deadline, signal]) : deadline;
    try {
      return await fn(s);
    } catch (e) {
      // The caller's own cancellation is theirs to handle, not an IPFS failure.
      if (signal?.aborted) throw signal.reason;
      throw classifyKuboFailure(e, {
        endpoint: this.endpoint,
        what,
        timedOut: deadline.aborted,
        timeoutMs: this.timeoutMs,
      });
    }
  }

  async pin(bytes: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<{ cid: string; size: number }> {
    return this.call('add', opts.signal, async (signal) => {
      const r = await this.client.add(bytes, {
        cidVersion: 0,
        rawLeaves: false,
        chunker: `size-${KUBO_CHUNK_SIZE}`,
        pin: true,
        signal,
      });
      return { cid: r.cid.toString(), size: r.size };
    });
  }

  async fetch(
    cid: string,
    opts: { maxBytes: number; signal?: AbortSignal },
  ): Promise<Uint8Array | undefined> {
    const parsed = parseCid(cid);
    try {
      return await this.call('cat', opts.signal, async (signal) => {
        const parts: Uint8Array[] = [];
        let total = 0;
        // One byte past the cap tells "exactly at the cap" from "over it" without reading the whole file.
        for await (const part of this.client.cat(parsed, { length: opts.maxBytes + 1, signal })) {
          total += part.length;
          if (total > opts.maxBytes)
            throw new IpfsError('content-too-large', `${cid} is larger than ${opts.maxBytes} bytes`);
          parts.push(part);
        }
        return new Uint8Array(Buffer.concat(parts, total));
      });
    } catch (e) {
      if (e instanceof IpfsError && e.code === 'cid-not-found') return undefined;
      throw e;
    }
  }

  async unpin(cid: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const parsed = parseCid(cid);
    try {
      await this.call('pin/rm', opts.signal, async (signal) => {
        await this.client.pin.rm(parsed, { signal });
      });
    } catch (e) {
      if (e instanceof IpfsError && /not pinned/i.test(e.message)) return;
      throw e;
    }
  }

  /** Whether the endpoint lists `cid` as pinned recursively (for operators and tests; not in the port). */
  async isPinned(cid: string, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const parsed = parseCid(cid);
    try {
      return await this.call('pin/ls', opts.signal, async (signal) => {
        for await (const p of this.client.pin.ls({ paths: [parsed], type: 'recursive', signal }))
          if (p.cid.toV1().toString() === parsed.toV1().toString()) return true;
        return false;
      });
    } catch (e) {
      if (e instanceof IpfsError && /is not pinned/i.test(e.message)) return false;
      throw e;
    }
  }
}

function parseCid(cid: string): CID {
  try {
    return CID.parse(cid);
  } catch (e) {
    throw new IpfsError('invalid-cid', `${JSON.stringify(cid)} is not a CID`, { cause: e });
  }
}
