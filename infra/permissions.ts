/**
 * Least privilege per function: exactly the IAM actions each Lambda's adapters call, on exactly the objects,
 * tables, indexes, key and topics it touches. sst.config.ts turns these grants into each function's
 * `permissions` (it does not use `link`, whose grants are service-wide: s3:* and dynamodb:* on the resource).
 * tests/aws/infra.test.ts records every AWS call the functions make against the emulators and checks each
 * one is covered here, and that nothing here goes unused.
 */

import { LEDGER_KEY_CONTEXT } from '../lib/adapters/aws/dynamo-ledger.js';
import type { TableName } from '../lib/adapters/aws/dynamo-tables.js';
import { masterKeyContext } from '../lib/devices/provision-device.js';
import { deviceReplyTopics } from '../lib/routing/routes.js';

export type LambdaName = 'ingest' | 'anchor' | 'verify' | 'ipfsPin' | 'authorizer';

export type ResourceRef =
  /** Objects under a key prefix of the bucket. */
  | { kind: 'objects'; prefix: 'records/' | 'uploads/' | 'batches/' }
  /** A table, or one of its indexes. */
  | { kind: 'table'; table: TableName; index?: string }
  | { kind: 'kms-key' }
  /** An IoT topic; `+` in a reply topic becomes `*`. */
  | { kind: 'iot-topic'; topic: string };

export interface Grant {
  actions: string[];
  resources: ResourceRef[];
  /** KMS grants are narrowed to one purpose of the encryption context. */
  kmsPurpose?: string;
}

const objects = (prefix: 'records/' | 'uploads/' | 'batches/'): ResourceRef => ({ kind: 'objects', prefix });
const table = (t: TableName, index?: string): ResourceRef =>
  index === undefined ? { kind: 'table', table: t } : { kind: 'table', table: t, index };
const replyTopic = (f: (id: string) => string): ResourceRef => ({ kind: 'iot-topic', topic: f('*') });

const DEVICE_MASTER_KEY_PURPOSE = masterKeyContext('any').purpose as string;
const LEDGER_KEY_PURPOSE = LEDGER_KEY_CONTEXT.purpose as string;

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
    { actions: ['kms:Decrypt'], resources: [{ kind: 'kms-key' }], kmsPurpose: LEDGER_KEY_PURPOSE },
  ],
  verify: [
    { actions: ['s3:GetObject'], resources: [objects('records/'), objects('batches/')] },
    { actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [table('records')] },
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
      resources: [{ kind: 'kms-key' }],
      kmsPurpose: DEVICE_MASTER_KEY_PURPOSE,
    },
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

/** How a deployment (or a test) names the resources a ref points at. */
export interface ResourceNamer<T> {
  objects(prefix: string): T;
  table(name: TableName, index?: string): T;
  kmsKey(): T;
  iotTopic(topic: string): T;
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
      if (r.kind === 'kms-key') return n.kmsKey();
      return n.iotTopic(r.topic);
    }),
    ...(g.kmsPurpose === undefined
      ? {}
      : {
          conditions: [
            { test: 'StringEquals', variable: 'kms:EncryptionContext:purpose', values: [g.kmsPurpose] },
          ],
        }),
  }));
}
