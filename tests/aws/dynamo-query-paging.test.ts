/**
 * The query helpers of lib/adapters/aws/dynamo-codec.ts over more items than one page holds (a page is at
 * most 1,000 items there), on dynalite: a limit past one page, every item, a capped count, and a merge of
 * partitions, each in key order with nothing skipped or repeated.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  inParallel,
  itemOf,
  mergeQueries,
  queryCount,
  queryUpTo,
  str,
} from '../../lib/adapters/aws/dynamo-codec.js';
import { createTables, type RunningDynalite, startDynalite } from './support/emulators.js';

describe('DynamoDB query paging on dynalite', () => {
  let dynamo: RunningDynalite;
  let table: string;
  const N = 1300;
  const key = (i: number) => String(i).padStart(6, '0');
  const inPartition = (part: string) => ({
    TableName: table,
    KeyConditionExpression: 'part = :p',
    ExpressionAttributeValues: itemOf({ ':p': part }),
    ConsistentRead: true,
  });

  beforeAll(async () => {
    dynamo = await startDynalite();
    // The audit table's key (part, atId) is all these items need.
    table = (await createTables(dynamo.db)).index.audit;
    const writes = Array.from({ length: N }, (_, i) => i);
    await inParallel(writes, 32, async (i) => {
      // Partition 'all' holds every item; 'p0'..'p2' hold them dealt round, for the merge.
      for (const part of ['all', `p${i % 3}`])
        await dynamo.db.send(
          new PutItemCommand({ TableName: table, Item: itemOf({ part, atId: key(i), n: i }) }),
        );
    });
  }, 120_000);
  afterAll(async () => {
    await dynamo.close();
  });

  it('queryUpTo returns exactly the first items past one page, and every item when asked for all', async () => {
    const some = await queryUpTo(dynamo.db, inPartition('all'), 1200);
    expect(some.items.map((i) => str(i, 'atId'))).toEqual(Array.from({ length: 1200 }, (_, i) => key(i)));
    expect(some.exhausted).toBe(false);
    const all = await queryUpTo(dynamo.db, inPartition('all'), Number.POSITIVE_INFINITY);
    expect(all.items).toHaveLength(N);
    expect(all.exhausted).toBe(true);
    expect((await queryUpTo(dynamo.db, inPartition('all'), 0)).items).toEqual([]);
  });

  it('queryCount counts past one page, and stops at its cap', async () => {
    expect(await queryCount(dynamo.db, inPartition('all'))).toBe(N);
    expect(await queryCount(dynamo.db, inPartition('all'), 1250)).toBe(1250);
    expect(await queryCount(dynamo.db, inPartition('none'))).toBe(0);
  });

  it('mergeQueries merges partitions in key order, either way, page after page', async () => {
    const parts = ['p0', 'p1', 'p2'].map(inPartition);
    const asc = await mergeQueries(dynamo.db, parts, 1250, (i) => str(i, 'atId'), 'asc');
    expect(asc.map((i) => str(i, 'atId'))).toEqual(Array.from({ length: 1250 }, (_, i) => key(i)));
    const desc = await mergeQueries(
      dynamo.db,
      parts.map((p) => ({ ...p, ScanIndexForward: false })),
      5,
      (i) => str(i, 'atId'),
      'desc',
    );
    expect(desc.map((i) => str(i, 'atId'))).toEqual([1299, 1298, 1297, 1296, 1295].map(key));
  });
});
