/**
 * STAND-IN for AWS KMS, for what no emulator here answers: moto 5.2.1 refuses keys of spec
 * ECC_NIST_EDWARDS25519, so the ledger's KMS signer (lib/adapters/aws/kms-ledger-signer.ts) is tested against
 * this. It also serves the end-to-end stack's symmetric key, since each function has one KMS endpoint (the
 * KeyVault conformance suite itself runs on moto). It is a small HTTP server that speaks the KMS wire
 * protocol as the AWS API reference describes it (AWS JSON 1.1: POST /, X-Amz-Target
 * "TrentService.<Operation>", Content-Type application/x-amz-json-1.1, blobs as base64, errors as HTTP 400
 * with {"__type": "<Exception>", "message"}), for these operations:
 *
 *   CreateKey {KeySpec?, KeyUsage?, Description?} -> {KeyMetadata: {KeyId, Arn, KeySpec, KeyUsage, ...}}
 *     SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT (the default), or ECC_NIST_EDWARDS25519/SIGN_VERIFY; any other pair
 *     is a ValidationException here (real KMS has more specs).
 *   GetPublicKey {KeyId} -> {KeyId (ARN), PublicKey (DER SubjectPublicKeyInfo), KeySpec, KeyUsage,
 *     SigningAlgorithms, CustomerMasterKeySpec}
 *   Sign {KeyId, Message, MessageType?, SigningAlgorithm} -> {KeyId (ARN), Signature, SigningAlgorithm}
 *     Ed25519 keys, ED25519_SHA_512 with MessageType RAW only (pure Ed25519 over the message, by node:crypto
 *     with the key the stand-in keeps); ED25519_PH_SHA_512 is not served (UnsupportedOperationException).
 *   Encrypt {KeyId, Plaintext, EncryptionContext?} -> {CiphertextBlob, KeyId (key ARN), EncryptionAlgorithm}
 *   Decrypt {CiphertextBlob, EncryptionContext?, KeyId?} -> {Plaintext, KeyId (key ARN), EncryptionAlgorithm}
 *
 * It enforces the documented rules that matter to us: Plaintext 1-4,096 bytes and Message 1-4,096 bytes;
 * KeyId may be a key id, key ARN, alias name or alias ARN; the EncryptionContext given to Decrypt must equal
 * the one given to Encrypt (else InvalidCiphertextException); a Decrypt KeyId naming another key gives
 * IncorrectKeyException; an operation the key's usage does not allow, or a signing algorithm its spec does
 * not offer, gives InvalidKeyUsageException; ED25519_SHA_512 with MessageType DIGEST is a ValidationException
 * (the reference says it requires RAW); an unknown key gives NotFoundException; every request must be
 * SigV4-signed for service "kms". Its ciphertext format is its own (real KMS blobs are opaque). It has never
 * been compared with real KMS.
 */
import {
  createCipheriv,
  createDecipheriv,
  sign as ed25519Sign,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
} from 'node:crypto';
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
  /** Disables a key (its operations then answer DisabledException), as DisableKey would. */
  disableKey(keyArn: string): void;
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
const CreateKeyReq = z.object({
  KeySpec: z.string().optional(),
  KeyUsage: z.string().optional(),
  Description: z.string().max(8192).optional(),
});
const GetPublicKeyReq = z.object({ KeyId: z.string().min(1).max(2048) });
const SignReq = z.object({
  KeyId: z.string().min(1).max(2048),
  Message: b64,
  MessageType: z.enum(['RAW', 'DIGEST', 'EXTERNAL_MU']).optional(),
  SigningAlgorithm: z.string().min(1),
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
  interface StandInKey {
    arn: string;
    spec: 'SYMMETRIC_DEFAULT' | 'ECC_NIST_EDWARDS25519';
    /** AES-256 key of a symmetric key. */
    material: Buffer;
    /** The Ed25519 pair of a signing key; the private half never leaves the stand-in. */
    signing?: { privateKey: KeyObject; spki: Buffer };
    enabled: boolean;
  }
  const keys = new Map<string, StandInKey>();
  const aliases = new Map<string, string>();
  const calls: KmsCall[] = [];

  const resolve = (keyId: string): StandInKey => {
    const id = keyId.replace(new RegExp(`^arn:aws:kms:${region}:${account}:`), '').replace(/^key\//, '');
    const uuid = id.startsWith('alias/') ? aliases.get(id) : id;
    const key = uuid ? keys.get(uuid) : undefined;
    if (!key) throw new KmsFault('NotFoundException', `Key '${keyId}' does not exist`);
    if (!key.enabled) throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
    return key;
  };
  const usable = (key: StandInKey, spec: StandInKey['spec'], op: string): void => {
    if (key.spec !== spec)
      throw new KmsFault(
        'InvalidKeyUsageException',
        `You cannot perform this operation (${op}) on a ${key.spec} key: ${key.arn}`,
      );
  };
  const newKey = (spec: StandInKey['spec']): StandInKey => {
    const uuid = randomUUID();
    const arn = `arn:aws:kms:${region}:${account}:key/${uuid}`;
    const key: StandInKey = { arn, spec, material: randomBytes(32), enabled: true };
    if (spec === 'ECC_NIST_EDWARDS25519') {
      const pair = generateKeyPairSync('ed25519');
      key.signing = {
        privateKey: pair.privateKey,
        spki: pair.publicKey.export({ type: 'spki', format: 'der' }),
      };
    }
    keys.set(uuid, key);
    return key;
  };
  const ED25519_ALGORITHMS = ['ED25519_SHA_512', 'ED25519_PH_SHA_512'];
  const metadata = (key: StandInKey, description: string) => {
    const signing = key.spec === 'ECC_NIST_EDWARDS25519';
    return {
      AWSAccountId: account,
      Arn: key.arn,
      CreationDate: Math.floor(Date.now() / 1000),
      CustomerMasterKeySpec: key.spec,
      Description: description,
      Enabled: key.enabled,
      KeyId: key.arn.split('/')[1],
      KeyManager: 'CUSTOMER',
      KeySpec: key.spec,
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      KeyUsage: signing ? 'SIGN_VERIFY' : 'ENCRYPT_DECRYPT',
      MultiRegion: false,
      Origin: 'AWS_KMS',
      ...(signing
        ? { SigningAlgorithms: ED25519_ALGORITHMS }
        : { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] }),
    };
  };

  const createKey = (raw: unknown) => {
    const r = CreateKeyReq.safeParse(raw);
    if (!r.success)
      throw new KmsFault('ValidationException', r.error.issues[0]?.message ?? 'invalid request');
    const spec = r.data.KeySpec ?? 'SYMMETRIC_DEFAULT';
    const usage = r.data.KeyUsage ?? 'ENCRYPT_DECRYPT';
    if (
      !(spec === 'SYMMETRIC_DEFAULT' && usage === 'ENCRYPT_DECRYPT') &&
      !(spec === 'ECC_NIST_EDWARDS25519' && usage === 'SIGN_VERIFY')
    ) {
      throw new KmsFault(
        'ValidationException',
        `KeySpec ${spec} with KeyUsage ${usage} is not served by this stand-in`,
      );
    }
    return { KeyMetadata: metadata(newKey(spec), r.data.Description ?? '') };
  };

  const getPublicKey = (raw: unknown) => {
    const r = GetPublicKeyReq.safeParse(raw);
    if (!r.success)
      throw new KmsFault('ValidationException', r.error.issues[0]?.message ?? 'invalid request');
    const key = resolve(r.data.KeyId);
    usable(key, 'ECC_NIST_EDWARDS25519', 'GetPublicKey');
    return {
      CustomerMasterKeySpec: key.spec,
      KeyId: key.arn,
      KeySpec: key.spec,
      KeyUsage: 'SIGN_VERIFY',
      PublicKey: key.signing?.spki.toString('base64'),
      SigningAlgorithms: ED25519_ALGORITHMS,
    };
  };

  const signMessage = (raw: unknown) => {
    const r = SignReq.safeParse(raw);
    if (!r.success)
      throw new KmsFault('ValidationException', r.error.issues[0]?.message ?? 'invalid request');
    const message = Buffer.from(r.data.Message, 'base64');
    if (message.length < 1 || message.length > 4096) {
      throw new KmsFault(
        'ValidationException',
        "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096",
      );
    }
    const key = resolve(r.data.KeyId);
    usable(key, 'ECC_NIST_EDWARDS25519', 'Sign');
    if (!ED25519_ALGORITHMS.includes(r.data.SigningAlgorithm)) {
      throw new KmsFault(
        'InvalidKeyUsageException',
        `Signing algorithm ${r.data.SigningAlgorithm} is not supported by ${key.arn}`,
      );
    }
    if (r.data.SigningAlgorithm === 'ED25519_PH_SHA_512')
      throw new KmsFault(
        'UnsupportedOperationException',
        'ED25519_PH_SHA_512 is not served by this stand-in',
      );
    if ((r.data.MessageType ?? 'RAW') !== 'RAW')
      throw new KmsFault('ValidationException', 'ED25519_SHA_512 requires MessageType RAW');
    const signing = key.signing;
    if (!signing) throw new KmsFault('KMSInternalException', 'signing key without a key pair');
    return {
      KeyId: key.arn,
      Signature: ed25519Sign(null, message, signing.privateKey).toString('base64'),
      SigningAlgorithm: r.data.SigningAlgorithm,
    };
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
    usable(key, 'SYMMETRIC_DEFAULT', 'Encrypt');
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
    if (blob.length < 36 + 12 + 16 || !key || key.spec !== 'SYMMETRIC_DEFAULT')
      throw new KmsFault('InvalidCiphertextException', '');
    if (!key.enabled) throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
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
        if (target === 'TrentService.CreateKey') return send(200, createKey(body));
        if (target === 'TrentService.GetPublicKey') return send(200, getPublicKey(body));
        if (target === 'TrentService.Sign') return send(200, signMessage(body));
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
      const key = newKey('SYMMETRIC_DEFAULT');
      if (alias) aliases.set(alias, key.arn.split('/')[1] ?? '');
      return key.arn;
    },
    disableKey(keyArn: string) {
      const key = keys.get(keyArn.split('/')[1] ?? '');
      if (!key) throw new Error(`no key ${keyArn}`);
      key.enabled = false;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
