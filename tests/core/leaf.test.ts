/**
 * Leaf classification (lib/core/leaf.ts): each leaf type is told by its magic, parsed whole, and never read
 * as another type.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8 } from '../../lib/core/bytes.js';
import { signHead } from '../../lib/core/device-head.js';
import { generateSigningKey, signerOf } from '../../lib/core/device-signature.js';
import { recordHashOf, sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { encodeKeyEvent, signRotation } from '../../lib/core/key-event.js';
import { classifyLeaf, leafHashOf } from '../../lib/core/leaf.js';
import { hashLeaf } from '../../lib/core/merkle.js';

const key = generateSigningKey('ed25519');
const next = generateSigningKey('p256');
const seal = (signed: boolean) =>
  sealRecord({
    recordKey: new Uint8Array(32).fill(3),
    deviceId: 'dev-leaf',
    seq: 0,
    timestamp: 1,
    prevHash: ZERO_HASH,
    nonce: new Uint8Array(randomBytes(12)),
    plaintext: utf8('x'),
    ...(signed ? { signer: signerOf(key) } : {}),
  });
const LEAVES = {
  v1: seal(false).headerBytes,
  v2: seal(true).headerBytes,
  register: encodeKeyEvent({
    type: 'register',
    deviceId: 'dev-leaf',
    time: 1,
    alg: 'ed25519',
    publicKey: key.publicKey,
  }),
  rotate: signRotation({ deviceId: 'dev-leaf', time: 2, oldKey: signerOf(key), newKey: signerOf(next) }),
  revoke: encodeKeyEvent({
    type: 'revoke',
    deviceId: 'dev-leaf',
    time: 3,
    alg: 'p256',
    publicKey: next.publicKey,
    reason: 'retired',
  }),
  head: signHead({ deviceId: 'dev-leaf', count: 0, lastHash: ZERO_HASH, time: 4 }, signerOf(key)).bytes,
};

describe('classifyLeaf', () => {
  it.each([
    ['v1', 'record'],
    ['v2', 'record'],
    ['register', 'key-event'],
    ['rotate', 'key-event'],
    ['revoke', 'key-event'],
    ['head', 'head'],
  ] as const)('reads a %s leaf as a %s of its device', (name, type) => {
    const c = classifyLeaf(LEAVES[name]);
    expect(c).toMatchObject({ ok: true, type, deviceId: 'dev-leaf' });
    expect(c.ok && toHex(c.bytes)).toBe(toHex(LEAVES[name]));
  });

  it('hashes every leaf type the same RFC 6962 way; a record leaf hash is its record hash', () => {
    for (const bytes of Object.values(LEAVES)) expect(toHex(leafHashOf(bytes))).toBe(toHex(hashLeaf(bytes)));
    expect(toHex(leafHashOf(LEAVES.v2))).toBe(toHex(recordHashOf(LEAVES.v2)));
  });

  it.each([
    ['an unknown magic', utf8('IOTX0000'), 'unknown-leaf-type'],
    ['an anchor payload', concatBytes(utf8('IOTA'), new Uint8Array(41)), 'unknown-leaf-type'],
    ['nothing', new Uint8Array(0), 'unknown-leaf-type'],
    ['a whole envelope (header and ciphertext)', seal(true).envelope, 'record-length-mismatch'],
    ['a truncated key event', LEAVES.rotate.subarray(0, 100), 'key-event-truncated'],
    ['a head with a byte after it', concatBytes(LEAVES.head, new Uint8Array(1)), 'head-length-mismatch'],
  ])('refuses %s (%s)', (_name, bytes, code) => {
    expect(classifyLeaf(bytes)).toMatchObject({ ok: false, code });
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('IOTN', 'IOTK', 'IOTH', 'IOTA', ''),
        fc.uint8Array({ maxLength: 400 }),
        (magic, rest) => {
          const c = classifyLeaf(concatBytes(utf8(magic), rest));
          expect(typeof c.ok).toBe('boolean');
        },
      ),
      { numRuns: 500 },
    );
  });
});
