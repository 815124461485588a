/**
 * Key events (lib/core/key-event.ts): known answers computed by docs/examples/key_log_kat.py from
 * docs/device-keys.md alone, round trips, signature checks, refusals, and single-byte mutations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../lib/core/bytes.js';
import {
  generateSigningKey,
  type SigAlg,
  signerOf,
  signingKeyFromPrivate,
} from '../../lib/core/device-signature.js';
import {
  encodeKeyEvent,
  type KeyEvent,
  keyEventDigest,
  MAX_KEY_EVENT_BYTES,
  parseKeyEvent,
  REVOKE_REASONS,
  signRotation,
  verifyKeyEvent,
} from '../../lib/core/key-event.js';
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
const P = signingKeyFromPrivate(
  'p256',
  hex('404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f'),
);

/** Output of docs/examples/key_log_kat.py (also in docs/device-keys.md §7). */
const KAT = {
  register:
    '494f544b01010a73656e736f722d3030310000018bcfd625c00129acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7',
  rotateDigest: '1149ef0de3c8a843d06a99726b042cb2bcc73663d352eed926a768a0fead83fc',
  rotate:
    '494f544b01020a73656e736f722d3030310000018bcfed0920020368ec7cf08cd4106e43b14de895426522bd0a45150c027e45c7953434d747e7bab44f3af856a894a22e362af353d7915a65e28a6ca4de6dda7475812e9bb341dc1235d9d651107c2b9b947a76c3422c6599f94bdbdd694a5a06751912b00a23b2129d06a57e66bf063c6582effce08d1f43ec6dc2c529bff2217257344b5d330d7c807b27f20310bd60e0333b0bbb035070dde7f01d8a948426273f369730ce4520747af49da521b03a31d4bc92f26135f208b216adbc2a466994d756d6f7cdb1',
  revoke:
    '494f544b01030a73656e736f722d3030310000018bcff4aa40020368ec7cf08cd4106e43b14de895426522bd0a45150c027e45c7953434d747e7ba01',
  leafHash: {
    register: 'c05b70618c30e547fe81f6721d3ac6e0d265017d6c3a0966fb385bd6e17c98f6',
    rotate: 'b3a630c2ae1836293dd3d9ab576b5496dbc1c002634c641cd0be78c2a59181b5',
    revoke: '24624324728bc560fcedda1ae3050c27f6ceeb393a0289338ae8f8f99322a01a',
  },
};

describe('key event known answers', () => {
  it('register: encodes and parses byte for byte', () => {
    const bytes = encodeKeyEvent({
      type: 'register',
      deviceId: 'sensor-001',
      time: 1_699_999_000_000,
      alg: 'ed25519',
      publicKey: ED.publicKey,
    });
    expect(toHex(bytes)).toBe(KAT.register);
    expect(toHex(leafHashOf(bytes))).toBe(KAT.leafHash.register);
    const p = parseKeyEvent(bytes);
    if (!p.ok) throw new Error(p.message);
    expect(p.event).toMatchObject({ type: 'register', deviceId: 'sensor-001', alg: 'ed25519' });
    expect(toHex(p.keyId)).toBe(toHex(ED.keyId));
    expect(verifyKeyEvent(p.event)).toEqual({ ok: true });
  });

  it('rotate: signed by the old key and the new, byte for byte (P-256 deterministic)', () => {
    const bytes = signRotation({
      deviceId: 'sensor-001',
      time: 1_700_000_500_000,
      oldKey: signerOf(ED),
      newKey: signerOf(P),
    });
    expect(toHex(bytes)).toBe(KAT.rotate);
    expect(toHex(leafHashOf(bytes))).toBe(KAT.leafHash.rotate);
    const p = parseKeyEvent(bytes);
    if (!p.ok || p.event.type !== 'rotate') throw new Error('not a rotation');
    expect(toHex(keyEventDigest(p.event))).toBe(KAT.rotateDigest);
    expect(toHex(p.event.oldKeyId)).toBe(toHex(ED.keyId));
    expect(toHex(p.keyId)).toBe(toHex(P.keyId));
    expect(verifyKeyEvent(p.event, ED)).toEqual({ ok: true });
    expect(toHex(encodeKeyEvent(p.event))).toBe(KAT.rotate);
  });

  it('revoke: encodes and parses byte for byte', () => {
    const bytes = encodeKeyEvent({
      type: 'revoke',
      deviceId: 'sensor-001',
      time: 1_700_001_000_000,
      alg: 'p256',
      publicKey: P.publicKey,
      reason: 'compromised',
    });
    expect(toHex(bytes)).toBe(KAT.revoke);
    expect(toHex(leafHashOf(bytes))).toBe(KAT.leafHash.revoke);
    expect(parseKeyEvent(bytes)).toMatchObject({
      ok: true,
      event: { type: 'revoke', reason: 'compromised' },
    });
  });
});

describe('rotation signatures', () => {
  const rotation = parseKeyEvent(hex(KAT.rotate));
  if (!rotation.ok || rotation.event.type !== 'rotate') throw new Error('KAT rotation does not parse');
  const ev = rotation.event;

  it.each([
    ['no old key given', ev, undefined, 'old-key-mismatch'],
    ['an old key other than the one named', ev, generateSigningKey('ed25519'), 'old-key-mismatch'],
    ['an old signature by another key', { ...ev, oldSig: ev.newSig }, ED, 'old-signature-invalid'],
    ['a new signature by another key', { ...ev, newSig: ev.oldSig }, ED, 'new-signature-invalid'],
    [
      'a new key that did not sign',
      { ...ev, publicKey: generateSigningKey('p256').publicKey },
      ED,
      'new-signature-invalid',
    ],
  ] as const)('refuses %s', (_name, event, oldKey, code) => {
    expect(verifyKeyEvent(event as KeyEvent, oldKey)).toMatchObject({ ok: false, code });
  });

  it('any single-byte change to a rotation either fails to parse or fails its signatures', () => {
    const original = hex(KAT.rotate);
    for (let i = 0; i < original.length; i++) {
      for (const delta of [0x01, 0x80]) {
        const bytes = original.slice();
        bytes[i] = (bytes[i] as number) ^ delta;
        const p = parseKeyEvent(bytes);
        if (!p.ok) continue;
        // A change of the old key id is caught by the old key no longer matching; anything else by a signature.
        expect(p.event.type === 'rotate' && verifyKeyEvent(p.event, ED).ok).toBe(false);
      }
    }
  });

  it.each(['ed25519', 'p256'] as const)('round-trips random rotations to %s', (newAlg: SigAlg) => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        fc.nat({ max: 2 ** 53 - 1 }),
        fc.constantFrom<SigAlg>('ed25519', 'p256'),
        (deviceId, time, oldAlg) => {
          const oldKey = generateSigningKey(oldAlg);
          const newKey = generateSigningKey(newAlg);
          const bytes = signRotation({ deviceId, time, oldKey: signerOf(oldKey), newKey: signerOf(newKey) });
          expect(bytes.length).toBeLessThanOrEqual(MAX_KEY_EVENT_BYTES);
          const p = parseKeyEvent(bytes);
          if (!p.ok) throw new Error(p.message);
          expect(p.event).toMatchObject({ type: 'rotate', deviceId, time, alg: newAlg });
          expect(verifyKeyEvent(p.event, oldKey)).toEqual({ ok: true });
          expect(toHex(encodeKeyEvent(p.event))).toBe(toHex(bytes));
        },
      ),
      { numRuns: 20 },
    );
  });
});

describe('parse refusals', () => {
  const reg = hex(KAT.register);
  const revoke = hex(KAT.revoke);
  const withByte = (b: Uint8Array, i: number, v: number) => {
    const out = b.slice();
    out[i] = v;
    return out;
  };
  it.each([
    ['empty input', new Uint8Array(0), 'truncated'],
    ['another magic', withByte(reg, 3, 0x4e), 'bad-magic'],
    ['version 2', withByte(reg, 4, 2), 'unsupported-version'],
    ['type 0', withByte(reg, 5, 0), 'unknown-type'],
    ['type 4', withByte(reg, 5, 4), 'unknown-type'],
    ['device id length 0', withByte(reg, 6, 0), 'bad-device-id'],
    ['a dot in the device id', withByte(reg, 7, 0x2e), 'bad-device-id'],
    ['a time above 2^53-1', (() => withByte(reg, 17, 0xff))(), 'field-out-of-range'],
    ['algorithm 3', withByte(reg, 25, 3), 'unsupported-algorithm'],
    ['a register with a byte after it', Uint8Array.from([...reg, 0]), 'length-mismatch'],
    ['a register cut short', reg.subarray(0, reg.length - 1), 'truncated'],
    ['a P-256 key with prefix 04', withByte(revoke, 26, 4), 'bad-public-key'],
    [
      'an Ed25519 key of small order',
      Uint8Array.from([...reg.subarray(0, 26), 1, ...new Uint8Array(31)]),
      'bad-public-key',
    ],
    ['revocation reason 4', withByte(revoke, revoke.length - 1, 4), 'unknown-reason'],
    ['a rotation without its signatures', hex(KAT.rotate).subarray(0, 91), 'truncated'],
  ] as const)('refuses %s', (_name, bytes, code) => {
    expect(parseKeyEvent(bytes)).toMatchObject({ ok: false, code });
  });

  it('names every revocation reason by its code', () => {
    expect(REVOKE_REASONS).toEqual(['unspecified', 'compromised', 'retired', 'decommissioned']);
    for (const [i, reason] of REVOKE_REASONS.entries()) {
      expect(parseKeyEvent(withByte(revoke, revoke.length - 1, i))).toMatchObject({
        ok: true,
        event: { reason },
      });
    }
  });

  it('encodeKeyEvent refuses a public key that is not in normalised form', () => {
    const uncompressed = new Uint8Array(65);
    expect(() =>
      encodeKeyEvent({ type: 'register', deviceId: 'd', time: 1, alg: 'p256', publicKey: uncompressed }),
    ).toThrow(RangeError);
  });
});
