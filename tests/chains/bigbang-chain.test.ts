/**
 * The BigBang Core adapter against the BigBang STAND-IN (tests/support/bigbang-standin.ts): no BigBang node
 * can run here, so these tests show the adapter speaks the request and response shapes FACTS.md records and
 * handles each documented error; they do not show that a real node agrees. bigbang-standin.test.ts checks the
 * stand-in itself against FACTS.md, raw, so a drift in the stand-in is caught before it can flatter the
 * adapter.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BigBangChain,
  type BigBangChainConfig,
  type BigBangChainEvent,
} from '../../lib/adapters/bigbang/bigbang-chain.js';
import { BigBangChainError } from '../../lib/adapters/bigbang/bigbang-errors.js';
import { COIN, calcMinTxFee, formatCoins } from '../../lib/adapters/bigbang/fees.js';
import { decodeVchData } from '../../lib/adapters/bigbang/vchdata.js';
import {
  type FinalityConfig,
  resubmitted,
  stepFinality,
  submittedState,
} from '../../lib/anchor/finality-machine.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { fromHex, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { type BigBangStandIn, startBigBangStandIn } from '../support/bigbang-standin.js';
import { expectBytes } from '../support/bytes.js';
import { startRpcProxy } from '../support/chain-rpc-faults.js';

const payload = (label: string, size = 3) =>
  encodeAnchorPayload({ root: sha256(utf8(label)), treeSize: size });

async function rejection(p: Promise<unknown>): Promise<BigBangChainError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BigBangChainError);
    return e as BigBangChainError;
  }
  throw new Error('expected a rejection');
}

let standIn: BigBangStandIn;
afterEach(async () => {
  await standIn?.close();
});

describe('BigBangChain against the stand-in', () => {
  const events: BigBangChainEvent[] = [];
  const make = (over: Partial<BigBangChainConfig> = {}) =>
    new BigBangChain({
      rpcUrl: standIn.url,
      from: standIn.address,
      network: 'standin',
      onEvent: (e) => events.push(e),
      ...over,
    });
  beforeEach(async () => {
    events.length = 0;
    standIn = await startBigBangStandIn();
  });

  it('anchors with one sendfrom to self: vchData framing, CalcMinTxFee, named params', async () => {
    const chain = make();
    const data = payload('root');
    const { txId } = await chain.submit(data, { dedupKey: 'batch-1' });
    expect(txId).toMatch(/^[0-9a-f]{64}$/);

    const sends = standIn.calls.filter((c) => c.method === 'sendfrom');
    expect(sends).toHaveLength(1);
    const p = sends[0]?.params as Record<string, unknown>;
    expect(p).toMatchObject({ from: standIn.address, to: standIn.address, amount: 1, txfee: 0.03 });
    const vch = decodeVchData(fromHex(p.data as string) as Uint8Array);
    expect(vch.ok).toBe(true);
    if (vch.ok) {
      expect(vch.value.description).toBe('iot-notary');
      expect(toHex(vch.value.payload)).toBe(toHex(data));
    }
    // The node's own fee figure was asked for and agreed.
    expect(standIn.calls.map((c) => c.method)).toContain('gettxfee');
    expect(events).toEqual([]);
  });

  it('lookup: pending has 0 confirmations and no block; then the payload, block, height and a growing count', async () => {
    const chain = make();
    const data = payload('lookup');
    const { txId } = await chain.submit(data, { dedupKey: 'batch-l' });
    const pending = await chain.lookup(txId);
    expectBytes(pending?.data, data);
    expect(pending).toMatchObject({
      confirmations: 0,
      feeUnits: 30_000,
      from: standIn.address,
      to: standIn.address,
    });
    expect(pending?.blockHash).toBeUndefined();
    expect(pending?.uuid).toMatch(/^[0-9a-f-]{36}$/);

    standIn.mine(1);
    const mined = await chain.lookup(txId);
    expect(mined).toMatchObject({ confirmations: 1, height: 1 });
    expect(mined?.blockHash).toMatch(/^[0-9a-f]{64}$/);
    standIn.mine(4);
    expect(await chain.lookup(txId)).toMatchObject({ confirmations: 5, height: 1 });
    expect(await chain.forkHeight()).toBe(5);
  });

  it('confirmations count up as the stand-in makes blocks on its own timer', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ blockIntervalMs: 20 });
    const chain = make();
    const { txId } = await chain.submit(payload('timer'), { dedupKey: 'batch-t' });
    let seen = 0;
    while (seen < 3) {
      await new Promise((r) => setTimeout(r, 10));
      seen = (await chain.lookup(txId))?.confirmations ?? 0;
    }
    expect(seen).toBeGreaterThanOrEqual(3);
  });

  it('balance comes from listunspent; anchoring to self spends exactly the fee', async () => {
    const chain = make();
    expect(await chain.balance()).toBe(1000 * COIN);
    await chain.submit(payload('b'), { dedupKey: 'batch-b' });
    expect(await chain.balance()).toBe(1000 * COIN - 30_000);
  });

  it('a repeated dedupKey returns the first txid without a second sendfrom', async () => {
    const chain = make();
    const a = await chain.submit(payload('d'), { dedupKey: 'batch-d' });
    const b = await chain.submit(payload('d'), { dedupKey: 'batch-d' });
    expect(b.txId).toBe(a.txId);
    expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(1);
    expect(events.map((e) => e.kind)).toEqual(['dedup-hit']);
  });

  it('unknown txids are undefined (-32600), so are 64 zeros (-6 "Invalid txid"); malformed ones are not even asked', async () => {
    const chain = make();
    expect(await chain.lookup('ab'.repeat(32))).toBeUndefined();
    expect(await chain.lookup('0'.repeat(64))).toBeUndefined();
    expect(standIn.calls.filter((c) => c.method === 'gettransaction').map((c) => c.params)).toEqual([
      { txid: 'ab'.repeat(32) },
      { txid: '0'.repeat(64) },
    ]);
    const asked = standIn.calls.length;
    expect(await chain.lookup(`0x${'ab'.repeat(32)}`)).toBeUndefined();
    expect(standIn.calls.length).toBe(asked);
  });

  it('insufficient funds: some, but less than amount + fee (-401 ArrangeInputs) → insufficient-funds, not retried', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ unspentsUnits: [500_000] });
    const err = await rejection(make().submit(payload('half'), { dedupKey: 'batch-half' }));
    expect(err).toMatchObject({ code: 'insufficient-funds', retryable: false, rpcCode: -401 });
    expect(err.message).toContain('CWallet::ArrangeInputs failed Balance: 500000 TxFee: 30000');
  });

  it('balance() counts every unspent, not the node’s first 10', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ unspentsUnits: Array.from({ length: 12 }, () => COIN) });
    expect(await make().balance()).toBe(12 * COIN);
  });

  it('a transaction refused after signing (-401 with the key unlocked) is tx-rejected: no unlockkey, no second sendfrom', async () => {
    // A payload with room for 4 inputs (twice assumedInputs: not near enough the limit to count them) costs
    // 1 BBC + 19.79 BBC of fee, and the wallet holds 5 BBC pieces: it takes 5, and the node refuses.
    await standIn.close();
    standIn = await startBigBangStandIn({ unspentsUnits: Array(8).fill(5 * COIN) });
    const chain = make({ assumedInputs: 2, unlock: { passphrase: 'standin-passphrase' } });
    const room4 = new Uint8Array(chain.maxPayloadBytes - 2 * 33).fill(7);
    const err = await rejection(chain.submit(room4, { dedupKey: 'batch-refused' }));
    expect(err).toMatchObject({ code: 'tx-rejected', retryable: false, rpcCode: -401 });
    expect(err.message).toContain('key unlocked');
    expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(1);
    expect(standIn.calls.map((c) => c.method)).not.toContain('unlockkey');
    expect(standIn.log).toEqual([expect.stringContaining('ValidateTransaction fail')]);
  });

  it('near MAX_TX_SIZE the inputs the wallet really picks are counted: payload-too-large before any sendfrom', async () => {
    await standIn.close();
    // 1 BBC + 19.79 BBC of fee from 8 BBC pieces: 3 inputs, where the payload has room for 2.
    standIn = await startBigBangStandIn({ unspentsUnits: [8 * COIN, 8 * COIN, 8 * COIN] });
    const chain = make({ assumedInputs: 2 });
    const err = await rejection(
      chain.submit(new Uint8Array(chain.maxPayloadBytes).fill(1), { dedupKey: 'batch-near' }),
    );
    expect(err.code).toBe('payload-too-large');
    expect(err.message).toContain('the wallet needs 3');
    expect(standIn.calls.map((c) => c.method)).not.toContain('sendfrom');
  });

  it('a node without listkey: a sign failure that unlockkey answers with -409 is the transaction, not the key', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ without: ['listkey'], unspentsUnits: Array(8).fill(5 * COIN) });
    const chain = make({ assumedInputs: 2, unlock: { passphrase: 'standin-passphrase' } });
    const room4 = new Uint8Array(chain.maxPayloadBytes - 2 * 33).fill(7);
    const err = await rejection(chain.submit(room4, { dedupKey: 'batch-nolistkey' }));
    expect(err).toMatchObject({ code: 'tx-rejected', rpcCode: -401 });
    expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(1);
    expect(standIn.calls.filter((c) => c.method === 'unlockkey')).toHaveLength(1);
  });

  it('unlockkey always gets a deliberate timeout: a batch a minute later does not start with a failed send', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ locked: true });
    let skew = 0;
    const chain = make({
      unlock: { passphrase: 'standin-passphrase' },
      clock: () => Date.now() + skew * 1000,
    });
    const later = (seconds: number) => {
      skew += seconds;
      standIn.advanceTime(seconds);
    };
    const methodsOf = (from: number) => standIn.calls.slice(from).map((c) => c.method);

    await chain.submit(payload('t1'), { dedupKey: 'batch-t1' });
    const unlocks = standIn.calls.filter((c) => c.method === 'unlockkey');
    expect(unlocks.map((c) => (c.params as { timeout?: unknown }).timeout)).toEqual([600]);

    // 61 s later: the node's own 60 s default would have relocked the key.
    later(61);
    let mark = standIn.calls.length;
    await chain.submit(payload('t2'), { dedupKey: 'batch-t2' });
    expect(methodsOf(mark)).toEqual(['gettxfee', 'sendfrom']);

    // Past our own timeout: unlocked again before the send, not after a failed one.
    later(600);
    expect(standIn.isLocked()).toBe(true);
    mark = standIn.calls.length;
    await chain.submit(payload('t3'), { dedupKey: 'batch-t3' });
    expect(methodsOf(mark)).toEqual(['gettxfee', 'unlockkey', 'sendfrom']);
    expect(events.map((e) => e.kind)).toEqual(['key-unlocked', 'key-unlocked']);
  });

  it('a sendfrom whose answer is lost is found in the wallet (listtransaction) and not paid twice', async () => {
    const proxy = await startRpcProxy(standIn.url);
    try {
      const chain = make({ rpcUrl: proxy.url, timeoutMs: 2_000 });
      await chain.submit(payload('earlier'), { dedupKey: 'batch-0' });
      proxy.loseAnswerTo('sendfrom');
      const lost = await rejection(chain.submit(payload('lost'), { dedupKey: 'batch-lost' }));
      expect(lost).toMatchObject({ code: 'rpc-unavailable', retryable: true });
      expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(2); // the node did take it

      const again = await chain.submit(payload('lost'), { dedupKey: 'batch-lost' });
      expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(2);
      expectBytes((await chain.lookup(again.txId))?.data, payload('lost'));
      expect(events.filter((e) => e.kind === 'found-in-wallet')).toEqual([
        { kind: 'found-in-wallet', chainId: chain.chainId, txId: again.txId, dedupKey: 'batch-lost' },
      ]);
      expect(standIn.calls.find((c) => c.method === 'listtransaction')?.params).toEqual({
        count: 20,
        offset: -1,
        address: standIn.address,
      });
    } finally {
      await proxy.close();
    }
  });

  it('after a restart the first submit looks in the wallet: a batch the node took before the crash is not paid twice', async () => {
    const before = await make().submit(payload('crash'), { dedupKey: 'batch-crash' });
    const restarted = make();
    const after = await restarted.submit(payload('crash'), { dedupKey: 'batch-crash' });
    expect(after.txId).toBe(before.txId);
    expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(1);
    // Only the first submit of a process searches; a new key then goes straight to sendfrom.
    const mark = standIn.calls.length;
    await restarted.submit(payload('next'), { dedupKey: 'batch-next' });
    expect(standIn.calls.slice(mark).map((c) => c.method)).toEqual(['gettxfee', 'sendfrom']);
  });

  it('wrong RPC credentials (HTTP 401, HTML) are a typed rpc-error naming the status; the right ones work', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ rpcAuth: { user: 'anchor', password: 'right' } });
    const wrong = await rejection(make({ rpcAuth: { user: 'anchor', password: 'wrong' } }).forkHeight());
    expect(wrong).toMatchObject({ code: 'rpc-error' });
    expect(wrong.message).toContain('HTTP 401');
    expect(wrong.message).not.toContain('wrong');
    expect(await make({ rpcAuth: { user: 'anchor', password: 'right' } }).forkHeight()).toBe(0);
  });

  it('a node without listtransaction: the send goes ahead, and an event says a lost answer could cost twice', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ without: ['listtransaction'] });
    await make().submit(payload('old node'), { dedupKey: 'batch-old' });
    expect(events).toEqual([
      expect.objectContaining({
        kind: 'wallet-search-unavailable',
        message: expect.stringContaining('listtransaction not found!'),
      }),
    ]);
    expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(1);
  });

  it('insufficient funds: nothing spendable → typed, non-retryable insufficient-funds', async () => {
    const chain = make();
    standIn.drainFunds();
    const err = await rejection(chain.submit(payload('poor'), { dedupKey: 'batch-p' }));
    expect(err).toMatchObject({
      code: 'insufficient-funds',
      retryable: false,
      rpcCode: -401,
      chainId: 'bigbang:standin',
    });
    expect(err.message).toContain('GetBalance failed');
  });

  it('a locked key: key-locked without a passphrase; with one, unlockkey and a single retry', async () => {
    standIn.lockKey();
    const err = await rejection(make().submit(payload('k'), { dedupKey: 'batch-k' }));
    expect(err).toMatchObject({ code: 'key-locked', rpcCode: -401 });

    const wrong = await rejection(
      make({ unlock: { passphrase: 'nope' } }).submit(payload('k'), { dedupKey: 'batch-k' }),
    );
    expect(wrong).toMatchObject({ code: 'wrong-passphrase', rpcCode: -406 });

    const chain = make({ unlock: { passphrase: 'standin-passphrase', timeoutSeconds: 60 } });
    const { txId } = await chain.submit(payload('k'), { dedupKey: 'batch-k' });
    expectBytes((await chain.lookup(txId))?.data, payload('k'));
    expect(events.map((e) => e.kind)).toEqual(['key-unlocked']);
    expect(standIn.calls.filter((c) => c.method === 'sendfrom')).toHaveLength(4);
  });

  it('MAX_TX_SIZE is enforced before sending; the largest payload that fits goes through at the rule’s fee', async () => {
    const chain = make({ assumedInputs: 2 });
    const tooBig = new Uint8Array(chain.maxPayloadBytes + 1).fill(1);
    const err = await rejection(chain.submit(tooBig, { dedupKey: 'batch-big' }));
    expect(err.code).toBe('payload-too-large');
    expect(standIn.calls).toEqual([]);

    const fits = new Uint8Array(chain.maxPayloadBytes).fill(1);
    const { txId } = await chain.submit(fits, { dedupKey: 'batch-fits' });
    expect((await chain.lookup(txId))?.data.length).toBe(fits.length);
    const send = standIn.calls.find((c) => c.method === 'sendfrom');
    const fee = (send?.params as { txfee: number } | undefined)?.txfee ?? Number.NaN;
    expect(formatCoins(Math.round(fee * COIN))).toBe(formatCoins(chain.feeForPayload(fits.length)));
  });

  it('fees follow CalcMinTxFee across sizes, and agree with the node’s gettxfee', async () => {
    const chain = make();
    for (const n of [45, 200, 1_000, 1_024, 5_000]) {
      const { txId } = await chain.submit(new Uint8Array(n).fill(2), { dedupKey: `fee-${n}` });
      const tx = await chain.lookup(txId);
      expect(tx?.feeUnits, `${n} bytes`).toBe(calcMinTxFee(n + 37));
    }
    expect(events.filter((e) => e.kind === 'fee-rule-differs')).toEqual([]);
  });

  it('an older node without gettxfee (-32601): our own CalcMinTxFee stands', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ without: ['gettxfee'] });
    const { txId } = await make().submit(payload('old'), { dedupKey: 'batch-o' });
    expect((await make().lookup(txId))?.feeUnits).toBe(30_000);
  });

  it('a missing method elsewhere is a typed method-not-found', async () => {
    await standIn.close();
    standIn = await startBigBangStandIn({ without: ['listunspent'] });
    const err = await rejection(make().balance());
    expect(err).toMatchObject({ code: 'method-not-found', rpcCode: -32601, retryable: false });
  });

  it('the node goes down mid-run: rpc-unavailable while down; back up, it works and the chain is intact', async () => {
    const chain = make({ timeoutMs: 2_000 });
    const first = await chain.submit(payload('before'), { dedupKey: 'batch-1' });
    standIn.mine(1);
    await standIn.stop();
    const down = await rejection(chain.submit(payload('during'), { dedupKey: 'batch-2' }));
    expect(down).toMatchObject({ code: 'rpc-unavailable', retryable: true });
    expect((await rejection(chain.lookup(first.txId))).code).toBe('rpc-unavailable');

    await standIn.start();
    const second = await chain.submit(payload('during'), { dedupKey: 'batch-2' });
    standIn.mine(1);
    expect(await chain.lookup(first.txId)).toMatchObject({ confirmations: 2 });
    expectBytes((await chain.lookup(second.txId))?.data, payload('during'));
  });

  it('malformed answers are typed: not JSON, wrong shape, wrong id → rpc-malformed-response; HTML 502 → rpc-unavailable', async () => {
    const chain = make();
    const cases = [
      ['garbage', 'rpc-malformed-response'],
      ['bad-result', 'rpc-malformed-response'],
      ['wrong-id', 'rpc-malformed-response'],
      ['html-502', 'rpc-unavailable'],
    ] as const;
    for (const [fault, code] of cases) {
      standIn.setFault(fault);
      expect((await rejection(chain.submit(payload(fault), { dedupKey: fault }))).code, fault).toBe(code);
      expect((await rejection(chain.lookup('cd'.repeat(32)))).code, fault).toBe(code);
    }
    standIn.setFault('hang');
    const slow = make({ timeoutMs: 200 });
    expect((await rejection(slow.forkHeight())).code).toBe('rpc-unavailable');
    standIn.setFault(undefined);
    expect(await chain.forkHeight()).toBe(0);
  });

  it('rejects a misconfigured address at construction', () => {
    // One character off a valid address: the CRC-24Q no longer matches.
    const typo = `${standIn.address.slice(0, -1)}${standIn.address.endsWith('0') ? '1' : '0'}`;
    expect(() => make({ from: typo })).toThrow(RangeError);
    expect(() => make({ to: 'not-an-address' })).toThrow(RangeError);
  });

  it('describe() names the chain and the anchoring address', async () => {
    expect(await make({ fork: standIn.forkHash }).describe()).toEqual({
      chainId: `bigbang:standin:${standIn.forkHash.slice(0, 16)}`,
      kind: 'bigbang',
      address: standIn.address,
      fork: standIn.forkHash,
    });
  });

  it('reorganisations, driven through the finality machine: moved to a new block, then lost and resubmitted', async () => {
    const chain = make();
    const cfg: FinalityConfig = {
      confirmations: 3,
      dropAfterMs: 60_000,
      stuckAfterMs: 600_000,
      pollMs: 1_000,
    };
    const data = payload('reorg');
    const first = await chain.submit(data, { dedupKey: 'batch-r' });
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

    standIn.mine(1);
    expect((await observe(1)).state.phase).toBe('anchored');
    const firstBlock = state.block?.hash;

    // A competing branch without it; it goes back to the pool and into the next block.
    standIn.reorg(first.txId, { reinclude: true });
    expect((await observe(2)).events.map((e) => e.kind)).toEqual(['back-to-pool']);
    standIn.mine(1);
    const moved = await observe(3);
    expect(moved.state.phase).toBe('anchored');
    expect(moved.state.block?.hash).not.toBe(firstBlock);
    expect(moved.state.reorgs).toBe(1);

    // A branch that loses it altogether.
    standIn.reorg(first.txId);
    const lost = await observe(4);
    expect(lost.action).toEqual({ kind: 'resubmit', reason: 'reorganised' });
    const again = await chain.submit(data, { dedupKey: `batch-r#${state.attempt + 1}` });
    state = resubmitted(state, again.txId, 5, cfg);
    standIn.mine(3);
    expect((await observe(6)).state).toMatchObject({
      phase: 'final',
      attempt: 2,
      reorgs: 2,
      confirmations: 3,
    });
  });
});
