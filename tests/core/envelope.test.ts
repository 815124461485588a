import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../lib/core/bytes.js';
import {
  checkCiphertextHash,
  encodeHeader,
  openRecord,
  parseEnvelope,
  parseHeader,
  recordHashOf,
  sealRecord,
  ZERO_HASH,
} from '../../lib/core/envelope.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';

const hex = (s: string): Uint8Array =>
  fromHex(s) ??
  (() => {
    throw new Error(s);
  })();

/**
 * Known answer, computed independently with Python's hmac/hashlib and `cryptography` AESGCM straight from
 * docs/envelope.md (the script is reproduced there), so it pins the format, not just our code.
 */
const KAT = {
  masterKey: hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
  deviceId: 'sensor-001',
  seq: 7,
  timestamp: 1_700_000_000_000,
  prevHash: new Uint8Array(32).fill(0xab),
  nonce: hex('000102030405060708090a0b'),
  plaintext: utf8('{"t":1700000000000,"temp":21.5}'),
  envelope:
    '494f544e01000a73656e736f722d30303100000000000000070000018bcfe56800abababababababababababababababababababababababababababababababab000102030405060708090a0b0000002f71c995de2e8cdfb292f895f15959a29426839b3c1e8d38a266c546c21e951c93cdc40f2b148d8ab2033cfc6d4e373731b8d1bc441f2d3c1fe9ebd7568de000e7a8ff2f718af19a8ccdab62488cc6c0',
  recordHash: '5634b7201862609dbfcf7c183411e8378b33fd34c92477bd3710a192c2c2f392',
};

const sealKat = () =>
  sealRecord({
    recordKey: deriveRecordKey(KAT.masterKey, KAT.deviceId, KAT.timestamp, KAT.seq),
    deviceId: KAT.deviceId,
    seq: KAT.seq,
    timestamp: KAT.timestamp,
    prevHash: KAT.prevHash,
    nonce: KAT.nonce,
    plaintext: KAT.plaintext,
  });

describe('record envelope v1', () => {
  it('seals the known answer byte for byte', () => {
    const sealed = sealKat();
    expect(toHex(sealed.envelope)).toBe(KAT.envelope);
    expect(toHex(sealed.recordHash)).toBe(KAT.recordHash);
  });

  it('parses, checks and opens the known answer', () => {
    const parsed = parseEnvelope(hex(KAT.envelope));
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.header).toMatchObject({
      deviceId: 'sensor-001',
      seq: 7,
      timestamp: KAT.timestamp,
      ciphertextLength: 47,
    });
    expect(toHex(encodeHeader(parsed.header))).toBe(toHex(parsed.headerBytes));
    expect(checkCiphertextHash(parsed)).toEqual({ ok: true });
    const key = deriveRecordKey(KAT.masterKey, KAT.deviceId, KAT.timestamp, KAT.seq);
    const opened = openRecord(parsed, key);
    expect(opened.ok && new TextDecoder().decode(opened.plaintext)).toBe('{"t":1700000000000,"temp":21.5}');
  });

  it('round-trips random records', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        fc.nat({ max: 2 ** 53 - 1 }),
        fc.nat({ max: 2 ** 53 - 1 }),
        fc.uint8Array({ maxLength: 2048 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        (mk, deviceId, seq, timestamp, plaintext, nonce) => {
          const key = deriveRecordKey(mk, deviceId, timestamp, seq);
          const sealed = sealRecord({
            recordKey: key,
            deviceId,
            seq,
            timestamp,
            prevHash: ZERO_HASH,
            nonce,
            plaintext,
          });
          const parsed = parseEnvelope(sealed.envelope);
          if (!parsed.ok) throw new Error(parsed.message);
          expect(parsed.header.seq).toBe(seq);
          expect(parsed.header.timestamp).toBe(timestamp);
          const opened = openRecord(parsed, key);
          expect(opened.ok && toHex(opened.plaintext)).toBe(toHex(plaintext));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('detects any one flipped bit: by structure, by ciphertext hash, or by the GCM tag', () => {
    const key = deriveRecordKey(KAT.masterKey, KAT.deviceId, KAT.timestamp, KAT.seq);
    const original = hex(KAT.envelope);
    const originalHash = sealKat().recordHash;
    fc.assert(
      fc.property(fc.nat({ max: original.length * 8 - 1 }), (bit) => {
        const bytes = original.slice();
        bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7));
        const parsed = parseEnvelope(bytes);
        if (!parsed.ok) return; // structural rejection
        const hashOk = checkCiphertextHash(parsed).ok;
        const opened = openRecord(parsed, key);
        // A bit in the header changes the record hash (so the Merkle proof fails); elsewhere the hash or tag fails.
        const headerChanged =
          toHex(parsed.headerBytes) !== toHex(original.subarray(0, parsed.headerBytes.length));
        expect(!hashOk || !opened.ok || headerChanged).toBe(true);
        expect(opened.ok && hashOk && !headerChanged).toBe(false);
        if (headerChanged) expect(toHex(recordHashOf(parsed.headerBytes))).not.toBe(toHex(originalHash));
      }),
    );
  });

  it('fails to open with the wrong key', () => {
    const parsed = parseEnvelope(hex(KAT.envelope));
    if (!parsed.ok) throw new Error(parsed.message);
    const wrong = deriveRecordKey(KAT.masterKey, KAT.deviceId, KAT.timestamp + 1, KAT.seq);
    expect(openRecord(parsed, wrong)).toMatchObject({ ok: false, code: 'decrypt-failed' });
  });

  const good = hex(KAT.envelope);
  const withByte = (i: number, v: number) => {
    const b = good.slice();
    b[i] = v;
    return b;
  };
  it.each([
    { name: 'empty input', bytes: new Uint8Array(0), code: 'envelope-truncated' },
    { name: 'JSON instead of an envelope', bytes: utf8('{"hello":1}'), code: 'bad-magic' },
    { name: 'version 3', bytes: withByte(4, 3), code: 'unsupported-version' },
    { name: 'version 0', bytes: withByte(4, 0), code: 'unsupported-version' },
    { name: 'flags set', bytes: withByte(5, 1), code: 'unsupported-flags' },
    { name: 'device id length 0', bytes: withByte(6, 0), code: 'bad-device-id' },
    { name: 'a slash in the device id', bytes: withByte(7, 0x2f), code: 'bad-device-id' },
    { name: 'truncated ciphertext', bytes: good.subarray(0, good.length - 1), code: 'length-mismatch' },
    { name: 'trailing garbage', bytes: Uint8Array.from([...good, 0]), code: 'length-mismatch' },
    { name: 'truncated header', bytes: good.subarray(0, 40), code: 'envelope-truncated' },
  ])('rejects $name with $code', ({ bytes, code }) => {
    expect(parseEnvelope(bytes)).toMatchObject({ ok: false, code });
  });

  it('rejects a seq above 2^53-1', () => {
    const b = good.slice();
    b.fill(0xff, 17, 25); // seq field for a 10-character device id
    expect(parseHeader(b)).toMatchObject({ ok: false, code: 'field-out-of-range' });
  });
});
