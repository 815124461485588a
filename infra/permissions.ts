/**
 * Least privilege per function: exactly the IAM actions each Lambda's adapters call, on exactly the objects,
 * tables, indexes, key and topics it touches. sst.config.ts turns these grants into each function's
 * `permissions` (it does not use `link`, whose grants are service-wide: s3:* and dynamodb:* on the resource).
 * tests/aws/infra.test.ts records every AWS call the functions make against the emulators and checks each
 * one is covered here, and that nothing here goes unused.
 */

import type { TableName } from '../lib/adapters/aws/dynamo-tables.js';
import { masterKeyContext } from '../lib/devices/provision-device.js';
import { deviceReplyTopics } from '../lib/routing/routes.js';
import { EVM_KEY_CONTEXT } from '../lib/runtime/aws-chains.js';

export type LambdaName = 'ingest' | 'anchor' | 'verify' | 'ipfsPin' | 'authorizer';

export type ResourceRef =
  /** Objects under a key prefix of the bucket. */
  | { kind: 'objects'; prefix: 'records/' | 'uploads/' | 'batches/' }
  /** A table, or one of its indexes. */
  | { kind: 'table'; table: TableName; index?: string }
  /**
   * A KMS key of the stage: `wrapping` (symmetric: device master keys, the EVM key) or `ledger` (the
   * ECC_NIST_EDWARDS25519 key that signs ledger entries).
   */
  | { kind: 'kms-key'; key: KmsKeyName }
  /** An IoT topic; `+` in a reply topic becomes `*`. */
  | { kind: 'iot-topic'; topic: string }
  /** An IoT control-plane resource, by its ARN's resource part: `thing/*`, `cert/*`, or `*`. */
  | { kind: 'iot-resource'; resource: 'thing/*' | 'cert/*' | '*' };

export type KmsKeyName = 'wrapping' | 'ledger';

export interface Grant {
  actions: string[];
  resources: ResourceRef[];
  /** KMS grants are narrowed to one purpose of the encryption context. */
  kmsPurpose?: string;
  /** kms:Sign narrowed to one signing algorithm and message type. */
  kmsSigning?: { algorithm: string; messageType: 'RAW' | 'DIGEST' };
}

const objects = (prefix: 'records/' | 'uploads/' | 'batches/'): ResourceRef => ({ kind: 'objects', prefix });
const table = (t: TableName, index?: string): ResourceRef =>
  index === undefined ? { kind: 'table', table: t } : { kind: 'table', table: t, index };
const replyTopic = (f: (id: string) => string): ResourceRef => ({ kind: 'iot-topic', topic: f('*') });

const DEVICE_MASTER_KEY_PURPOSE = masterKeyContext('any').purpose as string;
const wrappingKey: ResourceRef = { kind: 'kms-key', key: 'wrapping' };
const ledgerKey: ResourceRef = { kind: 'kms-key', key: 'ledger' };

/**
 * The anchor function's grant to unwrap the EVM anchoring key: sst.config.ts adds it only when ANCHOR_CHAINS
 * names evm, so a stage without EVM has no kms:Decrypt on the anchor role at all.
 */
export const ANCHOR_EVM_KEY_GRANT: Grant = {
  actions: ['kms:Decrypt'],
  resources: [wrappingKey],
  kmsPurpose: EVM_KEY_CONTEXT.purpose as string,
};

export const FUNCTION_GRANTS: Record<LambdaName, Grant[]> = {
  ingest: [
    // Envelopes land under records/; uploads/ holds presigned uploads until their manifest is ingested. The
    // presigned PUT acts with this role, so it needs PutObject on uploads/ too. HeadObject is s3:GetObject.
    { actions: ['s3:PutObject'], resources: [objects('records/'), objects('uploads/')] },
    { actions: ['s3:GetObject', 's3:DeleteObject'], resources: [objects('uploads/')] },
    // A record that lost a sequence race (another record was indexed with its seq after the check) leaves an
    // envelope under records/ that nothing references; ingest deletes it. The bucket is versioned, so this
    // adds a delete marker: the version stays, and under Object Lock cannot go before its retention.
    { actions: ['s3:DeleteObject'], resources: [objects('records/')] },
    { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [table('records')] },
    { actions: ['dynamodb:PutItem'], resources: [table('deadLetters')] },
    // A device's key state for every record, head and rotation; a rotation changes it (one conditional update).
    { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [table('devices')] },
    // Heads and rotations are statements, stored once by content and queued for anchoring.
    { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [table('statements')] },
    {
      actions: ['iot:Publish'],
      resources: [replyTopic(deviceReplyTopics.acks), replyTopic(deviceReplyTopics.uploadGrants)],
    },
  ],
  anchor: [
    { actions: ['s3:PutObject', 's3:GetObject'], resources: [objects('batches/')] },
    { actions: ['dynamodb:Query'], resources: [table('records', 'pending')] },
    { actions: ['dynamodb:UpdateItem'], resources: [table('records')] },
    // Key events and heads are leaves of the same batches: their queue, and their placement.
    { actions: ['dynamodb:Query'], resources: [table('statements', 'pending')] },
    { actions: ['dynamodb:UpdateItem'], resources: [table('statements')] },
    {
      actions: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resources: [table('batches')],
    },
    // The budget reads the last batches (interval, today's spend); the finality poller the due anchors.
    {
      actions: ['dynamodb:Query'],
      resources: [table('batches'), table('batches', 'unanchored'), table('batches', 'anchorsDue')],
    },
    // byHash: the finality look at a ledger entry just written.
    {
      actions: ['dynamodb:Query'],
      resources: [table('ledger'), table('ledger', 'byDedup'), table('ledger', 'byHash')],
    },
    { actions: ['dynamodb:PutItem'], resources: [table('ledger')] },
    // The anchor lease: acquire, renew (the fence before each write) and release are conditional updates;
    // a refused acquire reads the item back to say who holds it.
    { actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'], resources: [table('leases')] },
    // Ledger entries are signed by the stage's Ed25519 KMS key, pure Ed25519 only (ED25519_SHA_512 over the
    // RAW entry hash); its public key is read once per cold start. No other key, no other algorithm.
    {
      actions: ['kms:Sign'],
      resources: [ledgerKey],
      kmsSigning: { algorithm: 'ED25519_SHA_512', messageType: 'RAW' },
    },
    { actions: ['kms:GetPublicKey'], resources: [ledgerKey] },
  ],
  verify: [
    { actions: ['s3:GetObject'], resources: [objects('records/'), objects('batches/')] },
    // BatchGetItem: byTime holds keys only, so a listing fetches its records from the table.
    {
      actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
      resources: [table('records')],
    },
    // byTime lists records and finds the one in force at a time (key release); pending is only counted, for
    // /v1/health's backlog.
    { actions: ['dynamodb:Query'], resources: [table('records', 'byTime'), table('records', 'pending')] },
    // No route lists batches or devices, so no Query on either.
    { actions: ['dynamodb:GetItem'], resources: [table('batches')] },
    {
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resources: [table('devices')],
    },
    { actions: ['dynamodb:Query'], resources: [table('deadLetters'), table('deadLetters', 'byDevice')] },
    { actions: ['dynamodb:PutItem', 'dynamodb:Query'], resources: [table('audit')] },
    // Register and revoke events; a device's key log (keys, proofs' origin), its heads by count (gaps,
    // completeness) and by time (completeness over a time range).
    { actions: ['dynamodb:PutItem'], resources: [table('statements')] },
    {
      actions: ['dynamodb:Query'],
      resources: [
        table('statements', 'keyEvents'),
        table('statements', 'heads'),
        table('statements', 'headsByTime'),
      ],
    },
    // Auditor tokens: made (conditional put), revoked (update), listed and found by id (byId).
    {
      actions: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resources: [table('tokens')],
    },
    { actions: ['dynamodb:Query'], resources: [table('tokens', 'byId')] },
    { actions: ['dynamodb:Query'], resources: [table('ledger'), table('ledger', 'byHash')] },
    {
      actions: ['kms:Encrypt', 'kms:Decrypt'],
      resources: [wrappingKey],
      kmsPurpose: DEVICE_MASTER_KEY_PURPOSE,
    },
    // The ledger's public key for /v1/chains and proof bundles; verify cannot sign.
    { actions: ['kms:GetPublicKey'], resources: [ledgerKey] },
  ],
  // The API Gateway Lambda authorizer: one consistent read of a token by its hash per request, nothing else.
  // Operator JWTs are checked against the issuer's published keys, which is not an AWS call.
  authorizer: [{ actions: ['dynamodb:GetItem'], resources: [table('tokens')] }],
  // Deployed only with IPFS hot copies on (NOTARY_IPFS_HOT). It reads an envelope's header, then the whole
  // envelope, looks its record up and records the CID; the pin queue is its own table. IPFS is not AWS.
  ipfsPin: [
    { actions: ['s3:GetObject'], resources: [objects('records/')] },
    { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [table('records')] },
    { actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [table('pinJobs')] },
    { actions: ['dynamodb:Query'], resources: [table('pinJobs', 'due')] },
  ],
};

/**
 * Run-time device provisioning (POST and DELETE /v1/devices/{id}/certificate, lib/devices/device-certificate.ts):
 * the IoT control-plane calls of the verify function, the API's function. Things and certificates are made
 * at run time, so their ARNs are not known at deploy time: things and certificates of this account and region
 * (`thing/*`, `cert/*`), and `*` for CreateCertificateFromCsr, whose IAM resource is `*` in the IoT service
 * authorization reference. sst.config.ts adds them to the verify function; tests/aws/iot-provisioning.test.ts
 * checks that every call the provisioning makes on moto is covered, and that each grant is used.
 */
export const DEVICE_PROVISIONING_GRANTS: Grant[] = [
  { actions: ['iot:CreateCertificateFromCsr'], resources: [{ kind: 'iot-resource', resource: '*' }] },
  {
    actions: [
      'iot:CreateThing',
      'iot:DescribeThing',
      'iot:UpdateThing',
      'iot:DeleteThing',
      'iot:ListThingPrincipals',
      'iot:AttachThingPrincipal',
      'iot:DetachThingPrincipal',
    ],
    resources: [{ kind: 'iot-resource', resource: 'thing/*' }],
  },
  {
    actions: [
      'iot:DescribeCertificate',
      'iot:UpdateCertificate',
      'iot:DeleteCertificate',
      'iot:AttachPolicy',
      'iot:DetachPolicy',
    ],
    resources: [{ kind: 'iot-resource', resource: 'cert/*' }],
  },
];

/** How a deployment (or a test) names the resources a ref points at. */
export interface ResourceNamer<T> {
  objects(prefix: string): T;
  table(name: TableName, index?: string): T;
  kmsKey(key: KmsKeyName): T;
  iotTopic(topic: string): T;
  /** `arn:aws:iot:<region>:<account>:<resource>`, or `*` for `*`. */
  iotResource?(resource: string): T;
}

export interface ResolvedPermission<T> {
  actions: string[];
  resources: T[];
  conditions?: { test: string; variable: string; values: string[] }[];
}

export function resolveGrants<T>(grants: readonly Grant[], n: ResourceNamer<T>): ResolvedPermission<T>[] {
  return grants.map((g) => ({
    actions: g.actions,
    resources: g.resources.map((r) => {
      if (r.kind === 'objects') return n.objects(r.prefix);
      if (r.kind === 'table') return n.table(r.table, r.index);
      if (r.kind === 'kms-key') return n.kmsKey(r.key);
      if (r.kind === 'iot-resource') {
        if (!n.iotResource) throw new Error(`no name for IoT resource ${r.resource}`);
        return n.iotResource(r.resource);
      }
      return n.iotTopic(r.topic);
    }),
    ...(g.kmsPurpose === undefined
      ? {}
      : {
          conditions: [
            { test: 'StringEquals', variable: 'kms:EncryptionContext:purpose', values: [g.kmsPurpose] },
          ],
        }),
    ...(g.kmsSigning === undefined
      ? {}
      : {
          conditions: [
            { test: 'StringEquals', variable: 'kms:SigningAlgorithm', values: [g.kmsSigning.algorithm] },
            { test: 'StringEquals', variable: 'kms:MessageType', values: [g.kmsSigning.messageType] },
          ],
        }),
  }));
}
