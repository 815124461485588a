import { createCipheriv, hkdfSync } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { deriveRecordKey, recordKeyInfo } from '../../lib/core/record-key.js';

const hex = (s: string): Uint8Array =>
  fromHex(s) ??
  (() => {
    throw new Error(s);
  })();

// RFC 5869 appendix A, test cases 1 and 3 (HKDF-SHA256).
const HKDF_VECTORS = [
  {
    name: 'RFC 5869 A.1',
    ikm: '0b'.repeat(22),
    salt: '000102030405060708090a0b0c',
    info: 'f0f1f2f3f4f5f6f7f8f9',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'RFC 5869 A.3 (empty salt and info)',
    ikm: '0b'.repeat(22),
    salt: '',
    info: '',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14 and 16 (AES-256).
const GCM_VECTORS = [
  {
    name: 'GCM TC13',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    aad: '',
    pt: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'GCM TC14',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    aad: '',
    pt: '00'.repeat(16),
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'GCM TC16',
    key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
    iv: 'cafebabefacedbaddecaf888',
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    pt: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    ct: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

describe('HKDF-SHA256 known answers', () => {
  it.each(HKDF_VECTORS)('$name', (v) => {
    expect(toHex(hkdf(nobleSha256, hex(v.ikm), hex(v.salt), hex(v.info), v.okm.length / 2))).toBe(v.okm);
  });
});

describe('AES-256-GCM known answers', () => {
  it.each(GCM_VECTORS)('$name', (v) => {
    const c = createCipheriv('aes-256-gcm', hex(v.key), hex(v.iv));
    c.setAAD(hex(v.aad));
    const ct = Buffer.concat([c.update(hex(v.pt)), c.final()]);
    expect(ct.toString('hex')).toBe(v.ct);
    expect(c.getAuthTag().toString('hex')).toBe(v.tag);
  });
});

describe('per-record key derivation', () => {
  const master = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

  it('has a pinned known answer, cross-checked with Python hmac (also in docs/envelope.md)', () => {
    expect(toHex(recordKeyInfo(1_700_000_000_000, 7))).toBe(
      `${Buffer.from('iot-notary/v1 record-key').toString('hex')}0000018bcfe568000000000000000007`,
    );
    expect(toHex(deriveRecordKey(master, 'sensor-001', 1_700_000_000_000, 7))).toBe(
      '241ab565f9fcb2a035c01c27ec807acfbfe3ec9a68801fb3b94cd0a0fc8ab1fd',
    );
  });

  it('agrees with node:crypto hkdfSync on random inputs', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        fc.nat({ max: 2 ** 48 }),
        fc.nat({ max: 2 ** 40 }),
        (mk, id, ts, seq) => {
          const ours = deriveRecordKey(mk, id, ts, seq);
          const theirs = new Uint8Array(hkdfSync('sha256', mk, Buffer.from(id), recordKeyInfo(ts, seq), 32));
          expect(toHex(ours)).toBe(toHex(theirs));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives different keys for neighbouring timestamps and sequence numbers', () => {
    const a = toHex(deriveRecordKey(master, 'd1', 1000, 1));
    expect(toHex(deriveRecordKey(master, 'd1', 1001, 1))).not.toBe(a);
    expect(toHex(deriveRecordKey(master, 'd1', 1000, 2))).not.toBe(a);
    expect(toHex(deriveRecordKey(master, 'd2', 1000, 1))).not.toBe(a);
  });

  it('refuses a master key of the wrong size', () => {
    expect(() => deriveRecordKey(new Uint8Array(16), 'd1', 1, 1)).toThrow(RangeError);
  });
});

describe('SHA-256 through node:crypto', () => {
  it('matches @noble/hashes on random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (data) => {
        expect(toHex(sha256(data))).toBe(toHex(nobleSha256(data)));
      }),
    );
  });
});
