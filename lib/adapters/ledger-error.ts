/**
 * The ledger domain's codes (docs/architecture.md, "Error model"): the embedded ledger's file and key, the
 * DynamoDB ledger's key, and the ledger signers (local Ed25519 file, KMS). Each ledger error class carries one.
 */
export type LedgerErrorCode =
  /** A ledger line does not verify, or the file cannot be read as a ledger. */
  | 'ledger-corrupt'
  /** The ledger has entries but its signing key is gone. */
  | 'ledger-key-missing'
  /** The configured public key or signing key does not fit the ledger (wrong length, another key, read-only). */
  | 'ledger-key-invalid'
  /** A signer's key is not an Ed25519 key. */
  | 'not-ed25519'
  /** The signer's key file or KMS key is not there. */
  | 'key-missing'
  /** The signer answered with a signature that is not Ed25519 over the message, or not by its key. */
  | 'bad-signature'
  /** The signer's public key cannot be read as a raw Ed25519 key. */
  | 'bad-public-key'
  /** The KMS key is not of the Ed25519 key spec. */
  | 'wrong-key-spec'
  /** No free height after the bounded number of append attempts (other writers kept winning). */
  | 'append-contended';

/** The local signer's and KMS signer's subset. */
export type LedgerSignerErrorCode = Extract<
  LedgerErrorCode,
  'not-ed25519' | 'key-missing' | 'bad-signature' | 'bad-public-key' | 'wrong-key-spec'
>;
