/**
 * The anchor cycle (lib/anchor/anchor-cycle.ts) over the real local stores, the embedded ledger, a real local
 * EVM node (ganache) and the BigBang STAND-IN, with a test clock for the cycle so budgets and backoff are
 * decided by numbers, not by waiting: the budget's interval and backpressure (no record ever dropped),
 * insufficient funds, a nonce clash and a malformed RPC answer each visible in status() with their code and
 * retried, a reorganisation on BigBang detected and anchored again, and inline packets refused by the budget.
 */
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BigBangChain } from '../../lib/adapters/bigbang/bigbang-chain.js';
import { EvmChain } from '../../lib/adapters/evm/evm-chain.js';
import { type AnchorCycle, createAnchorCycle } from '../../lib/anchor/anchor-cycle.js';
import type { AnchorChain } from '../../lib/anchor/anchor-policy.js';
import type { FinalityConfig } from '../../lib/anchor/finality-machine.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { Chain } from '../../lib/ports.js';
import { verifyRecord } from '../../lib/verify/record-proof.js';
import { type BigBangStandIn, startBigBangStandIn } from '../support/bigbang-standin.js';
import { ResendingChain } from '../support/chain-doubles.js';
import { startGarbageRpc } from '../support/chain-rpc-faults.js';
import { type GanacheNode, startGanache } from '../support/ganache-node.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

const ETH = 10n ** 18n;
const UNLIMITED = { maxTxPerSecond: Infinity, maxTokensPerDay: Infinity, inclusionMs: 0 };
const FINALITY: FinalityConfig = {
  confirmations: 1,
  pollMs: 1_000,
  dropAfterMs: 60_000,
  stuckAfterMs: 600_000,
};
const RETRY = { baseMs: 1_000, maxMs: 60_000 };

describe('the anchor cycle', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let device: TestDevice;
  let node: GanacheNode;
  let standin: BigBangStandIn;
  const funded = generatePrivateKey();

  beforeAll(async () => {
    node = await startGanache({ accounts: [{ secretKey: funded, balance: 10n * ETH }] });
  });
  afterAll(async () => {
    await node.close();
  });
  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    device = new TestDevice(`dev-${Math.random().toString(36).slice(2, 8)}`);
    await provisionLegacyDevices(stack.index, [device.deviceId]);
    standin = await startBigBangStandIn({ mineOnSubmit: true });
  });
  afterEach(async () => {
    await standin.close();
    await stack.close();
  });

  const ledger = (): AnchorChain => ({ chain: stack.ledger, budget: UNLIMITED, finality: FINALITY });
  const bigbang = (over: Partial<AnchorChain> = {}): AnchorChain => ({
    chain: new BigBangChain({
      rpcUrl: standin.url,
      from: standin.address,
      network: 'standin',
      timeoutMs: 2_000,
    }),
    budget: UNLIMITED,
    finality: { ...FINALITY, confirmations: 2 },
    ...over,
  });
  const evm = (key: Hex, over: { maxNonceRetries?: number; rpcUrl?: string } = {}): AnchorChain => ({
    chain: new EvmChain({
      rpcUrl: over.rpcUrl ?? node.url,
      chainId: node.chainId,
      privateKey: key,
      timeoutMs: 2_000,
      gasRule: 'istanbul',
      ...(over.maxNonceRetries === undefined ? {} : { maxNonceRetries: over.maxNonceRetries }),
    }),
    budget: UNLIMITED,
    finality: FINALITY,
  });
  const cycleOf = (chains: AnchorChain[], maxBatchSize = 1000, target = 10_000): AnchorCycle =>
    createAnchorCycle({
      index: stack.index,
      statements: stack.statements,
      objects: stack.objects,
      chains,
      clock: clock.now,
      policy: { targetMaxTimeToAnchorMs: target, maxBatchSize, minIntervalMs: 1_000 },
      retry: RETRY,
    });
  async function ingest(n: number, plaintextBytes = 16): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = device.seal({ plaintext: new Uint8Array(plaintextBytes).fill(i) });
      const out = await ingestEnvelope(
        {
          objects: stack.objects,
          index: stack.index,
          clock: clock.now,
          limits: { maxClockSkewMs: 60_000 },
          origin: testOrigin(stack.index),
        },
        { deviceId: device.deviceId, bytes: r.envelope, via: 'inline' },
      );
      expect(out.status).toBe('stored');
      ids.push(`${device.deviceId}.${r.seq}`);
    }
    return ids;
  }
  const verify = (cycle: AnchorCycle, chains: Chain[], id: string) =>
    verifyRecord(
      {
        index: stack.index,
        statements: stack.statements,
        objects: stack.objects,
        chains: new Map(chains.map((c) => [c.chainId, c])),
        clock: clock.now,
        requiredConfirmations: cycle.requiredConfirmations,
      },
      id,
    );
  const healthOf = async (cycle: AnchorCycle, chainId: string) =>
    (await cycle.status()).chains.find((c) => c.chainId === chainId)?.health;

  it('anchors under a token budget: the interval is its floor, backpressure while behind, no record dropped', async () => {
    // 0.03 BBC per anchor and 43.2 BBC a day: at most one root a minute. Batches of 4, a target of 2 minutes:
    // the budget anchors 8 records within the target, so a queue of 20 is backpressure.
    const bbc = bigbang({ budget: { maxTxPerSecond: Infinity, maxTokensPerDay: 43.2, inclusionMs: 0 } });
    const cycle = cycleOf([ledger(), bbc], 4, 120_000);
    const ids = await ingest(20);

    const first = await cycle.run({ gate: true });
    expect(first.batch?.size).toBe(4);
    expect(first.plan).toMatchObject({ intervalMs: 60_000, limitedBy: 'tokens-per-day', pending: 20 });
    expect(first.plan.backpressure).toMatchObject({ active: true, reason: 'backlog-exceeds-target' });
    expect(cycle.backpressure()?.retryAfterMs).toBe(60_000);
    const status = await cycle.status();
    expect(status.chains.find((c) => c.chainId === bbc.chain.chainId)?.cost).toMatchObject({
      feePerTx: 0.03,
      floorMs: 60_000,
      floorBy: 'tokens-per-day',
      seedTokensPerMillionRecords: 30_000,
    });

    // Within the minute nothing more is built; the records wait in the queue.
    clock.advance(30_000);
    const early = await cycle.run({ gate: true });
    expect(early.notDue).toBe(true);
    expect(early.batch).toBeUndefined();
    expect(await stack.index.countPending()).toBe(16);

    let batches = 1;
    for (let i = 0; i < 10 && (await stack.index.countPending()) > 0; i++) {
      clock.advance(60_000);
      standin.mine(2);
      if ((await cycle.run({ gate: true })).batch) batches++;
    }
    expect(batches).toBe(5);
    expect(await stack.index.countPending()).toBe(0);
    standin.mine(2);
    clock.advance(60_000);
    const last = await cycle.run({ gate: true });
    expect(last.plan.backpressure.active).toBe(false);
    for (const id of ids) {
      const v = await verify(cycle, [stack.ledger, bbc.chain], id);
      expect(v.status, id).toBe('verified');
      expect(v.checks.anchors.map((a) => a.chainId).sort()).toEqual(
        [stack.ledger.chainId, bbc.chain.chainId].sort(),
      );
    }
  });

  it('insufficient funds: a non-retryable failure, visible, records held; funded, it anchors', async () => {
    const broke = generatePrivateKey();
    const chain = evm(broke);
    const cycle = cycleOf([ledger(), chain]);
    await ingest(3);
    const r1 = await cycle.run();
    expect(r1.failures).toEqual([
      expect.objectContaining({ chainId: chain.chain.chainId, code: 'insufficient-funds', retryable: false }),
    ]);
    const h1 = await healthOf(cycle, chain.chain.chainId);
    expect(h1?.submit).toMatchObject({ state: 'failing', lastError: { code: 'insufficient-funds' } });
    // Needs an operator: tried again only after the longest backoff, whatever happens meanwhile.
    expect(h1?.submit.nextAttemptAt).toBe(clock.now() + RETRY.maxMs);
    const id = `${device.deviceId}.0`;
    expect((await verify(cycle, [stack.ledger, chain.chain], id)).reasons.map((r) => r.code)).toEqual([
      'anchor-not-submitted',
    ]);

    await ingest(2);
    const held = await cycle.run();
    expect(held.held).toBe('unsubmitted-batch');
    expect(held.batch).toBeUndefined();
    expect(await stack.index.countPending()).toBe(2);

    await node.rpc('evm_setAccountBalance', [privateKeyToAccount(broke).address, `0x${ETH.toString(16)}`]);
    clock.advance(RETRY.maxMs);
    const r2 = await cycle.run();
    expect(r2.failures).toEqual([]);
    expect(r2.resumed).toHaveLength(1);
    expect(r2.batch?.size).toBe(2);
    expect((await healthOf(cycle, chain.chain.chainId))?.submit.state).toBe('ok');
    expect((await verify(cycle, [stack.ledger, chain.chain], id)).status).toBe('verified');
  });

  it('a nonce clash (another sender on the key) is visible as such, retried, and then anchors', async () => {
    const key = generatePrivateKey();
    await node.rpc('evm_setAccountBalance', [privateKeyToAccount(key).address, `0x${ETH.toString(16)}`]);
    const chain = evm(key, { maxNonceRetries: 0 });
    const cycle = cycleOf([ledger(), chain]);
    await ingest(1);
    expect((await cycle.run()).failures).toEqual([]);
    // Another anchorer on the same key takes the nonce this adapter counted on.
    const other = new EvmChain({ rpcUrl: node.url, chainId: node.chainId, privateKey: key });
    await other.submit(encodeAnchorPayload({ root: sha256(utf8('other')), treeSize: 1 }), { dedupKey: 'x' });

    await ingest(1);
    const r = await cycle.run();
    expect(r.failures).toEqual([expect.objectContaining({ code: 'nonce-clash', retryable: true })]);
    const h = await healthOf(cycle, chain.chain.chainId);
    expect(h?.submit).toMatchObject({
      state: 'failing',
      consecutiveFailures: 1,
      lastError: { code: 'nonce-clash' },
    });
    expect(h?.submit.nextAttemptAt).toBe(clock.now() + RETRY.baseMs);
    clock.advance(RETRY.baseMs);
    expect((await cycle.run()).failures).toEqual([]);
    expect((await verify(cycle, [stack.ledger, chain.chain], `${device.deviceId}.1`)).status).toBe(
      'verified',
    );
  });

  it('a malformed RPC answer is a retryable failure with its own code, backing off exponentially', async () => {
    const garbage = await startGarbageRpc('wrong-shape');
    try {
      const chain = evm(funded, { rpcUrl: garbage.url });
      const cycle = cycleOf([ledger(), chain]);
      await ingest(2);
      const r = await cycle.run();
      expect(r.failures).toEqual([
        expect.objectContaining({ code: 'rpc-malformed-response', retryable: true }),
      ]);
      clock.advance(RETRY.baseMs);
      await cycle.run();
      const h = await healthOf(cycle, chain.chain.chainId);
      expect(h?.submit).toMatchObject({
        consecutiveFailures: 2,
        lastError: { code: 'rpc-malformed-response' },
      });
      expect(h?.submit.nextAttemptAt).toBe(clock.now() + 2 * RETRY.baseMs);
      expect(await stack.index.countPending()).toBe(0);
      expect((await stack.index.listUnanchored()).length).toBe(1);
    } finally {
      await garbage.close();
    }
  });

  it('a reorganisation that loses the BigBang anchor is detected, anchored again, and final', async () => {
    const bbc = bigbang();
    const cycle = cycleOf([ledger(), bbc]);
    const [id] = await ingest(2);
    const r = await cycle.run();
    const batchId = r.batch?.batchId as string;
    const first = r.anchors.find((a) => a.chainId === bbc.chain.chainId);
    expect(first?.phase).toBe('anchored');
    expect((await stack.index.getBatch(batchId))?.state).toBe('anchored');

    standin.reorg(first?.txId as string); // gone, not back in the pool
    clock.advance(FINALITY.pollMs);
    const polled = await cycle.poll();
    expect(polled.events.map((e) => e.event)).toEqual(expect.arrayContaining(['dropped', 'resubmitted']));
    const again = (await stack.index.getBatch(batchId))?.anchors.find((a) => a.chainId === bbc.chain.chainId);
    expect(again).toMatchObject({ attempt: 2, reorgs: 1, replaced: [first?.txId] });
    expect(again?.txId).not.toBe(first?.txId);

    standin.mine(2);
    clock.advance(FINALITY.pollMs);
    await cycle.poll();
    expect((await stack.index.getBatch(batchId))?.state).toBe('final');
    expect(await stack.index.listAnchorsDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    const v = await verify(cycle, [stack.ledger, bbc.chain], id as string);
    expect(v.status).toBe('verified');
    expect(v.checks.anchors.find((a) => a.chainId === bbc.chain.chainId)?.txId).toBe(again?.txId);
  });

  it('an EVM transaction stuck past stuckAfterMs is replaced with a higher fee; the replacement is mined and is the anchor', async () => {
    const key = generatePrivateKey();
    await node.rpc('evm_setAccountBalance', [privateKeyToAccount(key).address, `0x${ETH.toString(16)}`]);
    const chain = evm(key);
    const cycle = cycleOf([ledger(), chain]);
    await ingest(1);
    // The wallet's first anchor (nonce 0) is mined at once: ganache 7.9.2 cannot replace nonce 0 (evm-chain.test.ts).
    expect((await cycle.run()).failures).toEqual([]);
    await node.rpc('miner_stop');
    try {
      const [id] = await ingest(2);
      const r = await cycle.run();
      const batchId = r.batch?.batchId as string;
      const anchorOf = async () =>
        (await stack.index.getBatch(batchId))?.anchors.find((a) => a.chainId === chain.chain.chainId);
      const stuck = await anchorOf();
      expect(stuck?.phase).toBe('submitted');
      const before = (await node.rpc('eth_getTransactionByHash', [stuck?.txId])) as {
        nonce: string;
        maxFeePerGas: string;
      };

      clock.advance(FINALITY.stuckAfterMs);
      const polled = await cycle.poll();
      expect(polled.events.map((e) => e.event)).toEqual(expect.arrayContaining(['stuck', 'fee-bumped']));
      expect(polled.events.map((e) => e.event)).not.toContain('alert');
      const bumped = await anchorOf();
      expect(bumped).toMatchObject({ phase: 'submitted', attempt: 2, replaced: [stuck?.txId] });
      expect(bumped?.txId).not.toBe(stuck?.txId);

      // Mined while the miner is still stopped: evm_mine racing miner_start's own block makes ganache record
      // the transaction in a block that is not the canonical one of that height.
      await node.mine(1);
      await node.rpc('miner_start');
      clock.advance(FINALITY.pollMs);
      await cycle.poll();
      expect((await stack.index.getBatch(batchId))?.state).toBe('final');
      expect(await anchorOf()).toMatchObject({ txId: bumped?.txId, phase: 'final', replaced: [stuck?.txId] });
      const mined = (await node.rpc('eth_getTransactionByHash', [bumped?.txId])) as {
        nonce: string;
        maxFeePerGas: string;
        blockHash: string | null;
      };
      expect(mined.blockHash).not.toBeNull();
      expect(mined.nonce).toBe(before.nonce);
      expect(BigInt(mined.maxFeePerGas) * 10n).toBeGreaterThanOrEqual(BigInt(before.maxFeePerGas) * 11n);
      expect(await node.rpc('eth_getTransactionByHash', [stuck?.txId])).toBeNull();

      const v = await verify(cycle, [stack.ledger, chain.chain], id as string);
      expect(v.status).toBe('verified');
      expect(v.checks.anchors.find((a) => a.chainId === chain.chain.chainId)?.txId).toBe(bumped?.txId);
    } finally {
      await node.rpc('miner_start');
    }
  });

  it('a replacement that never makes it: the earlier transaction, mined after all, is the anchor again', async () => {
    await standin.close();
    standin = await startBigBangStandIn(); // blocks only when the test mines
    const resending = new ResendingChain(
      new BigBangChain({ rpcUrl: standin.url, from: standin.address, network: 'standin', timeoutMs: 2_000 }),
    );
    const cycle = cycleOf([ledger(), { chain: resending, budget: UNLIMITED, finality: FINALITY }]);
    const [id] = await ingest(1);
    const batchId = (await cycle.run()).batch?.batchId as string;
    const anchorOf = async () =>
      (await stack.index.getBatch(batchId))?.anchors.find((a) => a.chainId === resending.chainId);
    const first = (await anchorOf())?.txId as string;

    clock.advance(FINALITY.stuckAfterMs);
    await cycle.poll();
    const second = resending.replacedBy.get(first) as string;
    expect(await anchorOf()).toMatchObject({ txId: second, replaced: [first] });

    standin.reorg(second); // the replacement is gone; the first one is mined
    standin.mine(1);
    clock.advance(FINALITY.pollMs);
    const polled = await cycle.poll();
    expect(polled.events.map((e) => e.event)).toEqual(expect.arrayContaining(['earlier-tx-mined', 'final']));
    expect(await anchorOf()).toMatchObject({ txId: first, phase: 'final', replaced: [second] });
    expect((await stack.index.getBatch(batchId))?.state).toBe('final');
    const v = await verify(cycle, [stack.ledger, resending], id as string);
    expect(v.status).toBe('verified');
    expect(v.checks.anchors.find((a) => a.chainId === resending.chainId)?.txId).toBe(first);
  });

  it('inline packets: on chain whole while the budget allows, hash-anchored beyond it, both verified', async () => {
    // 0.03 BBC per small inline transaction, 0.05 allowed per day for inline: one transaction, then none.
    const bbc = bigbang({
      inline: { maxEnvelopeBytes: 1024, maxTokensPerDay: 0.05, maxTxsPerBatch: 4 },
    });
    const cycle = cycleOf([ledger(), bbc]);
    const [a] = await ingest(2);
    const r1 = await cycle.run();
    expect(r1.batch?.inlineParts).toBe(1);
    standin.mine(2);
    clock.advance(FINALITY.pollMs);
    await cycle.poll();
    const va = await verify(cycle, [stack.ledger, bbc.chain], a as string);
    expect(va.status).toBe('verified');
    expect(
      va.checks.anchors
        .filter((x) => x.chainId === bbc.chain.chainId)
        .map((x) => x.method)
        .sort(),
    ).toEqual(['inline', 'root']);

    const [b] = await ingest(1);
    clock.advance(10_000);
    const r2 = await cycle.run();
    expect(r2.batch?.inlineParts).toBe(0);
    standin.mine(2);
    clock.advance(FINALITY.pollMs);
    await cycle.poll();
    const vb = await verify(cycle, [stack.ledger, bbc.chain], b as string);
    expect(vb.status).toBe('verified');
    expect(vb.checks.anchors.map((x) => x.method)).toEqual(['root', 'root']);
    const s = (await cycle.status()).chains.find((c) => c.chainId === bbc.chain.chainId);
    expect(s?.inline).toMatchObject({ enabled: true, records: 2, txs: 1 });
    expect(s?.inline.refused['over-budget']).toBe(1);
  });
});
