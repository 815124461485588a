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
 * `blockhash` ("" while pending, FACTS; absent or all zeros are read the same way), and the port's count
 * (head − block + 1) is the node's depth + 1. The height is forkHeight − depth, read between two
 * getforkheight calls that must agree.
 *
 * -401 "Failed to sign transaction" means a locked key or a transaction the node refused after signing it
 * (FACTS): the adapter asks `listkey` whether the key is locked before it unlocks anything, and a refusal with
 * the key unlocked is 'tx-rejected', never retried. `unlockkey` always gets a deliberate `timeout` (without
 * one the node relocks after 60 s, FACTS), and the key is unlocked again before a send once that ran out.
 *
 * dedupKey: within a process a repeated key returns the first txid. The vchData uuid is derived from the key,
 * so the same batch is recognisable on chain. A sendfrom whose answer never came (timeout, reset, garbled)
 * may still have been paid; before sending for that key again, and on the first submit of a process (a
 * crash between the node's acceptance and the anchorer's record), the adapter lists the wallet's recent
 * transactions (`listtransaction`, rpc.json) and looks for one carrying that uuid.
 *
 * Size (over 500 lines): one class behind the Chain port. Submit and lookup share the key-unlock state, the
 * dedup memory and the wallet look-back above, so they stay together; the RPC transport (../json-rpc.ts),
 * vchData, fees, addresses and errors are already their own files.
 */
import { z } from 'zod';
import { fromHex, toHex } from '../../core/bytes.js';
import type { Chain, ChainDescription, ChainEconomics, ChainTx } from '../../ports.js';
import { JsonRpcClient, RpcCallError } from '../json-rpc.js';
import { isAddress, pubkeyHexOfAddress } from './address.js';
import { BigBangChainError, type BigBangChainErrorCode, classifyRpcError } from './bigbang-errors.js';
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
/**
 * How long an unlock lasts unless configured (seconds): the key relocks this long after the adapter last
 * unlocked it, so a stopped anchorer leaves it locked, and the adapter unlocks it again before the next send.
 */
export const BIGBANG_DEFAULT_UNLOCK_TIMEOUT_S = 600;
/** FACTS: the wallet chose 2 inputs for every self-send observed; sizing for fewer overshoots MAX_TX_SIZE. */
export const BIGBANG_MIN_ASSUMED_INPUTS = 2;
/**
 * `max` for listunspent. Without it the node returns at most 10 unspents (FACTS). rpc.json says 0 means
 * unlimited, which nobody observed, so an explicit large number is passed instead.
 */
export const LISTUNSPENT_MAX = 100_000;
/** Wallet transactions searched for a uuid before a send whose earlier attempt went unanswered. */
export const WALLET_SEARCH_COUNT = 20;

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
  /**
   * If the key is locked, unlock it with this and retry once. `pubkey` defaults to the key of `from` (as the
   * node prints it); `timeoutSeconds` is passed to every unlockkey: default 600, 0 keeps the key unlocked
   * until the node restarts or someone locks it.
   */
  unlock?: { passphrase: string; pubkey?: string; timeoutSeconds?: number };
  /**
   * Inputs assumed by the MAX_TX_SIZE check (the wallet chooses them). Default 10, at least 2. Near the
   * limit the adapter also counts the inputs the wallet would take (listunspent).
   */
  assumedInputs?: number;
  /** Ask the node's gettxfee and pay its figure if higher. Default true. */
  checkFeeWithNode?: boolean;
  timeoutMs?: number;
  clock?: () => number;
  onEvent?: (e: BigBangChainEvent) => void;
}

export type BigBangChainEvent =
  | { kind: 'dedup-hit'; chainId: string; txId: string; dedupKey: string }
  /** A transaction carrying this dedupKey's uuid was already in the wallet: returned instead of paying again. */
  | { kind: 'found-in-wallet'; chainId: string; txId: string; dedupKey: string }
  /** listtransaction failed on the node (e.g. an older build without it): a lost send may be paid twice. */
  | { kind: 'wallet-search-unavailable'; chainId: string; dedupKey: string; message: string }
  | { kind: 'key-unlocked'; chainId: string; pubkey: string; timeoutSeconds: number }
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

const NodeTransaction = z.object({
  txid,
  time: count,
  blockhash: z.string().optional(),
  sendfrom: z.string(),
  sendto: z.string(),
  txfee: amount,
  data: z.string().regex(/^(?:[0-9a-fA-F]{2})*$/),
  fork: z.string(),
  confirmations: count,
});
type NodeTransaction = z.infer<typeof NodeTransaction>;
const GetTransactionResult = z.object({ transaction: NodeTransaction });

/** rpc.json `wallettxdata`; only what the wallet search reads is checked. */
const ListTransactionResult = z.array(
  z.object({ txid, send: z.boolean(), from: z.string().optional(), to: z.string() }),
);

/** rpc.json `listkey`: [{key, version, public?, locked, timeout?}]. */
const ListKeyResult = z.array(z.object({ key: z.string(), locked: z.boolean() }));

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
  /** The key as listkey prints it, to ask whether it is locked; undefined for a template address. */
  private readonly keyHex: string | undefined;
  private readonly unlockTimeoutS: number;
  /** When our last unlock runs out (clock ms); undefined when we do not know (never unlocked, or -409). */
  private unlockedUntil: number | undefined;
  /** dedupKeys whose sendfrom got no usable answer: the node may have taken it. */
  private readonly unsure = new Set<string>();
  private walletSearched = false;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly cfg: BigBangChainConfig) {
    const network = cfg.network ?? 'mainnet';
    // Programming errors (settings reach here validated by lib/runtime/config.ts or chain-config.ts): RangeErrors.
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
    if (!Number.isSafeInteger(this.assumedInputs) || this.assumedInputs < BIGBANG_MIN_ASSUMED_INPUTS) {
      throw new RangeError(
        `assumedInputs must be an integer >= ${BIGBANG_MIN_ASSUMED_INPUTS}: the wallet was seen to use 2 inputs for every self-send`,
      );
    }
    this.unlockTimeoutS = cfg.unlock?.timeoutSeconds ?? BIGBANG_DEFAULT_UNLOCK_TIMEOUT_S;
    if (!Number.isSafeInteger(this.unlockTimeoutS) || this.unlockTimeoutS < 0)
      throw new RangeError('unlock.timeoutSeconds must be an integer >= 0');
    // unlockkey takes a key or its address; listkey prints keys only.
    const unlockKey = cfg.unlock?.pubkey;
    this.keyHex =
      unlockKey === undefined
        ? pubkeyHexOfAddress(cfg.from)
        : isAddress(unlockKey)
          ? pubkeyHexOfAddress(unlockKey)
          : unlockKey.toLowerCase();
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
    const uuid = uuidFromKey(dedupKey);
    const vch = encodeVchData({
      uuid,
      timestamp: Math.floor(this.clock() / 1000),
      description: this.description,
      payload: data,
    });
    const room = this.inputsThatFit(vch.length);
    if (room < this.assumedInputs) {
      throw this.fail(
        'payload-too-large',
        `a ${data.length}-byte payload makes a ~${estimateTxSize(vch.length, this.assumedInputs)}-byte transaction with ${this.assumedInputs} inputs; MAX_TX_SIZE is ${MAX_TX_SIZE}`,
      );
    }

    if (!this.walletSearched || this.unsure.has(dedupKey)) {
      const found = await this.findInWallet(uuid, dedupKey);
      this.walletSearched = true;
      this.unsure.delete(dedupKey);
      if (found) {
        this.remember(dedupKey, found);
        this.cfg.onEvent?.({ kind: 'found-in-wallet', chainId: this.chainId, txId: found, dedupKey });
        return { txId: found };
      }
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
    // Close to the limit the wallet's real choice of inputs decides: count them (smallest first, as the node
    // was seen to pick) rather than learn it from a "Failed to sign transaction" after the fact.
    if (room < 2 * this.assumedInputs) {
      const need = await this.inputsNeeded(this.amountUnits + fee);
      if (need !== undefined && need > room) {
        throw this.fail(
          'payload-too-large',
          `a ${data.length}-byte payload fits ${room} inputs, and the wallet needs ${need} to pay ${unitsToCoins(this.amountUnits + fee)} BBC: send less or consolidate the address's unspents`,
        );
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

    await this.unlockIfRunOut();
    const id = await this.send(params, dedupKey);
    this.remember(dedupKey, id);
    return { txId: id };
  }

  private remember(dedupKey: string, id: string): void {
    this.byDedup.set(dedupKey, id);
    // Bounded: retries come within minutes; older batches are deduplicated by the anchorer's own records.
    if (this.byDedup.size > 4096) this.byDedup.delete(this.byDedup.keys().next().value as string);
  }

  /** Most inputs a transaction with `vchBytes` of data can have within MAX_TX_SIZE. */
  private inputsThatFit(vchBytes: number): number {
    let n = Math.max(0, Math.floor((MAX_TX_SIZE - estimateTxSize(vchBytes, 0)) / 33));
    while (n > 0 && estimateTxSize(vchBytes, n) > MAX_TX_SIZE) n--;
    return n;
  }

  /** Inputs the wallet takes to pay `units`, smallest unspents first; undefined if they do not suffice. */
  private async inputsNeeded(units: number): Promise<number | undefined> {
    const sorted = (await this.unspents()).sort((a, b) => a - b);
    let total = 0;
    for (let i = 0; i < sorted.length; i++) {
      total += sorted[i] as number;
      if (total >= units) return i + 1;
    }
    return undefined;
  }

  /** One sendfrom, and what a -401 "Failed to sign transaction" really was (module comment). */
  private async send(params: Record<string, unknown>, dedupKey: string): Promise<string> {
    let first: unknown;
    try {
      return await this.sendOnce(params, dedupKey);
    } catch (e) {
      if (!isSignFailure(e)) throw e;
      first = e;
    }
    const key = await this.keyState();
    if (key === 'unlocked') throw this.refusedAfterSigning(first);
    if (!this.cfg.unlock) {
      throw this.fail(
        'key-locked',
        key === 'locked'
          ? 'sendfrom: the key is locked and no passphrase is configured'
          : 'sendfrom: "Failed to sign transaction": the key may be locked (no passphrase is configured), or the node refused the transaction (listkey could not tell which)',
        -401,
        first,
      );
    }
    const wasUnlocked = (await this.unlock()) === 'already-unlocked';
    // The key was not locked after all: the node refused the transaction itself; sending it again is in vain.
    if (wasUnlocked && key === 'unknown') throw this.refusedAfterSigning(first);
    try {
      return await this.sendOnce(params, dedupKey);
    } catch (e) {
      // The key was just unlocked: another sign failure is the transaction, not the key.
      if (isSignFailure(e)) throw this.refusedAfterSigning(e);
      throw e;
    }
  }

  private async sendOnce(params: Record<string, unknown>, dedupKey: string): Promise<string> {
    try {
      return await this.call('sendfrom', params, txid);
    } catch (e) {
      // No usable answer: the node may have taken it. Look in the wallet before sending for this key again.
      if (
        e instanceof BigBangChainError &&
        (e.code === 'rpc-unavailable' || e.code === 'rpc-malformed-response')
      ) {
        this.unsure.add(dedupKey);
        // Bounded like byDedup: a retry comes within minutes.
        if (this.unsure.size > 4096) this.unsure.delete(this.unsure.values().next().value as string);
      }
      throw e;
    }
  }

  private refusedAfterSigning(cause: unknown): BigBangChainError {
    return this.fail(
      'tx-rejected',
      'sendfrom: -401 "Failed to sign transaction" with the key unlocked: the node refused the signed transaction (ValidateTransaction: too large for the inputs the wallet chose, bad vchData or fee; its log says which)',
      -401,
      cause,
    );
  }

  /** Whether the wallet key is locked, from listkey (rpc.json); 'unknown' if the node cannot say. */
  private async keyState(): Promise<'locked' | 'unlocked' | 'unknown'> {
    if (this.keyHex === undefined) return 'unknown';
    let keys: z.infer<typeof ListKeyResult>;
    try {
      keys = await this.call('listkey', {}, ListKeyResult);
    } catch (e) {
      if (e instanceof BigBangChainError && e.code === 'method-not-found') return 'unknown';
      throw e;
    }
    const k = keys.find((x) => x.key.toLowerCase() === this.keyHex);
    return k === undefined ? 'unknown' : k.locked ? 'locked' : 'unlocked';
  }

  /**
   * A transaction from `from` to `to` among the wallet's recent ones whose vchData carries `uuid`: the send
   * for this dedupKey that the node took although its answer was lost. Needs listtransaction (rpc.json: the
   * last `count` wallet transactions when `offset` < 0, filtered by `address`, without their data, so each
   * candidate is read with gettransaction).
   */
  private async findInWallet(uuid: Uint8Array, dedupKey: string): Promise<string | undefined> {
    const params: Record<string, unknown> = {
      count: WALLET_SEARCH_COUNT,
      offset: -1,
      address: this.cfg.from,
    };
    if (this.cfg.fork) params.fork = this.cfg.fork;
    let list: z.infer<typeof ListTransactionResult>;
    try {
      list = await this.call('listtransaction', params, ListTransactionResult);
    } catch (e) {
      // The node answered, but not with a list (no such method, or -401 "Failed to list transactions"):
      // anchoring must not stop on it, so the send goes ahead, and an event says what that risks. A node
      // that did not answer at all fails this submit (retryable), never turning into a blind resend.
      if (e instanceof BigBangChainError && e.rpcCode !== undefined) {
        this.cfg.onEvent?.({
          kind: 'wallet-search-unavailable',
          chainId: this.chainId,
          dedupKey,
          message: e.message,
        });
        return undefined;
      }
      throw e;
    }
    const want = toHex(uuid);
    for (const t of [...list].reverse()) {
      if (!t.send || t.to !== this.to || (t.from !== undefined && t.from !== this.cfg.from)) continue;
      const tx = await this.fetchTransaction(t.txid);
      if (!tx || tx.sendfrom !== this.cfg.from || tx.sendto !== this.to) continue;
      const d = decodeVchData(fromHex(tx.data.toLowerCase()) ?? new Uint8Array(0));
      if (d.ok && toHex(d.value.uuid) === want) return t.txid;
    }
    return undefined;
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

  /** Unlocks the key for `unlockTimeoutS` (0: until locked again); -409 means it was not locked. */
  private async unlock(): Promise<'unlocked' | 'already-unlocked'> {
    const u = this.cfg.unlock;
    if (!u) return 'already-unlocked';
    const pubkey = u.pubkey ?? this.cfg.from;
    // Always a deliberate timeout: without one the node relocks after 60 s (FACTS).
    const params: Record<string, unknown> = {
      pubkey,
      passphrase: u.passphrase,
      timeout: this.unlockTimeoutS,
    };
    try {
      await this.call('unlockkey', params, z.string());
    } catch (e) {
      // -409 "Key is already unlocked": we do not know for how long.
      if (e instanceof BigBangChainError && e.rpcCode === -409) {
        this.unlockedUntil = undefined;
        return 'already-unlocked';
      }
      throw e;
    }
    this.unlockedUntil =
      this.unlockTimeoutS === 0 ? Number.POSITIVE_INFINITY : this.clock() + this.unlockTimeoutS * 1000;
    this.cfg.onEvent?.({
      kind: 'key-unlocked',
      chainId: this.chainId,
      pubkey,
      timeoutSeconds: this.unlockTimeoutS,
    });
    return 'unlocked';
  }

  /** Our unlock has run out: unlock again now rather than learn it from a failed send. */
  private async unlockIfRunOut(): Promise<void> {
    if (this.cfg.unlock && this.unlockedUntil !== undefined && this.clock() >= this.unlockedUntil) {
      await this.unlock();
    }
  }

  // ---------------------------------------------------------------------------------------- lookup

  /** gettransaction; undefined when the node has no such transaction. */
  private async fetchTransaction(txId: string): Promise<NodeTransaction | undefined> {
    let got: z.infer<typeof GetTransactionResult>;
    try {
      got = await this.call('gettransaction', { txid: txId }, GetTransactionResult);
    } catch (e) {
      // -32600 "No information available about transaction": unknown, dropped, or reorganised out.
      // -6 "Invalid txid": what the node says for 64 zeros (FACTS); no transaction has that id.
      if (e instanceof BigBangChainError && (e.rpcCode === -32600 || e.rpcCode === -6)) return undefined;
      throw e;
    }
    const t = got.transaction;
    if (t.txid !== txId)
      throw this.fail('rpc-malformed-response', `asked for ${txId}, node returned ${t.txid}`);
    return t;
  }

  async lookup(txId: string): Promise<BigBangChainTx | undefined> {
    if (!/^[0-9a-f]{64}$/.test(txId)) return undefined;
    const before = await this.forkHeight();
    const t = await this.fetchTransaction(txId);
    if (!t) return undefined;
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
    return (await this.unspents()).reduce((sum, u) => sum + u, 0);
  }

  /** The anchoring address's unspent amounts, in units: all of them (`max`), not the node's first 10. */
  private async unspents(): Promise<number[]> {
    const params: Record<string, unknown> = { address: this.cfg.from, max: LISTUNSPENT_MAX };
    if (this.cfg.fork) params.fork = this.cfg.fork;
    const r = await this.call('listunspent', params, ListUnspentResult);
    const out: number[] = [];
    for (const a of r.addresses) {
      if (a.address !== this.cfg.from) continue;
      for (const u of a.unspents) out.push(u.amount);
    }
    return out;
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

/** -401 "Failed to sign transaction" (or -405): a locked key, or a refused transaction (module comment). */
function isSignFailure(e: unknown): e is BigBangChainError {
  return e instanceof BigBangChainError && e.code === 'key-locked';
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
