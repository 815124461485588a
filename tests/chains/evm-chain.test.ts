/**
 * The EVM adapter against a real local EVM node (ganache 7.9.2, started here; tests/support/ganache-node.ts):
 * anchoring, confirmations, dedup, a lost acknowledgement, insufficient funds, a nonce clash, the node going
 * down and coming back, a reorganisation driving the finality machine, and malformed RPC answers.
 */
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvmChain, type EvmChainConfig, type EvmChainEvent } from '../../lib/adapters/evm/evm-chain.js';
import { EvmChainError } from '../../lib/adapters/evm/evm-errors.js';
import { calldataGas } from '../../lib/adapters/evm/evm-gas.js';
import {
  type FinalityConfig,
  resubmitted,
  stepFinality,
  submittedState,
} from '../../lib/anchor/finality-machine.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { expectBytes } from '../support/bytes.js';
import { type GarbageMode, startGarbageRpc, startRpcProxy } from '../support/chain-rpc-faults.js';
import { type GanacheNode, startGanache } from '../support/ganache-node.js';

const ETH = 10n ** 18n;
const payload = (label: string, size = 3) =>
  encodeAnchorPayload({ root: sha256(utf8(label)), treeSize: size });

async function rejection(p: Promise<unknown>): Promise<EvmChainError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(EvmChainError);
    return e as EvmChainError;
  }
  throw new Error('expected a rejection');
}

describe('EvmChain on ganache', () => {
  const keyA = generatePrivateKey();
  const keyB = generatePrivateKey();
  let node: GanacheNode;
  const chains: EvmChain[] = [];
  const make = (privateKey: Hex, over: Partial<EvmChainConfig> = {}) => {
    const c = new EvmChain({ rpcUrl: node.url, chainId: node.chainId, privateKey, ...over });
    chains.push(c);
    return c;
  };
  const txCount = async (address: string) =>
    Number(BigInt((await node.rpc('eth_getTransactionCount', [address, 'latest'])) as string));

  beforeAll(async () => {
    node = await startGanache({
      accounts: [
        { secretKey: keyA, balance: 10n * ETH },
        { secretKey: keyB, balance: 10n * ETH },
      ],
    });
  });
  afterAll(async () => {
    await node.close();
  });

  it('anchors the payload as calldata to self; lookup gives data, block, time, confirmations and fee', async () => {
    const chain = make(keyA);
    const data = payload('root A');
    const { txId } = await chain.submit(data, { dedupKey: 'batch-a' });
    expect(txId).toMatch(/^0x[0-9a-f]{64}$/);

    const tx = await chain.lookup(txId);
    expectBytes(tx?.data, data);
    expect(tx?.from).toBe(chain.address);
    expect(tx?.to).toBe(chain.address);
    expect(tx?.height).toBeGreaterThanOrEqual(1);
    expect(tx?.blockHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(tx?.confirmations).toBe(1);
    expect(tx?.status).toBe('success');
    expect(Number.isInteger(tx?.time) && (tx?.time ?? 0) % 1000 === 0).toBe(true);
    expect(tx?.feeWei).toBeGreaterThan(0n);
    expect(await chain.describe()).toEqual({
      chainId: `evm:${node.chainId}`,
      kind: 'evm',
      address: chain.address,
    });

    // What a third-party verifier sees with plain eth_getTransactionByHash: input is the payload.
    const raw = (await node.rpc('eth_getTransactionByHash', [txId])) as {
      input: string;
      to: string;
      value: string;
    };
    expect(raw.input).toBe(`0x${toHex(data)}`);
    expect(raw.value).toBe('0x0');
  });

  it('pays the calldata rule exactly (ganache predates EIP-7623)', async () => {
    const chain = make(keyA);
    const data = payload('gas');
    const fee = await chain.estimateFee(data);
    expect(Number(fee.gas)).toBe(calldataGas(data, { eip7623: false }));
    expect(await chain.balance()).toBeGreaterThan(0n);
  });

  it('confirmations grow as blocks are mined', async () => {
    const chain = make(keyA);
    const { txId } = await chain.submit(payload('conf'), { dedupKey: 'batch-conf' });
    expect((await chain.lookup(txId))?.confirmations).toBe(1);
    await node.mine(5);
    expect((await chain.lookup(txId))?.confirmations).toBe(6);
  });

  it('a transaction still in the pool has 0 confirmations and no block', async () => {
    const chain = make(keyA);
    await node.rpc('miner_stop');
    try {
      const { txId } = await chain.submit(payload('pending'), { dedupKey: 'batch-pending' });
      const tx = await chain.lookup(txId);
      expect(tx?.confirmations).toBe(0);
      expect(tx?.blockHash).toBeUndefined();
      expect(tx?.height).toBeUndefined();
      await node.rpc('miner_start');
      await node.mine(1);
      expect((await chain.lookup(txId))?.confirmations).toBeGreaterThanOrEqual(1);
    } finally {
      await node.rpc('miner_start');
    }
  });

  it('a retried submit with the same dedupKey returns the first transaction and sends nothing', async () => {
    const events: EvmChainEvent[] = [];
    const chain = make(keyA, { onEvent: (e) => events.push(e) });
    const first = await chain.submit(payload('dedup'), { dedupKey: 'batch-dedup' });
    const count = await txCount(chain.address);
    const again = await chain.submit(payload('dedup'), { dedupKey: 'batch-dedup' });
    expect(again.txId).toBe(first.txId);
    expect(await txCount(chain.address)).toBe(count);
    expect(events.map((e) => e.kind)).toEqual(['dedup-hit']);
  });

  it('a lost acknowledgement: the node took it, the caller saw a reset; the retry finds it instead of paying twice', async () => {
    const proxy = await startRpcProxy(node.url);
    try {
      const events: EvmChainEvent[] = [];
      const chain = make(keyA, { rpcUrl: proxy.url, onEvent: (e) => events.push(e) });
      const before = await txCount(chain.address);
      proxy.loseAnswerTo('eth_sendRawTransaction');
      const err = await rejection(chain.submit(payload('lost ack'), { dedupKey: 'batch-lost' }));
      expect(err.code).toBe('rpc-unavailable');
      expect(err.retryable).toBe(true);
      expect(await txCount(chain.address)).toBe(before + 1); // the node did take it

      const { txId } = await chain.submit(payload('lost ack'), { dedupKey: 'batch-lost' });
      expect(await txCount(chain.address)).toBe(before + 1);
      expectBytes((await chain.lookup(txId))?.data, payload('lost ack'));
      expect(events.map((e) => e.kind)).toEqual(['dedup-hit']);
    } finally {
      await proxy.close();
    }
  });

  it('insufficient funds: an unfunded key gets a typed, non-retryable error', async () => {
    const poor = make(generatePrivateKey());
    const err = await rejection(poor.submit(payload('poor'), { dedupKey: 'batch-poor' }));
    expect(err.code).toBe('insufficient-funds');
    expect(err.retryable).toBe(false);
    expect(err.chainId).toBe(`evm:${node.chainId}`);
    expect(err.message).toMatch(/insufficient funds/);
    expect(await txCount(poor.address)).toBe(0);
  });

  it('nonce clash: a second anchorer on the same key; the stale one re-reads its nonce and every anchor lands', async () => {
    const events: EvmChainEvent[] = [];
    const one = make(keyB, { onEvent: (e) => events.push(e) });
    const two = make(keyB);
    const t1 = await one.submit(payload('clash 1'), { dedupKey: 'clash-1' }); // one caches its next nonce
    const t2 = await two.submit(payload('clash 2'), { dedupKey: 'clash-2' }); // two takes that nonce
    const t3 = await one.submit(payload('clash 3'), { dedupKey: 'clash-3' }); // one's cache is stale
    expect(events.map((e) => e.kind)).toEqual(['nonce-resync']);
    const nonces = await Promise.all([t1, t2, t3].map(async (t) => (await one.lookup(t.txId))?.nonce));
    expect(new Set(nonces).size).toBe(3);
    for (const [t, label] of [
      [t1, 'clash 1'],
      [t2, 'clash 2'],
      [t3, 'clash 3'],
    ] as const)
      expectBytes((await one.lookup(t.txId))?.data, payload(label));
  });

  it('a nonce clash that re-reading cannot resolve is a typed nonce-clash error, and the next submit recovers', async () => {
    const stubborn = make(keyB, { maxNonceRetries: 0 });
    const other = make(keyB);
    await stubborn.submit(payload('s1'), { dedupKey: 's1' });
    await other.submit(payload('s2'), { dedupKey: 's2' });
    const err = await rejection(stubborn.submit(payload('s3'), { dedupKey: 's3' }));
    expect(err.code).toBe('nonce-clash');
    expect(err.retryable).toBe(true);
    const { txId } = await stubborn.submit(payload('s3'), { dedupKey: 's3' });
    expectBytes((await stubborn.lookup(txId))?.data, payload('s3'));
  });

  it('refuses before sending: wrong chain id, fee above the cap, data over the limit', async () => {
    expect((await rejection(make(keyA, { chainId: 1 }).submit(payload('x'), { dedupKey: 'w' }))).code).toBe(
      'wrong-chain',
    );
    expect(
      (await rejection(make(keyA, { maxFeePerGasWei: 1n }).submit(payload('x'), { dedupKey: 'f' }))).code,
    ).toBe('fee-above-cap');
    expect(
      (await rejection(make(keyA, { maxDataBytes: 44 }).submit(payload('x'), { dedupKey: 'l' }))).code,
    ).toBe('payload-too-large');
  });

  it('refuses a wallet with code (EIP-7702 delegation): a call to self would run it', async () => {
    const key = generatePrivateKey();
    const chain = make(key);
    await node.rpc('evm_setAccountCode', [chain.address, '0x6000']);
    const err = await rejection(chain.submit(payload('code'), { dedupKey: 'c' }));
    expect(err).toMatchObject({ code: 'wallet-has-code', retryable: false });
  });

  it('lookup of unknown or malformed ids is undefined', async () => {
    const chain = make(keyA);
    expect(await chain.lookup(`0x${'11'.repeat(32)}`)).toBeUndefined();
    expect(await chain.lookup('11'.repeat(32))).toBeUndefined();
    expect(await chain.lookup('nonsense')).toBeUndefined();
  });

  /**
   * A fresh wallet whose first anchor is mined and whose second waits in the pool (miner stopped). The stuck
   * one is the second because ganache 7.9.2 takes a same-nonce replacement of nonce 0 for a new transaction
   * (its pool reads nonce 0 as "no nonce"); geth does not.
   */
  async function stuckAnchor(over: Partial<EvmChainConfig> = {}) {
    const key = generatePrivateKey();
    await node.rpc('evm_setAccountBalance', [privateKeyToAccount(key).address, `0x${ETH.toString(16)}`]);
    const events: EvmChainEvent[] = [];
    const chain = make(key, { onEvent: (e) => events.push(e), ...over });
    await chain.submit(payload('mined first'), { dedupKey: 'bump-0' });
    await node.rpc('miner_stop');
    const data = payload('stuck');
    const { txId } = await chain.submit(data, { dedupKey: 'bump-1' });
    const pending = (await node.rpc('eth_getTransactionByHash', [txId])) as RawTx;
    return { key, chain, data, txId, pending, events };
  }
  interface RawTx {
    hash: string;
    nonce: string;
    blockHash: string | null;
    maxFeePerGas: string;
    maxPriorityFeePerGas: string;
    input: string;
  }

  it('a stuck transaction is replaced: same nonce and data, both fees ≥ +10%; the replacement is mined, the old one never', async () => {
    const { chain, data, txId, pending, events } = await stuckAnchor();
    try {
      expect(pending.blockHash).toBeNull();
      const { txId: next } = await chain.replace(txId, data);
      expect(next).not.toBe(txId);
      // A retried submit under the stuck one's dedupKey now answers with the replacement, sending nothing.
      expect((await chain.submit(data, { dedupKey: 'bump-1' })).txId).toBe(next);
      // Mined while the miner is stopped (evm_mine racing miner_start's own block confuses ganache).
      await node.mine(1);
      await node.rpc('miner_start');

      const mined = (await node.rpc('eth_getTransactionByHash', [next])) as RawTx;
      expect(mined.blockHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(mined.nonce).toBe(pending.nonce);
      expect(mined.input).toBe(pending.input);
      expect(BigInt(mined.maxFeePerGas) * 10n).toBeGreaterThanOrEqual(BigInt(pending.maxFeePerGas) * 11n);
      expect(BigInt(mined.maxPriorityFeePerGas) * 10n).toBeGreaterThanOrEqual(
        BigInt(pending.maxPriorityFeePerGas) * 11n,
      );
      expect(await node.rpc('eth_getTransactionByHash', [txId])).toBeNull();
      const found = await chain.lookup(next);
      expectBytes(found?.data, data);
      expect(found?.confirmations).toBeGreaterThanOrEqual(1);
      expect(events.filter((e) => e.kind === 'fee-bump')).toEqual([
        expect.objectContaining({ txId: next, replaces: txId, nonce: Number(BigInt(pending.nonce)) }),
      ]);
    } finally {
      await node.rpc('miner_start');
    }
  });

  it('a bump the fee cap does not allow is fee-above-cap and sends nothing (read back from the node, as after a restart)', async () => {
    const { key, data, txId, pending } = await stuckAnchor();
    try {
      // Another adapter on the key, as after a restart: it knows the transaction only from the node. Its cap
      // admits the stuck transaction's own fee, not the 10% more a replacement must pay.
      const capped = make(key, { maxFeePerGasWei: BigInt(pending.maxFeePerGas) });
      const err = await rejection(capped.replace(txId, data));
      expect(err).toMatchObject({ code: 'fee-above-cap', retryable: true });
      await node.mine(1);
      expect(((await node.rpc('eth_getTransactionByHash', [txId])) as RawTx).blockHash).toMatch(/^0x/);
    } finally {
      await node.rpc('miner_start');
    }
  });

  it('replace() of a transaction already in a block returns it and sends nothing', async () => {
    const chain = make(keyA);
    const { txId } = await chain.submit(payload('in a block'), { dedupKey: 'bump-mined' });
    const count = await txCount(chain.address);
    expect(await chain.replace(txId, payload('in a block'))).toEqual({ txId });
    expect(await txCount(chain.address)).toBe(count);
  });

  it('a reorganisation that loses the anchor: finality sees it, resubmits, and the new one becomes final', async () => {
    const chain = make(keyA);
    const cfg: FinalityConfig = {
      confirmations: 3,
      dropAfterMs: 60_000,
      stuckAfterMs: 600_000,
      pollMs: 1_000,
    };
    const data = payload('reorg');
    const snapshot = await node.rpc('evm_snapshot');
    const first = await chain.submit(data, { dedupKey: 'batch-reorg' });
    let state = submittedState({
      chainId: chain.chainId,
      txId: first.txId,
      payload: data,
      submittedAt: 0,
      cfg,
    });
    const observe = async (now: number) => {
      const tx = await chain.lookup(state.txId);
      const step = stepFinality(state, tx ? { kind: 'found', tx } : { kind: 'not-found' }, cfg, now);
      state = step.state;
      return step;
    };
    expect((await observe(1)).state.phase).toBe('anchored');

    await node.rpc('evm_revert', [snapshot]); // the block holding it is gone
    const step = await observe(2);
    expect(step.state.phase).toBe('dropped');
    expect(step.action).toEqual({ kind: 'resubmit', reason: 'reorganised' });

    // The adapter noticed its transaction vanished and re-reads the nonce, so the resubmission is minable.
    const second = await chain.submit(data, { dedupKey: `batch-reorg#${state.attempt + 1}` });
    state = resubmitted(state, second.txId, 3, cfg);
    expect((await observe(4)).state.phase).toBe('anchored');
    await node.mine(2);
    const done = await observe(5);
    expect(done.state).toMatchObject({ phase: 'final', attempt: 2, reorgs: 1, confirmations: 3 });
  });
});

describe('EvmChain when the node goes down mid-run', () => {
  const key = generatePrivateKey();
  let node: GanacheNode;
  beforeAll(async () => {
    node = await startGanache({ accounts: [{ secretKey: key, balance: 10n * ETH }] });
  });
  afterAll(async () => {
    await node.close();
  });

  it('fails with rpc-unavailable while down, and works again once it is back, with its chain intact', async () => {
    const chain = new EvmChain({
      rpcUrl: node.url,
      chainId: node.chainId,
      privateKey: key,
      timeoutMs: 2_000,
    });
    const t1 = await chain.submit(payload('before'), { dedupKey: 'd1' });

    await node.stop();
    const down = await rejection(chain.submit(payload('during'), { dedupKey: 'd2' }));
    expect(down.code).toBe('rpc-unavailable');
    expect(down.retryable).toBe(true);
    expect((await rejection(chain.lookup(t1.txId))).code).toBe('rpc-unavailable');

    await node.start();
    const t2 = await chain.submit(payload('during'), { dedupKey: 'd2' });
    expectBytes((await chain.lookup(t2.txId))?.data, payload('during'));
    const first = await chain.lookup(t1.txId);
    expectBytes(first?.data, payload('before'));
    expect(first?.confirmations).toBe(2);
  });
});

describe('EvmChain and malformed RPC answers', () => {
  const cases: [GarbageMode, string][] = [
    ['not-json', 'rpc-malformed-response'],
    ['wrong-shape', 'rpc-malformed-response'],
    ['no-result', 'rpc-malformed-response'],
    ['wrong-id', 'rpc-malformed-response'],
    ['html-502', 'rpc-unavailable'],
    // The status travels with the error object: an overloaded node, not a refusal.
    ['rpc-error-503', 'rpc-unavailable'],
  ];
  for (const [mode, code] of cases) {
    it(`${mode} → ${code}, on submit and on lookup`, async () => {
      const rpc = await startGarbageRpc(mode);
      try {
        const chain = new EvmChain({ rpcUrl: rpc.url, chainId: 31337, privateKey: generatePrivateKey() });
        const onSubmit = await rejection(chain.submit(payload('g'), { dedupKey: 'g' }));
        const onLookup = await rejection(chain.lookup(`0x${'22'.repeat(32)}`));
        // wrong-id included: the shared transport (json-rpc.ts) checks every answer's id, so an answer to
        // another request is never read as this one's (viem's transport did not, and took its '0x1' for a
        // chain id).
        expect(onSubmit.code).toBe(code);
        expect(onLookup.code).toBe(code);
        expect(onLookup.message).toContain('evm:31337');
      } finally {
        await rpc.close();
      }
    });
  }
});
