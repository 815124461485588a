/**
 * Envelope v2 (signed): known answers per algorithm, computed independently by docs/examples/envelope_v2_kat.py
 * from the documents alone (Python `cryptography`, RFC 6979 deterministic P-256), round trips, refusals, and
 * the rule that every single-byte change to a signed envelope fails one of its checks.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../lib/core/bytes.js';
import { type SigAlg, signerOf, signingKeyFromPrivate } from '../../lib/core/device-signature.js';
import {
  checkCiphertextHash,
  encodeHeader,
  MAX_HEADER_BYTES,
  openRecord,
  parseEnvelope,
  parseHeader,
  recordHashOf,
  recordSigningDigest,
  sealRecord,
  verifyRecordSignature,
  ZERO_HASH,
} from '../../lib/core/envelope.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';

const hex = (s: string): Uint8Array =>
  fromHex(s) ??
  (() => {
    throw new Error(s);
  })();

const INPUTS = {
  masterKey: hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
  deviceId: 'sensor-001',
  seq: 7,
  timestamp: 1_700_000_000_000,
  prevHash: new Uint8Array(32).fill(0xab),
  nonce: hex('000102030405060708090a0b'),
  plaintext: utf8('{"t":1700000000000,"temp":21.5}'),
};
const KEYS = {
  ed25519: signingKeyFromPrivate(
    'ed25519',
    hex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f'),
  ),
  p256: signingKeyFromPrivate(
    'p256',
    hex('404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f'),
  ),
};

/** Output of docs/examples/envelope_v2_kat.py (also in docs/envelope.md §8). */
const KAT = {
  ed25519: {
    publicKey: '29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7',
    keyId: 'b44f3af856a894a22e362af353d7915a65e28a6ca4de6dda7475812e9bb341dc',
    digest: 'd982cb153d8f0948de563b5f44aa4989d119e5778976cb197809d6eb903ce793',
    sig: 'a6c16d2c1b35c0be5b15c94483fc9824178ffb1d22fc760a946190d325afe2f3445baa4e4b7f15c52cf600f6f91320748b6437a1896f95d7346e4a6a18c7b200',
    envelope:
      '494f544e02000a73656e736f722d30303100000000000000070000018bcfe56800abababababababababababababababababababababababababababababababab01b44f3af856a894a22e362af353d7915a65e28a6ca4de6dda7475812e9bb341dc000102030405060708090a0b0000002fe7fffd014cd7c0b50db65dd1752d22349d264aee068d00158927b99b4f4cbc15a6c16d2c1b35c0be5b15c94483fc9824178ffb1d22fc760a946190d325afe2f3445baa4e4b7f15c52cf600f6f91320748b6437a1896f95d7346e4a6a18c7b200cdc40f2b148d8ab2033cfc6d4e373731b8d1bc441f2d3c1fe9ebd7568de000bb33a7854fb5e9ac761fb7958f17c81a',
    recordHash: 'dc37e88e080f44fbe5ecad2d7706ec576b895fa2ea5f7d71665c62f8dbb60198',
  },
  p256: {
    publicKey: '0368ec7cf08cd4106e43b14de895426522bd0a45150c027e45c7953434d747e7ba',
    keyId: 'fc7d533b0709d15dab286c0beeb8817d9deabd5a0405bc01eda3a6f3e51207ae',
    digest: '60c06f9aa603ec5c8de7cc7d326f15ace499ac84114c27ae08baed49f2bdbd9e',
    sig: 'b63f9a04ba4ad9bc470defbee7d0d9907b95795f2070af12e20d863f571535ac37c3a3b0b6522e4e0ae2ca5c57501f88168deba32a7d58a26a0e6c034c028391',
    envelope:
      '494f544e02000a73656e736f722d30303100000000000000070000018bcfe56800abababababababababababababababababababababababababababababababab02fc7d533b0709d15dab286c0beeb8817d9deabd5a0405bc01eda3a6f3e51207ae000102030405060708090a0b0000002f491dee6793a16b8e587f4c01bab92b11be1292ee65248b6f48d1ea5579b7e647b63f9a04ba4ad9bc470defbee7d0d9907b95795f2070af12e20d863f571535ac37c3a3b0b6522e4e0ae2ca5c57501f88168deba32a7d58a26a0e6c034c028391cdc40f2b148d8ab2033cfc6d4e373731b8d1bc441f2d3c1fe9ebd7568de000c5a2193676f83c00e7221c51cac564e1',
    recordHash: '3113f67024a6c7f94edac71bf34c3602a11a7bb5ba4854953d519aaccf171cd0',
  },
} as const;

const recordKey = deriveRecordKey(INPUTS.masterKey, INPUTS.deviceId, INPUTS.timestamp, INPUTS.seq);
const sealKat = (alg: SigAlg) => sealRecord({ ...INPUTS, recordKey, signer: signerOf(KEYS[alg]) });

/** Everything a verifier holding the device's public key checks about one envelope. */
function envelopeVerifies(bytes: Uint8Array, alg: SigAlg, publicKey: Uint8Array): boolean {
  const env = parseEnvelope(bytes);
  if (!env.ok || !checkCiphertextHash(env).ok) return false;
  return verifyRecordSignature(env.headerBytes, alg, publicKey).ok;
}

describe.each(['ed25519', 'p256'] as const)('envelope v2 signed with %s', (alg) => {
  const kat = KAT[alg];
  const key = KEYS[alg];

  it('seals the known answer byte for byte', () => {
    expect(toHex(key.publicKey)).toBe(kat.publicKey);
    expect(toHex(key.keyId)).toBe(kat.keyId);
    const sealed = sealKat(alg);
    expect(toHex(sealed.envelope)).toBe(kat.envelope);
    expect(toHex(sealed.recordHash)).toBe(kat.recordHash);
    expect(sealed.headerBytes.length).toBe(210);
    expect(toHex(recordSigningDigest(sealed.headerBytes))).toBe(kat.digest);
    expect(toHex(sealed.header.signature?.sig ?? new Uint8Array())).toBe(kat.sig);
  });

  it('parses, verifies and opens the known answer', () => {
    const env = parseEnvelope(hex(kat.envelope));
    if (!env.ok) throw new Error(env.message);
    expect(env.header).toMatchObject({ version: 2, deviceId: 'sensor-001', seq: 7, ciphertextLength: 47 });
    expect(env.header.signature?.alg).toBe(alg);
    expect(toHex(env.header.signature?.keyId ?? new Uint8Array())).toBe(kat.keyId);
    expect(toHex(encodeHeader(env.header))).toBe(toHex(env.headerBytes));
    expect(toHex(recordHashOf(env.headerBytes))).toBe(kat.recordHash);
    expect(verifyRecordSignature(env.headerBytes, alg, key.publicKey)).toEqual({ ok: true });
    const opened = openRecord(env, recordKey);
    expect(opened.ok && new TextDecoder().decode(opened.plaintext)).toBe('{"t":1700000000000,"temp":21.5}');
  });

  it('carries the same ciphertext body as v1 under the same record key (only the AAD, hence the tag, differs)', () => {
    // v1 known answer (docs/envelope.md §6): body cdc40f2b...de000, tag e7a8ff2f...c6c0.
    const env = parseEnvelope(hex(kat.envelope));
    if (!env.ok) throw new Error(env.message);
    expect(toHex(env.ciphertext.subarray(0, 31))).toBe(
      'cdc40f2b148d8ab2033cfc6d4e373731b8d1bc441f2d3c1fe9ebd7568de000',
    );
    expect(toHex(env.ciphertext.subarray(31))).not.toBe('e7a8ff2f718af19a8ccdab62488cc6c0');
  });

  it('round-trips random records and their signatures', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        fc.nat({ max: 2 ** 53 - 1 }),
        fc.nat({ max: 2 ** 53 - 1 }),
        fc.uint8Array({ maxLength: 512 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (deviceId, seq, timestamp, plaintext, prevHash) => {
          const k = deriveRecordKey(INPUTS.masterKey, deviceId, timestamp, seq);
          const sealed = sealRecord({
            recordKey: k,
            deviceId,
            seq,
            timestamp,
            prevHash,
            nonce: new Uint8Array(randomBytes(12)),
            plaintext,
            signer: signerOf(key),
          });
          expect(sealed.headerBytes.length).toBe(200 + deviceId.length);
          expect(sealed.headerBytes.length).toBeLessThanOrEqual(MAX_HEADER_BYTES);
          const env = parseEnvelope(sealed.envelope);
          if (!env.ok) throw new Error(env.message);
          expect(env.header).toMatchObject({ version: 2, deviceId, seq, timestamp });
          expect(toHex(encodeHeader(env.header))).toBe(toHex(sealed.headerBytes));
          expect(verifyRecordSignature(env.headerBytes, alg, key.publicKey)).toEqual({ ok: true });
          const opened = openRecord(env, k);
          expect(opened.ok && toHex(opened.plaintext)).toBe(toHex(plaintext));
        },
      ),
      { numRuns: alg === 'p256' ? 25 : 60 },
    );
  });

  it('fails every single-byte change, at every position, to every value tried', () => {
    const original = hex(kat.envelope);
    // All 255 other values at the first byte, one in the nonce and the last; elsewhere the lowest and the
    // highest bit of every byte (the property below tries random values).
    const everyValue = new Set([0, 100, original.length - 1]);
    for (let i = 0; i < original.length; i++) {
      const deltas = everyValue.has(i) ? Array.from({ length: 255 }, (_, k) => k + 1) : [0x01, 0x80];
      for (const delta of deltas) {
        const bytes = original.slice();
        bytes[i] = (bytes[i] as number) ^ delta;
        if (envelopeVerifies(bytes, alg, key.publicKey))
          throw new Error(`byte ${i} ^ ${delta} still verifies`);
      }
    }
    expect(envelopeVerifies(original, alg, key.publicKey)).toBe(true);
  });

  it('fails a random change of any length anywhere (property)', () => {
    const original = hex(kat.envelope);
    fc.assert(
      fc.property(fc.nat({ max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const bytes = original.slice();
        bytes[i] = (bytes[i] as number) ^ delta;
        expect(envelopeVerifies(bytes, alg, key.publicKey)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('verifyRecordSignature refusals', () => {
  const ed = sealKat('ed25519');
  const v1 = sealRecord({ ...INPUTS, recordKey });
  it.each([
    ['a v1 header', v1.headerBytes, 'ed25519', KEYS.ed25519.publicKey, 'unsigned'],
    ['the header of the other algorithm', ed.headerBytes, 'p256', KEYS.p256.publicKey, 'algorithm-mismatch'],
    [
      'a key other than the one named',
      ed.headerBytes,
      'ed25519',
      signingKeyFromPrivate('ed25519', new Uint8Array(32).fill(1)).publicKey,
      'key-id-mismatch',
    ],
    [
      'a header with a byte after it',
      Uint8Array.from([...ed.headerBytes, 0]),
      'ed25519',
      KEYS.ed25519.publicKey,
      'header-malformed',
    ],
    ['bytes that are no header', utf8('IOTN'), 'ed25519', KEYS.ed25519.publicKey, 'header-malformed'],
  ] as const)('refuses %s', (_name, header, alg, pub, code) => {
    expect(verifyRecordSignature(header, alg, pub)).toMatchObject({ ok: false, code });
  });

  it('refuses a signature by the right key over another header (signature-invalid)', () => {
    const other = sealRecord({ ...INPUTS, seq: 8, recordKey, signer: signerOf(KEYS.ed25519) });
    const spliced = Uint8Array.from([...ed.headerBytes.subarray(0, 146), ...other.headerBytes.subarray(146)]);
    expect(verifyRecordSignature(spliced, 'ed25519', KEYS.ed25519.publicKey)).toMatchObject({
      ok: false,
      code: 'signature-invalid',
    });
  });
});

describe('envelope v2 parse refusals', () => {
  const good = hex(KAT.ed25519.envelope);
  const withByte = (i: number, v: number) => {
    const b = good.slice();
    b[i] = v;
    return b;
  };
  it.each([
    { name: 'signature algorithm 0', bytes: withByte(65, 0), code: 'unsupported-algorithm' },
    { name: 'signature algorithm 3', bytes: withByte(65, 3), code: 'unsupported-algorithm' },
    { name: 'version 3', bytes: withByte(4, 3), code: 'unsupported-version' },
    { name: 'a truncated v2 header (a v1 length)', bytes: good.subarray(0, 113), code: 'envelope-truncated' },
    {
      name: 'a missing last ciphertext byte',
      bytes: good.subarray(0, good.length - 1),
      code: 'length-mismatch',
    },
    { name: 'a byte after the ciphertext', bytes: Uint8Array.from([...good, 0]), code: 'length-mismatch' },
    { name: 'flags set', bytes: withByte(5, 1), code: 'unsupported-flags' },
  ])('rejects $name with $code', ({ bytes, code }) => {
    expect(parseEnvelope(bytes)).toMatchObject({ ok: false, code });
  });

  it('reads v1 under version byte 1 and v2 under 2 (a v1 envelope relabelled as v2 is truncated)', () => {
    const v1 = sealRecord({ ...INPUTS, recordKey });
    const relabelled = v1.envelope.slice();
    relabelled[4] = 2;
    expect(parseHeader(relabelled)).toMatchObject({ ok: false, code: 'envelope-truncated' });
    expect(parseHeader(v1.envelope)).toMatchObject({ ok: true, header: { version: 1 } });
    expect(v1.header.signature).toBeUndefined();
  });

  it('recordSigningDigest refuses a v1 header', () => {
    const v1 = sealRecord({ ...INPUTS, recordKey, prevHash: ZERO_HASH });
    expect(() => recordSigningDigest(v1.headerBytes)).toThrow(RangeError);
  });

  it('sealRecord refuses a signer that returns something other than 64 bytes', () => {
    const broken = { ...signerOf(KEYS.ed25519), sign: () => new Uint8Array(63) };
    expect(() => sealRecord({ ...INPUTS, recordKey, signer: broken })).toThrow(RangeError);
  });
});
