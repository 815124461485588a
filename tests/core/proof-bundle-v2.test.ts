/**
 * Proof bundle v2 (docs/proof-bundle.md §6): origin, the ordering rule, trust roots, and no unbound fields.
 * Bundles are built from lib/core by tests/support/proof-builder.ts, as the backend assembles them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../lib/core/bytes.js';
import { generateSigningKey } from '../../lib/core/device-signature.js';
import { hashLeaf } from '../../lib/core/merkle.js';
import {
  AnyProofBundle,
  type CheckOptions,
  checkProofBundle,
  type ProofBundleV2,
} from '../../lib/core/proof-bundle.js';
import {
  compact,
  registerEvent,
  revokeEvent,
  SignedDevice,
  TestLedger,
  TestLog,
} from '../support/proof-builder.js';

/** Checks a bundle the way a verifier receives it: compact JSON, parsed and validated. */
/** The exhaustive byte-change tests try every position; on a busy 2-core machine that takes minutes. */
const EXHAUSTIVE_TIMEOUT_MS = 600_000;

function check(bundle: ProofBundleV2, opts: CheckOptions = {}) {
  return checkProofBundle(AnyProofBundle.parse(JSON.parse(compact(bundle))), opts);
}
const codes = (rs: { code: string }[]) => rs.map((r) => r.code);

/** A device registered, then three records, in two batches; the bundle is for record 1. */
function scenario() {
  const log = new TestLog();
  const dev = new SignedDevice('dev-v2');
  const reg = dev.registration();
  const r0 = dev.seal();
  log.commit([reg, r0.headerBytes]);
  const r1 = dev.seal();
  const r2 = dev.seal();
  log.commit([r1.headerBytes, r2.headerBytes]);
  const ledgerKey = log.ledgers[0]?.publicKeyBase64 as string;
  const pinLedger = { trustedLedgerKeys: [ledgerKey] };
  return { log, dev, reg, r0, r1, r2, pinLedger, deviceKeyId: toHex(dev.key.keyId) };
}

describe('proof bundle v2: the verdicts', () => {
  it('a device-signed record: proven with the device key pinned, unpinned without, verified with the ledger key', () => {
    const { log, dev, reg, r1, pinLedger, deviceKeyId } = scenario();
    const bundle = log.bundle(r1, [reg]);
    const pinned = check(bundle, {
      ...pinLedger,
      trustedDeviceKeys: [{ deviceId: 'dev-v2', keyId: deviceKeyId }],
      envelope: r1.envelope,
    });
    expect(pinned).toMatchObject({
      status: 'verified',
      reasons: [],
      checks: {
        header: 'ok',
        object: 'ok',
        inclusion: 'ok',
        keyEvents: [{ leaf: 'ok', type: 'register', inclusion: 'ok' }],
      },
      proven: {
        integrity: 'proven',
        existence: { verdict: 'proven', chainId: log.ledgers[0]?.chainId },
        origin: { verdict: 'proven', keyId: deviceKeyId, pinnedKeyId: deviceKeyId },
        completeness: { verdict: 'not-covered' },
      },
    });
    expect(pinned.proven.existence.notAfter).toBe(log.batches[1]?.anchors[0]?.time);

    // A bare key id pins it for whichever device names it.
    expect(
      check(bundle, { ...pinLedger, trustedDeviceKeys: [{ keyId: deviceKeyId }] }).proven.origin.verdict,
    ).toBe('proven');
    const unpinnedDevice = check(bundle, pinLedger);
    expect(unpinnedDevice.status).toBe('verified');
    expect(unpinnedDevice.proven.origin).toMatchObject({
      verdict: 'unpinned',
      reasons: [{ code: 'device-key-unpinned' }],
    });

    // No ledger key: everything holds, but the ledger's word was taken on its own key.
    const nothingPinned = check(bundle);
    expect(nothingPinned.status).toBe('unpinned');
    expect(codes(nothingPinned.reasons)).toEqual(['ledger-key-unpinned', 'ledger-key-unpinned']);
    expect(nothingPinned.proven.existence.verdict).toBe('unpinned');
    expect(nothingPinned.checks.anchors[0]?.trust).toBe('unpinned');
    expect(dev.nextSeq).toBe(3);
  });

  it('a rotated key: proven through a pinned earlier key or the signing key itself', () => {
    const log = new TestLog();
    const dev = new SignedDevice('dev-rot');
    const first = dev.key;
    const reg = dev.registration();
    log.commit([reg, dev.seal().headerBytes]);
    const rot = dev.rotate('p256');
    const rec = dev.seal();
    log.commit([rot, rec.headerBytes]);
    const pinLedger = { trustedLedgerKeys: [log.ledgers[0]?.publicKeyBase64 as string] };
    const bundle = log.bundle(rec, [reg, rot]);
    for (const pinnedKey of [first, dev.key]) {
      const c = check(bundle, { ...pinLedger, trustedDeviceKeys: [{ keyId: toHex(pinnedKey.keyId) }] });
      expect(c).toMatchObject({
        status: 'verified',
        proven: { origin: { verdict: 'proven', pinnedKeyId: toHex(pinnedKey.keyId) } },
      });
    }
    expect(check(bundle, pinLedger).proven.origin.verdict).toBe('unpinned');
    // A pin for another key of this device: the chain does not reach it.
    const other = generateSigningKey('ed25519');
    expect(
      check(bundle, { ...pinLedger, trustedDeviceKeys: [{ deviceId: 'dev-rot', keyId: toHex(other.keyId) }] })
        .proven.origin,
    ).toMatchObject({ verdict: 'not-proven', reasons: [{ code: 'key-chain-unpinned' }] });
    // Without the registration, the chain stops at the rotation's old key.
    expect(check(log.bundle(rec, [rot]), pinLedger).proven.origin).toMatchObject({
      verdict: 'not-proven',
      reasons: [{ code: 'key-chain-incomplete' }],
    });
  });

  it('the dishonest operator: a key it registered itself is unpinned, and does not reach the device’s pinned key', () => {
    const { log, dev, reg, pinLedger, deviceKeyId } = scenario();
    // The operator registers its own key for the device and seals a record with it, through the normal log.
    const operatorKey = generateSigningKey('ed25519');
    const fakeReg = registerEvent('dev-v2', operatorKey, 1_700_000_900_000);
    const forged = dev.seal({ key: operatorKey });
    log.commit([fakeReg, forged.headerBytes]);
    const bundle = log.bundle(forged, [reg, fakeReg]);
    expect(check(bundle, pinLedger)).toMatchObject({
      status: 'verified',
      proven: { origin: { verdict: 'unpinned' } },
    });
    const pinned = check(bundle, {
      ...pinLedger,
      trustedDeviceKeys: [{ deviceId: 'dev-v2', keyId: deviceKeyId }],
    });
    expect(pinned.proven.origin).toMatchObject({
      verdict: 'not-proven',
      reasons: [{ code: 'key-chain-unpinned' }],
    });

    // And a record with a signature that is not the device's, stored directly: invalid, so tampered.
    const real = dev.seal();
    const header = real.headerBytes.slice();
    header[header.length - 1] = (header[header.length - 1] as number) ^ 1;
    log.commit([header]);
    const b = log.bundle({ ...real, headerBytes: header, recordHash: hashLeaf(header) }, [reg]);
    const c = check(b, { ...pinLedger, trustedDeviceKeys: [{ keyId: deviceKeyId }] });
    expect(c.status).toBe('tampered');
    expect(c.proven.origin).toMatchObject({ verdict: 'invalid', reasons: [{ code: 'signature-invalid' }] });
    expect(codes(c.reasons)).toEqual(['signature-invalid']);
  });

  it('a key revoked or rotated away before the record: invalid; after it: still valid', () => {
    const { log, dev, reg, r1, pinLedger, deviceKeyId } = scenario();
    const pins = { ...pinLedger, trustedDeviceKeys: [{ keyId: deviceKeyId }] };
    const revoke = revokeEvent('dev-v2', dev.key);
    log.commit([revoke]);
    // r1 was anchored before the revocation: still proven with the revocation in the bundle.
    expect(check(log.bundle(r1, [reg, revoke]), pins).proven.origin.verdict).toBe('proven');
    const late = dev.seal();
    log.commit([late.headerBytes]);
    const c = check(log.bundle(late, [reg, revoke]), pins);
    expect(c).toMatchObject({
      status: 'tampered',
      proven: { origin: { verdict: 'invalid', reasons: [{ code: 'key-revoked' }] } },
    });

    // Rotated away: the old key signs after the rotation.
    const log2 = new TestLog();
    const d2 = new SignedDevice('dev-away');
    const old = d2.key;
    const reg2 = d2.registration();
    log2.commit([reg2]);
    const rot = d2.rotate();
    log2.commit([rot]);
    const stale = d2.seal({ key: old });
    log2.commit([stale.headerBytes]);
    const c2 = check(log2.bundle(stale, [reg2, rot]), {
      trustedLedgerKeys: [log2.ledgers[0]?.publicKeyBase64 as string],
    });
    expect(c2.proven.origin).toMatchObject({ verdict: 'invalid', reasons: [{ code: 'key-revoked' }] });
  });

  it('the ordering rule: same batch by leaf index, later registration not before, other chains not comparable', () => {
    const a = new TestLedger();
    const b = new TestLedger();
    const log = new TestLog([a, b]);
    const pinLedger = { trustedLedgerKeys: [a.publicKeyBase64, b.publicKeyBase64] };
    const dev = new SignedDevice('dev-ord');
    const reg = dev.registration();
    const r0 = dev.seal();
    // Same batch, registration first: it precedes the record.
    log.commit([reg, r0.headerBytes]);
    expect(check(log.bundle(r0, [reg]), pinLedger).proven.origin.verdict).toBe('unpinned');

    // Same batch, record first: not before.
    const d2 = new SignedDevice('dev-ord2');
    const reg2 = d2.registration();
    const s0 = d2.seal();
    log.commit([s0.headerBytes, reg2]);
    expect(check(log.bundle(s0, [reg2]), pinLedger).proven.origin).toMatchObject({
      verdict: 'not-proven',
      reasons: [{ code: 'key-not-registered-before' }],
    });

    // Registration on chain a only, record on chain b only: no chain holds both, so not comparable.
    const d3 = new SignedDevice('dev-ord3');
    const reg3 = d3.registration();
    log.commit([reg3], [a]);
    const t0 = d3.seal();
    log.commit([t0.headerBytes], [b]);
    expect(check(log.bundle(t0, [reg3]), pinLedger).proven.origin).toMatchObject({
      verdict: 'not-proven',
      reasons: [{ code: 'key-not-registered-before' }],
    });
    // A revocation not comparable with the record counts as before it (conservative).
    const rev3 = revokeEvent('dev-ord3', d3.key);
    log.commit([rev3], [a]);
    const pinned = { ...pinLedger, trustedDeviceKeys: [{ keyId: toHex(d3.key.keyId) }] };
    expect(check(log.bundle(t0, [reg3, rev3]), pinned).proven.origin).toMatchObject({
      verdict: 'invalid',
      reasons: [{ code: 'key-revoked' }],
    });
  });

  it('a v1 record in a v2 bundle: origin not proven, the rest verified', () => {
    const log = new TestLog();
    const dev = new SignedDevice('dev-legacy');
    const r = dev.seal({ unsigned: true });
    log.commit([r.headerBytes]);
    const bundle = log.bundle(r);
    expect(bundle.origin).toBeUndefined();
    const c = check(bundle, { trustedLedgerKeys: [log.ledgers[0]?.publicKeyBase64 as string] });
    expect(c).toMatchObject({
      status: 'verified',
      proven: {
        integrity: 'proven',
        origin: { verdict: 'not-proven', reasons: [{ code: 'unsigned-record' }] },
      },
    });
    // A v1 record may not carry key events: nothing would check them against a signature.
    const withOrigin = { ...bundle, origin: { keyEvents: [] } };
    expect(codes(check(withOrigin).reasons)).toContain('origin-unexpected');
  });

  it('evidence still pending, or absent: not proven', () => {
    const log = new TestLog();
    const dev = new SignedDevice('dev-pend');
    const reg = dev.registration();
    const r = dev.seal();
    const queued = log.bundle(r, [reg]);
    const c = check(queued);
    expect(c.status).toBe('pending');
    expect(codes(c.reasons)).toEqual(['not-yet-anchored', 'key-event-not-anchored']);
    expect(c.proven.origin).toMatchObject({
      verdict: 'not-proven',
      reasons: [{ code: 'key-evidence-pending' }],
    });
    expect(c.proven.existence.verdict).toBe('not-proven');
    log.commit([reg, r.headerBytes]);
    expect(check(log.bundle(r, [])).proven.origin).toMatchObject({
      verdict: 'not-proven',
      reasons: [{ code: 'key-evidence-absent' }],
    });
  });

  const tamperings: [string, (b: ProofBundleV2) => void, string[]][] = [
    [
      'a chain id that is not its key’s',
      (b) => {
        (b.anchors[0] as { chainId: string }).chainId = 'embedded:0000000000000000';
      },
      ['chain-id-mismatch'],
    ],
    [
      'confirmations on an entry-backed anchor',
      (b) => {
        (b.anchors[0] as { confirmations?: number }).confirmations = 1;
      },
      ['anchor-fields-mismatch'],
    ],
    [
      'a height other than the entry’s',
      (b) => {
        (b.anchors[0] as { height?: number }).height = 99;
      },
      ['anchor-fields-mismatch'],
    ],
    [
      'an object key that is not the record’s',
      (b) => {
        b.record.objectKey = 'records/x/y';
      },
      ['record-fields-mismatch'],
    ],
    [
      'an envelope size that is not header + ctLen',
      (b) => {
        b.record.envelopeSize += 1;
      },
      ['record-fields-mismatch'],
    ],
    [
      'a key event of another device',
      (b) => {
        const other = registerEvent('someone-else', generateSigningKey('ed25519'));
        (b.origin?.keyEvents[0] as { leaf: string }).leaf = toBase64(other);
      },
      ['key-event-malformed'],
    ],
    [
      'a key event path that does not lead to its root',
      (b) => {
        const inc = b.origin?.keyEvents[0]?.inclusion;
        if (inc) inc.leafIndex = 1;
      },
      ['key-event-inclusion-invalid'],
    ],
  ];
  it.each(tamperings)('catches %s', (_name, edit, expected) => {
    const { log, reg, r1, pinLedger } = scenario();
    const b = structuredClone(log.bundle(r1, [reg]));
    edit(b);
    const c = check(b, pinLedger);
    expect(c.status).toBe('tampered');
    expect(codes(c.reasons)).toEqual(expect.arrayContaining(expected));
  });
});

describe('proof bundle v2: no unbound fields', () => {
  /** Refused, or not verified: what a changed bundle must give. */
  function fails(text: string, opts: CheckOptions): boolean {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return true;
    }
    const parsed = AnyProofBundle.safeParse(json);
    if (!parsed.success) return true;
    return checkProofBundle(parsed.data, opts).status !== 'verified';
  }

  it(
    'every single-byte change to the compact JSON of a v2 bundle fails',
    () => {
      const log = new TestLog();
      const dev = new SignedDevice('dev-bytes');
      const reg = dev.registration();
      log.commit([reg, dev.seal().headerBytes]);
      const rot = dev.rotate('ed25519');
      const r = dev.seal();
      log.commit([rot, r.headerBytes, dev.seal().headerBytes]);
      const bundle = log.bundle(r, [reg, rot]);
      const opts: CheckOptions = {
        trustedLedgerKeys: [log.ledgers[0]?.publicKeyBase64 as string],
        trustedDeviceKeys: [{ keyId: toHex(dev.key.keyId) }],
      };
      const text = compact(bundle);
      expect(checkProofBundle(AnyProofBundle.parse(JSON.parse(text)), opts)).toMatchObject({
        status: 'verified',
        proven: { origin: { verdict: 'proven' } },
      });
      const bytes = new TextEncoder().encode(text);
      const survivors: string[] = [];
      for (let i = 0; i < bytes.length; i++) {
        // Every position, with no exclusions; the lowest bit turns a character into its neighbour. The
        // property below tries other values at random positions.
        for (const delta of [0x01]) {
          const b = bytes.slice();
          b[i] = (b[i] as number) ^ delta;
          let t: string;
          try {
            t = new TextDecoder('utf-8', { fatal: true }).decode(b);
          } catch {
            continue;
          }
          if (!fails(t, opts)) survivors.push(`${i}^${delta}: …${t.slice(Math.max(0, i - 20), i + 20)}…`);
        }
      }
      expect(survivors).toEqual([]);
    },
    EXHAUSTIVE_TIMEOUT_MS,
  );

  it('a random change of any value at any position fails (property)', () => {
    const { log, reg, r1, pinLedger, deviceKeyId } = scenario();
    const opts: CheckOptions = { ...pinLedger, trustedDeviceKeys: [{ keyId: deviceKeyId }] };
    const bytes = new TextEncoder().encode(compact(log.bundle(r1, [reg])));
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const b = bytes.slice();
        b[i] = (b[i] as number) ^ delta;
        let t: string;
        try {
          t = new TextDecoder('utf-8', { fatal: true }).decode(b);
        } catch {
          return;
        }
        expect(fails(t, opts)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it(
    'every single-byte change inside each decoded binary field fails',
    () => {
      const { log, reg, r1, pinLedger, deviceKeyId } = scenario();
      const bundle = log.bundle(r1, [reg]);
      const opts: CheckOptions = { ...pinLedger, trustedDeviceKeys: [{ keyId: deviceKeyId }] };
      const fields: [string, (b: ProofBundleV2) => { get: () => string; set: (v: string) => void }][] = [
        [
          'record.header',
          (b) => ({
            get: () => b.record.header,
            set: (v) => {
              b.record.header = v;
            },
          }),
        ],
        [
          'origin.keyEvents[0].leaf',
          (b) => {
            const item = b.origin?.keyEvents[0] as { leaf: string };
            return {
              get: () => item.leaf,
              set: (v) => {
                item.leaf = v;
              },
            };
          },
        ],
        [
          'anchors[0].evidence.entry.sig',
          (b) => {
            const e = b.anchors[0]?.evidence?.entry as { sig: string };
            return {
              get: () => e.sig,
              set: (v) => {
                e.sig = v;
              },
            };
          },
        ],
        [
          'anchors[0].evidence.publicKey',
          (b) => {
            const ev = b.anchors[0]?.evidence as { publicKey: string };
            return {
              get: () => ev.publicKey,
              set: (v) => {
                ev.publicKey = v;
              },
            };
          },
        ],
      ];
      for (const [name, field] of fields) {
        const raw = fromBase64(field(bundle).get()) as Uint8Array;
        for (let i = 0; i < raw.length; i++) {
          const b = structuredClone(bundle);
          const changed = raw.slice();
          changed[i] = (changed[i] as number) ^ 0x01;
          field(b).set(toBase64(changed));
          expect(fails(compact(b), opts), `${name} byte ${i}`).toBe(true);
        }
      }
    },
    EXHAUSTIVE_TIMEOUT_MS,
  );
});
