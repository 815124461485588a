/**
 * The worked examples of docs/proof-bundle.md §8.7 and docs/completeness.md §6, built deterministically from
 * lib/core (fixed keys, fixed clocks, RFC 6979 P-256), so the committed files can be regenerated and compared.
 */
import { fromHex } from '../../lib/core/bytes.js';
import type { CompletenessDocument } from '../../lib/core/completeness.js';
import { signingKeyFromPrivate } from '../../lib/core/device-signature.js';
import type { ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { SignedDevice, TestLedger, TestLog } from './proof-builder.js';

const hex = (s: string) => fromHex(s) as Uint8Array;
/** The keys of docs/envelope.md §8.5 and docs/device-keys.md §7. */
export const EXAMPLE_ED25519_SEED = hex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
export const EXAMPLE_P256_SCALAR = hex('404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f');
export const EXAMPLE_LEDGER_SEED = hex('606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f');

export interface DocExamples {
  bundle: ProofBundleV2;
  completeness: CompletenessDocument;
  ledgerPublicKey: string;
  ed25519KeyId: Uint8Array;
  p256KeyId: Uint8Array;
}

/**
 * sensor-001 registers its Ed25519 key, seals records 0-2, rotates to its P-256 key, seals record 3 and
 * publishes a head (count 4). Two batches: [register, 0, 1] and [2, rotate, 3, head]. The bundle is record 3's;
 * the document covers 0..3.
 */
export function buildDocExamples(): DocExamples {
  const log = new TestLog([new TestLedger(EXAMPLE_LEDGER_SEED)]);
  const dev = new SignedDevice('sensor-001', 'ed25519', EXAMPLE_ED25519_SEED);
  const ed25519KeyId = dev.key.keyId;
  const reg = dev.registration(1_699_999_000_000);
  const r0 = dev.seal();
  const r1 = dev.seal();
  log.commit([reg, r0.headerBytes, r1.headerBytes]);
  const r2 = dev.seal();
  const p256 = signingKeyFromPrivate('p256', EXAMPLE_P256_SCALAR);
  const rot = dev.rotate('p256', p256);
  const r3 = dev.seal();
  const head = dev.head();
  log.commit([r2.headerBytes, rot, r3.headerBytes, head]);
  return {
    bundle: log.bundle(r3, [reg, rot]),
    completeness: log.completeness({
      deviceId: 'sensor-001',
      fromSeq: 0,
      records: [r0, r1, r2, r3].map((r) => r.headerBytes),
      head,
      keyEvents: [reg, rot],
    }),
    ledgerPublicKey: log.ledgers[0]?.publicKeyBase64 as string,
    ed25519KeyId,
    p256KeyId: p256.keyId,
  };
}
