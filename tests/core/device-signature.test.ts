/**
 * Device signatures (lib/core/device-signature.ts): official known answers, differential tests against
 * node:crypto (OpenSSL), properties, and a table of inputs that must be refused.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from '../../lib/core/bytes.js';
import {
  generateSigningKey,
  keyIdOf,
  normalizePublicKey,
  type SigAlg,
  sigAlgCode,
  sigAlgFromCode,
  signDigest,
  signingKeyFromPrivate,
  verifyDigest,
} from '../../lib/core/device-signature.js';
import { sha256 } from '../../lib/core/hash.js';

const hex = (s: string): Uint8Array =>
  fromHex(s) ??
  (() => {
    throw new Error(s);
  })();

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;
const bigToBytes = (n: bigint, len = 32): Uint8Array => hex(n.toString(16).padStart(len * 2, '0'));
const bytesToBig = (b: Uint8Array): bigint => BigInt(`0x${toHex(b) || '0'}`);

/** RFC 8032 §7.1, TEST 1-3 (Ed25519). */
const RFC8032 = [
  {
    name: 'TEST 1 (empty message)',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte)',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3 (two bytes)',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

/**
 * RFC 6979 appendix A.2.5 (ECDSA P-256, SHA-256), messages "sample" and "test". The RFC's s values are
 * high for "sample"; a signer of ours must give n - s (low-S), which is the second vector's expectation.
 */
const RFC6979_KEY = 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721';
const RFC6979 = [
  {
    message: 'sample',
    r: 'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716',
    s: 'f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8',
  },
  {
    message: 'test',
    r: 'f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367',
    s: '019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083',
  },
];

describe('algorithm codes', () => {
  it('maps ed25519 to 1 and p256 to 2, and nothing else', () => {
    expect(sigAlgCode('ed25519')).toBe(1);
    expect(sigAlgCode('p256')).toBe(2);
    expect(sigAlgFromCode(1)).toBe('ed25519');
    expect(sigAlgFromCode(2)).toBe('p256');
    for (const c of [0, 3, 255]) expect(sigAlgFromCode(c)).toBeUndefined();
  });
});

describe('Ed25519 known answers (RFC 8032 §7.1)', () => {
  it.each(RFC8032)('$name: key, signature and verification', (v) => {
    const key = signingKeyFromPrivate('ed25519', hex(v.secret));
    expect(toHex(key.publicKey)).toBe(v.publicKey);
    // signDigest only takes 32-byte digests; the RFC messages go through the same library call.
    expect(toHex(ed25519.sign(hex(v.message), key.privateKey))).toBe(v.sig);
    expect(ed25519.verify(hex(v.sig), hex(v.message), key.publicKey, { zip215: false })).toBe(true);
  });

  it('signs a 32-byte digest exactly as RFC 8032 signs any message (cross-checked with OpenSSL)', () => {
    const v = RFC8032[0] as (typeof RFC8032)[number];
    const d = sha256(utf8('abc'));
    const ours = signDigest('ed25519', hex(v.secret), d);
    const openssl = nodeSign(null, d, ed25519PrivateKey(hex(v.secret)));
    expect(toHex(ours)).toBe(toHex(openssl));
    expect(verifyDigest('ed25519', hex(v.publicKey), d, ours)).toBe(true);
  });
});

describe('ECDSA P-256 known answers (RFC 6979 A.2.5)', () => {
  it('derives the RFC public key, compressed', () => {
    const key = signingKeyFromPrivate('p256', hex(RFC6979_KEY));
    // Ux = 60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6, Uy odd -> prefix 03.
    expect(toHex(key.publicKey)).toBe('0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6');
  });

  it.each(RFC6979)('message "$message": deterministic r, and s normalised to the low half', (v) => {
    const sig = p256.sign(utf8(v.message), hex(RFC6979_KEY), { prehash: true, lowS: true });
    const s = bytesToBig(hex(v.s));
    const lowS = s > P256_N / 2n ? P256_N - s : s;
    expect(toHex(sig)).toBe(v.r + toHex(bigToBytes(lowS)));
    // Without normalisation the library reproduces the RFC's s exactly: the nonce is RFC 6979's.
    const raw = p256.sign(utf8(v.message), hex(RFC6979_KEY), { prehash: true, lowS: false });
    expect(toHex(raw)).toBe(v.r + v.s);
  });

  it('signDigest(d) is ECDSA over SHA-256(d), verifiable by OpenSSL as sha256 over d', () => {
    const key = signingKeyFromPrivate('p256', hex(RFC6979_KEY));
    const d = sha256(utf8('sample'));
    const sig = signDigest('p256', key.privateKey, d);
    expect(toHex(sig)).toBe(toHex(p256.sign(d, key.privateKey, { prehash: true, lowS: true })));
    expect(
      nodeVerify('sha256', d, { key: p256PublicKey(key.publicKey), dsaEncoding: 'ieee-p1363' }, sig),
    ).toBe(true);
    // Deterministic: the same digest signs to the same bytes.
    expect(toHex(signDigest('p256', key.privateKey, d))).toBe(toHex(sig));
  });
});

describe('key ids', () => {
  it('are SHA-256(alg code | normalised public key)', () => {
    const ed = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(toHex(keyIdOf('ed25519', ed))).toBe(toHex(sha256(concatBytes(new Uint8Array([1]), ed))));
    const p = signingKeyFromPrivate('p256', hex(RFC6979_KEY)).publicKey;
    expect(toHex(keyIdOf('p256', p))).toBe(toHex(sha256(concatBytes(new Uint8Array([2]), p))));
  });

  it('refuse a key that is not in normalised form', () => {
    const uncompressed = p256.getPublicKey(hex(RFC6979_KEY), false);
    expect(() => keyIdOf('p256', uncompressed)).toThrow(RangeError);
    expect(() => keyIdOf('ed25519', new Uint8Array(33))).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------- differential against OpenSSL

function ed25519PrivateKey(seed: Uint8Array) {
  const pub = ed25519.getPublicKey(seed);
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(seed).toString('base64url'),
      x: Buffer.from(pub).toString('base64url'),
    },
    format: 'jwk',
  });
}
function ed25519PublicKey(pub: Uint8Array) {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub).toString('base64url') },
    format: 'jwk',
  });
}
function p256Jwk(pub: Uint8Array) {
  const point = p256.Point.fromBytes(pub).toBytes(false);
  return {
    kty: 'EC',
    crv: 'P-256',
    x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
    y: Buffer.from(point.subarray(33, 65)).toString('base64url'),
  };
}
function p256PublicKey(pub: Uint8Array) {
  return createPublicKey({ key: p256Jwk(pub), format: 'jwk' });
}
function p256PrivateKey(scalar: Uint8Array) {
  const pub = p256.getPublicKey(scalar, true);
  return createPrivateKey({
    key: { ...p256Jwk(pub), d: Buffer.from(scalar).toString('base64url') },
    format: 'jwk',
  });
}

const opensslVerify = (alg: SigAlg, pub: Uint8Array, d: Uint8Array, sig: Uint8Array): boolean =>
  alg === 'ed25519'
    ? nodeVerify(null, d, ed25519PublicKey(pub), sig)
    : nodeVerify('sha256', d, { key: p256PublicKey(pub), dsaEncoding: 'ieee-p1363' }, sig);

const flipBit = (b: Uint8Array, bit: number): Uint8Array => {
  const out = b.slice();
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
};

describe.each(['ed25519', 'p256'] as const)('%s against node:crypto (OpenSSL)', (alg) => {
  it('our signatures verify under OpenSSL, and OpenSSL agrees with us on one flipped bit', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: 64 * 8 - 1 }),
        (secret, d, bit) => {
          fc.pre(alg === 'ed25519' || (bytesToBig(secret) > 0n && bytesToBig(secret) < P256_N));
          const key = signingKeyFromPrivate(alg, secret);
          const sig = signDigest(alg, key.privateKey, d);
          expect(verifyDigest(alg, key.publicKey, d, sig)).toBe(true);
          expect(opensslVerify(alg, key.publicKey, d, sig)).toBe(true);
          const bad = flipBit(sig, bit);
          expect(verifyDigest(alg, key.publicKey, d, bad)).toBe(false);
          // OpenSSL accepts high-S P-256 signatures; ours refuses them. Everything else must agree.
          if (alg === 'ed25519') expect(opensslVerify(alg, key.publicKey, d, bad)).toBe(false);
          const otherDigest = flipBit(d, bit % 256);
          expect(verifyDigest(alg, key.publicKey, otherDigest, sig)).toBe(false);
          expect(opensslVerify(alg, key.publicKey, otherDigest, sig)).toBe(false);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('OpenSSL signatures verify under ours (P-256: once normalised to low S, and never before if high)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (d) => {
        const key = generateSigningKey(alg);
        if (alg === 'ed25519') {
          const sig = new Uint8Array(nodeSign(null, d, ed25519PrivateKey(key.privateKey)));
          expect(verifyDigest(alg, key.publicKey, d, sig)).toBe(true);
          return;
        }
        const sig = new Uint8Array(
          nodeSign('sha256', d, { key: p256PrivateKey(key.privateKey), dsaEncoding: 'ieee-p1363' }),
        );
        const s = bytesToBig(sig.subarray(32));
        const low = concatBytes(sig.subarray(0, 32), bigToBytes(s > P256_N / 2n ? P256_N - s : s));
        expect(verifyDigest(alg, key.publicKey, d, low)).toBe(true);
        expect(verifyDigest(alg, key.publicKey, d, sig)).toBe(s <= P256_N / 2n);
      }),
      { numRuns: 60 },
    );
  });

  it('generateSigningKey makes distinct keys whose ids follow from their public keys', () => {
    const a = generateSigningKey(alg);
    const b = generateSigningKey(alg);
    expect(toHex(a.publicKey)).not.toBe(toHex(b.publicKey));
    expect(toHex(a.keyId)).toBe(toHex(keyIdOf(alg, a.publicKey)));
    expect(a.publicKey.length).toBe(alg === 'ed25519' ? 32 : 33);
  });
});

// ---------------------------------------------------------------------------- inputs that must be refused

describe('refusals', () => {
  const ed = signingKeyFromPrivate('ed25519', hex(RFC8032[0]?.secret as string));
  const pk = signingKeyFromPrivate('p256', hex(RFC6979_KEY));
  const d = sha256(utf8('digest'));
  const edSig = signDigest('ed25519', ed.privateKey, d);
  const pSig = signDigest('p256', pk.privateKey, d);
  const pS = bytesToBig(pSig.subarray(32));
  const edS = bytesToBig(Uint8Array.from(edSig.subarray(32)).reverse());
  const leBytes = (n: bigint) => bigToBytes(n).reverse();

  it.each([
    ['an Ed25519 signature of 63 bytes', 'ed25519', ed.publicKey, d, edSig.subarray(0, 63)],
    ['an Ed25519 signature of 65 bytes', 'ed25519', ed.publicKey, d, concatBytes(edSig, new Uint8Array(1))],
    ['a digest of 31 bytes', 'ed25519', ed.publicKey, d.subarray(0, 31), edSig],
    [
      'a public key of 33 bytes for Ed25519',
      'ed25519',
      concatBytes(ed.publicKey, new Uint8Array(1)),
      d,
      edSig,
    ],
    // s + L is the same scalar mod L; RFC 8032 strict verification refuses s >= L.
    [
      'an Ed25519 s >= L',
      'ed25519',
      ed.publicKey,
      d,
      concatBytes(edSig.subarray(0, 32), leBytes(edS + ED25519_L)),
    ],
    ['an all-zero Ed25519 signature', 'ed25519', ed.publicKey, d, new Uint8Array(64)],
    [
      'a high-S P-256 signature (the second encoding)',
      'p256',
      pk.publicKey,
      d,
      concatBytes(pSig.subarray(0, 32), bigToBytes(P256_N - pS)),
    ],
    [
      'a P-256 signature with r = 0',
      'p256',
      pk.publicKey,
      d,
      concatBytes(new Uint8Array(32), pSig.subarray(32)),
    ],
    [
      'a P-256 signature with s = 0',
      'p256',
      pk.publicKey,
      d,
      concatBytes(pSig.subarray(0, 32), new Uint8Array(32)),
    ],
    [
      'a P-256 signature with r = n',
      'p256',
      pk.publicKey,
      d,
      concatBytes(bigToBytes(P256_N), pSig.subarray(32)),
    ],
    ['a DER P-256 signature', 'p256', pk.publicKey, d, p256.sign(d, pk.privateKey, { format: 'der' })],
    [
      'an uncompressed P-256 key where the normalised form is required',
      'p256',
      p256.getPublicKey(pk.privateKey, false),
      d,
      pSig,
    ],
    ['a P-256 signature checked as Ed25519', 'ed25519', ed.publicKey, d, pSig],
  ] as const)('verifyDigest refuses %s', (_name, alg, pub, digest, sig) => {
    expect(verifyDigest(alg, pub, digest, sig)).toBe(false);
  });

  const small = hex('0100000000000000000000000000000000000000000000000000000000000000'); // identity, order 1
  const nonCanonical = hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // y = p
  it.each([
    ['an Ed25519 key of 31 bytes', 'ed25519', new Uint8Array(31)],
    ['the Ed25519 identity (small order)', 'ed25519', small],
    ['a non-canonical Ed25519 encoding (y = p)', 'ed25519', nonCanonical],
    ['a P-256 key of 32 bytes', 'p256', new Uint8Array(32)],
    [
      'a P-256 compressed key with prefix 04',
      'p256',
      concatBytes(new Uint8Array([4]), pk.publicKey.subarray(1)),
    ],
    ['a P-256 x not on the curve', 'p256', concatBytes(new Uint8Array([2]), new Uint8Array(32).fill(0xff))],
    ['a P-256 point at infinity', 'p256', new Uint8Array([0])],
  ] as const)('normalizePublicKey refuses %s', (_name, alg, bytes) => {
    expect(normalizePublicKey(alg, bytes)).toMatchObject({ ok: false, code: 'bad-public-key' });
  });

  it('normalizePublicKey compresses a 65-byte P-256 key and keeps a valid one as it is', () => {
    const full = p256.getPublicKey(pk.privateKey, false);
    expect(normalizePublicKey('p256', full)).toEqual({ ok: true, publicKey: pk.publicKey });
    expect(normalizePublicKey('p256', pk.publicKey)).toEqual({ ok: true, publicKey: pk.publicKey });
    expect(normalizePublicKey('ed25519', ed.publicKey)).toEqual({ ok: true, publicKey: ed.publicKey });
  });

  it('signDigest refuses a digest or private key of the wrong size', () => {
    expect(() => signDigest('ed25519', ed.privateKey, new Uint8Array(33))).toThrow(RangeError);
    expect(() => signDigest('p256', new Uint8Array(31), d)).toThrow(RangeError);
  });
});
