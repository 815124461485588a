/**
 * LeaseStore on DynamoDB: one item per leased name, and every write an UpdateItem conditional on that item,
 * so two Lambdas that race for the anchor lease settle it in DynamoDB itself, without TransactWriteItems.
 *
 * The token only ever grows (ADD on acquisition; release removes the holder but keeps the item and its
 * token), so a holder that was taken over finds its token stale at its next renewal: the fence.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { checkLeaseArgs, type Lease, type LeaseAcquired, type LeaseStore } from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import { isConditionalCheckFailed, N, num, optNum, optStr, S } from './dynamo-codec.js';

/** A failed condition read back as free (the holder released in between): try once more, then report. */
const ACQUIRE_ATTEMPTS = 3;

export interface DynamoLeaseStoreOptions {
  db: DynamoDBClient;
  table: string;
}

// `token` and `name` are DynamoDB reserved words; every attribute goes through a placeholder alike.
const NAMES = { '#h': 'holder', '#t': 'token', '#e': 'expiresAt' };

export class DynamoLeaseStore implements LeaseStore {
  private readonly db: DynamoDBClient;
  private readonly table: string;

  constructor(opts: DynamoLeaseStoreOptions) {
    this.db = opts.db;
    this.table = opts.table;
  }

  async acquire(name: string, holder: string, opts: { now: number; ttlMs: number }): Promise<LeaseAcquired> {
    checkLeaseArgs(name, holder, opts.ttlMs);
    const expiresAt = opts.now + opts.ttlMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.db.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: { leaseName: S(name) },
            UpdateExpression: 'SET #h = :h, #e = :e ADD #t :one',
            ConditionExpression: 'attribute_not_exists(#h) OR #e <= :now',
            ExpressionAttributeNames: NAMES,
            ExpressionAttributeValues: {
              ':h': S(holder),
              ':e': N(expiresAt),
              ':one': N(1),
              ':now': N(opts.now),
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        const token = out.Attributes ? num(out.Attributes, 'token') : Number.NaN;
        if (!Number.isSafeInteger(token))
          throw new StorageError('storage-malformed', `lease ${name}: UpdateItem returned no token`);
        return { acquired: true, lease: { name, holder, token, expiresAt } };
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
      }
      const seen = await this.db.send(
        new GetItemCommand({ TableName: this.table, Key: { leaseName: S(name) }, ConsistentRead: true }),
      );
      const heldBy = seen.Item ? optStr(seen.Item, 'holder') : undefined;
      const until = seen.Item ? optNum(seen.Item, 'expiresAt') : undefined;
      if (heldBy !== undefined && until !== undefined && (until > opts.now || attempt >= ACQUIRE_ATTEMPTS)) {
        return { acquired: false, heldBy, expiresAt: until };
      }
      if (attempt >= ACQUIRE_ATTEMPTS)
        return { acquired: false, heldBy: heldBy ?? '', expiresAt: until ?? 0 };
    }
  }

  async renew(lease: Lease, opts: { now: number; ttlMs: number }): Promise<Lease | undefined> {
    checkLeaseArgs(lease.name, lease.holder, opts.ttlMs);
    const expiresAt = opts.now + opts.ttlMs;
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { leaseName: S(lease.name) },
          UpdateExpression: 'SET #e = :e',
          ConditionExpression: '#t = :t AND #h = :h',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':e': N(expiresAt), ':t': N(lease.token), ':h': S(lease.holder) },
        }),
      );
      return { ...lease, expiresAt };
    } catch (e) {
      if (isConditionalCheckFailed(e)) return undefined;
      throw e;
    }
  }

  async release(lease: Lease): Promise<void> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { leaseName: S(lease.name) },
          // The item and its token stay: a later acquisition must get a larger token than this one.
          UpdateExpression: 'REMOVE #h SET #e = :zero',
          ConditionExpression: '#t = :t AND #h = :h',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':zero': N(0), ':t': N(lease.token), ':h': S(lease.holder) },
        }),
      );
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
    }
  }

  async close(): Promise<void> {}
}
