/**
 * The DynamoDB key design, declared once: the adapters read and write these attributes, the tests create
 * emulator tables from these specs, and sst.config.ts turns the same specs into `sst.aws.Dynamo` tables, so
 * the deployed indexes are the ones the queries were tested against. docs/deploy.md explains each choice.
 *
 * Every query of the IndexStore and Chain ports is a GetItem or a Query on a key or index below; none
 * scans. Attribute names avoid DynamoDB's reserved words (`shard` is one) so key conditions stay plain. Synthetic sort keys are zero-padded decimal strings, because an index key is one attribute and
 * dynalite has no multi-attribute keys.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export type FieldType = 'string' | 'number';

export interface TableSpec {
  /** Attributes used in any key; DynamoDB needs a type only for these. */
  fields: Record<string, FieldType>;
  hashKey: string;
  rangeKey?: string;
  globalIndexes?: Record<string, { hashKey: string; rangeKey?: string; projection: 'all' | 'keys-only' }>;
  localIndexes?: Record<string, { rangeKey: string; projection: 'all' | 'keys-only' }>;
  /**
   * The attribute DynamoDB's Time to Live reads: epoch SECONDS (not ms like every other time here) after
   * which DynamoDB deletes the item, within a few days, at no write cost. CreateTable cannot set it;
   * sst.config.ts does (UpdateTimeToLive), and dynalite ignores it.
   */
  ttl?: string;
}

export const TABLES = {
  /**
   * One item per record: the index entry and, while `pendingShard` is present, the anchor-queue entry.
   * byTime: a GSI, not an LSI, because an LSI caps each device's item collection at 10 GB.
   * pending: sparse (only queued records carry its keys) and sharded, since every ingest writes to it and one
   * index partition takes about 1,000 writes/s.
   *
   * byTime projects keys only, so that placing a record in a batch (batchId, leafIndex) or pinning it
   * (ipfsCid) does not rewrite its index entry: a write unit per record saved, where byTime's readers (API
   * listing and key release, far rarer than ingest) fetch the items with BatchGetItem. pending projects all:
   * the anchor reads every queued record whole, the item is under 1 KB, so KEYS_ONLY would write as many
   * units and add a read per record.
   */
  records: {
    fields: {
      deviceId: 'string',
      seq: 'number',
      timeKey: 'string',
      pendingShard: 'string',
      pendingKey: 'string',
    },
    hashKey: 'deviceId',
    rangeKey: 'seq',
    globalIndexes: {
      byTime: { hashKey: 'deviceId', rangeKey: 'timeKey', projection: 'keys-only' },
      pending: { hashKey: 'pendingShard', rangeKey: 'pendingKey', projection: 'all' },
    },
  },
  /**
   * Batches share one partition key value: one batch is written per anchor cycle, far below a partition's
   * limits, and it makes listing them a Query. unanchored is sparse: only batches still being anchored.
   * anchorsDue is sparse too: only batches with an anchor the finality poller must look at again, keyed by
   * a shard and the earliest nextCheckAt, so "due now" is a range (BatchStore.listAnchorsDue).
   */
  batches: {
    fields: {
      part: 'string',
      batchId: 'string',
      unanchored: 'string',
      createdAt: 'number',
      checkShard: 'string',
      nextCheckAt: 'number',
    },
    hashKey: 'part',
    rangeKey: 'batchId',
    globalIndexes: {
      unanchored: { hashKey: 'unanchored', rangeKey: 'createdAt', projection: 'all' },
      anchorsDue: { hashKey: 'checkShard', rangeKey: 'nextCheckAt', projection: 'all' },
    },
  },
  /** Devices are provisioned rarely and never read on the ingest path (AWS IoT authenticates devices). */
  devices: {
    fields: { part: 'string', deviceId: 'string' },
    hashKey: 'part',
    rangeKey: 'deviceId',
  },
  /**
   * Sharded: a misbehaving fleet can produce dead letters as fast as records. byDevice is sparse. Retention
   * is DynamoDB's TTL on expiresAt (written by every put, NOTARY_DEAD_LETTER_RETENTION_DAYS after `at`).
   */
  deadLetters: {
    fields: { dlShard: 'string', atId: 'string', deviceId: 'string' },
    hashKey: 'dlShard',
    rangeKey: 'atId',
    globalIndexes: {
      byDevice: { hashKey: 'deviceId', rangeKey: 'atId', projection: 'all' },
    },
    ttl: 'expiresAt',
  },
  audit: {
    fields: { part: 'string', atId: 'string' },
    hashKey: 'part',
    rangeKey: 'atId',
  },
  /**
   * Key events and device heads (lib/adapters/aws/dynamo-statement-store.ts): one item per statement, keyed
   * by its content (device, leaf hash) so a redelivery is a failed condition, not a second item. Every index
   * is sparse: keyEvents carries only key events (acceptance order), heads and headsByTime only heads (by
   * count, by device time), pending only statements waiting for a batch (sharded like the records' queue).
   * GSIs, not LSIs: a device's heads grow without bound, and an LSI caps a device at 10 GB.
   */
  statements: {
    fields: {
      deviceId: 'string',
      leafHash: 'string',
      keyEventDevice: 'string',
      keyEventKey: 'string',
      headDevice: 'string',
      headCountKey: 'string',
      headTimeKey: 'string',
      pendingShard: 'string',
      pendingKey: 'string',
    },
    hashKey: 'deviceId',
    rangeKey: 'leafHash',
    globalIndexes: {
      keyEvents: { hashKey: 'keyEventDevice', rangeKey: 'keyEventKey', projection: 'all' },
      heads: { hashKey: 'headDevice', rangeKey: 'headCountKey', projection: 'all' },
      headsByTime: { hashKey: 'headDevice', rangeKey: 'headTimeKey', projection: 'all' },
      pending: { hashKey: 'pendingShard', rangeKey: 'pendingKey', projection: 'all' },
    },
  },
  /**
   * The DynamoDB ledger (lib/adapters/aws/dynamo-ledger.ts): entries by height, plus LSIs because lookups by
   * hash and by dedup key must be strongly consistent, which only an LSI offers. One entry per anchor cycle
   * keeps the ledger far from the 10 GB an LSI allows per ledger.
   */
  ledger: {
    fields: { ledgerId: 'string', height: 'number', hash: 'string', dedupKey: 'string' },
    hashKey: 'ledgerId',
    rangeKey: 'height',
    localIndexes: {
      byHash: { rangeKey: 'hash', projection: 'all' },
      byDedup: { rangeKey: 'dedupKey', projection: 'all' },
    },
  },
  /**
   * The pin queue of IPFS hot copies (lib/adapters/aws/dynamo-pin-queue.ts): one item per hot record. due is
   * sparse (only pending jobs carry its keys) and sharded like the records' pending index; its sort key is
   * the time the job is due, so "due jobs" is a range.
   */
  pinJobs: {
    fields: { recordId: 'string', dueShard: 'string', dueKey: 'string' },
    hashKey: 'recordId',
    globalIndexes: {
      due: { hashKey: 'dueShard', rangeKey: 'dueKey', projection: 'all' },
    },
  },
  /**
   * Auditor tokens (lib/adapters/aws/dynamo-token-store.ts), keyed by the SHA-256 of the token: every API
   * request by a token is one consistent GetItem here (the Lambda authorizer's). byId is for the operator's
   * list and revocation by token id; tokens are few, so one partition holds them all.
   */
  tokens: {
    fields: { tokenHash: 'string', part: 'string', tokenId: 'string' },
    hashKey: 'tokenHash',
    globalIndexes: {
      byId: { hashKey: 'part', rangeKey: 'tokenId', projection: 'all' },
    },
  },
  /**
   * Leases (lib/adapters/aws/dynamo-lease-store.ts): one item per leased name, e.g. `anchor`, written only
   * with conditions on that item. `name` and `token` are reserved words, hence `leaseName`.
   */
  leases: {
    fields: { leaseName: 'string' },
    hashKey: 'leaseName',
  },
} as const satisfies Record<string, TableSpec>;

export type TableName = keyof typeof TABLES;
export type IndexTableNames = Record<
  Exclude<TableName, 'ledger' | 'pinJobs' | 'statements' | 'tokens' | 'leases'>,
  string
>;

/** 16 digits hold every safe integer, so string order is numeric order for the values we store. */
export const pad16 = (n: number): string => {
  // A programming error (only stored counters and times are padded): a RangeError.
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a non-negative safe integer`);
  return n.toString().padStart(16, '0');
};

/** CreateTable input for a spec; used by the tests against dynalite and by anyone creating tables by hand. */
export function createTableInput(spec: TableSpec, tableName: string): CreateTableCommandInput {
  const gsis = Object.entries(spec.globalIndexes ?? {});
  const lsis = Object.entries(spec.localIndexes ?? {});
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: Object.entries(spec.fields).map(([name, type]) => ({
      AttributeName: name,
      AttributeType: type === 'number' ? 'N' : 'S',
    })),
    KeySchema: [
      { AttributeName: spec.hashKey, KeyType: 'HASH' },
      ...(spec.rangeKey ? [{ AttributeName: spec.rangeKey, KeyType: 'RANGE' as const }] : []),
    ],
    ...(gsis.length > 0
      ? {
          GlobalSecondaryIndexes: gsis.map(([name, g]) => ({
            IndexName: name,
            KeySchema: [
              { AttributeName: g.hashKey, KeyType: 'HASH' as const },
              ...(g.rangeKey ? [{ AttributeName: g.rangeKey, KeyType: 'RANGE' as const }] : []),
            ],
            Projection: { ProjectionType: g.projection === 'all' ? 'ALL' : 'KEYS_ONLY' },
          })),
        }
      : {}),
    ...(lsis.length > 0
      ? {
          LocalSecondaryIndexes: lsis.map(([name, l]) => ({
            IndexName: name,
            KeySchema: [
              { AttributeName: spec.hashKey, KeyType: 'HASH' as const },
              { AttributeName: l.rangeKey, KeyType: 'RANGE' as const },
            ],
            Projection: { ProjectionType: l.projection === 'all' ? 'ALL' : 'KEYS_ONLY' },
          })),
        }
      : {}),
  };
}
