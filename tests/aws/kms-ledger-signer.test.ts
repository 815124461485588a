/**
 * KmsLedgerSigner beyond the LedgerSigner conformance suite, on the KMS STAND-IN (support/kms-stand-in.ts;
 * moto cannot create ECC_NIST_EDWARDS25519 keys) and on fixed-answer servers that return the response shapes
 * of the KMS API reference: the requests it sends, the keys it refuses to sign with, and a signature KMS returns
 * that does not verify (refused before anything is written). Never run against real KMS.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedger } from '../../lib/adapters/aws/dynamo-ledger.js';
import { KmsLedgerSigner } from '../../lib/adapters/aws/kms-ledger-signer.js';
import { LedgerSignerError } from '../../lib/adapters/local/local-ledger-signer.js';
import { ED25519_SPKI_PREFIX } from '../../lib/core/ledger-entry.js';
import { createTables, type RunningDynalite, startDynalite, TEST_CREDENTIALS } from './support/emulators.js';
import { type KmsStandIn, startKmsStandIn } from './support/kms-stand-in.js';

describe('KmsLedgerSigner on the KMS stand-in', () => {
  let kms: KmsStandIn;
  let client: KMSClient;
  const ed25519Key = async () =>
    (await client.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' })))
      .KeyMetadata?.Arn as string;
  beforeAll(async () => {
    kms = await startKmsStandIn();
    client = new KMSClient({ endpoint: kms.endpoint, region: kms.region, credentials: TEST_CREDENTIALS });
  });
  afterAll(async () => {
    client.destroy();
    await kms.close();
  });

  it('reads the key once (GetPublicKey), then sends Sign with ED25519_SHA_512 over the RAW message', async () => {
    const keyArn = await ed25519Key();
    kms.calls.length = 0;
    const signer = await KmsLedgerSigner.open(client, keyArn);
    const message = new Uint8Array(32).fill(0xab);
    await signer.sign(message);
    expect(kms.calls.map((c) => [c.target, c.contentType, c.body])).toEqual([
      ['TrentService.GetPublicKey', 'application/x-amz-json-1.1', { KeyId: keyArn }],
      [
        'TrentService.Sign',
        'application/x-amz-json-1.1',
        {
          KeyId: keyArn,
          Message: Buffer.from(message).toString('base64'),
          MessageType: 'RAW',
          SigningAlgorithm: 'ED25519_SHA_512',
        },
      ],
    ]);
  });

  it('lets KMS refusals through as they are: a symmetric key (InvalidKeyUsageException), a disabled key', async () => {
    await expect(KmsLedgerSigner.open(client, kms.createKey())).rejects.toMatchObject({
      name: 'InvalidKeyUsageException',
    });
    await expect(KmsLedgerSigner.open(client, 'alias/no-such-key')).rejects.toMatchObject({
      name: 'NotFoundException',
    });
    const keyArn = await ed25519Key();
    const signer = await KmsLedgerSigner.open(client, keyArn);
    kms.disableKey(keyArn);
    await expect(signer.sign(new Uint8Array(32))).rejects.toMatchObject({ name: 'DisabledException' });
  });
});

/** A KMS that answers GetPublicKey and Sign with fixed bodies in the reference's shapes. */
async function fixedKms(answers: { getPublicKey: object; sign?: object }) {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const target = String(req.headers['x-amz-target']);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(target === 'TrentService.Sign' ? answers.sign : answers.getPublicKey));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = new KMSClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-2',
    credentials: TEST_CREDENTIALS,
  });
  return {
    client,
    close: async () => {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('KmsLedgerSigner reads the GetPublicKey and Sign shapes of the KMS API reference', () => {
  const ARN = 'arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const pair = generateKeyPairSync('ed25519');
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  const publicKeyAnswer = {
    CustomerMasterKeySpec: 'ECC_NIST_EDWARDS25519',
    KeyId: ARN,
    KeySpec: 'ECC_NIST_EDWARDS25519',
    KeyUsage: 'SIGN_VERIFY',
    PublicKey: spki.toString('base64'),
    SigningAlgorithms: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'],
  };
  let dynamo: RunningDynalite;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });

  it('takes the raw key from the DER SubjectPublicKeyInfo (12-byte prefix, then 32 bytes)', async () => {
    expect(spki.subarray(0, 12)).toEqual(Buffer.from(ED25519_SPKI_PREFIX));
    const message = new Uint8Array(32).fill(1);
    const kms = await fixedKms({
      getPublicKey: publicKeyAnswer,
      sign: {
        KeyId: ARN,
        Signature: sign(null, message, pair.privateKey).toString('base64'),
        SigningAlgorithm: 'ED25519_SHA_512',
      },
    });
    try {
      const signer = await KmsLedgerSigner.open(kms.client, ARN);
      expect(Buffer.from(signer.publicKey)).toEqual(spki.subarray(12));
      expect(await signer.sign(message)).toEqual(new Uint8Array(sign(null, message, pair.privateKey)));
    } finally {
      await kms.close();
    }
  });

  it('refuses keys that cannot sign ledger entries: another spec, another usage, a malformed public key', async () => {
    const cases: [object, RegExp][] = [
      [
        { ...publicKeyAnswer, KeySpec: 'ECC_NIST_P256', SigningAlgorithms: ['ECDSA_SHA_256'] },
        /ECC_NIST_P256/,
      ],
      [{ ...publicKeyAnswer, KeyUsage: 'ENCRYPT_DECRYPT' }, /ENCRYPT_DECRYPT/],
      [{ ...publicKeyAnswer, SigningAlgorithms: ['ED25519_PH_SHA_512'] }, /does not offer ED25519_SHA_512/],
      [{ ...publicKeyAnswer, PublicKey: spki.subarray(0, 40).toString('base64') }, /SubjectPublicKeyInfo/],
    ];
    for (const [answer, message] of cases) {
      const kms = await fixedKms({ getPublicKey: answer });
      try {
        const err = await KmsLedgerSigner.open(kms.client, ARN).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LedgerSignerError);
        expect((err as Error).message).toMatch(message);
      } finally {
        await kms.close();
      }
    }
  });

  it('a signature that does not verify with the key (another key, a prehash) is refused, and no entry is written', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const kms = await fixedKms({
      getPublicKey: publicKeyAnswer,
      sign: {
        KeyId: ARN,
        Signature: sign(null, new Uint8Array(32), other).toString('base64'),
        SigningAlgorithm: 'ED25519_SHA_512',
      },
    });
    try {
      const { ledger: table } = await createTables(dynamo.db);
      const ledger = DynamoLedger.open({
        db: dynamo.db,
        table,
        signer: await KmsLedgerSigner.open(kms.client, ARN),
      });
      const err = await ledger.submit(new Uint8Array(32), { dedupKey: 'bad-sig' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LedgerSignerError);
      expect((err as LedgerSignerError).code).toBe('bad-signature');
      const items = await dynamo.db.send(new ScanCommand({ TableName: table, Select: 'COUNT' }));
      expect(items.Count).toBe(0);
    } finally {
      await kms.close();
    }
  });
});
