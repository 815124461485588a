/**
 * Conformance suite for the KeyVault port (lib/ports.ts). Every adapter runs it unchanged, e.g.:
 *
 *   describeKeyVaultConformance('LocalKeyVault', async () => ({ vault, cleanup }));
 *
 * `make` is called once per test. Plaintexts are 1-64 bytes, inside what every backend accepts (KMS Encrypt
 * takes 1-4096 bytes).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyVault } from '../../lib/ports.js';
import { containsBytes, expectBytes, flipByte } from '../support/bytes.js';

export interface KeyVaultFixture {
  vault: KeyVault;
  cleanup(): Promise<void>;
}

const context = { purpose: 'device-master-key', deviceId: 'dev-vault-1' };

export function describeKeyVaultConformance(name: string, make: () => Promise<KeyVaultFixture>): void {
  describe(`KeyVault conformance: ${name}`, () => {
    let fx: KeyVaultFixture;
    let vault: KeyVault;
    beforeEach(async () => {
      fx = await make();
      vault = fx.vault;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('unwrap(wrap(x)) is x for keys of several sizes', async () => {
      for (const size of [1, 16, 32, 64]) {
        const secret = new Uint8Array(randomBytes(size));
        const wrapped = await vault.wrap(secret, context);
        expectBytes(await vault.unwrap(wrapped, context), secret);
      }
    });

    it('the context is a set of pairs: key order does not matter', async () => {
      const secret = new Uint8Array(randomBytes(32));
      const wrapped = await vault.wrap(secret, { a: '1', b: '2', c: '3' });
      expectBytes(await vault.unwrap(wrapped, { c: '3', a: '1', b: '2' }), secret);
    });

    it('unwrap with a different context fails with an error', async () => {
      const secret = new Uint8Array(randomBytes(32));
      const wrapped = await vault.wrap(secret, context);
      await expect(vault.unwrap(wrapped, { ...context, deviceId: 'dev-vault-2' })).rejects.toBeInstanceOf(
        Error,
      );
      await expect(vault.unwrap(wrapped, { purpose: context.purpose })).rejects.toBeInstanceOf(Error);
      await expect(vault.unwrap(wrapped, { ...context, extra: 'x' })).rejects.toBeInstanceOf(Error);
      await expect(vault.unwrap(wrapped, {})).rejects.toBeInstanceOf(Error);
      // And the right one still works: a failed unwrap changes nothing.
      expectBytes(await vault.unwrap(wrapped, context), secret);
    });

    it('tampered wrapped bytes fail to unwrap, wherever the change is', async () => {
      const secret = new Uint8Array(randomBytes(32));
      const wrapped = await vault.wrap(secret, context);
      const positions = [0, 1, Math.floor(wrapped.length / 2), wrapped.length - 1];
      for (const i of positions) {
        await expect(vault.unwrap(flipByte(wrapped, i), context)).rejects.toBeInstanceOf(Error);
      }
      await expect(vault.unwrap(wrapped.subarray(0, wrapped.length - 1), context)).rejects.toBeInstanceOf(
        Error,
      );
      await expect(vault.unwrap(new Uint8Array(0), context)).rejects.toBeInstanceOf(Error);
    });

    it('wrapped bytes never contain the plaintext, and two wraps of one secret differ', async () => {
      const secrets = [new Uint8Array(randomBytes(32)), new Uint8Array(32).fill(0x41), new Uint8Array(32)];
      for (const secret of secrets) {
        const a = await vault.wrap(secret, context);
        const b = await vault.wrap(secret, context);
        expect(containsBytes(a, secret)).toBe(false);
        expect(containsBytes(a, secret.subarray(0, 16))).toBe(false);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
      }
    });
  });
}
