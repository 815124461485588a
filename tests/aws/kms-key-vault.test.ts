/**
 * KmsKeyVault against the KMS STAND-IN (support/kms-stand-in.ts): no KMS emulator can be installed here, and
 * the adapter has never been run against real KMS. What is checked is the wire contract from the AWS KMS API
 * reference: the requests the adapter sends (target, content type, JSON fields), that it reads the documented
 * response shape (EncryptResponse / DecryptResponse: CiphertextBlob or Plaintext base64 over the HTTP API,
 * KeyId as the key ARN, EncryptionAlgorithm), and how it maps KMS's documented errors.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsKeyVault } from '../../lib/adapters/aws/kms-key-vault.js';
import { KeyVaultError } from '../../lib/adapters/local/local-key-vault.js';
import { TEST_CREDENTIALS } from './support/emulators.js';
import { type KmsStandIn, startKmsStandIn } from './support/kms-stand-in.js';

const context = { purpose: 'device-master-key', deviceId: 'kms-dev-1' };

describe('KmsKeyVault on the KMS stand-in', () => {
  let kms: KmsStandIn;
  let client: KMSClient;
  let keyArn: string;
  let vault: KmsKeyVault;
  beforeAll(async () => {
    kms = await startKmsStandIn();
    client = new KMSClient({ endpoint: kms.endpoint, region: kms.region, credentials: TEST_CREDENTIALS });
    keyArn = kms.createKey('alias/notary-test');
    vault = new KmsKeyVault(client, 'alias/notary-test');
  });
  afterAll(async () => {
    client.destroy();
    await kms.close();
  });

  it('sends Encrypt and Decrypt as AWS JSON 1.1 with the key, base64 blobs and the context', async () => {
    kms.calls.length = 0;
    const secret = new Uint8Array(32).fill(5);
    const wrapped = await vault.wrap(secret, context);
    await vault.unwrap(wrapped, context);
    expect(kms.calls.map((c) => [c.target, c.contentType])).toEqual([
      ['TrentService.Encrypt', 'application/x-amz-json-1.1'],
      ['TrentService.Decrypt', 'application/x-amz-json-1.1'],
    ]);
    expect(kms.calls[0]?.body).toEqual({
      KeyId: 'alias/notary-test',
      Plaintext: Buffer.from(secret).toString('base64'),
      EncryptionContext: context,
    });
    expect(kms.calls[1]?.body).toEqual({
      KeyId: 'alias/notary-test',
      CiphertextBlob: Buffer.from(wrapped).toString('base64'),
      EncryptionContext: context,
    });
  });

  it('the key may be named by ARN too; a blob of another key is refused (IncorrectKeyException)', async () => {
    const byArn = new KmsKeyVault(client, keyArn);
    const wrapped = await byArn.wrap(new Uint8Array([1, 2, 3]), context);
    expect(await vault.unwrap(wrapped, context)).toEqual(new Uint8Array([1, 2, 3]));
    const other = new KmsKeyVault(client, kms.createKey());
    const err = await other.unwrap(wrapped, context).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyVaultError);
    expect((err as KeyVaultError).code).toBe('unwrap-failed');
  });

  it('maps InvalidCiphertextException to unwrap-failed and refuses an empty blob without calling KMS', async () => {
    const wrapped = await vault.wrap(new Uint8Array(16), context);
    await expect(vault.unwrap(wrapped, { ...context, deviceId: 'x' })).rejects.toMatchObject({
      code: 'unwrap-failed',
    });
    const before = kms.calls.length;
    await expect(vault.unwrap(new Uint8Array(0), context)).rejects.toMatchObject({ code: 'bad-wrapped-key' });
    expect(kms.calls.length).toBe(before);
  });

  it('lets configuration errors through as they are: an unknown key is NotFoundException, not a bad blob', async () => {
    const missing = new KmsKeyVault(client, 'alias/does-not-exist');
    await expect(missing.wrap(new Uint8Array(8), context)).rejects.toMatchObject({
      name: 'NotFoundException',
    });
  });

  it('refuses plaintexts KMS Encrypt cannot take (1-4,096 bytes) before calling it', async () => {
    const before = kms.calls.length;
    await expect(vault.wrap(new Uint8Array(4097), context)).rejects.toThrow(RangeError);
    await expect(vault.wrap(new Uint8Array(0), context)).rejects.toThrow(RangeError);
    expect(kms.calls.length).toBe(before);
  });
});

describe('KmsKeyVault reads the response shapes of the KMS API reference', () => {
  // Responses with exactly the fields the KMS API reference lists for EncryptResponse and DecryptResponse,
  // with the reference's example key ARNs; a fixed-answer server, so nothing of the stand-in's own logic.
  const encryptExample = {
    CiphertextBlob: Buffer.from('ciphertext from the documentation').toString('base64'),
    EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    KeyId: 'arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  };
  const decryptExample = {
    EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    KeyId: 'arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    Plaintext: Buffer.from('plaintext from the documentation').toString('base64'),
  };
  let server: Server;
  let client: KMSClient;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const target = req.headers['x-amz-target'];
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(target === 'TrentService.Encrypt' ? encryptExample : decryptExample));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    client = new KMSClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'us-east-2',
      credentials: TEST_CREDENTIALS,
    });
  });
  afterAll(async () => {
    client.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('takes CiphertextBlob from an Encrypt response and Plaintext from a Decrypt response', async () => {
    const vault = new KmsKeyVault(client, '1234abcd-12ab-34cd-56ef-1234567890ab');
    const wrapped = await vault.wrap(new Uint8Array([9]), context);
    expect(Buffer.from(wrapped).toString()).toBe('ciphertext from the documentation');
    const plain = await vault.unwrap(wrapped, context);
    expect(Buffer.from(plain).toString()).toBe('plaintext from the documentation');
  });
});
