/**
 * The EVM chain adapter: anchors by a 0-value transaction from the anchoring wallet to its own address,
 * whose calldata is the anchor payload (docs/chains.md says why calldata and not a contract event). A
 * verifier needs only eth_getTransactionByHash on any node or explorer of the chain: `input` is the payload.
 *
 * Edges: viem signs locally (the private key never leaves the process and is handed in by the composition
 * root); JSON-RPC goes over the transport both chain adapters share (../json-rpc.ts); every result is checked with zod before it is believed, and every
 * failure becomes an EvmChainError with a stable code (evm-errors.ts).
 *
 * Nonces are managed here, not by the node: submits run one at a time, the next nonce is kept in memory,
 * and it is re-read from the node (pending block) on first use, after any failure, and when a lookup finds
 * one of our transactions gone. A "nonce too low" (another sender on the same key) re-reads and re-signs,
 * up to `maxNonceRetries` times, then fails with 'nonce-clash'.
 *
 * dedupKey: the signed bytes of each submit are kept per key. A retry with the same key first asks the node
 * for that hash and otherwise rebroadcasts the identical bytes (same nonce, same hash), so a submit that
 * timed out after the node took it never pays twice. This lives in memory: across a process restart the
 * anchorer's own record of the txId (lib/anchor/anchor-slots.ts: addAnchor) is what prevents a second payment.
 *
 * Fee bump (replace): a transaction stuck in the pool behind its fee is replaced by the same nonce and data
 * with both fee fields raised by 12.5% (nodes demand 10%: geth's and ganache's priceBump) or to what a new
 * transaction would offer now, whichever is more, within maxFeePerGasWei. A waiting transaction is not
 * helped by a new nonce: it would queue behind the stuck one.
 *
 * Size (over 500 lines): one class behind the Chain port. Submit, replace and lookup share the nonce, the
 * dedup memory and the fee rules above, so they stay together; the RPC transport (../json-rpc.ts), error
 * classes (evm-errors.ts) and the gas rule (evm-gas.ts) are already their own files.
 */
import { bytesToHex, type Hex, hexToBytes, keccak256 } from 'viem';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { z } from 'zod';
import type { Chain, ChainDescription, ChainEconomics, ChainTx } from '../../ports.js';
import { JsonRpcClient, RpcCallError } from '../json-rpc.js';
import { type Classified, classifyRpcFailure, EvmChainError, type EvmChainErrorCode } from './evm-errors.js';
import { calldataGasUpperBound } from './evm-gas.js';

export interface EvmChainConfig {
  rpcUrl: string;
  /** The chain the RPC URL must serve; checked against eth_chainId before the first transaction. */
  chainId: number;
  /**
   * 32-byte secp256k1 key of the anchoring wallet, 0x-prefixed hex. Omit it (and give `address`) for a
   * watch-only adapter that only looks transactions up, as the verify API needs: it never holds the key.
   */
  privateKey?: Hex;
  /** The anchoring wallet's address, for a watch-only adapter. */
  address?: string;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  /** Times a nonce clash is resolved by re-reading the nonce before giving up. Default 3. */
  maxNonceRetries?: number;
  /** Refuse to send when maxFeePerGas (or gasPrice) would exceed this, in wei. */
  maxFeePerGasWei?: bigint;
  /** Largest calldata accepted. Default 120,000 bytes (geth's pool refuses transactions over 128 KiB). */
  maxDataBytes?: number;
  /** Things an operator should see in the logs: nonce resyncs, rebroadcasts, dedup hits. */
  onEvent?: (e: EvmChainEvent) => void;
  /**
   * The gas rule budgets assume (economics): 'prague' (EIP-7623, 40 gas per data byte, the default: the
   * higher figure, so a budget never under-counts) or 'istanbul' (EIP-2028, 16 per byte, pre-Prague chains).
   */
  gasRule?: 'prague' | 'istanbul';
}

export type EvmChainEvent =
  | { kind: 'nonce-resync'; chainId: string; staleNonce: number; attempt: number; message: string }
  | { kind: 'fee-bump'; chainId: string; txId: string; replaces: string; nonce: number; feePerGasWei: string }
  | { kind: 'rebroadcast'; chainId: string; txId: string; dedupKey: string }
  | { kind: 'dedup-hit'; chainId: string; txId: string; dedupKey: string };

/** What lookup returns beyond the port's ChainTx: enough for cost reports and an explorer link. */
export interface EvmChainTx extends ChainTx {
  from: string;
  to: string | null;
  nonce: number;
  /** Receipt status: 'reverted' cannot happen to a call to an account without code, but is reported. */
  status?: 'success' | 'reverted';
  /** gasUsed × effectiveGasPrice, in wei, once mined. */
  feeWei?: bigint;
}

export type EvmChainDescription = Extract<ChainDescription, { kind: 'evm' }>;

// ------------------------------------------------------------------------------------------ RPC shapes

const quantity = z
  .string()
  .regex(/^0x[0-9a-fA-F]{1,64}$/)
  .transform((s) => BigInt(s));
const hexData = z.string().regex(/^0x(?:[0-9a-fA-F]{2})*$/);
const hash32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/)
  .transform((s) => s.toLowerCase());
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/)
  .transform((s) => s.toLowerCase());

const RpcTransaction = z.object({
  hash: hash32,
  from: address,
  to: address.nullable(),
  input: hexData,
  nonce: quantity,
  blockHash: hash32.nullable(),
  blockNumber: quantity.nullable(),
});
/** The fee fields of a transaction, for a replacement: EIP-1559 (type 0x2) or legacy/EIP-2930 gasPrice. */
const RpcTransactionFees = RpcTransaction.extend({
  gas: quantity,
  gasPrice: quantity.optional(),
  maxFeePerGas: quantity.optional(),
  maxPriorityFeePerGas: quantity.optional(),
});

const RpcReceipt = z.object({
  transactionHash: hash32,
  blockHash: hash32,
  blockNumber: quantity,
  status: quantity.optional(),
  gasUsed: quantity,
  effectiveGasPrice: quantity.optional(),
});
const RpcBlock = z.object({
  number: quantity,
  hash: hash32,
  timestamp: quantity,
  baseFeePerGas: quantity.optional().nullable(),
});

const HASH_RE = /^0x[0-9a-fA-F]{64}$/;
/**
 * Submits remembered for dedup and nonce bookkeeping. A retry comes within minutes; older batches are
 * deduplicated by the anchorer's own records, so the memory stays bounded in a process that runs for years.
 */
const REMEMBERED = 4096;

function remember<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > REMEMBERED) m.delete(m.keys().next().value as K);
}

type Fees =
  | { type: 'eip1559'; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  | { type: 'legacy'; gasPrice: bigint };

interface Signed {
  hash: string;
  raw: Hex;
  nonce: number;
  /** What a replacement must outbid, and re-sign with. */
  gas: bigint;
  fees: Fees;
  input: Hex;
}

/** +12.5%, rounded up: clears the 10% every node asks of a replacement, with room for rounding. */
const bumped = (x: bigint): bigint => x + (x + 7n) / 8n;
/** +10%, rounded up: the least a node (geth, ganache: priceBump 10) accepts as a replacement. */
const replaceable = (x: bigint): bigint => x + (x + 9n) / 10n;
const maxOf = (a: bigint, b: bigint): bigint => (a > b ? a : b);

export class EvmChain implements Chain {
  readonly chainId: string;
  readonly address: string;
  /** Undefined for a watch-only adapter. */
  private readonly account: PrivateKeyAccount | undefined;
  /** No retries inside: a hidden retry of eth_sendRawTransaction would blur which attempt the node saw. */
  private readonly rpc: JsonRpcClient;
  private readonly maxNonceRetries: number;
  private readonly maxDataBytes: number;
  private nonce: number | undefined;
  private chainChecked = false;
  private tail: Promise<unknown> = Promise.resolve();
  /** dedupKey → the signed transaction sent for it. */
  private readonly sent = new Map<string, Signed>();
  /** Transactions we signed, by hash: to notice when one disappears, and to replace one. */
  private readonly ours = new Map<string, Signed>();

  constructor(private readonly cfg: EvmChainConfig) {
    // Programming errors (settings reach here validated by lib/runtime/config.ts or chain-config.ts): RangeErrors.
    if (!Number.isSafeInteger(cfg.chainId) || cfg.chainId <= 0) throw new RangeError('chainId must be > 0');
    this.chainId = `evm:${cfg.chainId}`;
    if (cfg.privateKey !== undefined) {
      this.account = privateKeyToAccount(cfg.privateKey);
      this.address = this.account.address.toLowerCase();
      if (cfg.address !== undefined && cfg.address.toLowerCase() !== this.address)
        throw new RangeError('address is not the address of privateKey');
    } else {
      if (cfg.address === undefined || !/^0x[0-9a-fA-F]{40}$/.test(cfg.address))
        throw new RangeError('a watch-only EvmChain needs the wallet address (0x + 40 hex)');
      this.account = undefined;
      this.address = cfg.address.toLowerCase();
    }
    this.maxNonceRetries = cfg.maxNonceRetries ?? 3;
    this.maxDataBytes = cfg.maxDataBytes ?? 120_000;
    this.rpc = new JsonRpcClient({ url: cfg.rpcUrl, timeoutMs: cfg.timeoutMs ?? 10_000 });
  }

  // ---------------------------------------------------------------------------------------- submit

  submit(data: Uint8Array, opts: { dedupKey: string }): Promise<{ txId: string }> {
    const run = this.tail.then(() => this.submitNow(data, opts.dedupKey));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private signer(): PrivateKeyAccount {
    if (!this.account) throw this.fail('key-locked', 'this adapter is watch-only: it holds no key');
    return this.account;
  }

  private async submitNow(data: Uint8Array, dedupKey: string): Promise<{ txId: string }> {
    this.signer();
    if (data.length > this.maxDataBytes) {
      throw this.fail('payload-too-large', `${data.length} bytes of data; the limit is ${this.maxDataBytes}`);
    }
    const prior = this.sent.get(dedupKey);
    if (prior) {
      if (await this.getTransaction(prior.hash)) {
        this.cfg.onEvent?.({ kind: 'dedup-hit', chainId: this.chainId, txId: prior.hash, dedupKey });
        return { txId: prior.hash };
      }
      this.cfg.onEvent?.({ kind: 'rebroadcast', chainId: this.chainId, txId: prior.hash, dedupKey });
      let outcome: 'accepted' | 'nonce-used';
      try {
        outcome = await this.broadcast(prior);
      } catch (e) {
        if (!(e instanceof EvmChainError && e.code === 'rpc-unavailable')) this.sent.delete(dedupKey);
        throw e;
      }
      if (outcome === 'accepted') return { txId: prior.hash };
      // Its nonce was taken by another transaction meanwhile: sign this data afresh below.
      this.sent.delete(dedupKey);
      this.nonce = undefined;
    }
    await this.checkChain();

    for (let attempt = 0; ; attempt++) {
      let signed: Signed | undefined;
      try {
        const nonce = this.nonce ?? (await this.pendingNonce());
        signed = await this.sign(data, nonce);
        remember(this.sent, dedupKey, signed);
        remember(this.ours, signed.hash, signed);
        const outcome = await this.broadcast(signed);
        if (outcome === 'accepted') {
          this.nonce = nonce + 1;
          return { txId: signed.hash };
        }
      } catch (e) {
        this.nonce = undefined;
        // Unless the node may have taken it (no answer), the signed bytes are void: forget them.
        if (!(e instanceof EvmChainError && e.code === 'rpc-unavailable')) this.sent.delete(dedupKey);
        throw e;
      }
      this.sent.delete(dedupKey);
      this.nonce = undefined;
      const message = `nonce ${signed.nonce} was already used by another transaction from ${this.address}`;
      this.cfg.onEvent?.({
        kind: 'nonce-resync',
        chainId: this.chainId,
        staleNonce: signed.nonce,
        attempt,
        message,
      });
      if (attempt >= this.maxNonceRetries) {
        throw this.fail('nonce-clash', `${message}; gave up after ${attempt + 1} attempts`);
      }
    }
  }

  /** 'accepted' when the node holds the transaction (now or already); 'nonce-used' when its nonce is spent. */
  private async broadcast(signed: Signed): Promise<'accepted' | 'nonce-used'> {
    let returned: string;
    try {
      returned = await this.call('eth_sendRawTransaction', [signed.raw], hash32, true);
    } catch (e) {
      if (e instanceof KnownTransaction) return 'accepted';
      if (e instanceof EvmChainError && e.code === 'nonce-clash') return 'nonce-used';
      throw e;
    }
    if (returned !== signed.hash) {
      throw this.fail(
        'rpc-malformed-response',
        `node returned hash ${returned} for transaction ${signed.hash}`,
      );
    }
    return 'accepted';
  }

  private async sign(data: Uint8Array, nonce: number): Promise<Signed> {
    const input = bytesToHex(data);
    const self = this.signer().address;
    const [gas, latest] = await Promise.all([
      this.call('eth_estimateGas', [{ from: self, to: self, data: input, value: '0x0' }], quantity, true),
      this.call('eth_getBlockByNumber', ['latest', false], RpcBlock, false),
    ]);
    let fees: Fees;
    if (latest.baseFeePerGas !== undefined && latest.baseFeePerGas !== null) {
      const tip = await this.priorityFee();
      // Twice the base fee survives six full blocks in a row (+12.5% each) before the tx stops being includable.
      fees = { type: 'eip1559', maxFeePerGas: 2n * latest.baseFeePerGas + tip, maxPriorityFeePerGas: tip };
      this.checkFeeCap(fees.maxFeePerGas);
    } else {
      fees = { type: 'legacy', gasPrice: await this.call('eth_gasPrice', [], quantity, false) };
      this.checkFeeCap(fees.gasPrice);
    }
    return this.signWith({ input, nonce, gas, fees });
  }

  private async signWith(t: { input: Hex; nonce: number; gas: bigint; fees: Fees }): Promise<Signed> {
    const self = this.signer().address;
    const common = {
      chainId: this.cfg.chainId,
      nonce: t.nonce,
      to: self,
      value: 0n,
      data: t.input,
      gas: t.gas,
    };
    const raw =
      t.fees.type === 'eip1559'
        ? await this.signer().signTransaction({
            ...common,
            type: 'eip1559',
            maxFeePerGas: t.fees.maxFeePerGas,
            maxPriorityFeePerGas: t.fees.maxPriorityFeePerGas,
          })
        : await this.signer().signTransaction({ ...common, type: 'legacy', gasPrice: t.fees.gasPrice });
    return { hash: keccak256(raw), raw, nonce: t.nonce, gas: t.gas, fees: t.fees, input: t.input };
  }

  private async priorityFee(): Promise<bigint> {
    try {
      return await this.call('eth_maxPriorityFeePerGas', [], quantity, false);
    } catch (e) {
      // Some nodes lack the method; one gwei is what geth suggests on an idle chain.
      if (e instanceof EvmChainError && e.code === 'rpc-error') return 1_000_000_000n;
      throw e;
    }
  }

  private checkFeeCap(perGas: bigint): void {
    const cap = this.cfg.maxFeePerGasWei;
    if (cap !== undefined && perGas > cap) {
      throw this.fail('fee-above-cap', `fee per gas ${perGas} wei exceeds the cap of ${cap} wei`);
    }
  }

  private async pendingNonce(): Promise<number> {
    const n = await this.call('eth_getTransactionCount', [this.address, 'pending'], quantity, false);
    if (n > BigInt(Number.MAX_SAFE_INTEGER))
      throw this.fail('rpc-malformed-response', `nonce ${n} is absurd`);
    return Number(n);
  }

  private async checkChain(): Promise<void> {
    if (this.chainChecked) return;
    const id = await this.call('eth_chainId', [], quantity, false);
    if (id !== BigInt(this.cfg.chainId)) {
      throw this.fail('wrong-chain', `node serves chain ${id}, configured for ${this.cfg.chainId}`);
    }
    // A wallet with code (an EIP-7702 delegation) would run that code on every call to itself: the anchor
    // would then depend on someone's contract. Anchoring needs a plain key.
    const code = await this.call('eth_getCode', [this.address, 'latest'], hexData, false);
    if (code !== '0x') {
      throw this.fail(
        'wallet-has-code',
        `the anchoring address ${this.address} has code (${code.slice(0, 12)}…)`,
      );
    }
    this.chainChecked = true;
  }

  // ---------------------------------------------------------------------------------------- lookup

  private async getTransaction(txId: string): Promise<z.infer<typeof RpcTransaction> | null> {
    return this.call('eth_getTransactionByHash', [txId], RpcTransaction.nullable(), false);
  }

  async lookup(txId: string): Promise<EvmChainTx | undefined> {
    if (!HASH_RE.test(txId)) return undefined;
    const id = txId.toLowerCase();
    const tx = await this.getTransaction(id);
    if (!tx) {
      // One of ours vanished (dropped from the pool, or reorganised out): our nonce count may be ahead.
      if (this.ours.has(id)) this.nonce = undefined;
      return undefined;
    }
    if (tx.hash !== id)
      throw this.fail('rpc-malformed-response', `asked for ${id}, node returned ${tx.hash}`);
    if (tx.nonce > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail('rpc-malformed-response', 'absurd nonce');
    const base = {
      txId: id,
      data: hexToBytes(tx.input as Hex),
      from: tx.from,
      to: tx.to,
      nonce: Number(tx.nonce),
    };
    if (tx.blockHash === null || tx.blockNumber === null) return { ...base, confirmations: 0 };

    const [receipt, block, head] = await Promise.all([
      this.call('eth_getTransactionReceipt', [id], RpcReceipt.nullable(), false),
      this.call(
        'eth_getBlockByNumber',
        [`0x${tx.blockNumber.toString(16)}`, false],
        RpcBlock.nullable(),
        false,
      ),
      this.call('eth_blockNumber', [], quantity, false),
    ]);
    // Mid-reorg, or a load balancer answering from two nodes: the pieces disagree. Report "not in a block
    // yet" rather than a block that may not be canonical; the next lookup settles it.
    if (!receipt || !block || receipt.blockHash !== tx.blockHash || block.hash !== tx.blockHash) {
      return { ...base, confirmations: 0 };
    }
    const height = Number(tx.blockNumber);
    const out: EvmChainTx = {
      ...base,
      height,
      blockHash: tx.blockHash,
      time: Number(block.timestamp) * 1000,
      // A head behind the block (lagging replica) still means the block exists: at least one confirmation.
      confirmations: Math.max(1, Number(head) - height + 1),
    };
    if (receipt.status !== undefined) out.status = receipt.status === 1n ? 'success' : 'reverted';
    if (receipt.effectiveGasPrice !== undefined) {
      out.feeWei = receipt.gasUsed * receipt.effectiveGasPrice;
      out.fee = out.feeWei.toString();
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------- fee bump

  /** The port's replace (module comment): same nonce and data, a fee the node takes as a replacement. */
  replace(txId: string, data: Uint8Array): Promise<{ txId: string }> {
    const run = this.tail.then(() => this.replaceNow(txId, data));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async replaceNow(txId: string, data: Uint8Array): Promise<{ txId: string }> {
    this.signer();
    const id = txId.toLowerCase();
    const onChain = HASH_RE.test(id)
      ? await this.call('eth_getTransactionByHash', [id], RpcTransactionFees.nullable(), false)
      : null;
    if (onChain && onChain.blockHash !== null) return { txId: id };
    const old = this.ours.get(id) ?? (onChain ? this.fromNode(onChain) : undefined);
    if (!old) {
      throw this.fail('tx-rejected', `cannot replace ${id}: neither this process nor the node knows it`);
    }
    const input = bytesToHex(data);
    if (old.input.toLowerCase() !== input.toLowerCase()) {
      throw this.fail('tx-rejected', `cannot replace ${id}: it carries other data`);
    }
    const next = await this.signWith({ input, nonce: old.nonce, gas: old.gas, fees: await this.outbid(old) });
    const outcome = await this.broadcast(next);
    // Its nonce is spent: the old transaction (or another of ours) was mined meanwhile; lookups tell which.
    if (outcome === 'nonce-used') return { txId: id };
    remember(this.ours, next.hash, next);
    // A retried submit under the old transaction's dedupKey must find the replacement.
    for (const [key, signed] of this.sent) if (signed.hash === id) this.sent.set(key, next);
    this.cfg.onEvent?.({
      kind: 'fee-bump',
      chainId: this.chainId,
      txId: next.hash,
      replaces: id,
      nonce: next.nonce,
      feePerGasWei: String(next.fees.type === 'eip1559' ? next.fees.maxFeePerGas : next.fees.gasPrice),
    });
    return { txId: next.hash };
  }

  /** What the node says about a transaction of ours this process did not sign (e.g. before a restart). */
  private fromNode(t: z.infer<typeof RpcTransactionFees>): Signed | undefined {
    if (t.from !== this.address || t.nonce > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const fees: Fees | undefined =
      t.maxFeePerGas !== undefined && t.maxPriorityFeePerGas !== undefined
        ? { type: 'eip1559', maxFeePerGas: t.maxFeePerGas, maxPriorityFeePerGas: t.maxPriorityFeePerGas }
        : t.gasPrice !== undefined
          ? { type: 'legacy', gasPrice: t.gasPrice }
          : undefined;
    if (!fees) return undefined;
    return { hash: t.hash, raw: '0x', nonce: Number(t.nonce), gas: t.gas, fees, input: t.input as Hex };
  }

  /** Fees for a replacement of `old`: +12.5%, or today's offer if higher, within the cap; at least +10%. */
  private async outbid(old: Signed): Promise<Fees> {
    const cap = this.cfg.maxFeePerGasWei;
    const tooLow = (need: bigint) =>
      this.fail(
        'fee-above-cap',
        `replacing ${old.hash} needs at least ${need} wei per gas; the cap is ${cap} wei`,
      );
    if (old.fees.type === 'legacy') {
      const need = replaceable(old.fees.gasPrice);
      let gasPrice = maxOf(bumped(old.fees.gasPrice), await this.call('eth_gasPrice', [], quantity, false));
      if (cap !== undefined && gasPrice > cap) gasPrice = cap;
      if (gasPrice < need) throw tooLow(need);
      return { type: 'legacy', gasPrice };
    }
    const latest = await this.call('eth_getBlockByNumber', ['latest', false], RpcBlock, false);
    const base = latest.baseFeePerGas ?? 0n;
    let tip = maxOf(bumped(old.fees.maxPriorityFeePerGas), await this.priorityFee());
    let maxFeePerGas = maxOf(bumped(old.fees.maxFeePerGas), 2n * base + tip);
    if (cap !== undefined && maxFeePerGas > cap) maxFeePerGas = cap;
    if (tip > maxFeePerGas) tip = maxFeePerGas;
    const needMax = replaceable(old.fees.maxFeePerGas);
    const needTip = replaceable(old.fees.maxPriorityFeePerGas);
    if (maxFeePerGas < needMax) throw tooLow(needMax);
    if (tip < needTip) throw tooLow(needTip);
    return { type: 'eip1559', maxFeePerGas, maxPriorityFeePerGas: tip };
  }

  // ---------------------------------------------------------------------------------------- extras

  async describe(): Promise<EvmChainDescription> {
    return { chainId: this.chainId, kind: 'evm', address: this.address };
  }

  /**
   * Budget facts at current prices: the fee of `n` data bytes is the offline gas rule (evm-gas.ts, the
   * configured fork's worst case) times the fee per gas a submit would offer now (2 × base fee + tip, or
   * the legacy gas price), in ETH. Two reads of the node; the anchorer refreshes it each cycle.
   */
  async economics(): Promise<ChainEconomics> {
    const latest = await this.call('eth_getBlockByNumber', ['latest', false], RpcBlock, false);
    const perGas =
      latest.baseFeePerGas !== undefined && latest.baseFeePerGas !== null
        ? 2n * latest.baseFeePerGas + (await this.priorityFee())
        : await this.call('eth_gasPrice', [], quantity, false);
    const eip7623 = (this.cfg.gasRule ?? 'prague') === 'prague';
    const weiPerGas = Number(perGas);
    return {
      maxDataBytes: this.maxDataBytes,
      feePerTx: (n) => (calldataGasUpperBound(n, { eip7623 }) * weiPerGas) / 1e18,
      unit: 'ETH',
      decimals: 18,
    };
  }

  /** The wallet's balance in wei (latest block). */
  async balance(): Promise<bigint> {
    return this.call('eth_getBalance', [this.address, 'latest'], quantity, false);
  }

  /** The fee one anchor of `data` would cost now, in wei: estimated gas × current max fee per gas. */
  async estimateFee(data: Uint8Array): Promise<{ gas: bigint; feePerGas: bigint; wei: bigint }> {
    const self = this.address;
    const [gas, latest] = await Promise.all([
      this.call(
        'eth_estimateGas',
        [{ from: self, to: self, data: bytesToHex(data), value: '0x0' }],
        quantity,
        true,
      ),
      this.call('eth_getBlockByNumber', ['latest', false], RpcBlock, false),
    ]);
    const feePerGas =
      latest.baseFeePerGas !== undefined && latest.baseFeePerGas !== null
        ? latest.baseFeePerGas + (await this.priorityFee())
        : await this.call('eth_gasPrice', [], quantity, false);
    return { gas, feePerGas, wei: gas * feePerGas };
  }

  // ---------------------------------------------------------------------------------------- transport

  private async call<S extends z.ZodType>(
    method: string,
    params: readonly unknown[],
    schema: S,
    sending: boolean,
  ): Promise<z.output<S>> {
    let result: unknown;
    try {
      result = await this.rpc.call(method, params);
    } catch (e) {
      if (!(e instanceof RpcCallError)) throw e;
      const c = classifyRpcFailure(e.failure, sending);
      if (c.code === 'already-known') throw new KnownTransaction(c.message);
      throw this.failFrom(c, method, e);
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

  private fail(code: EvmChainErrorCode, message: string, rpcCode?: number, cause?: unknown): EvmChainError {
    const opts: { chainId: string; rpcCode?: number; cause?: unknown } = { chainId: this.chainId, cause };
    if (rpcCode !== undefined) opts.rpcCode = rpcCode;
    return new EvmChainError(code, `${this.chainId}: ${message}`, opts);
  }

  private failFrom(c: Classified, method: string, cause: unknown): EvmChainError {
    const code = c.code === 'already-known' ? 'tx-rejected' : c.code;
    return this.fail(code, `${method}: ${c.message}`, c.rpcCode, cause);
  }
}

/** Internal signal: the node already holds the transaction being broadcast. */
class KnownTransaction extends Error {}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}
