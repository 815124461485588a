/**
 * KmsKeyVault against moto's KMS (tests/aws/support/moto-server.ts), a real emulator: its encryption context
 * binding, its errors for a wrong context, a tampered blob and an unknown key. The requests the adapter sends
 * (target, content type, JSON fields) are read off the real SDK client on their way out. Where moto is
 * absent this part is skipped with a loud warning. The fixed-answer servers below check what moto cannot:
 * the documented response shapes and IncorrectKeyException, which moto answers as AccessDeniedException.
 * The adapter has never been run against real KMS.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsKeyVault } from '../../lib/adapters/aws/kms-key-vault.js';
import { KeyVaultError } from '../../lib/adapters/local/local-key-vault.js';
import { TEST_CREDENTIALS, TEST_REGION } from './support/emulators.js';
import { motoOrWarn, type RunningMoto, startMoto } from './support/moto-server.js';

const context = { purpose: 'device-master-key', deviceId: 'kms-dev-1' };

interface SentRequest {
  target: string | undefined;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

/** Records each request as it leaves the SDK (after serialisation, before signing and sending). */
function recordRequests(client: KMSClient): SentRequest[] {
  const sent: SentRequest[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers: Record<string, string>; body?: unknown };
      sent.push({
        target: req.headers['x-amz-target'],
        contentType: req.headers['content-type'],
        body: JSON.parse(
          typeof req.body === 'string' ? req.body : new TextDecoder().decode(req.body as Uint8Array),
        ) as Record<string, unknown>,
      });
      return next(args);
    },
    { step: 'build', name: 'recordRequests' },
  );
  return sent;
}

const MOTO = motoOrWarn('KmsKeyVault against moto KMS (tests/aws/kms-key-vault.test.ts)');

describe.skipIf(!MOTO)('KmsKeyVault on moto KMS', () => {
  let moto: RunningMoto;
  let client: KMSClient;
  let sent: SentRequest[];
  let keyArn: string;
  let vault: KmsKeyVault;
  const newKey = async (): Promise<string> => {
    const { KeyMetadata } = await client.send(new CreateKeyCommand({}));
    if (!KeyMetadata?.Arn || !KeyMetadata.KeyId) throw new Error('moto CreateKey returned no key');
    return KeyMetadata.Arn;
  };
  beforeAll(async () => {
    moto = await startMoto();
    client = new KMSClient({ endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
    sent = recordRequests(client);
    keyArn = await newKey();
    await client.send(new CreateAliasCommand({ AliasName: 'alias/notary-test', TargetKeyId: keyArn }));
    vault = new KmsKeyVault(client, 'alias/notary-test');
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.close();
  });

  it('sends Encrypt and Decrypt as AWS JSON 1.1 with the key, base64 blobs and the context', async () => {
    sent.length = 0;
    const secret = new Uint8Array(32).fill(5);
    const wrapped = await vault.wrap(secret, context);
    expect(await vault.unwrap(wrapped, context)).toEqual(secret);
    expect(sent.map((c) => [c.target, c.contentType])).toEqual([
      ['TrentService.Encrypt', 'application/x-amz-json-1.1'],
      ['TrentService.Decrypt', 'application/x-amz-json-1.1'],
    ]);
    expect(sent[0]?.body).toEqual({
      KeyId: 'alias/notary-test',
      Plaintext: Buffer.from(secret).toString('base64'),
      EncryptionContext: context,
    });
    expect(sent[1]?.body).toEqual({
      KeyId: 'alias/notary-test',
      CiphertextBlob: Buffer.from(wrapped).toString('base64'),
      EncryptionContext: context,
    });
  });

  it('the key may be named by ARN too; a blob of another key is refused', async () => {
    const byArn = new KmsKeyVault(client, keyArn);
    const wrapped = await byArn.wrap(new Uint8Array([1, 2, 3]), context);
    expect(await vault.unwrap(wrapped, context)).toEqual(new Uint8Array([1, 2, 3]));
    const other = new KmsKeyVault(client, await newKey());
    // Real KMS documents IncorrectKeyException here (mapped to unwrap-failed, see below); moto answers
    // AccessDeniedException, which the adapter lets through as it is: either way nothing is unwrapped.
    await expect(other.unwrap(wrapped, context)).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('a wrong encryption context is InvalidCiphertextException, mapped to unwrap-failed', async () => {
    const wrapped = await vault.wrap(new Uint8Array(16), context);
    const err = await vault.unwrap(wrapped, { ...context, deviceId: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyVaultError);
    expect((err as KeyVaultError).code).toBe('unwrap-failed');
    expect((err as KeyVaultError).message).toContain('InvalidCiphertextException');
  });

  it('refuses an empty blob, and plaintexts KMS Encrypt cannot take (1-4,096 bytes), without calling KMS', async () => {
    sent.length = 0;
    await expect(vault.unwrap(new Uint8Array(0), context)).rejects.toMatchObject({ code: 'bad-wrapped-key' });
    await expect(vault.wrap(new Uint8Array(4097), context)).rejects.toThrow(RangeError);
    await expect(vault.wrap(new Uint8Array(0), context)).rejects.toThrow(RangeError);
    expect(sent).toEqual([]);
  });

  it('lets configuration errors through as they are: an unknown key is NotFoundException, not a bad blob', async () => {
    const missing = new KmsKeyVault(client, 'alias/does-not-exist');
    await expect(missing.wrap(new Uint8Array(8), context)).rejects.toMatchObject({
      name: 'NotFoundException',
    });
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
  const OTHER_KEY = 'arn:aws:kms:us-east-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321';
  let server: Server;
  let client: KMSClient;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const target = req.headers['x-amz-target'];
        const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { KeyId?: string };
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        if (body.KeyId === OTHER_KEY) {
          // The error shape of the AWS JSON protocol, with the exception the Decrypt reference lists.
          res.writeHead(400);
          res.end(
            JSON.stringify({
              __type: 'IncorrectKeyException',
              message:
                'The key ID in the request does not identify a KMS key that can perform this operation.',
            }),
          );
          return;
        }
        res.writeHead(200);
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

  it('maps IncorrectKeyException (a blob of another key) to unwrap-failed', async () => {
    const vault = new KmsKeyVault(client, OTHER_KEY);
    const err = await vault.unwrap(new Uint8Array([1]), context).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyVaultError);
    expect((err as KeyVaultError).code).toBe('unwrap-failed');
    expect((err as KeyVaultError).message).toContain('IncorrectKeyException');
  });
});
