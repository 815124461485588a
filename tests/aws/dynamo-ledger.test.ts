/**
 * The DynamoDB ledger beyond the Chain conformance suite: the same entry format and evidence as the embedded
 * ledger (so proofs verify the same way), append-only and gap-free with two writers on one table, a tampered
 * entry detected on read, and a signing key that exists only KMS-wrapped (KMS here is the stand-in).
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedger, generateLedgerKey, LedgerKeyError } from '../../lib/adapters/aws/dynamo-ledger.js';
import { KmsKeyVault } from '../../lib/adapters/aws/kms-key-vault.js';
import { LedgerCorruptError } from '../../lib/adapters/local/embedded-ledger.js';
import { fromBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { type LedgerEntry, ledgerChainId, verifyLedgerEntry } from '../../lib/core/ledger-entry.js';
import { createTables, type RunningDynalite, startDynalite, TEST_CREDENTIALS } from './support/emulators.js';
import { type KmsStandIn, startKmsStandIn } from './support/kms-stand-in.js';

describe('DynamoLedger', () => {
  let dynamo: RunningDynalite;
  let kms: KmsStandIn;
  let kmsClient: KMSClient;
  let vault: KmsKeyVault;
  beforeAll(async () => {
    [dynamo, kms] = await Promise.all([startDynalite(), startKmsStandIn()]);
    kmsClient = new KMSClient({ endpoint: kms.endpoint, region: kms.region, credentials: TEST_CREDENTIALS });
    vault = new KmsKeyVault(kmsClient, kms.createKey());
  });
  afterAll(async () => {
    kmsClient.destroy();
    await Promise.all([dynamo.close(), kms.close()]);
  });

  async function fresh() {
    const { ledger: table } = await createTables(dynamo.db);
    const key = await generateLedgerKey(vault);
    const open = () =>
      DynamoLedger.open({
        db: dynamo.db,
        table,
        wrappedKey: key.wrapped,
        vault,
        expectedPublicKey: key.publicKey,
      });
    return { table, key, open };
  }

  it('keeps the signing key only wrapped, under its own KMS context', async () => {
    const { key } = await fresh();
    expect(key.chainId).toBe(ledgerChainId(key.publicKey));
    // The wrapped blob does not open under another purpose, e.g. a device master key's context.
    await expect(
      vault.unwrap(key.wrapped, { purpose: 'device-master-key', deviceId: 'x' }),
    ).rejects.toMatchObject({
      code: 'unwrap-failed',
    });
    const der = await vault.unwrap(key.wrapped, { purpose: 'ledger-signing-key' });
    expect(der.length).toBe(48); // PKCS#8 Ed25519
    expect(Buffer.from(key.wrapped).includes(Buffer.from(der.subarray(16)))).toBe(false);
  });

  it('refuses a wrapped key that does not belong to the configured public key', async () => {
    const a = await fresh();
    const b = await generateLedgerKey(vault);
    await expect(
      DynamoLedger.open({
        db: dynamo.db,
        table: a.table,
        wrappedKey: b.wrapped,
        vault,
        expectedPublicKey: a.key.publicKey,
      }),
    ).rejects.toThrow(LedgerKeyError);
  });

  it('writes the embedded ledger’s format: hash-chained, signed entries that verify with the public key', async () => {
    const { key, open } = await fresh();
    const ledger = await open();
    const txs = [];
    for (let i = 0; i < 4; i++)
      txs.push(await ledger.submit(sha256(utf8(`root ${i}`)), { dedupKey: `b-${i}` }));
    let prev = '0'.repeat(64);
    for (const [i, { txId }] of txs.entries()) {
      const tx = await ledger.lookup(txId);
      const entry = tx?.evidence?.entry as LedgerEntry;
      expect(entry.height).toBe(i);
      expect(entry.prev).toBe(prev);
      expect(verifyLedgerEntry(entry, key.publicKey)).toEqual({ ok: true });
      expect(tx?.evidence?.publicKey && fromBase64(tx.evidence.publicKey)).toEqual(key.publicKey);
      expect(tx?.confirmations).toBe(4 - i);
      prev = entry.hash;
    }
  });

  it('stays gap-free with two writers on one table (two Lambda containers), each entry once', async () => {
    const { open } = await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const submits = Array.from({ length: 16 }, (_, i) =>
      (i % 2 ? a : b).submit(sha256(utf8(`parallel ${i}`)), { dedupKey: `p-${i % 12}` }),
    );
    const txs = await Promise.all(submits);
    // 12 distinct dedup keys: 12 entries, retries of a key return its first transaction.
    expect(new Set(txs.map((t) => t.txId)).size).toBe(12);
    const heights = await Promise.all(
      [...new Set(txs.map((t) => t.txId))].map(async (t) => (await a.lookup(t))?.height),
    );
    expect(heights.sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('a read-only ledger (the verify API’s) looks up and describes, and cannot sign', async () => {
    const { table, key, open } = await fresh();
    const { txId } = await (await open()).submit(utf8('anchored'), { dedupKey: 'ro-1' });
    const ro = DynamoLedger.readOnly({ db: dynamo.db, table, publicKey: key.publicKey });
    expect(ro.chainId).toBe(key.chainId);
    expect(toHex((await ro.lookup(txId))?.data as Uint8Array)).toBe(toHex(utf8('anchored')));
    await expect(ro.submit(utf8('x'), { dedupKey: 'ro-2' })).rejects.toThrow(LedgerKeyError);
  });

  it('detects an entry edited in the table', async () => {
    const { table, open } = await fresh();
    const ledger = await open();
    const { txId } = await ledger.submit(utf8('original'), { dedupKey: 'edit-1' });
    const item = (
      await dynamo.db.send(
        new GetItemCommand({
          TableName: table,
          Key: { ledgerId: { S: ledger.chainId }, height: { N: '0' } },
        }),
      )
    ).Item;
    await dynamo.db.send(
      new PutItemCommand({ TableName: table, Item: { ...item, data: { S: toHex(utf8('forged!!')) } } }),
    );
    await expect(ledger.lookup(txId)).rejects.toThrow(LedgerCorruptError);
  });
});

describe('infra/ledger-key.ts', () => {
  it('prints the ledger key only wrapped, under the stage key alias, with the secrets to set', async () => {
    const { createLedgerKey } = await import('../../infra/ledger-key.js');
    const kms = await startKmsStandIn();
    const client = new KMSClient({
      endpoint: kms.endpoint,
      region: kms.region,
      credentials: TEST_CREDENTIALS,
    });
    try {
      kms.createKey('alias/iot-notary-staging');
      const out = await createLedgerKey(client, 'staging');
      expect(kms.calls.map((c) => [c.target, c.body.KeyId, c.body.EncryptionContext])).toEqual([
        ['TrentService.Encrypt', 'alias/iot-notary-staging', { purpose: 'ledger-signing-key' }],
      ]);
      expect(out.chainId).toBe(ledgerChainId(fromBase64(out.publicKey) as Uint8Array));
      expect(out.commands[0]).toBe(`npx sst secret set LedgerKeyWrapped ${out.wrapped} --stage staging`);
    } finally {
      client.destroy();
      await kms.close();
    }
  });
});
