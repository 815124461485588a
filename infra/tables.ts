/**
 * The DynamoDB specs of lib/adapters/aws/dynamo-tables.ts as `sst.aws.Dynamo` arguments, so the deployed
 * tables carry the same keys and indexes the adapters were tested against on dynalite.
 */
import { TABLES, type TableName, type TableSpec } from '../lib/adapters/aws/dynamo-tables.js';

export interface SstDynamoArgs {
  fields: Record<string, 'string' | 'number'>;
  primaryIndex: { hashKey: string; rangeKey?: string };
  globalIndexes?: Record<string, { hashKey: string; rangeKey?: string; projection: 'all' | 'keys-only' }>;
  localIndexes?: Record<string, { rangeKey: string; projection: 'all' | 'keys-only' }>;
  /** Time to Live attribute (epoch seconds); DynamoDB deletes items past it. */
  ttl?: string;
}

export function sstDynamoArgs(spec: TableSpec): SstDynamoArgs {
  return {
    fields: { ...spec.fields },
    primaryIndex: spec.rangeKey
      ? { hashKey: spec.hashKey, rangeKey: spec.rangeKey }
      : { hashKey: spec.hashKey },
    ...(spec.globalIndexes ? { globalIndexes: { ...spec.globalIndexes } } : {}),
    ...(spec.localIndexes ? { localIndexes: { ...spec.localIndexes } } : {}),
    ...(spec.ttl ? { ttl: spec.ttl } : {}),
  };
}

/** Component names in sst.config.ts, and the environment variable each function reads the table name from. */
export const TABLE_COMPONENTS: Record<TableName, { component: string; env: string }> = {
  records: { component: 'Records', env: 'NOTARY_TABLE_RECORDS' },
  batches: { component: 'Batches', env: 'NOTARY_TABLE_BATCHES' },
  devices: { component: 'Devices', env: 'NOTARY_TABLE_DEVICES' },
  deadLetters: { component: 'DeadLetters', env: 'NOTARY_TABLE_DEAD_LETTERS' },
  audit: { component: 'Audit', env: 'NOTARY_TABLE_AUDIT' },
  ledger: { component: 'Ledger', env: 'NOTARY_TABLE_LEDGER' },
  pinJobs: { component: 'PinJobs', env: 'NOTARY_TABLE_PIN_JOBS' },
  statements: { component: 'Statements', env: 'NOTARY_TABLE_STATEMENTS' },
  tokens: { component: 'Tokens', env: 'NOTARY_TABLE_TOKENS' },
  leases: { component: 'Leases', env: 'NOTARY_TABLE_LEASES' },
};

export const TABLE_NAMES = Object.keys(TABLES) as TableName[];
