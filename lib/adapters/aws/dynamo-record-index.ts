/**
 * RecordIndex on DynamoDB: the records table (dynamo-tables.ts), which is also the anchor queue. A record
 * without a batch carries the keys of the sparse `pending` index, sharded by record id; placing it in a batch
 * removes them. Records by time come from the KEYS_ONLY `byTime` index and then the table.
 *
 * Reads on the table are strongly consistent; reads on a GSI (byTime, pending) are eventually consistent, as
 * GSIs always are: a record stored a moment ago can be missing from them for a moment. Ingest never depends
 * on a GSI.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type { Page, PutRecordResult, RecordEntry, RecordIndex } from '../../ports.js';
import {
  batchGetInOrder,
  fnv1a,
  type Item,
  inParallel,
  isConditionalCheckFailed,
  itemOf,
  mergeQueries,
  num,
  putIfAbsent,
  queryCount,
  queryUpTo,
  str,
} from './dynamo-codec.js';
import { checkWidth, clampTime, pendingKey, shardNames, timeKey } from './dynamo-index-keys.js';
import { toRecord } from './dynamo-stored-form.js';

const MAX_SEQ_KEY = 9007199254740991;

export interface DynamoRecordIndexOptions {
  db: DynamoDBClient;
  table: string;
  /**
   * Partitions of the pending-records index. Each takes about 1,000 writes/s, so this bounds ingest at
   * roughly shards x 1,000 records/s. Only ever raise it: records queued under a shard number that is no
   * longer listed would wait forever.
   */
  pendingShards?: number;
  /** Concurrent UpdateItems while placing records in a batch. */
  writeConcurrency?: number;
  /**
   * countPending stops counting here (and reports this number): counting reads the whole queue index, and a
   * health check only needs to know the backlog passed its threshold. Unlimited by default.
   */
  countCap?: number;
}

export class DynamoRecordIndex implements RecordIndex {
  private readonly db: DynamoDBClient;
  private readonly table: string;
  private readonly pendingShards: number;
  private readonly width: number;
  private readonly countCap: number;

  constructor(opts: DynamoRecordIndexOptions) {
    this.db = opts.db;
    this.table = opts.table;
    this.pendingShards = checkWidth(opts.pendingShards ?? 8);
    this.width = checkWidth(opts.writeConcurrency ?? 16);
    this.countCap = opts.countCap ?? Number.POSITIVE_INFINITY;
  }

  private pendingShardOf(recordId: string): string {
    return String(fnv1a(recordId) % this.pendingShards);
  }

  async putRecord(e: RecordEntry): Promise<PutRecordResult> {
    const item = itemOf({
      deviceId: e.deviceId,
      seq: e.seq,
      recordId: e.recordId,
      timestamp: e.timestamp,
      receivedAt: e.receivedAt,
      recordHash: e.recordHash,
      prevHash: e.prevHash,
      ciphertextHash: e.ciphertextHash,
      ciphertextLength: e.ciphertextLength,
      envelopeSize: e.envelopeSize,
      header: e.header,
      objectKey: e.objectKey,
      objectOffset: e.objectRange?.offset,
      objectLength: e.objectRange?.length,
      via: e.via,
      timeKey: timeKey(e.timestamp, e.seq),
      batchId: e.batch?.batchId,
      leafIndex: e.batch?.leafIndex,
      // Only a record not yet in a batch is in the queue index.
      pendingShard: e.batch ? undefined : this.pendingShardOf(e.recordId),
      pendingKey: e.batch ? undefined : pendingKey(e.receivedAt, e.deviceId, e.seq),
    });
    if ((await putIfAbsent(this.db, this.table, item, 'seq')) === 'created') return { outcome: 'created' };
    // Read back (consistently) what won; dynalite ignores ReturnValuesOnConditionCheckFailure.
    const existing = await this.getRecord(e.deviceId, e.seq);
    if (!existing) throw new Error(`record ${e.recordId} neither written nor found`);
    return existing.recordHash === e.recordHash
      ? { outcome: 'duplicate', existing }
      : { outcome: 'conflict', existing };
  }

  async getRecord(deviceId: string, seq: number): Promise<RecordEntry | undefined> {
    const out = await this.db.send(
      new GetItemCommand({ TableName: this.table, Key: itemOf({ deviceId, seq }), ConsistentRead: true }),
    );
    return out.Item ? toRecord(out.Item) : undefined;
  }

  async listByTime(
    deviceId: string,
    q: { from: number; to: number; limit: number; cursor?: string },
  ): Promise<Page<RecordEntry>> {
    // Decoded first: a malformed cursor is refused even where the page would be empty anyway.
    const c = decodeCursor(q.cursor, ['int', 'int']);
    const from = clampTime(q.from);
    const to = clampTime(q.to);
    if (q.limit < 1 || to <= from) return { items: [] };
    let lo = timeKey(from, 0);
    const hi = timeKey(to - 1, MAX_SEQ_KEY);
    if (c) {
      const [ct, cs] = c;
      if (cs >= MAX_SEQ_KEY) return { items: [] };
      const after = timeKey(clampTime(ct), Math.max(cs + 1, 0));
      if (after > lo) lo = after;
    }
    if (lo > hi) return { items: [] };
    const { items: keys } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        IndexName: 'byTime',
        KeyConditionExpression: 'deviceId = :d AND timeKey BETWEEN :lo AND :hi',
        ExpressionAttributeValues: itemOf({ ':d': deviceId, ':lo': lo, ':hi': hi }),
      },
      q.limit + 1,
    );
    // byTime holds keys only (dynamo-tables.ts): the page's items come from the table, in the index's order.
    // One key past the page says whether there is a next page; its item is not fetched.
    const items = (await this.recordsOf(keys.slice(0, q.limit))).map(toRecord);
    const last = items.at(-1);
    return keys.length > q.limit && last
      ? { items, next: encodeCursor([last.timestamp, last.seq]) }
      : { items };
  }

  /** The record items of keys read from a KEYS_ONLY index, in the same order (consistent reads). */
  private recordsOf(keys: readonly Item[]): Promise<Item[]> {
    return batchGetInOrder(this.db, this.table, keys, ['deviceId', 'seq']);
  }

  async recordInForceAt(deviceId: string, at: number): Promise<RecordEntry | undefined> {
    if (at < 0) return undefined;
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        IndexName: 'byTime',
        KeyConditionExpression: 'deviceId = :d AND timeKey <= :hi',
        ExpressionAttributeValues: itemOf({ ':d': deviceId, ':hi': timeKey(clampTime(at), MAX_SEQ_KEY) }),
        ScanIndexForward: false,
      },
      1,
    );
    const [item] = await this.recordsOf(items.slice(0, 1));
    return item ? toRecord(item) : undefined;
  }

  async listBySeq(
    deviceId: string,
    q: { fromSeq: number; toSeq: number; limit: number },
  ): Promise<RecordEntry[]> {
    if (q.limit < 1 || q.toSeq < q.fromSeq) return [];
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        KeyConditionExpression: 'deviceId = :d AND seq BETWEEN :a AND :b',
        ExpressionAttributeValues: itemOf({ ':d': deviceId, ':a': q.fromSeq, ':b': q.toSeq }),
        ConsistentRead: true,
      },
      q.limit,
    );
    return items.map(toRecord);
  }

  async maxSeq(deviceId: string): Promise<number | undefined> {
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        KeyConditionExpression: 'deviceId = :d',
        ExpressionAttributeValues: itemOf({ ':d': deviceId }),
        ProjectionExpression: 'seq',
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      1,
    );
    return items[0] ? num(items[0], 'seq') : undefined;
  }

  private pendingQuery(shard: string) {
    return {
      TableName: this.table,
      IndexName: 'pending',
      KeyConditionExpression: 'pendingShard = :s',
      ExpressionAttributeValues: itemOf({ ':s': shard }),
    };
  }

  async listPending(limit: number): Promise<RecordEntry[]> {
    if (limit < 1) return [];
    const items = await mergeQueries(
      this.db,
      shardNames(this.pendingShards).map((shard) => this.pendingQuery(shard)),
      limit,
      (i) => str(i, 'pendingKey'),
      'asc',
    );
    return items.map(toRecord);
  }

  async countPending(): Promise<number> {
    const counts = await Promise.all(
      shardNames(this.pendingShards).map((shard) =>
        queryCount(this.db, this.pendingQuery(shard), this.countCap),
      ),
    );
    return Math.min(
      counts.reduce((a, b) => a + b, 0),
      this.countCap,
    );
  }

  async assignToBatch(
    assignments: readonly { deviceId: string; seq: number; batchId: string; leafIndex: number }[],
  ): Promise<void> {
    await inParallel(assignments, this.width, async (a) => {
      try {
        await this.db.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: itemOf({ deviceId: a.deviceId, seq: a.seq }),
            // Removing the pending keys is what takes the record out of the sparse queue index.
            UpdateExpression: 'SET batchId = :b, leafIndex = :i REMOVE pendingShard, pendingKey',
            ConditionExpression: 'attribute_exists(seq) AND (attribute_not_exists(batchId) OR batchId = :b)',
            ExpressionAttributeValues: itemOf({ ':b': a.batchId, ':i': a.leafIndex }),
          }),
        );
      } catch (err) {
        // Unknown record, or already placed in another batch: the first placement stands (as in SQLite).
        if (!isConditionalCheckFailed(err)) throw err;
      }
    });
  }

  async setIpfsCid(deviceId: string, seq: number, cid: string, at: number): Promise<void> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: itemOf({ deviceId, seq }),
          UpdateExpression: 'SET ipfsCid = :c, ipfsPinnedAt = :t',
          // No half item for an unknown record; the same CID again keeps the first ipfsPinnedAt.
          ConditionExpression: 'attribute_exists(seq) AND (attribute_not_exists(ipfsCid) OR ipfsCid <> :c)',
          ExpressionAttributeValues: itemOf({ ':c': cid, ':t': at }),
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }
}
