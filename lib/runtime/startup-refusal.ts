/**
 * Why the embedded runtime would not start on the store it found. Each refusal names what is wrong, what it
 * would have cost to start anyway, and the runbook section that says how to recover; main.ts prints it and
 * exits with EXIT_REFUSED.
 */
import { CodedError } from '../core/errors.js';

export type StartupRefusalCode =
  /** secrets/kek is gone while devices are registered: every wrapped master key would be useless. */
  | 'kek-missing'
  /** secrets/kek does not unwrap a registered device's master key: it is not the key they were wrapped with. */
  | 'kek-mismatch'
  /** The ledger has entries, or batches are anchored on it, but its signing key is gone. */
  | 'ledger-key-missing'
  /** A ledger line does not verify (edited, or damaged on disk). */
  | 'ledger-corrupt'
  /** Batches point to ledger entries the file no longer has (cut short, emptied, or an older copy). */
  | 'ledger-entries-missing'
  /** Batches are anchored on an embedded ledger with another key. */
  | 'ledger-replaced';

/** Exit code of `npm start` when it refuses to start on the store it found (2 is a configuration error). */
export const EXIT_REFUSED = 3;

/** Where each refusal's recovery is written down. */
export const RUNBOOK: Record<StartupRefusalCode, string> = {
  'kek-missing': 'docs/operations.md#the-key-encryption-key-is-missing-or-wrong',
  'kek-mismatch': 'docs/operations.md#the-key-encryption-key-is-missing-or-wrong',
  'ledger-key-missing': 'docs/operations.md#the-ledger-key-is-missing',
  'ledger-corrupt': 'docs/operations.md#the-ledger-lost-or-changed-entries',
  'ledger-entries-missing': 'docs/operations.md#the-ledger-lost-or-changed-entries',
  'ledger-replaced': 'docs/operations.md#the-ledger-key-is-missing',
};

export class StartupRefusal extends CodedError<StartupRefusalCode> {
  override readonly name = 'StartupRefusal';
  readonly runbook: string;
  constructor(code: StartupRefusalCode, message: string, options?: { cause?: unknown }) {
    super(code, `${message} See ${RUNBOOK[code]}.`, options);
    this.runbook = RUNBOOK[code];
  }
}
