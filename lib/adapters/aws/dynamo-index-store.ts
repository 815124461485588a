/**
 * The whole IndexStore on DynamoDB: the sub-port adapters (dynamo-record-index.ts, dynamo-batch-store.ts,
 * dynamo-device-registry.ts, dynamo-dead-letters.ts, dynamo-audit-log.ts) over the tables of dynamo-tables.ts
 * and one shared client. Every write that must not happen twice is one conditional write on one item (no
 * TransactWriteItems: the ports do not need it, and dynalite has none); a failed condition is read back and
 * reported as the port's duplicate / conflict / exists. Every read is a GetItem or a Query.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CompositeIndexStore } from '../composite-index-store.js';
import { DynamoAuditLog } from './dynamo-audit-log.js';
import { DynamoBatchStore } from './dynamo-batch-store.js';
import { DynamoDeadLetterStore } from './dynamo-dead-letters.js';
import { DynamoDeviceRegistry } from './dynamo-device-registry.js';
import { DynamoRecordIndex } from './dynamo-record-index.js';
import type { IndexTableNames } from './dynamo-tables.js';

export interface DynamoIndexStoreOptions {
  db: DynamoDBClient;
  tables: IndexTableNames;
  /** DynamoRecordIndexOptions.pendingShards: partitions of the anchor queue. Only ever raise it. */
  pendingShards?: number;
  /** DynamoDeadLetterStoreOptions.shards: partitions of the dead-letter table. Only ever raise it. */
  deadLetterShards?: number;
  /** DynamoDeadLetterStoreOptions.retentionDays: the dead letters' TTL. Default 30. */
  deadLetterRetentionDays?: number;
  /** Concurrent writes while placing records in a batch or pruning dead letters. */
  writeConcurrency?: number;
  /** DynamoRecordIndexOptions.countCap: where countPending stops counting. Unlimited by default. */
  countCap?: number;
}

export class DynamoIndexStore extends CompositeIndexStore {
  constructor(opts: DynamoIndexStoreOptions) {
    const { db, tables: t, writeConcurrency } = opts;
    super(
      {
        records: new DynamoRecordIndex({
          db,
          table: t.records,
          pendingShards: opts.pendingShards,
          writeConcurrency,
          countCap: opts.countCap,
        }),
        batches: new DynamoBatchStore({ db, table: t.batches }),
        devices: new DynamoDeviceRegistry({ db, table: t.devices }),
        deadLetters: new DynamoDeadLetterStore({
          db,
          table: t.deadLetters,
          shards: opts.deadLetterShards,
          retentionDays: opts.deadLetterRetentionDays,
          writeConcurrency,
        }),
        audit: new DynamoAuditLog({ db, table: t.audit }),
      },
      // The client belongs to the composition root, which may share it; nothing to release here.
      async () => {},
    );
  }
}
