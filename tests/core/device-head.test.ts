/**
 * Device heads (lib/core/device-head.ts): the known answer of docs/examples/key_log_kat.py, round trips,
 * signature checks, refusals and single-byte mutations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../lib/core/bytes.js';
import {
  encodeHead,
  headDigest,
  MAX_HEAD_BYTES,
  parseHead,
  signHead,
  verifyHead,
} from '../../lib/core/device-head.js';
import { generateSigningKey, signerOf, signingKeyFromPrivate } from '../../lib/core/device-signature.js';
import { leafHashOf } from '../../lib/core/leaf.js';

const hex = (s: string): Uint8Array =>
  fromHex(s) ??
  (() => {
    throw new Error(s);
  })();

const ED = signingKeyFromPrivate(
  'ed25519',
  hex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f'),
);
const LAST = hex('dc37e88e080f44fbe5ecad2d7706ec576b895fa2ea5f7d71665c62f8dbb60198');
const KAT = {
  digest: '1e42b2c05af9457e624f9091277630ac21561595ad0016d134cac99f8eb0ce14',
  head: '494f5448010a73656e736f722d3030310000000000000008dc37e88e080f44fbe5ecad2d7706ec576b895fa2ea5f7d71665c62f8dbb601980000018bcfe56be801b44f3af856a894a22e362af353d7915a65e28a6ca4de6dda7475812e9bb341dc4c39378764f97f9ce3e6774aafaf3d4b2f8cae7fff201582b86288c62425812a3cab1516502ad313c6bdd726072fa7000e8a4bb727f92979dd0e29f781e17d0e',
  leafHash: '4f3ce112e8ce8f0c2232eb784a798a19de45d873e8b9a1c221eb8f32cc6427a4',
};

describe('device heads', () => {
  it('signs the known answer byte for byte and verifies it', () => {
    const { head, bytes } = signHead(
      { deviceId: 'sensor-001', count: 8, lastHash: LAST, time: 1_700_000_001_000 },
      signerOf(ED),
    );
    expect(toHex(headDigest(head))).toBe(KAT.digest);
    expect(toHex(bytes)).toBe(KAT.head);
    expect(bytes.length).toBe(161);
    expect(toHex(leafHashOf(bytes))).toBe(KAT.leafHash);
    const p = parseHead(bytes);
    if (!p.ok) throw new Error(p.message);
    expect(p.head).toMatchObject({
      deviceId: 'sensor-001',
      count: 8,
      time: 1_700_000_001_000,
      alg: 'ed25519',
    });
    expect(toHex(encodeHead(p.head))).toBe(KAT.head);
    expect(verifyHead(p.head, 'ed25519', ED.publicKey)).toEqual({ ok: true });
  });

  it('any single-byte change fails to parse or fails the signature', () => {
    const original = hex(KAT.head);
    for (let i = 0; i < original.length; i++) {
      for (const delta of [0x01, 0x80, 0xff]) {
        const bytes = original.slice();
        bytes[i] = (bytes[i] as number) ^ delta;
        const p = parseHead(bytes);
        if (p.ok) expect(verifyHead(p.head, 'ed25519', ED.publicKey).ok).toBe(false);
      }
    }
  });

  it.each(['ed25519', 'p256'] as const)('round-trips random %s heads', (alg) => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        fc.nat({ max: 2 ** 53 - 1 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: 2 ** 53 - 1 }),
        (deviceId, count, lastHash, time) => {
          const key = generateSigningKey(alg);
          const { bytes } = signHead(
            { deviceId, count, lastHash: count === 0 ? new Uint8Array(32) : lastHash, time },
            signerOf(key),
          );
          expect(bytes.length).toBeLessThanOrEqual(MAX_HEAD_BYTES);
          const p = parseHead(bytes);
          if (!p.ok) throw new Error(p.message);
          expect(p.head).toMatchObject({ deviceId, count, time, alg });
          expect(verifyHead(p.head, alg, key.publicKey)).toEqual({ ok: true });
        },
      ),
      { numRuns: 20 },
    );
  });

  it.each([
    ['the other algorithm', 'p256', generateSigningKey('p256').publicKey, 'algorithm-mismatch'],
    ['a key other than the one named', 'ed25519', generateSigningKey('ed25519').publicKey, 'key-id-mismatch'],
  ] as const)('verifyHead refuses %s', (_name, alg, pub, code) => {
    const p = parseHead(hex(KAT.head));
    if (!p.ok) throw new Error(p.message);
    expect(verifyHead(p.head, alg, pub)).toMatchObject({ ok: false, code });
  });

  const good = hex(KAT.head);
  const withByte = (i: number, v: number) => {
    const b = good.slice();
    b[i] = v;
    return b;
  };
  it.each([
    ['empty input', new Uint8Array(0), 'truncated'],
    ['another magic', withByte(3, 0x4b), 'bad-magic'],
    ['version 2', withByte(4, 2), 'unsupported-version'],
    ['device id length 0', withByte(5, 0), 'bad-device-id'],
    ['a slash in the device id', withByte(6, 0x2f), 'bad-device-id'],
    ['a count above 2^53-1', withByte(16, 0xff), 'field-out-of-range'],
    ['algorithm 0', withByte(64, 0), 'unsupported-algorithm'],
    ['a byte after it', Uint8Array.from([...good, 0]), 'length-mismatch'],
    ['one byte short', good.subarray(0, good.length - 1), 'truncated'],
  ] as const)('parseHead refuses %s', (_name, bytes, code) => {
    expect(parseHead(bytes)).toMatchObject({ ok: false, code });
  });

  it('refuses a head of count 0 whose lastHash is not zero', () => {
    const zeroCount = good.slice();
    zeroCount.fill(0, 16, 24);
    expect(parseHead(zeroCount)).toMatchObject({ ok: false, code: 'field-out-of-range' });
    expect(() =>
      signHead({ deviceId: 'd', count: 0, lastHash: LAST, time: 1 }, signerOf(generateSigningKey('ed25519'))),
    ).toThrow(RangeError);
  });
});
