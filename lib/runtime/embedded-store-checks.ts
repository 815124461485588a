/**
 * What the embedded runtime checks about its store before it serves anything, and refuses to start on
 * (StartupRefusal). Each check stops a silent failure that would otherwise surface much later:
 *
 * - A missing key-encryption key would be regenerated, leaving every registered device's wrapped master key
 *   useless; the first key release would then fail with the audit log claiming a release.
 * - A KEK that does not unwrap a registered device's key is the wrong file (restored from another store).
 * - A missing ledger key would be regenerated, and the ledger would fork under a new chain id.
 * - A ledger file cut short verifies on its own, so new entries would take heights that proofs already hold.
 *
 * Cost: one device unwrap, and one pass over the batches with a map lookup per embedded anchor (the figure
 * for 1,000 batches is in BENCHMARKS.md); the ledger itself is verified line by line when it opens.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  EmbeddedLedger,
  LedgerCorruptError,
  LedgerKeyMissingError,
} from '../adapters/local/embedded-ledger.js';
import { LocalKeyVault } from '../adapters/local/local-key-vault.js';
import { readSecret, writeSecret } from '../adapters/local/secret-file.js';
import { fromBase64 } from '../core/bytes.js';
import { masterKeyContext } from '../devices/provision-device.js';
import { checkLedgerAnchor, embeddedAnchors, type LedgerAnchorProblem } from '../fsck/ledger-anchors.js';
import type { BatchStore, DeviceRegistry } from '../ports.js';
import { StartupRefusal } from './startup-refusal.js';

export const kekPath = (dataDir: string) => join(dataDir, 'secrets', 'kek');
export const ledgerPath = (dataDir: string) => join(dataDir, 'ledger', 'ledger.jsonl');
export const ledgerKeyPath = (dataDir: string) => join(dataDir, 'secrets', 'ledger-ed25519.pk8');

/**
 * The key vault over secrets/kek. A missing KEK is created only while no device is registered; the KEK must
 * unwrap the first registered device's master key (which is zeroed at once).
 */
export async function openKeyVault(dataDir: string, devices: DeviceRegistry): Promise<LocalKeyVault> {
  const path = kekPath(dataDir);
  const first = (await devices.listDevices({ limit: 1 })).items[0];
  let kek = readSecret(path);
  if (!kek) {
    if (first) {
      throw new StartupRefusal(
        'kek-missing',
        `the key-encryption key ${path} is missing, but devices are registered (${first.deviceId} among them): ` +
          'a new key could not unwrap their master keys, so no record key could ever be released. ' +
          'Restore the file from a backup of this DATA_DIR.',
      );
    }
    kek = randomBytes(32);
    writeSecret(path, kek);
  }
  let vault: LocalKeyVault;
  try {
    vault = new LocalKeyVault(kek);
  } catch (e) {
    throw new StartupRefusal('kek-mismatch', `the key-encryption key ${path} is not a 32-byte key.`, {
      cause: e,
    });
  }
  if (first) {
    try {
      const master = await vault.unwrap(
        fromBase64(first.wrappedMasterKey) ?? new Uint8Array(0),
        masterKeyContext(first.deviceId),
      );
      master.fill(0);
    } catch (e) {
      throw new StartupRefusal(
        'kek-mismatch',
        `the key-encryption key ${path} does not unwrap the master key of device ${first.deviceId}: it is not ` +
          'the key this store was made with. Restore the right file from a backup of this DATA_DIR.',
        { cause: e },
      );
    }
  }
  return vault;
}

/**
 * Opens the embedded ledger and checks it against the batches anchored on it. Refuses when its key is gone
 * while it has entries or batches point to it, when a line does not verify, when batches point to entries
 * it does not have, or when they are anchored on another embedded ledger.
 */
export async function openCheckedLedger(
  dataDir: string,
  batches: Pick<BatchStore, 'listBatches'>,
  clock: () => number,
): Promise<EmbeddedLedger> {
  const keyPath = ledgerKeyPath(dataDir);
  if (!existsSync(keyPath)) {
    // Before the ledger makes a new key: batches anchored on the old one would otherwise be checked against
    // a ledger that can never hold their entries, with a stray new key left behind.
    const anchored = (await embeddedAnchors(batches).next()).value;
    if (anchored) {
      throw new StartupRefusal(
        'ledger-key-missing',
        `the ledger signing key ${keyPath} is missing, but batches are anchored on the embedded ledger ` +
          `(${anchored.anchor.chainId}, batch ${anchored.batch.batchId} among them). ` +
          'Restore the key (and the ledger) from a backup of this DATA_DIR.',
      );
    }
  }
  let ledger: EmbeddedLedger;
  try {
    ledger = new EmbeddedLedger(ledgerPath(dataDir), keyPath, clock);
  } catch (e) {
    if (e instanceof LedgerKeyMissingError)
      throw new StartupRefusal(
        'ledger-key-missing',
        `${e.message}. A new key could not continue it. Restore the key from a backup of this DATA_DIR.`,
        { cause: e },
      );
    if (e instanceof LedgerCorruptError)
      throw new StartupRefusal(
        'ledger-corrupt',
        `${e.message}. The ledger was changed on disk; \`npm run fsck\` reports every damaged line and ` +
          '`npm run fsck -- --repair` puts back the entries batches kept copies of.',
        { cause: e },
      );
    throw e;
  }
  try {
    await checkBatchesAgainstLedger(ledger, ledgerPath(dataDir), batches);
  } catch (e) {
    ledger.close();
    throw e;
  }
  return ledger;
}

const SHOWN = 5;

/**
 * The per-start pass over the batches: refuses when an embedded anchor names an entry the ledger does not
 * have, or another embedded ledger. Exported for the bench (bench/startup-check.ts).
 */
export async function checkBatchesAgainstLedger(
  ledger: EmbeddedLedger,
  path: string,
  batches: Pick<BatchStore, 'listBatches'>,
): Promise<void> {
  const lookup = {
    chainId: ledger.chainId,
    entry: (txId: string) => ledger.entryOf(txId),
  };
  const missing: LedgerAnchorProblem[] = [];
  const other: LedgerAnchorProblem[] = [];
  for await (const { batch, anchor } of embeddedAnchors(batches)) {
    const p = checkLedgerAnchor(batch, anchor, lookup, false);
    if (p?.code === 'entry-missing') missing.push(p);
    else if (p?.code === 'other-ledger') other.push(p);
  }
  if (other.length > 0) {
    throw new StartupRefusal(
      'ledger-replaced',
      `${other.length} anchor(s) are on another embedded ledger than this one (${ledger.chainId}): ` +
        `${describe(other)}. The ledger key was replaced; restore the original key and ledger from a backup.`,
    );
  }
  if (missing.length > 0) {
    const heights = missing.flatMap((p) => (p.height === undefined ? [] : [p.height]));
    const range = heights.length > 0 ? ` (heights ${Math.min(...heights)}-${Math.max(...heights)})` : '';
    throw new StartupRefusal(
      'ledger-entries-missing',
      `the ledger ${path} has ${ledger.height} entries, but ${missing.length} anchor(s) point to ` +
        `entries it does not have${range}: ${describe(missing)}. Starting would give new entries heights ` +
        'that proofs already hold. `npm run fsck -- --repair` restores entries from the copies batches keep.',
    );
  }
}

const describe = (ps: LedgerAnchorProblem[]) =>
  ps
    .slice(0, SHOWN)
    .map((p) => `batch ${p.batchId}${p.height === undefined ? '' : ` @${p.height}`}`)
    .join(', ') + (ps.length > SHOWN ? ` and ${ps.length - SHOWN} more` : '');
