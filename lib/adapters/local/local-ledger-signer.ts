/**
 * LedgerSigner with a local Ed25519 key: the embedded runtime's ledger key, a PKCS#8 file next to the ledger
 * ($DATA_DIR/ledger/ledger.key, mode 0600). The AWS runtime signs with KMS instead (kms-ledger-signer.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { CodedError } from '../../core/errors.js';
import { verifyEd25519 } from '../../core/ledger-entry.js';
import type { LedgerSigner } from '../../ports.js';
import type { LedgerSignerErrorCode } from '../ledger-error.js';
import { readSecret, writeSecret } from './secret-file.js';

export class LedgerSignerError extends CodedError<LedgerSignerErrorCode> {
  override readonly name = 'LedgerSignerError';
}

/** The raw 32-byte public key of an Ed25519 key object. */
export function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const x = jwk.crv === 'Ed25519' && typeof jwk.x === 'string' ? Buffer.from(jwk.x, 'base64url') : undefined;
  if (x?.length !== 32) throw new LedgerSignerError('not-ed25519', 'the ledger key is not an Ed25519 key');
  return new Uint8Array(x);
}

export class LocalLedgerSigner implements LedgerSigner {
  readonly publicKey: Uint8Array;

  private constructor(private readonly key: KeyObject) {
    this.publicKey = rawEd25519PublicKey(key);
  }

  /** From a PKCS#8 DER private key; the caller may zero `der` afterwards. */
  static fromPkcs8(der: Uint8Array): LocalLedgerSigner {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    } catch (e) {
      throw new LedgerSignerError(
        'not-ed25519',
        `the ledger key is not a PKCS#8 key: ${(e as Error).message}`,
      );
    }
    return new LocalLedgerSigner(key);
  }

  /** A new random key, in memory only (tests, and the first start of a ledger). */
  static generate(): LocalLedgerSigner {
    return new LocalLedgerSigner(generateKeyPairSync('ed25519').privateKey);
  }

  /**
   * The key in `keyPath`. When the file does not exist: a new key written there if `create`, else
   * `key-missing` (a ledger with entries must never get a new key: its chainId would change).
   */
  static fromKeyFile(keyPath: string, opts: { create: boolean }): LocalLedgerSigner {
    const der = readSecret(keyPath);
    if (der) {
      try {
        return LocalLedgerSigner.fromPkcs8(der);
      } finally {
        der.fill(0);
      }
    }
    if (!opts.create) throw new LedgerSignerError('key-missing', `the ledger key ${keyPath} is missing`);
    const fresh = new Uint8Array(
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' }),
    );
    writeSecret(keyPath, fresh);
    try {
      return LocalLedgerSigner.fromPkcs8(fresh);
    } finally {
      fresh.fill(0);
    }
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const sig = new Uint8Array(sign(null, message, this.key));
    if (!verifyEd25519(this.publicKey, message, sig))
      throw new LedgerSignerError('bad-signature', 'the ledger key made a signature it does not verify');
    return sig;
  }
}
