/**
 * BigBang's pure pieces: vchData layout, CalcMinTxFee, amounts, transaction size and addresses.
 * Known answers come from FACTS.md ("Chains"): gettxfee of 53 zero bytes is 0.030000 and of 1024 bytes
 * 0.150000 on a v2.0.5 node, and 1632srrskscs1d809y3x5ttf50f0gabf86xjz2s6aetc9h9ewwhm58dj3 is a real address.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc24q,
  decodeAddress,
  encodeAddress,
  isAddress,
  pubkeyHexOfAddress,
} from '../../lib/adapters/bigbang/address.js';
import { classifyRpcError } from '../../lib/adapters/bigbang/bigbang-errors.js';
import {
  calcMinTxFee,
  coinsToUnits,
  estimateTxSize,
  formatCoins,
  MAX_TX_SIZE,
  maxVchDataBytes,
  unitsToCoins,
} from '../../lib/adapters/bigbang/fees.js';
import {
  decodeVchData,
  encodeVchData,
  formatUuid,
  uuidFromKey,
  VCHDATA_MIN_BYTES,
  vchDataOverhead,
} from '../../lib/adapters/bigbang/vchdata.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { toHex } from '../../lib/core/bytes.js';

const uuid = Uint8Array.from({ length: 16 }, (_, i) => i);

describe('vchData', () => {
  it('lays out uuid | u32 time (little-endian) | description length | base64 description | payload', () => {
    const payload = new Uint8Array([0xaa, 0xbb]);
    const v = encodeVchData({ uuid, timestamp: 0x01020304, description: 'hi', payload });
    // "hi" in base64 is "aGk=" (4 bytes).
    const fields = [toHex(uuid), '04030201', '04', Buffer.from('aGk=').toString('hex'), 'aabb'];
    expect(toHex(v)).toBe(fields.join(''));
    expect(v.length).toBe(VCHDATA_MIN_BYTES + 4 + 2);
  });

  it('the observed anchoring shape: 16-byte uuid | u32 time | 0x00 | 32-byte root', () => {
    const root = new Uint8Array(32).fill(0x11);
    const v = encodeVchData({ uuid, timestamp: 1_700_000_000, description: '', payload: root });
    expect(v.length).toBe(16 + 4 + 1 + 32);
    expect(v[20]).toBe(0);
  });

  it('round-trips any uuid, time, description and payload', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.string({ maxLength: 60 }),
        fc.uint8Array({ maxLength: 300 }),
        (u, timestamp, description, payload) => {
          const d = decodeVchData(encodeVchData({ uuid: u, timestamp, description, payload }));
          expect(d.ok).toBe(true);
          if (!d.ok) return;
          expect(toHex(d.value.uuid)).toBe(toHex(u));
          expect(d.value.timestamp).toBe(timestamp);
          expect(d.value.description).toBe(description);
          expect(toHex(d.value.payload)).toBe(toHex(payload));
        },
      ),
    );
  });

  it('refuses what the node refuses, with a code', () => {
    const good = encodeVchData({ uuid, timestamp: 1, description: 'abc', payload: new Uint8Array([1]) });
    const cases: [string, Uint8Array, string][] = [
      ['20 bytes', new Uint8Array(20), 'too-short'],
      ['description past the end', Uint8Array.from([...new Uint8Array(20), 9, 0x41]), 'description-overflow'],
      [
        'description not base64',
        Uint8Array.from([...new Uint8Array(20), 3, 0x21, 0x21, 0x21]),
        'description-not-base64',
      ],
    ];
    for (const [name, bytes, code] of cases) {
      const d = decodeVchData(bytes);
      expect(d.ok, name).toBe(false);
      if (!d.ok) expect(d.code, name).toBe(code);
    }
    expect(decodeVchData(good).ok).toBe(true);
  });

  it('refuses to encode what does not fit its fields', () => {
    expect(() =>
      encodeVchData({ uuid: new Uint8Array(15), timestamp: 0, description: '', payload: uuid }),
    ).toThrow(RangeError);
    expect(() => encodeVchData({ uuid, timestamp: 2 ** 32, description: '', payload: uuid })).toThrow(
      RangeError,
    );
    expect(() => encodeVchData({ uuid, timestamp: 0, description: 'x'.repeat(200), payload: uuid })).toThrow(
      RangeError,
    );
  });

  it('uuids derive from the dedupKey: stable, distinct, RFC 9562 version 8', () => {
    const a = uuidFromKey('batch-1');
    expect(toHex(a)).toBe(toHex(uuidFromKey('batch-1')));
    expect(toHex(a)).not.toBe(toHex(uuidFromKey('batch-2')));
    expect((a[6] as number) >> 4).toBe(8);
    expect((a[8] as number) >> 6).toBe(2);
    expect(formatUuid(a)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('an anchor payload in the default framing makes 82 bytes of vchData', () => {
    const payload = encodeAnchorPayload({ root: new Uint8Array(32), treeSize: 1 });
    expect(vchDataOverhead('iot-notary') + payload.length).toBe(82);
  });
});

describe('CalcMinTxFee', () => {
  it('matches the node: 53 zero bytes → 0.030000, 1024 bytes → 0.150000 (FACTS.md)', () => {
    expect(formatCoins(calcMinTxFee(53))).toBe('0.030000');
    expect(formatCoins(calcMinTxFee(1024))).toBe('0.150000');
  });

  it('steps every 200 bytes, twice as steeply past 1,000', () => {
    const table: [number, string][] = [
      [0, '0.010000'],
      [1, '0.030000'],
      [200, '0.030000'],
      [201, '0.050000'],
      [1000, '0.110000'],
      [1001, '0.150000'],
      [1200, '0.150000'],
      [1201, '0.190000'],
      [100_000, formatCoins(10_000 + 100_000 + 4 * (500 - 5) * 10_000)],
    ];
    for (const [n, fee] of table) expect(formatCoins(calcMinTxFee(n)), `${n} bytes`).toBe(fee);
  });

  it('agrees with the rule written out naively (m = ceil(n/200))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), (n) => {
        let m = 0;
        while (m * 200 < n) m++;
        const naive = m <= 5 ? 0.01 + 2 * m * 0.01 : 0.01 + 10 * 0.01 + 4 * (m - 5) * 0.01;
        expect(calcMinTxFee(n)).toBe(Math.round(naive * 1_000_000));
      }),
    );
  });
});

describe('amounts', () => {
  it('converts between units and six-decimal coins exactly', () => {
    expect(formatCoins(300_000_000_000_000)).toBe('300000000.000000');
    expect(unitsToCoins(30_000)).toBe(0.03);
    expect(coinsToUnits(0.03)).toBe(30_000);
    expect(coinsToUnits(300000000.0)).toBe(300_000_000_000_000);
    expect(coinsToUnits(0.000001)).toBe(1);
  });

  it('rejects what is not an amount', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 0.0000001, '0.03', null, undefined]) {
      expect(coinsToUnits(bad), String(bad)).toBeUndefined();
    }
  });
});

describe('transaction size', () => {
  it('counts the fixed fields, inputs, vchData and signature', () => {
    // 93 fixed + 1 + 33 (one input) + 1 + 82 + 1 + 64
    expect(estimateTxSize(82, 1)).toBe(275);
    expect(estimateTxSize(253, 1) - estimateTxSize(252, 1)).toBe(3); // the length prefix grows to 3 bytes at 253
  });

  it('the largest vchData that fits is exactly at MAX_TX_SIZE', () => {
    for (const inputs of [1, 10, 300]) {
      const max = maxVchDataBytes(inputs);
      expect(estimateTxSize(max, inputs)).toBeLessThanOrEqual(MAX_TX_SIZE);
      expect(estimateTxSize(max + 1, inputs)).toBeGreaterThan(MAX_TX_SIZE);
    }
  });
});

describe('addresses', () => {
  const real = '1632srrskscs1d809y3x5ttf50f0gabf86xjz2s6aetc9h9ewwhm58dj3';

  it('decodes a real address (FACTS.md) and re-encodes it identically', () => {
    const d = decodeAddress(real);
    expect(d?.kind).toBe('pubkey');
    expect(encodeAddress('pubkey', d?.body as Uint8Array)).toBe(real);
  });

  it('a one-character change breaks the checksum', () => {
    for (let i = 1; i < real.length; i++) {
      const c = real[i] === '0' ? '1' : '0';
      expect(isAddress(real.slice(0, i) + c + real.slice(i + 1)), `position ${i}`).toBe(false);
    }
    expect(isAddress(`3${real.slice(1)}`)).toBe(false);
    expect(isAddress(real.slice(1))).toBe(false);
    expect(isAddress(`${real}0`)).toBe(false);
  });

  it('the key the node prints for a pubkey address is its bytes reversed (the three pairs in rpc.json)', () => {
    expect(pubkeyHexOfAddress('1gbma6s21t4bcwymqz6h1dn1t7qy45019b1t00ywfyqymbvp90mqc1wmq')).toBe(
      '2e05c9ee45fdf58f7b007458298042fc3d3ad416a2f9977ace16d14164a3e882',
    );
    expect(pubkeyHexOfAddress('1z6taz5dyrv2xa11pc92y0ggbrf2wf36gbtk8wjprb96qe3kqwfm3ayc1')).toBe(
      'e8e3770e774d5ad84a8ea65ed08cc7c5c30b42e045623604d5c5c6be95afb4f9',
    );
    expect(pubkeyHexOfAddress('1tmj9janyr05e0xmyn1b62z0dmj4k18td3hwyq3f5c1dn9p5kydsjpvrm')).toBe(
      '73f3b3d8545b60e58deb791c4da33089a40d7c6156a89e76e00ac0be2a9924d5',
    );
    expect(pubkeyHexOfAddress('208043ht3c51qztrdfa0f3349pe2m8ajjw1mdb2py68fbckaa2s24tq55')).toBeUndefined();
  });

  it('CRC-24Q of "123456789" is the catalogue check value 0xCDE703', () => {
    expect(crc24q(new TextEncoder().encode('123456789'))).toBe(0xcde703);
  });
});

describe('BigBang RPC error codes', () => {
  it('maps the codes and messages FACTS.md recorded to stable codes', () => {
    const table: [number, string, string][] = [
      [-401, 'GetBalance failed', 'insufficient-funds'],
      [
        -401,
        'Failed to create transaction: CWallet::ArrangeInputs failed Balance: 500000 TxFee: 30000',
        'insufficient-funds',
      ],
      // Provisional: a locked key or a refusal after signing; the adapter asks listkey (bigbang-chain.test.ts).
      [-401, 'Failed to sign transaction', 'key-locked'],
      [-8, 'TX decode failed', 'tx-decode-failed'],
      [-10, 'Tx rejected : transaction invalid', 'tx-rejected'],
      [-32601, 'frobnicate not found!', 'method-not-found'],
      [-406, 'The passphrase entered was incorrect.', 'wrong-passphrase'],
      [-6, 'Invalid to address', 'invalid-params'],
      [-401, 'Failed to lock key', 'rpc-error'],
      [-32603, 'boom', 'rpc-error'],
    ];
    for (const [code, message, expected] of table)
      expect(classifyRpcError(code, message), message).toBe(expected);
  });
});
