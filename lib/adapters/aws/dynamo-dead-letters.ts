/**
 * DeadLetterStore on DynamoDB: the dead-letters table, sharded by id (dlShard) and sorted by time (atId), with
 * the `byDevice` index for one device's refusals. DynamoDB's TTL (expiresAt) gives them their retention.
 */
import { DeleteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { decodeCursor } from '../../core/page-cursor.js';
import type { DeadLetter, DeadLetterStore, Page } from '../../ports.js';
import {
  fnv1a,
  type Item,
  inParallel,
  itemOf,
  mergeQueries,
  putIfAbsent,
  queryCount,
  queryUpTo,
  str,
} from './dynamo-codec.js';
import { atIdKey, checkWidth, clampTime, pageOf, shardNames } from './dynamo-index-keys.js';
import { toDeadLetter } from './dynamo-stored-form.js';
import { pad16 } from './dynamo-tables.js';

const DAY_MS = 24 * 3600 * 1000;

export interface DynamoDeadLetterStoreOptions {
  db: DynamoDBClient;
  table: string;
  /** Partitions of the dead-letter table. Only ever raise it: entries under a dropped shard are never listed. */
  shards?: number;
  /**
   * Days after `at` when DynamoDB's TTL may delete a dead letter (the table's expiresAt attribute). Default
   * 30, as DEAD_LETTER_RETENTION_DAYS in the embedded runtime.
   */
  retentionDays?: number;
  /** Concurrent DeleteItems while pruning. */
  writeConcurrency?: number;
}

export class DynamoDeadLetterStore implements DeadLetterStore {
  private readonly db: DynamoDBClient;
  private readonly table: string;
  private readonly shards: number;
  private readonly width: number;
  private readonly retentionMs: number;

  constructor(opts: DynamoDeadLetterStoreOptions) {
    this.db = opts.db;
    this.table = opts.table;
    this.shards = checkWidth(opts.shards ?? 4);
    this.width = checkWidth(opts.writeConcurrency ?? 16);
    const days = opts.retentionDays ?? 30;
    if (!(days > 0 && days <= 36_500))
      throw new RangeError('deadLetterRetentionDays is 1 second to 100 years');
    this.retentionMs = days * DAY_MS;
  }

  async putDeadLetter(d: DeadLetter): Promise<void> {
    const item = itemOf({
      dlShard: String(fnv1a(d.id) % this.shards),
      atId: atIdKey(d.at, d.id),
      id: d.id,
      at: d.at,
      source: d.source,
      code: d.code,
      reason: d.reason,
      payloadSize: d.payloadSize,
      payloadSha256: d.payloadSha256,
      payload: d.payload,
      truncated: d.truncated,
      // DynamoDB's TTL reads epoch seconds; rounded up so an item never goes before its retention is over.
      expiresAt: Math.ceil((d.at + this.retentionMs) / 1000),
      deviceId: d.deviceId,
      topic: d.topic,
      clientId: d.clientId,
      seq: d.seq,
      remoteAddress: d.remoteAddress,
      // COUNT is a DynamoDB reserved word: the attribute is named so it never needs an alias in an expression.
      aggregateCount: d.count,
      firstAt: d.firstAt,
      lastAt: d.lastAt,
    });
    // A dead letter put twice under one id is kept once, as SQLite's ON CONFLICT DO NOTHING does.
    await putIfAbsent(this.db, this.table, item, 'atId');
  }

  async listDeadLetters(q: { limit: number; cursor?: string; deviceId?: string }): Promise<Page<DeadLetter>> {
    const c = decodeCursor(q.cursor, ['int', 'string']);
    if (q.limit < 1) return { items: [] };
    const before = c ? atIdKey(c[0], c[1]) : undefined;
    const range = before === undefined ? '' : ' AND atId < :c';
    let items: Item[];
    if (q.deviceId !== undefined) {
      ({ items } = await queryUpTo(
        this.db,
        {
          TableName: this.table,
          IndexName: 'byDevice',
          KeyConditionExpression: `deviceId = :d${range}`,
          ExpressionAttributeValues: itemOf({ ':d': q.deviceId, ':c': before }),
          ScanIndexForward: false,
        },
        q.limit + 1,
      ));
    } else {
      items = await mergeQueries(
        this.db,
        shardNames(this.shards).map((shard) => ({
          TableName: this.table,
          KeyConditionExpression: `dlShard = :s${range}`,
          ExpressionAttributeValues: itemOf({ ':s': shard, ':c': before }),
          ScanIndexForward: false,
          ConsistentRead: true,
        })),
        q.limit + 1,
        (i) => str(i, 'atId'),
        'desc',
      );
    }
    return pageOf(items.map(toDeadLetter), q.limit, (d) => [d.at, d.id]);
  }

  /**
   * What DynamoDB's TTL does on its own (expiresAt), done now, plus the row cap. Deployed stacks rely on the
   * TTL alone and never call this: the cap counts every item of every shard, a read of the whole table.
   */
  async pruneDeadLetters(q: { before: number; keep: number; limit: number }): Promise<number> {
    if (q.limit < 1) return 0;
    const keys = (i: Item): Item => ({ dlShard: i.dlShard as Item[string], atId: i.atId as Item[string] });
    const drop = async (items: readonly Item[]) => {
      await inParallel(items, this.width, async (i) => {
        await this.db.send(new DeleteItemCommand({ TableName: this.table, Key: keys(i) }));
      });
      return items.length;
    };
    const shardQuery = (shard: string, below?: string) => ({
      TableName: this.table,
      KeyConditionExpression: below === undefined ? 'dlShard = :s' : 'dlShard = :s AND atId < :c',
      ExpressionAttributeValues: itemOf({ ':s': shard, ':c': below }),
      ProjectionExpression: 'dlShard, atId',
      ConsistentRead: true,
    });
    const byAtId = (i: Item) => str(i, 'atId');
    // Every atId of an entry with at < before sorts below "<pad16(before)>#".
    const cut = `${pad16(clampTime(q.before))}#`;
    const expired = await mergeQueries(
      this.db,
      shardNames(this.shards).map((s) => shardQuery(s, cut)),
      q.limit,
      byAtId,
      'asc',
    );
    let deleted = await drop(expired);
    const counts = await Promise.all(shardNames(this.shards).map((s) => queryCount(this.db, shardQuery(s))));
    const more = Math.min(counts.reduce((a, b) => a + b, 0) - Math.max(0, q.keep), q.limit - deleted);
    if (more > 0) {
      const oldest = await mergeQueries(
        this.db,
        shardNames(this.shards).map((s) => shardQuery(s)),
        more,
        byAtId,
        'asc',
      );
      deleted += await drop(oldest);
    }
    return deleted;
  }
}
