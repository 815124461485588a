/**
 * STAND-IN for AWS KMS, because no KMS emulator can be installed here. It is a small HTTP server that speaks
 * the KMS wire protocol as the AWS documentation describes it (AWS JSON 1.1: POST /, X-Amz-Target
 * "TrentService.<Operation>", Content-Type application/x-amz-json-1.1, blobs as base64, errors as HTTP 400
 * with {"__type": "<Exception>", "message"}), for the two operations the KmsKeyVault uses:
 *
 *   Encrypt {KeyId, Plaintext, EncryptionContext?} -> {CiphertextBlob, KeyId (key ARN), EncryptionAlgorithm}
 *   Decrypt {CiphertextBlob, EncryptionContext?, KeyId?} -> {Plaintext, KeyId (key ARN), EncryptionAlgorithm}
 *
 * It enforces the documented rules that matter to us: Plaintext is 1-4,096 bytes; KeyId may be a key id,
 * key ARN, alias name or alias ARN; the EncryptionContext given to Decrypt must equal the one given to Encrypt
 * (else InvalidCiphertextException); a Decrypt KeyId naming another key gives IncorrectKeyException; an
 * unknown key gives NotFoundException; every request must be SigV4-signed for service "kms". Its ciphertext
 * format is its own (real KMS blobs are opaque). It has never been compared with real KMS.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export interface KmsCall {
  target: string;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

export interface KmsStandIn {
  endpoint: string;
  region: string;
  account: string;
  /** Creates a symmetric key, optionally with an alias ("alias/..."); returns its ARN. */
  createKey(alias?: string): string;
  calls: KmsCall[];
  close(): Promise<void>;
}

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const Context = z.record(z.string(), z.string()).optional();
const EncryptReq = z.object({
  KeyId: z.string().min(1).max(2048),
  Plaintext: b64,
  EncryptionContext: Context,
  EncryptionAlgorithm: z.literal('SYMMETRIC_DEFAULT').optional(),
});
const DecryptReq = z.object({
  CiphertextBlob: b64,
  EncryptionContext: Context,
  KeyId: z.string().min(1).max(2048).optional(),
  EncryptionAlgorithm: z.literal('SYMMETRIC_DEFAULT').optional(),
});

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Context as AAD: sorted pairs, so key order does not matter (KMS treats the context as a set). */
const aad = (keyArn: string, context: Record<string, string> | undefined): Buffer =>
  Buffer.from(JSON.stringify([keyArn, Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))]));

export async function startKmsStandIn(opts: { region?: string; account?: string } = {}): Promise<KmsStandIn> {
  const region = opts.region ?? 'us-east-1';
  const account = opts.account ?? '111122223333';
  const keys = new Map<string, { arn: string; material: Buffer }>();
  const aliases = new Map<string, string>();
  const calls: KmsCall[] = [];

  const resolve = (keyId: string): { arn: string; material: Buffer } => {
    const id = keyId.replace(new RegExp(`^arn:aws:kms:${region}:${account}:`), '').replace(/^key\//, '');
    const uuid = id.startsWith('alias/') ? aliases.get(id) : id;
    const key = uuid ? keys.get(uuid) : undefined;
    if (!key) throw new KmsFault('NotFoundException', `Key '${keyId}' does not exist`);
    return key;
  };

  const encrypt = (raw: unknown) => {
    const r = EncryptReq.safeParse(raw);
    if (!r.success)
      throw new KmsFault('ValidationException', r.error.issues[0]?.message ?? 'invalid request');
    const plaintext = Buffer.from(r.data.Plaintext, 'base64');
    if (plaintext.length < 1 || plaintext.length > 4096) {
      throw new KmsFault(
        'ValidationException',
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
      );
    }
    const key = resolve(r.data.KeyId);
    const uuid = key.arn.split('/')[1] ?? '';
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key.material, nonce);
    c.setAAD(aad(key.arn, r.data.EncryptionContext));
    const blob = Buffer.concat([
      Buffer.from(uuid, 'ascii'),
      nonce,
      c.update(plaintext),
      c.final(),
      c.getAuthTag(),
    ]);
    return {
      CiphertextBlob: blob.toString('base64'),
      KeyId: key.arn,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    };
  };

  const decrypt = (raw: unknown) => {
    const r = DecryptReq.safeParse(raw);
    if (!r.success)
      throw new KmsFault('ValidationException', r.error.issues[0]?.message ?? 'invalid request');
    const blob = Buffer.from(r.data.CiphertextBlob, 'base64');
    if (blob.length < 1 || blob.length > 6144) {
      throw new KmsFault('ValidationException', "Value at 'ciphertextBlob' failed to satisfy constraint");
    }
    const uuid = blob.subarray(0, 36).toString('ascii');
    const key = keys.get(uuid);
    if (blob.length < 36 + 12 + 16 || !key) throw new KmsFault('InvalidCiphertextException', '');
    if (r.data.KeyId !== undefined && resolve(r.data.KeyId).arn !== key.arn) {
      throw new KmsFault(
        'IncorrectKeyException',
        'The key ID in the request does not identify a CMK that can perform this operation.',
      );
    }
    try {
      const d = createDecipheriv('aes-256-gcm', key.material, blob.subarray(36, 48));
      d.setAAD(aad(key.arn, r.data.EncryptionContext));
      d.setAuthTag(blob.subarray(blob.length - 16));
      const plaintext = Buffer.concat([d.update(blob.subarray(48, blob.length - 16)), d.final()]);
      return {
        KeyId: key.arn,
        Plaintext: plaintext.toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    } catch {
      // KMS says nothing more than this about why; neither do we.
      throw new KmsFault('InvalidCiphertextException', '');
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      try {
        const target = String(req.headers['x-amz-target'] ?? '');
        const auth = String(req.headers.authorization ?? '');
        if (req.method !== 'POST' || req.url !== '/') throw new KmsFault('UnknownOperationException', '');
        if (
          !/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/kms\/aws4_request, SignedHeaders=.*x-amz-target.*, Signature=[0-9a-f]{64}$/.test(
            auth,
          )
        ) {
          throw new KmsFault(
            'MissingAuthenticationTokenException',
            'Request is missing a valid SigV4 signature for kms',
          );
        }
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          throw new KmsFault('SerializationException', 'body is not JSON');
        }
        calls.push({ target, contentType: req.headers['content-type'], body });
        if (req.headers['content-type'] !== 'application/x-amz-json-1.1') {
          throw new KmsFault('UnknownOperationException', 'wrong content type');
        }
        if (target === 'TrentService.Encrypt') return send(200, encrypt(body));
        if (target === 'TrentService.Decrypt') return send(200, decrypt(body));
        throw new KmsFault('UnknownOperationException', `${target} is not served by this stand-in`);
      } catch (e) {
        if (e instanceof KmsFault) return send(400, { __type: e.type, message: e.message });
        send(500, { __type: 'KMSInternalException', message: String(e) });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region,
    account,
    calls,
    createKey(alias?: string) {
      const uuid = randomUUID();
      const arn = `arn:aws:kms:${region}:${account}:key/${uuid}`;
      keys.set(uuid, { arn, material: randomBytes(32) });
      if (alias) aliases.set(alias, uuid);
      return arn;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
