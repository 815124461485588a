/**
 * BatchStore on DynamoDB: one item per batch in the batches table (partition `batch`), with two sparse
 * indexes kept in step with it: `unanchored` while the batch is 'built', and `anchorsDue` (checkShard,
 * nextCheckAt) while some anchor has a nextCheckAt. Every change of the anchors is a compare-and-set on the
 * item's `version`.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { batchNextCheckAt } from '../../anchor/anchor-slots.js';
import { decodeCursor } from '../../core/page-cursor.js';
import type {
  AnchorRef,
  AnchorsWriteResult,
  BatchEntry,
  BatchState,
  BatchStore,
  Page,
  VersionedBatch,
} from '../../ports.js';
import {
  type Item,
  isConditionalCheckFailed,
  itemOf,
  optNum,
  putIfAbsent,
  queryUpTo,
} from './dynamo-codec.js';
import { pageOf } from './dynamo-index-keys.js';
import { toBatch } from './dynamo-stored-form.js';

const BATCH_PART = 'batch';
const UNANCHORED = 'u';
/**
 * The anchorsDue index's partition. One suffices: a batch is written once per anchor cycle and its anchors
 * a few times until final, far below one partition's write rate. The key shape would allow sharding.
 */
const CHECK_SHARD = '0';

export class DynamoBatchStore implements BatchStore {
  constructor(private readonly opts: { db: DynamoDBClient; table: string }) {}

  async putBatch(b: BatchEntry): Promise<'created' | 'exists'> {
    const due = batchNextCheckAt(b.anchors);
    return putIfAbsent(
      this.opts.db,
      this.opts.table,
      itemOf({
        part: BATCH_PART,
        batchId: b.batchId,
        root: b.root,
        size: b.size,
        createdAt: b.createdAt,
        state: b.state,
        treeKey: b.treeKey,
        anchors: JSON.stringify(b.anchors),
        version: 0,
        unanchored: b.state === 'built' ? UNANCHORED : undefined,
        checkShard: due === undefined ? undefined : CHECK_SHARD,
        nextCheckAt: due,
        inline: b.inline === undefined ? undefined : JSON.stringify(b.inline),
      }),
      'batchId',
    );
  }

  private async getBatchItem(batchId: string): Promise<Item | undefined> {
    const out = await this.opts.db.send(
      new GetItemCommand({
        TableName: this.opts.table,
        Key: itemOf({ part: BATCH_PART, batchId }),
        ConsistentRead: true,
      }),
    );
    return out.Item;
  }

  async getBatch(batchId: string): Promise<BatchEntry | undefined> {
    const item = await this.getBatchItem(batchId);
    return item ? toBatch(item) : undefined;
  }

  async getBatchVersioned(batchId: string): Promise<VersionedBatch | undefined> {
    const item = await this.getBatchItem(batchId);
    return item ? { batch: toBatch(item), version: optNum(item, 'version') ?? 0 } : undefined;
  }

  async compareAndSetAnchors(
    batchId: string,
    expectedVersion: number,
    next: { anchors: AnchorRef[]; state: BatchState },
  ): Promise<AnchorsWriteResult> {
    // The sparse indexes: unanchored while 'built', anchorsDue while some anchor has a nextCheckAt.
    const due = batchNextCheckAt(next.anchors);
    const set = ['anchors = :a', '#st = :s', 'version = :v1'];
    const remove: string[] = [];
    const values: Record<string, unknown> = {
      ':a': JSON.stringify(next.anchors),
      ':s': next.state,
      ':v0': expectedVersion,
      ':v1': expectedVersion + 1,
    };
    if (next.state === 'built') {
      set.push('unanchored = :u');
      values[':u'] = UNANCHORED;
    } else remove.push('unanchored');
    if (due === undefined) remove.push('checkShard', 'nextCheckAt');
    else {
      set.push('checkShard = :cs', 'nextCheckAt = :nc');
      values[':cs'] = CHECK_SHARD;
      values[':nc'] = due;
    }
    try {
      await this.opts.db.send(
        new UpdateItemCommand({
          TableName: this.opts.table,
          Key: itemOf({ part: BATCH_PART, batchId }),
          UpdateExpression: `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`,
          // Fails on a missing batch too: putBatch writes every batch at version 0.
          ConditionExpression: 'version = :v0',
          ExpressionAttributeNames: { '#st': 'state' },
          ExpressionAttributeValues: itemOf(values),
        }),
      );
      return { status: 'written', version: expectedVersion + 1 };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      return (await this.getBatchItem(batchId)) ? { status: 'conflict' } : { status: 'not-found' };
    }
  }

  async listUnanchored(): Promise<BatchEntry[]> {
    const { items } = await queryUpTo(
      this.opts.db,
      {
        TableName: this.opts.table,
        IndexName: 'unanchored',
        KeyConditionExpression: 'unanchored = :u',
        ExpressionAttributeValues: itemOf({ ':u': UNANCHORED }),
      },
      Number.POSITIVE_INFINITY,
    );
    return items.map(toBatch);
  }

  async listAnchorsDue(now: number, limit: number): Promise<BatchEntry[]> {
    if (limit < 1) return [];
    const { items } = await queryUpTo(
      this.opts.db,
      {
        TableName: this.opts.table,
        IndexName: 'anchorsDue',
        KeyConditionExpression: 'checkShard = :s AND nextCheckAt <= :now',
        ExpressionAttributeValues: itemOf({ ':s': CHECK_SHARD, ':now': Math.max(0, Math.trunc(now)) }),
      },
      limit,
    );
    return items.map(toBatch);
  }

  async listBatches(q: { limit: number; cursor?: string }): Promise<Page<BatchEntry>> {
    const before = decodeCursor(q.cursor, ['string'])?.[0];
    if (q.limit < 1) return { items: [] };
    const { items } = await queryUpTo(
      this.opts.db,
      {
        TableName: this.opts.table,
        KeyConditionExpression: typeof before === 'string' ? 'part = :p AND batchId < :c' : 'part = :p',
        ExpressionAttributeValues: itemOf({ ':p': BATCH_PART, ':c': before }),
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      q.limit + 1,
    );
    return pageOf(items.map(toBatch), q.limit, (b) => [b.batchId]);
  }
}
