/**
 * KeyVault on AWS KMS: a secret is encrypted under a symmetric KMS key with the context as KMS's
 * EncryptionContext, and decrypting needs the same context again (KMS binds it as additional authenticated
 * data and writes it to CloudTrail). The wrapped form is the CiphertextBlob exactly as KMS returns it, so
 * `aws kms decrypt` can open it too. The plaintext never leaves this process except through the port.
 *
 * Device master keys (32 bytes) and the ledger's Ed25519 key (48-byte PKCS#8) are far below the 4,096 bytes
 * KMS Encrypt takes, so no data key is needed. Never run against real KMS here: tests/aws use a stand-in
 * that speaks the KMS JSON protocol (see docs/deploy.md).
 */
import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { KeyVault } from '../../ports.js';
import { KeyVaultError } from '../local/local-key-vault.js';

/** KMS Encrypt accepts 1 to 4,096 bytes of plaintext. */
export const KMS_MAX_PLAINTEXT = 4096;

/** KMS's answers to a blob that will not decrypt with this key and context. */
const UNWRAP_FAILURES = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

export class KmsKeyVault implements KeyVault {
  constructor(
    private readonly kms: KMSClient,
    /** Key id, key ARN, alias name or alias ARN of a SYMMETRIC_DEFAULT key. */
    private readonly keyId: string,
  ) {}

  async wrap(plaintext: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    // A programming error (callers wrap 32-byte master keys and chain keys), so a plain RangeError.
    if (plaintext.length < 1 || plaintext.length > KMS_MAX_PLAINTEXT) {
      throw new RangeError(`KMS Encrypt takes 1-${KMS_MAX_PLAINTEXT} bytes, not ${plaintext.length}`);
    }
    const out = await this.kms.send(
      new EncryptCommand({ KeyId: this.keyId, Plaintext: plaintext, EncryptionContext: context }),
    );
    if (!out.CiphertextBlob || out.CiphertextBlob.length === 0) {
      throw new KeyVaultError('vault-answer-malformed', 'KMS Encrypt returned no CiphertextBlob');
    }
    return out.CiphertextBlob;
  }

  async unwrap(wrapped: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    if (wrapped.length === 0) throw new KeyVaultError('bad-wrapped-key', 'the wrapped key is empty');
    try {
      const out = await this.kms.send(
        // KeyId pins the key: a blob made under any other key is refused instead of decrypted.
        new DecryptCommand({ KeyId: this.keyId, CiphertextBlob: wrapped, EncryptionContext: context }),
      );
      if (!out.Plaintext)
        throw new KeyVaultError('vault-answer-malformed', 'KMS Decrypt returned no Plaintext');
      return out.Plaintext;
    } catch (e) {
      const name = (e as { name?: unknown }).name;
      if (typeof name === 'string' && UNWRAP_FAILURES.has(name)) {
        throw new KeyVaultError('unwrap-failed', `cannot unwrap: wrong key or context (KMS ${name})`);
      }
      throw e;
    }
  }
}
