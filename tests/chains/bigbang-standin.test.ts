/**
 * The BigBang STAND-IN (tests/support/bigbang-standin.ts) against the answers FACTS.md records from a real
 * BigBang Core v2.0.5 node, raw on the wire: each real answer the adapter depends on is pinned here, code and
 * message, so a stand-in that drifts from the node cannot flatter the adapter. Answers taken from BigBang's
 * RPC definition (rpc.json) rather than a node say so in their test name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeAddress } from '../../lib/adapters/bigbang/address.js';
import {
  type BigBangStandIn,
  type BigBangStandInOptions,
  startBigBangStandIn,
} from '../support/bigbang-standin.js';

let standIn: BigBangStandIn;
afterEach(async () => {
  await standIn?.close();
});

const start = async (o: BigBangStandInOptions = {}) => {
  standIn = await startBigBangStandIn(o);
  return standIn;
};

/** One raw JSON-RPC exchange, returning the response text exactly as sent. */
async function raw(
  method: string,
  params: Record<string, unknown>,
  o: { id?: number; auth?: string } = {},
): Promise<string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
  const res = await fetch(standIn.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ id: o.id ?? 7, jsonrpc: '2.0', method, params }),
  });
  return res.text();
}

const error = async (method: string, params: Record<string, unknown>) =>
  (JSON.parse(await raw(method, params)) as { error?: unknown }).error;
const result = async (method: string, params: Record<string, unknown>) =>
  (JSON.parse(await raw(method, params)) as { result?: unknown }).result;

/** 45 bytes of payload in a valid vchData (uuid, time, empty description): 66 bytes, the anchor's shape. */
const anchorData = `${'11'.repeat(16)}0000000000${'22'.repeat(45)}`;

describe('the BigBang stand-in answers as the v2.0.5 node did (FACTS.md)', () => {
  it('gettxfee: 53 zero bytes → 0.030000, 1024 bytes → 0.150000, six decimals on the wire', async () => {
    await start();
    expect(await raw('gettxfee', { hexdata: '00'.repeat(53) })).toBe(
      '{"id":7,"jsonrpc":"2.0","result":0.030000}',
    );
    expect(await raw('gettxfee', { hexdata: '00'.repeat(1024) })).toContain('"result":0.150000');
  });

  it('gettransaction: unknown → -32600; 64 zeros → -6 "Invalid txid"', async () => {
    await start();
    expect(await error('gettransaction', { txid: 'ab'.repeat(32) })).toEqual({
      code: -32600,
      message: 'No information available about transaction',
    });
    expect(await error('gettransaction', { txid: '0'.repeat(64) })).toEqual({
      code: -6,
      message: 'Invalid txid',
    });
  });

  it('sendtransaction of "00" → -8 "TX decode failed"', async () => {
    await start();
    expect(await error('sendtransaction', { txdata: '00' })).toEqual({
      code: -8,
      message: 'TX decode failed',
    });
  });

  it('an unknown method → -32601 "<method> not found!" whose data is the request id', async () => {
    await start();
    expect(JSON.parse(await raw('frobnicate', {}, { id: 1 })).error).toEqual({
      code: -32601,
      message: 'frobnicate not found!',
      data: 1,
    });
    expect(JSON.parse(await raw('frobnicate', {}, { id: 42 })).error).toEqual({
      code: -32601,
      message: 'frobnicate not found!',
      data: 42,
    });
  });

  it('sendfrom with nothing spendable → -401 "GetBalance failed"', async () => {
    await start();
    standIn.drainFunds();
    const from = standIn.address;
    expect(await error('sendfrom', { from, to: from, amount: 1 })).toEqual({
      code: -401,
      message: 'GetBalance failed',
    });
  });

  it('sendfrom with some funds, but less than amount + fee → -401 "…CWallet::ArrangeInputs failed Balance: 500000 TxFee: 30000"', async () => {
    await start({ unspentsUnits: [500_000] });
    const from = standIn.address;
    expect(await error('sendfrom', { from, to: from, amount: 1, data: anchorData })).toEqual({
      code: -401,
      message: 'Failed to create transaction: CWallet::ArrangeInputs failed Balance: 500000 TxFee: 30000',
    });
  });

  it('sendfrom with the key locked → -401 "Failed to sign transaction"', async () => {
    await start({ locked: true });
    const from = standIn.address;
    expect(await error('sendfrom', { from, to: from, amount: 1 })).toEqual({
      code: -401,
      message: 'Failed to sign transaction',
    });
  });

  it('a validation failure after signing is the same -401 "Failed to sign transaction" (not -10), with the key unlocked', async () => {
    await start();
    const from = standIn.address;
    const signFail = { code: -401, message: 'Failed to sign transaction' };
    // vchData under 21 bytes.
    expect(await error('sendfrom', { from, to: from, amount: 1, data: '00'.repeat(20) })).toEqual(signFail);
    // Over MAX_TX_SIZE: 99,900 bytes of data with one input make 100,097 bytes.
    const big = `${'11'.repeat(16)}00000000${'00'}${'33'.repeat(99_879)}`;
    expect(await error('sendfrom', { from, to: from, amount: 1, data: big })).toEqual(signFail);
    expect(standIn.isLocked()).toBe(false);
    expect(standIn.log).toEqual([
      expect.stringContaining('SignTransaction: ValidateTransaction fail'),
      expect.stringContaining('SignTransaction: ValidateTransaction fail'),
    ]);
  });

  it('the wallet uses 2 inputs for a self-send once it has sent to itself before', async () => {
    await start();
    const from = standIn.address;
    const first = (await result('sendfrom', { from, to: from, amount: 1, data: anchorData })) as string;
    const second = (await result('sendfrom', { from, to: from, amount: 1, data: anchorData })) as string;
    const vin = async (txid: string) =>
      ((await result('gettransaction', { txid })) as { transaction: { vin: unknown[] } }).transaction.vin;
    expect(await vin(first)).toHaveLength(1);
    expect(await vin(second)).toHaveLength(2);
  });

  it('data that is not valid hex is silently taken as empty, and the fee is then 0.010000', async () => {
    await start();
    const from = standIn.address;
    const txid = (await result('sendfrom', { from, to: from, amount: 1, data: 'not hex!' })) as string;
    const got = await raw('gettransaction', { txid });
    expect(got).toContain('"data":""');
    expect(got).toContain('"txfee":0.010000');
  });

  it('unlockkey: the documented string; without timeout the key relocks after 60 s; timeout 0 keeps it', async () => {
    await start({ locked: true });
    const key = { pubkey: standIn.pubkey, passphrase: 'standin-passphrase' };
    expect(await result('unlockkey', key)).toBe(`Unlock key successfully: ${standIn.pubkey}`);
    standIn.advanceTime(59);
    expect(standIn.isLocked()).toBe(false);
    standIn.advanceTime(1);
    expect(standIn.isLocked()).toBe(true);

    expect(await result('unlockkey', { ...key, timeout: 0 })).toBe(
      `Unlock key successfully: ${standIn.pubkey}`,
    );
    standIn.advanceTime(86_400 * 365);
    expect(standIn.isLocked()).toBe(false);
  });

  it('unlockkey of an unlocked key → -409; a wrong passphrase → -406 "The passphrase entered was incorrect."', async () => {
    await start({ locked: true });
    expect(await error('unlockkey', { pubkey: standIn.pubkey, passphrase: 'wrong' })).toEqual({
      code: -406,
      message: 'The passphrase entered was incorrect.',
    });
    await result('unlockkey', { pubkey: standIn.pubkey, passphrase: 'standin-passphrase', timeout: 0 });
    expect(
      await error('unlockkey', { pubkey: standIn.pubkey, passphrase: 'standin-passphrase' }),
    ).toMatchObject({
      code: -409,
    });
  });

  it('listunspent: at most 10 unspents unless max is given; the documented shape, six decimals', async () => {
    await start({ unspentsUnits: Array.from({ length: 12 }, (_, i) => (i + 1) * 1_000_000) });
    const lu = await raw('listunspent', { address: standIn.address });
    expect(lu).toMatch(/"amount":1\.000000,"time":\d+,"lockuntil":0/);
    const parsed = JSON.parse(lu).result;
    expect(Object.keys(parsed)).toEqual(['addresses', 'total']);
    expect(Object.keys(parsed.addresses[0])).toEqual(['address', 'unspents', 'sum']);
    expect(parsed.addresses[0].unspents).toHaveLength(10);
    expect(parsed.addresses[0].unspents[0]).toEqual({
      txid: expect.stringMatching(/^[0-9a-f]{64}$/),
      out: 0,
      amount: 1,
      time: expect.any(Number),
      lockuntil: 0,
    });
    const all = (await result('listunspent', { address: standIn.address, max: 100 })) as {
      addresses: { unspents: unknown[] }[];
    };
    expect(all.addresses[0]?.unspents).toHaveLength(12);
  });

  it('gettransaction: the documented keys in order; blockhash "" while pending, the block once mined; confirmations = height − tx height', async () => {
    await start();
    const from = standIn.address;
    const txid = (await result('sendfrom', { from, to: from, amount: 1, data: anchorData })) as string;
    const pending = await raw('gettransaction', { txid });
    expect(pending).toContain('"blockhash":""');
    expect(pending).toContain('"confirmations":0');
    standIn.mine(1);
    const got = await raw('gettransaction', { txid });
    expect(got).toContain('"txfee":0.030000');
    const t = JSON.parse(got).result.transaction;
    expect(Object.keys(t)).toEqual([
      'txid',
      'version',
      'type',
      'time',
      'lockuntil',
      'anchor',
      'blockhash',
      'vin',
      'sendfrom',
      'sendto',
      'amount',
      'txfee',
      'data',
      'sig',
      'fork',
      'confirmations',
    ]);
    expect(t).toMatchObject({ type: 'token', data: anchorData, confirmations: 0 });
    expect(t.blockhash).toMatch(/^[0-9a-f]{64}$/);
    standIn.mine(9);
    expect(JSON.parse(await raw('gettransaction', { txid })).result.transaction.confirmations).toBe(9);
  });

  it('version and getforkheight have the documented shapes', async () => {
    await start();
    expect(await result('version', {})).toMatch(/^Bigbang server version is v2\.0\.5/);
    expect(await result('getforkheight', {})).toBe(0);
  });

  it('wrong or missing RPC credentials → HTTP 401 with an HTML body', async () => {
    await start({ rpcAuth: { user: 'anchor', password: 'right' } });
    const post = (auth?: string) =>
      fetch(standIn.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}),
        },
        body: JSON.stringify({ id: 1, jsonrpc: '2.0', method: 'getforkheight', params: {} }),
      });
    for (const auth of [undefined, 'anchor:wrong']) {
      const res = await post(auth);
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/^<html>/);
    }
    expect(await raw('getforkheight', {}, { auth: 'anchor:right' })).toBe(
      '{"id":7,"jsonrpc":"2.0","result":0}',
    );
  });

  it('addresses are base32 with a valid checksum, like 1632srrskscs1d809y3x5ttf50f0gabf86xjz2s6aetc9h9ewwhm58dj3', async () => {
    await start();
    expect(standIn.address).toMatch(/^1[0-9a-hjkmnp-tv-z]{56}$/);
    expect(decodeAddress('1632srrskscs1d809y3x5ttf50f0gabf86xjz2s6aetc9h9ewwhm58dj3')?.kind).toBe('pubkey');
  });
});

describe('the BigBang stand-in answers as rpc.json defines (not observed from a node)', () => {
  it('the key is printed as the address bytes reversed; unlockkey takes the key or its address', async () => {
    await start({ locked: true });
    const body = decodeAddress(standIn.address)?.body as Uint8Array;
    expect(standIn.pubkey).toBe(Buffer.from(body).reverse().toString('hex'));
    expect(await result('unlockkey', { pubkey: standIn.address, passphrase: 'standin-passphrase' })).toBe(
      `Unlock key successfully: ${standIn.address}`,
    );
  });

  it('listkey: [{key, version, public, locked, timeout?}]', async () => {
    // A fixed clock: on the wall clock a second boundary between unlockkey and listkey made timeout 29.
    const t0 = Date.now();
    await start({ locked: true, clockMs: () => t0 });
    expect(await result('listkey', {})).toEqual([
      { key: standIn.pubkey, version: 1, public: false, locked: true },
    ]);
    await result('unlockkey', { pubkey: standIn.pubkey, passphrase: 'standin-passphrase', timeout: 30 });
    expect(await result('listkey', {})).toEqual([
      { key: standIn.pubkey, version: 1, public: false, locked: false, timeout: 30 },
    ]);
  });

  it('listunspent max 0 means unlimited', async () => {
    await start({ unspentsUnits: Array.from({ length: 11 }, () => 1_000_000) });
    const all = (await result('listunspent', { address: standIn.address, max: 0 })) as {
      addresses: { unspents: unknown[] }[];
    };
    expect(all.addresses[0]?.unspents).toHaveLength(11);
  });

  it('listtransaction {count, offset, address}: wallettxdata, oldest first, offset < 0 the last count; count 0 → -6', async () => {
    await start();
    const from = standIn.address;
    const a = (await result('sendfrom', { from, to: from, amount: 1, data: anchorData })) as string;
    standIn.mine(1);
    const b = (await result('sendfrom', { from, to: from, amount: 1, data: anchorData })) as string;
    const list = (await result('listtransaction', { address: from })) as Record<string, unknown>[];
    expect(list.map((t) => t.send)).toEqual([false, true, true]);
    expect(list[1]).toEqual({
      txid: a,
      fork: standIn.forkHash,
      blockheight: 1,
      type: 'token',
      time: expect.any(Number),
      send: true,
      from,
      to: from,
      amount: 1,
      fee: 0.03,
      lockuntil: 0,
    });
    expect(list[2]).not.toHaveProperty('blockheight');
    const last = (await result('listtransaction', { count: 1, offset: -1, address: from })) as {
      txid: string;
    }[];
    expect(last.map((t) => t.txid)).toEqual([b]);
    expect(await error('listtransaction', { count: 0 })).toEqual({
      code: -6,
      message: 'Negative, zero or out of range count',
    });
  });
});
