/**
 * Conformance suite for the LedgerSigner port (lib/ports.ts). Every adapter runs it unchanged:
 *
 *   describeLedgerSignerConformance('LocalLedgerSigner', async () => ({ signer, reopen, cleanup }));
 *
 * What it holds an adapter to is the ledger's signature rule (docs/proof-bundle.md §4.2): the signature over
 * an entry hash is pure Ed25519 (RFC 8032), checked here by two independent implementations (OpenSSL through
 * node:crypto, and @noble/curves), and an entry signed through the port verifies with verifyLedgerEntry, as
 * checkProofBundle and verify_bundle.py check it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { ledgerEntryHash, verifyEd25519, verifyLedgerEntry } from '../../lib/core/ledger-entry.js';
import type { LedgerSigner } from '../../lib/ports.js';
import { flipByte } from '../support/bytes.js';

export interface LedgerSignerFixture {
  signer: LedgerSigner;
  /** The same key opened again, as a new process (a Lambda cold start) would. */
  reopen(): Promise<LedgerSigner>;
  cleanup(): Promise<void>;
}

export function describeLedgerSignerConformance(
  name: string,
  make: () => Promise<LedgerSignerFixture>,
): void {
  describe(`LedgerSigner conformance: ${name}`, () => {
    let fx: LedgerSignerFixture;
    beforeEach(async () => {
      fx = await make();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('has a raw 32-byte Ed25519 public key that a reopened signer reports again', async () => {
      expect(fx.signer.publicKey).toBeInstanceOf(Uint8Array);
      expect(fx.signer.publicKey.length).toBe(32);
      const again = await fx.reopen();
      expect(toHex(again.publicKey)).toBe(toHex(fx.signer.publicKey));
    });

    it('signs with pure Ed25519 (RFC 8032): OpenSSL and @noble/curves both verify, with no prehash', async () => {
      for (const message of [
        sha256(new Uint8Array([1])),
        new Uint8Array(randomBytes(32)),
        new Uint8Array(64),
      ]) {
        const sig = await fx.signer.sign(message);
        expect(sig.length).toBe(64);
        expect(verifyEd25519(fx.signer.publicKey, message, sig)).toBe(true);
        expect(ed25519.verify(sig, message, fx.signer.publicKey)).toBe(true);
        // Ed25519ph would have signed SHA-512(message): that is not what the ledger's verifiers check.
        expect(ed25519.verify(sig, sha512(message), fx.signer.publicKey)).toBe(false);
      }
    });

    it('a signature does not verify for another message, a changed signature, or another key', async () => {
      const message = sha256(new Uint8Array([7]));
      const sig = await fx.signer.sign(message);
      expect(verifyEd25519(fx.signer.publicKey, flipByte(message, 0), sig)).toBe(false);
      expect(verifyEd25519(fx.signer.publicKey, message, flipByte(sig, 5))).toBe(false);
      expect(verifyEd25519(ed25519.getPublicKey(ed25519.utils.randomSecretKey()), message, sig)).toBe(false);
    });

    it('an entry signed through the port is a valid ledger entry (proof-bundle.md §4.2)', async () => {
      const unsigned = {
        height: 3,
        time: 1_765_000_000_000,
        prev: 'ab'.repeat(32),
        data: toHex(sha256(new Uint8Array([9]))),
      };
      const hash = ledgerEntryHash(unsigned);
      const entry = { ...unsigned, hash: toHex(hash), sig: toBase64(await fx.signer.sign(hash)) };
      expect(verifyLedgerEntry(entry, fx.signer.publicKey)).toEqual({ ok: true });
      const reopened = await fx.reopen();
      const next = { ...unsigned, height: 4, prev: entry.hash };
      const nextHash = ledgerEntryHash(next);
      const signed = { ...next, hash: toHex(nextHash), sig: toBase64(await reopened.sign(nextHash)) };
      expect(verifyLedgerEntry(signed, fx.signer.publicKey)).toEqual({ ok: true });
    });
  });
}

const sha512 = (message: Uint8Array): Uint8Array =>
  new Uint8Array(createHash('sha512').update(message).digest());
