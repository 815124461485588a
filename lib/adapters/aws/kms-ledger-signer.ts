/**
 * LedgerSigner on AWS KMS: the ledger's Ed25519 key is a KMS key of spec ECC_NIST_EDWARDS25519 (key usage
 * SIGN_VERIFY), created by the deploy (sst.config.ts). Its private half never leaves KMS, so it is never in
 * Lambda memory, configuration or a secret; the anchor function may only Sign with it and read its public key.
 *
 * Each entry hash is signed with Sign {SigningAlgorithm: ED25519_SHA_512, MessageType: RAW}. The KMS API
 * reference requires exactly that pairing for this key spec (ED25519_PH_SHA_512, the prehashed variant, takes
 * MessageType DIGEST and hashes the input again), so the signature is pure Ed25519 over the 32 bytes given:
 * the ledger's `Ed25519-Sign(ledgerKey, entryHash)` (docs/proof-bundle.md §4.2; sources in docs/deploy.md).
 * Every signature is verified here against the public key before it is used, so a mismatch (another key, a
 * prehashing algorithm) stops the append instead of writing an entry no verifier accepts.
 *
 * GetPublicKey answers a DER SubjectPublicKeyInfo; the ledger (and its chainId) use the raw 32-byte key in it.
 * Never run against real KMS: the tests use a stand-in (tests/aws/support/kms-stand-in.ts), because moto
 * cannot create Ed25519 keys.
 */
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { ed25519RawFromSpki, verifyEd25519 } from '../../core/ledger-entry.js';
import type { LedgerSigner } from '../../ports.js';
import { LedgerSignerError } from '../local/local-ledger-signer.js';

export const LEDGER_KEY_SPEC = 'ECC_NIST_EDWARDS25519';
export const LEDGER_SIGNING_ALGORITHM = 'ED25519_SHA_512';
/** KMS Sign takes messages of at most 4,096 bytes with MessageType RAW; entry hashes are 32. */
const KMS_MAX_RAW_MESSAGE = 4096;

export class KmsLedgerSigner implements LedgerSigner {
  private constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
    readonly publicKey: Uint8Array,
  ) {}

  /**
   * Reads the key's public half (GetPublicKey) and checks that the key can sign ledger entries: spec
   * ECC_NIST_EDWARDS25519, usage SIGN_VERIFY, ED25519_SHA_512 among its algorithms. One call per cold start.
   */
  static async open(kms: KMSClient, keyId: string): Promise<KmsLedgerSigner> {
    return new KmsLedgerSigner(kms, keyId, await kmsLedgerPublicKey(kms, keyId));
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    // A programming error (ledger entries are a few hundred bytes), so a plain RangeError.
    if (message.length > KMS_MAX_RAW_MESSAGE)
      throw new RangeError(`KMS Sign takes at most ${KMS_MAX_RAW_MESSAGE} bytes, not ${message.length}`);
    const out = await this.kms.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: message,
        MessageType: 'RAW',
        SigningAlgorithm: LEDGER_SIGNING_ALGORITHM,
      }),
    );
    const sig = out.Signature;
    if (out.SigningAlgorithm !== undefined && out.SigningAlgorithm !== LEDGER_SIGNING_ALGORITHM) {
      throw new LedgerSignerError('bad-signature', `KMS signed with ${out.SigningAlgorithm}`);
    }
    if (!sig || !verifyEd25519(this.publicKey, message, sig)) {
      throw new LedgerSignerError(
        'bad-signature',
        `KMS key ${this.keyId} returned a signature that does not verify with its public key`,
      );
    }
    return sig;
  }
}

/**
 * The raw 32-byte public key of a KMS Ed25519 signing key, after checking what GetPublicKey says about it.
 * The verify function uses this alone: it reads the ledger, it never signs.
 */
export async function kmsLedgerPublicKey(kms: KMSClient, keyId: string): Promise<Uint8Array> {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (out.KeySpec !== LEDGER_KEY_SPEC || out.KeyUsage !== 'SIGN_VERIFY') {
    throw new LedgerSignerError(
      'wrong-key-spec',
      `KMS key ${keyId} is ${out.KeySpec ?? '?'}/${out.KeyUsage ?? '?'}, not ${LEDGER_KEY_SPEC}/SIGN_VERIFY`,
    );
  }
  if (!out.SigningAlgorithms?.includes(LEDGER_SIGNING_ALGORITHM)) {
    throw new LedgerSignerError(
      'wrong-key-spec',
      `KMS key ${keyId} does not offer ${LEDGER_SIGNING_ALGORITHM}`,
    );
  }
  const raw = out.PublicKey ? ed25519RawFromSpki(out.PublicKey) : undefined;
  if (!raw) {
    throw new LedgerSignerError(
      'bad-public-key',
      `KMS key ${keyId}: GetPublicKey did not return an Ed25519 SubjectPublicKeyInfo`,
    );
  }
  return raw;
}
