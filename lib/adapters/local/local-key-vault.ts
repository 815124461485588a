/**
 * Key vault for the embedded runtime: envelope encryption under a key-encryption key kept in one file
 * ($DATA_DIR/secrets/kek, mode 0600). Wrapped = version u8 (1) | nonce [12] | AES-256-GCM(kek, secret) | tag,
 * with the canonical JSON of `context` as AAD, so a wrapped key only unwraps for the device it belongs to.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { concatBytes } from '../../core/bytes.js';
import { CodedError } from '../../core/errors.js';
import type { KeyVault } from '../../ports.js';

/** The key vaults' codes (local AES-GCM and KMS): the key-release routes keep them in the audit log. */
export type KeyVaultErrorCode = 'unwrap-failed' | 'bad-wrapped-key' | 'vault-answer-malformed';

export class KeyVaultError extends CodedError<KeyVaultErrorCode> {
  override readonly name = 'KeyVaultError';
}

export function canonicalContext(context: Record<string, string>): Uint8Array {
  const sorted = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return new TextEncoder().encode(JSON.stringify(sorted));
}

export class LocalKeyVault implements KeyVault {
  constructor(private readonly kek: Uint8Array) {
    // Programming errors (settings reach here validated by lib/runtime/config.ts or chain-config.ts): RangeErrors.
    if (kek.length !== 32) throw new RangeError('key-encryption key must be 32 bytes');
  }

  async wrap(plaintext: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.kek, nonce);
    c.setAAD(canonicalContext(context));
    return concatBytes(new Uint8Array([1]), nonce, c.update(plaintext), c.final(), c.getAuthTag());
  }

  async unwrap(wrapped: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    if (wrapped.length < 1 + 12 + 16 || wrapped[0] !== 1)
      throw new KeyVaultError('bad-wrapped-key', 'not a v1 wrapped key');
    const nonce = wrapped.subarray(1, 13);
    const body = wrapped.subarray(13, wrapped.length - 16);
    const tag = wrapped.subarray(wrapped.length - 16);
    try {
      const d = createDecipheriv('aes-256-gcm', this.kek, nonce);
      d.setAAD(canonicalContext(context));
      d.setAuthTag(tag);
      return concatBytes(d.update(body), d.final());
    } catch (e) {
      throw new KeyVaultError(
        'unwrap-failed',
        `cannot unwrap: wrong vault key or context (${(e as Error).message})`,
      );
    }
  }
}
