/**
 * The BigBang Core chain adapter. Each anchor is one `sendfrom` from the anchoring address to itself
 * (only the fee leaves the wallet), whose vchData is uuid | time | description | payload (vchdata.ts). The
 * node's wallet holds the key; this process holds at most the passphrase to unlock it.
 *
 * Before anything is sent the adapter checks what the node would refuse anyway, so the refusal is ours and
 * typed: the configured addresses (checksum), the serialised size against MAX_TX_SIZE (fees.ts). The fee is
 * CalcMinTxFee of the vchData, computed here and compared with the node's own `gettxfee`; if the node asks
 * for more (a newer fee rule) the node wins and an event says so.
 *
 * Confirmations: the v2 node reports depth = forkHeight − txHeight (rpcmod.cpp RPCGetTransaction), so a
 * transaction in the newest block shows 0, like one still in the pool. Inclusion is therefore read from
 * `blockhash` (absent, empty or all zeros while pending), and the port's count (head − block + 1) is the
 * node's depth + 1. The height is forkHeight − depth, read between two getforkheight calls that must agree.
 *
 * dedupKey: within a process a repeated key returns the first txid. The vchData uuid is derived from the key,
 * so a duplicate made across a crash is recognisable on chain as the same batch.
 */
import { z } from 'zod';
import { fromHex, toHex } from '../../core/bytes.js';
import type { Chain, ChainDescription, ChainEconomics, ChainTx } from '../../ports.js';
import { isAddress } from './address.js';
import { BigBangChainError, type BigBangChainErrorCode, classifyRpcError } from './bigbang-errors.js';
import { JsonRpcClient, RpcCallError } from './bigbang-rpc.js';
import {
  COIN,
  calcMinTxFee,
  coinsToUnits,
  estimateTxSize,
  MAX_TX_SIZE,
  maxVchDataBytes,
  unitsToCoins,
} from './fees.js';
import { decodeVchData, encodeVchData, formatUuid, uuidFromKey, vchDataOverhead } from './vchdata.js';

export const BIGBANG_DEFAULT_RPC_URL = 'http://127.0.0.1:9902';

export interface BigBangChainConfig {
  /** Default http://127.0.0.1:9902. */
  rpcUrl?: string;
  rpcAuth?: { user: string; password: string };
  /** Names the network in the chain id, `bigbang:<network>`. Default 'mainnet'. */
  network?: string;
  /** 64-hex fork hash; default the node's primary fork. */
  fork?: string;
  /** The anchoring address; its key must be in the node's wallet. */
  from: string;
  /** Default `from`: anchoring to self spends only the fee. */
  to?: string;
  /** Amount sent to `to`, in units (1 BBC = 1,000,000). Default 1 BBC, the shape observed to work. */
  amountUnits?: number;
  /** Written base64 in every vchData. Default 'iot-notary'. */
  description?: string;
  /** If the key is locked, unlock it with this and retry once. */
  unlock?: { passphrase: string; pubkey?: string; timeoutSeconds?: number };
  /** Inputs assumed by the MAX_TX_SIZE check (the wallet chooses them). Default 10. */
  assumedInputs?: number;
  /** Ask the node's gettxfee and pay its figure if higher. Default true. */
  checkFeeWithNode?: boolean;
  timeoutMs?: number;
  clock?: () => number;
  onEvent?: (e: BigBangChainEvent) => void;
}

export type BigBangChainEvent =
  | { kind: 'dedup-hit'; chainId: string; txId: string; dedupKey: string }
  | { kind: 'key-unlocked'; chainId: string; pubkey: string }
  | { kind: 'fee-rule-differs'; chainId: string; bytes: number; ours: number; node: number };

export interface BigBangChainTx extends ChainTx {
  /** The whole vchData as the chain returns it; `data` is its payload. */
  vchData: Uint8Array;
  /** The vchData uuid (8-4-4-4-12), undefined if vchData does not parse. */
  uuid?: string;
  from: string;
  to: string;
  /** Fee paid, in units. */
  feeUnits: number;
  fork: string;
}

export type BigBangChainDescription = Extract<ChainDescription, { kind: 'bigbang' }>;

// ------------------------------------------------------------------------------------------ RPC shapes

const txid = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const amount = z.number().transform((n, ctx) => {
  const u = coinsToUnits(n);
  if (u === undefined) {
    ctx.addIssue({ code: 'custom', message: `${n} is not an amount with six decimals` });
    return z.NEVER;
  }
  return u;
});

const GetTransactionResult = z.object({
  transaction: z.object({
    txid,
    time: count,
    blockhash: z.string().optional(),
    sendfrom: z.string(),
    sendto: z.string(),
    txfee: amount,
    data: z.string().regex(/^(?:[0-9a-fA-F]{2})*$/),
    fork: z.string(),
    confirmations: count,
  }),
});

const ListUnspentResult = z.object({
  addresses: z.array(
    z.object({
      address: z.string(),
      unspents: z.array(z.object({ txid, out: count, amount, time: count, lockuntil: count })),
    }),
  ),
});

const TxFeeResult = z
  .union([amount, z.object({ txfee: amount })])
  .transform((v) => (typeof v === 'number' ? v : v.txfee));

const PENDING_BLOCK = /^0*$/;

export class BigBangChain implements Chain {
  readonly chainId: string;
  private readonly rpc: JsonRpcClient;
  private readonly to: string;
  private readonly amountUnits: number;
  private readonly description: string;
  private readonly assumedInputs: number;
  private readonly clock: () => number;
  private readonly byDedup = new Map<string, string>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly cfg: BigBangChainConfig) {
    const network = cfg.network ?? 'mainnet';
    if (cfg.fork !== undefined && !/^[0-9a-f]{64}$/.test(cfg.fork))
      throw new RangeError('fork must be 64 hex');
    this.chainId = `bigbang:${network}${cfg.fork ? `:${cfg.fork.slice(0, 16)}` : ''}`;
    this.to = cfg.to ?? cfg.from;
    if (!isAddress(cfg.from))
      throw new RangeError(`from ${JSON.stringify(cfg.from)} is not a BigBang address`);
    if (!isAddress(this.to)) throw new RangeError(`to ${JSON.stringify(this.to)} is not a BigBang address`);
    this.amountUnits = cfg.amountUnits ?? 1_000_000;
    unitsToCoins(this.amountUnits);
    this.description = cfg.description ?? 'iot-notary';
    this.assumedInputs = cfg.assumedInputs ?? 10;
    this.clock = cfg.clock ?? Date.now;
    this.rpc = new JsonRpcClient({
      url: cfg.rpcUrl ?? BIGBANG_DEFAULT_RPC_URL,
      timeoutMs: cfg.timeoutMs ?? 10_000,
      ...(cfg.rpcAuth ? { auth: cfg.rpcAuth } : {}),
    });
  }

  /** Largest payload one transaction can carry with this adapter's description and input assumption. */
  get maxPayloadBytes(): number {
    return maxVchDataBytes(this.assumedInputs) - vchDataOverhead(this.description);
  }

  /** Fee in units for a payload of `payloadBytes`, by CalcMinTxFee of the vchData around it. */
  feeForPayload(payloadBytes: number): number {
    return calcMinTxFee(payloadBytes + vchDataOverhead(this.description));
  }

  // ---------------------------------------------------------------------------------------- submit

  submit(data: Uint8Array, opts: { dedupKey: string }): Promise<{ txId: string }> {
    // One at a time: two sendfroms racing in the node's wallet can pick the same unspent output.
    const run = this.tail.then(() => this.submitNow(data, opts.dedupKey));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async submitNow(data: Uint8Array, dedupKey: string): Promise<{ txId: string }> {
    const seen = this.byDedup.get(dedupKey);
    if (seen) {
      this.cfg.onEvent?.({ kind: 'dedup-hit', chainId: this.chainId, txId: seen, dedupKey });
      return { txId: seen };
    }
    const vch = encodeVchData({
      uuid: uuidFromKey(dedupKey),
      timestamp: Math.floor(this.clock() / 1000),
      description: this.description,
      payload: data,
    });
    const size = estimateTxSize(vch.length, this.assumedInputs);
    if (size > MAX_TX_SIZE) {
      throw this.fail(
        'payload-too-large',
        `a ${data.length}-byte payload makes a ~${size}-byte transaction; MAX_TX_SIZE is ${MAX_TX_SIZE}`,
      );
    }
    const hex = toHex(vch);
    let fee = calcMinTxFee(vch.length);
    if (this.cfg.checkFeeWithNode ?? true) {
      const node = await this.nodeFee(hex);
      if (node !== undefined && node !== fee) {
        this.cfg.onEvent?.({
          kind: 'fee-rule-differs',
          chainId: this.chainId,
          bytes: vch.length,
          ours: fee,
          node,
        });
        fee = Math.max(fee, node);
      }
    }
    const params: Record<string, unknown> = {
      from: this.cfg.from,
      to: this.to,
      amount: unitsToCoins(this.amountUnits),
      txfee: unitsToCoins(fee),
      data: hex,
    };
    if (this.cfg.fork) params.fork = this.cfg.fork;

    let id: string;
    try {
      id = await this.call('sendfrom', params, txid);
    } catch (e) {
      if (!(e instanceof BigBangChainError && e.code === 'key-locked' && this.cfg.unlock)) throw e;
      await this.unlock();
      id = await this.call('sendfrom', params, txid);
    }
    this.byDedup.set(dedupKey, id);
    // Bounded: retries come within minutes; older batches are deduplicated by the anchorer's own records.
    if (this.byDedup.size > 4096) this.byDedup.delete(this.byDedup.keys().next().value as string);
    return { txId: id };
  }

  private async nodeFee(hexdata: string): Promise<number | undefined> {
    try {
      return await this.call('gettxfee', { hexdata }, TxFeeResult);
    } catch (e) {
      // An older node without the method: our own CalcMinTxFee stands.
      if (e instanceof BigBangChainError && e.code === 'method-not-found') return undefined;
      throw e;
    }
  }

  private async unlock(): Promise<void> {
    const u = this.cfg.unlock;
    if (!u) return;
    const pubkey = u.pubkey ?? this.cfg.from;
    const params: Record<string, unknown> = { pubkey, passphrase: u.passphrase };
    if (u.timeoutSeconds !== undefined) params.timeout = u.timeoutSeconds;
    try {
      await this.call('unlockkey', params, z.string());
    } catch (e) {
      // -409 "Key is already unlocked": someone else unlocked it meanwhile; the retry will tell.
      if (e instanceof BigBangChainError && e.rpcCode === -409) return;
      throw e;
    }
    this.cfg.onEvent?.({ kind: 'key-unlocked', chainId: this.chainId, pubkey });
  }

  // ---------------------------------------------------------------------------------------- lookup

  async lookup(txId: string): Promise<BigBangChainTx | undefined> {
    if (!/^[0-9a-f]{64}$/.test(txId)) return undefined;
    const before = await this.forkHeight();
    let got: z.infer<typeof GetTransactionResult>;
    try {
      got = await this.call('gettransaction', { txid: txId }, GetTransactionResult);
    } catch (e) {
      // -32600 "No information available about transaction": unknown, dropped, or reorganised out.
      if (e instanceof BigBangChainError && e.rpcCode === -32600) return undefined;
      throw e;
    }
    const t = got.transaction;
    if (t.txid !== txId)
      throw this.fail('rpc-malformed-response', `asked for ${txId}, node returned ${t.txid}`);
    const vchData = fromHex(t.data.toLowerCase()) ?? new Uint8Array(0);
    const decoded = decodeVchData(vchData);
    const out: BigBangChainTx = {
      txId,
      // A vchData that does not parse is returned whole: the verifier then reports a mismatch, not a gap.
      data: decoded.ok ? decoded.value.payload : vchData,
      vchData,
      from: t.sendfrom,
      to: t.sendto,
      feeUnits: t.txfee,
      fork: t.fork,
      time: t.time * 1000,
      confirmations: 0,
      fee: String(t.txfee),
    };
    if (decoded.ok) out.uuid = formatUuid(decoded.value.uuid);
    if (t.blockhash !== undefined && !PENDING_BLOCK.test(t.blockhash)) {
      out.blockHash = t.blockhash;
      out.confirmations = t.confirmations + 1;
      const after = await this.forkHeight();
      if (before === after && after >= t.confirmations) out.height = after - t.confirmations;
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------- extras

  async describe(): Promise<BigBangChainDescription> {
    const d: BigBangChainDescription = { chainId: this.chainId, kind: 'bigbang', address: this.cfg.from };
    if (this.cfg.fork) d.fork = this.cfg.fork;
    return d;
  }

  /** Budget facts: CalcMinTxFee of the vchData around a payload, in BBC; no node call needed. */
  async economics(): Promise<ChainEconomics> {
    return {
      maxDataBytes: this.maxPayloadBytes,
      feePerTx: (n) => this.feeForPayload(n) / COIN,
      unit: 'BBC',
      decimals: 6,
    };
  }

  /** Spendable balance of the anchoring address, in units, from listunspent. */
  async balance(): Promise<number> {
    const params: Record<string, unknown> = { address: this.cfg.from };
    if (this.cfg.fork) params.fork = this.cfg.fork;
    const r = await this.call('listunspent', params, ListUnspentResult);
    let sum = 0;
    for (const a of r.addresses) {
      if (a.address !== this.cfg.from) continue;
      for (const u of a.unspents) sum += u.amount;
    }
    return sum;
  }

  async forkHeight(): Promise<number> {
    return this.call('getforkheight', this.cfg.fork ? { fork: this.cfg.fork } : {}, count);
  }

  async version(): Promise<string> {
    return this.call('version', {}, z.string());
  }

  // ---------------------------------------------------------------------------------------- transport

  private async call<S extends z.ZodType>(
    method: string,
    params: Record<string, unknown>,
    schema: S,
  ): Promise<z.output<S>> {
    let result: unknown;
    try {
      result = await this.rpc.call(method, params);
    } catch (e) {
      if (!(e instanceof RpcCallError)) throw e;
      const f = e.failure;
      switch (f.kind) {
        case 'rpc':
          throw this.fail(classifyRpcError(f.rpcCode, f.message), `${method}: ${f.message}`, f.rpcCode, e);
        case 'unavailable':
          throw this.fail('rpc-unavailable', `${method}: ${f.message}`, undefined, e);
        case 'malformed':
          throw this.fail('rpc-malformed-response', `${method}: ${f.message}`, undefined, e);
        case 'http':
          throw this.fail('rpc-error', `${method}: ${f.message}`, undefined, e);
      }
    }
    const parsed = schema.safeParse(result);
    if (!parsed.success) {
      throw this.fail(
        'rpc-malformed-response',
        `${method} returned an unexpected result: ${preview(result)}`,
      );
    }
    return parsed.data;
  }

  private fail(
    code: BigBangChainErrorCode,
    message: string,
    rpcCode?: number,
    cause?: unknown,
  ): BigBangChainError {
    const opts: { chainId: string; rpcCode?: number; cause?: unknown } = { chainId: this.chainId, cause };
    if (rpcCode !== undefined) opts.rpcCode = rpcCode;
    return new BigBangChainError(code, `${this.chainId}: ${message}`, opts);
  }
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}
