/**
 * The DynamoDB ledger beyond the Chain conformance suite: the same entry format and evidence as the embedded
 * ledger (so proofs verify the same way), append-only and gap-free with two writers on one table, a tampered
 * entry detected on read, and entries signed through the LedgerSigner port: a local key, or a KMS Ed25519 key
 * whose private half the process never holds (KMS here is the STAND-IN, tests/aws/support/kms-stand-in.ts:
 * moto cannot create Ed25519 keys).
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedger, LedgerKeyError } from '../../lib/adapters/aws/dynamo-ledger.js';
import { KmsLedgerSigner } from '../../lib/adapters/aws/kms-ledger-signer.js';
import { LedgerCorruptError } from '../../lib/adapters/local/embedded-ledger.js';
import { LocalLedgerSigner } from '../../lib/adapters/local/local-ledger-signer.js';
import { fromBase64, fromHex, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { type LedgerEntry, ledgerChainId, verifyLedgerEntry } from '../../lib/core/ledger-entry.js';
import { createTables, type RunningDynalite, startDynalite, TEST_CREDENTIALS } from './support/emulators.js';
import { type KmsStandIn, startKmsStandIn } from './support/kms-stand-in.js';

describe('DynamoLedger', () => {
  let dynamo: RunningDynalite;
  let kms: KmsStandIn;
  let kmsClient: KMSClient;
  beforeAll(async () => {
    [dynamo, kms] = await Promise.all([startDynalite(), startKmsStandIn()]);
    kmsClient = new KMSClient({ endpoint: kms.endpoint, region: kms.region, credentials: TEST_CREDENTIALS });
  });
  afterAll(async () => {
    kmsClient.destroy();
    await Promise.all([dynamo.close(), kms.close()]);
  });

  async function fresh() {
    const { ledger: table } = await createTables(dynamo.db);
    const signer = LocalLedgerSigner.generate();
    const key = { publicKey: signer.publicKey, chainId: ledgerChainId(signer.publicKey) };
    const open = async () =>
      DynamoLedger.open({ db: dynamo.db, table, signer, expectedPublicKey: key.publicKey });
    return { table, key, open };
  }

  it('signs with a KMS Ed25519 key: RAW ED25519_SHA_512 over the entry hash, verifying with GetPublicKey’s key', async () => {
    const { ledger: table } = await createTables(dynamo.db);
    const created = await kmsClient.send(
      new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }),
    );
    const keyArn = created.KeyMetadata?.Arn as string;
    const signer = await KmsLedgerSigner.open(kmsClient, keyArn);
    const ledger = DynamoLedger.open({ db: dynamo.db, table, signer });
    kms.calls.length = 0;
    const { txId } = await ledger.submit(sha256(utf8('root')), { dedupKey: 'kms-1' });
    const entry = (await ledger.lookup(txId))?.evidence?.entry as LedgerEntry;
    expect(verifyLedgerEntry(entry, signer.publicKey)).toEqual({ ok: true });
    expect(ledger.chainId).toBe(ledgerChainId(signer.publicKey));
    expect(kms.calls.map((c) => [c.target, c.body])).toEqual([
      [
        'TrentService.Sign',
        {
          KeyId: keyArn,
          Message: Buffer.from(fromHex(txId) as Uint8Array).toString('base64'),
          MessageType: 'RAW',
          SigningAlgorithm: 'ED25519_SHA_512',
        },
      ],
    ]);
  });

  it('refuses a signer whose key is not the configured public key', async () => {
    const a = await fresh();
    await expect(
      (async () =>
        DynamoLedger.open({
          db: dynamo.db,
          table: a.table,
          signer: LocalLedgerSigner.generate(),
          expectedPublicKey: a.key.publicKey,
        }))(),
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
