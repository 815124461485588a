/**
 * Creates a stage's ledger signing key (the "anchoring wallet key"): an Ed25519 key generated here, wrapped at
 * once by the stage's KMS key under the ledger-key context, and printed only wrapped, with its public key and
 * chainId. The plaintext key exists in this process's memory for the moment it takes to wrap it.
 *
 *   npx tsx infra/ledger-key.ts --stage <stage> [--region <region>]
 *
 * then store the two values as the stage's SST secrets and deploy again (docs/deploy.md, "Ledger key").
 * An operator tool, so it builds its own KMS client with the caller's credentials.
 */
import { parseArgs } from 'node:util';
import { KMSClient } from '@aws-sdk/client-kms';
import { generateLedgerKey } from '../lib/adapters/aws/dynamo-ledger.js';
import { KmsKeyVault } from '../lib/adapters/aws/kms-key-vault.js';
import { toBase64 } from '../lib/core/bytes.js';

export async function createLedgerKey(kms: KMSClient, stage: string) {
  const key = await generateLedgerKey(new KmsKeyVault(kms, `alias/iot-notary-${stage}`));
  return {
    chainId: key.chainId,
    wrapped: toBase64(key.wrapped),
    publicKey: toBase64(key.publicKey),
    commands: [
      `npx sst secret set LedgerKeyWrapped ${toBase64(key.wrapped)} --stage ${stage}`,
      `npx sst secret set LedgerPublicKey ${toBase64(key.publicKey)} --stage ${stage}`,
      `npx sst deploy --stage ${stage}`,
    ],
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { stage: { type: 'string' }, region: { type: 'string' } } });
  if (!values.stage || !/^[a-z0-9-]+$/.test(values.stage)) {
    process.stderr.write('usage: npx tsx infra/ledger-key.ts --stage <stage> [--region <region>]\n');
    process.exit(2);
  }
  const kms = new KMSClient(values.region ? { region: values.region } : {});
  try {
    const out = await createLedgerKey(kms, values.stage);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    kms.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
