/**
 * StatementStore on DynamoDB: key events and device heads in the `statements` table of dynamo-tables.ts.
 * Shaped like the records table: one item per statement, written once by a conditional put on its content
 * key (device, leaf hash); queued for anchoring while it carries the sparse `pending` index keys, which
 * placing it in a batch removes. Every read is a GetItem or a Query; the GSIs (key events, heads, pending)
 * are eventually consistent, so a statement stored a moment ago can be missing from them for a moment.
 */
import {
  type DynamoDBClient,
  GetItemCommand,
  type QueryCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import {
  checkStatementEntry,
  type HeadQuery,
  type Page,
  type PutStatementResult,
  type StatementEntry,
  type StatementStore,
  statementIdOf,
} from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import {
  fnv1a,
  type Item,
  inParallel,
  isConditionalCheckFailed,
  mergeQueries,
  N,
  num,
  optNum,
  optStr,
  putIfAbsent,
  queryCount,
  queryUpTo,
  S,
  str,
} from './dynamo-codec.js';
import { pad16 } from './dynamo-tables.js';

export interface DynamoStatementStoreOptions {
  db: DynamoDBClient;
  table: string;
  /** Partitions of the pending index, as for records (DynamoIndexStoreOptions.pendingShards); only ever raise it. */
  pendingShards?: number;
  /** Concurrent UpdateItems while placing statements in a batch. */
  writeConcurrency?: number;
  /** countPending stops counting here (and reports this number); unlimited by default. */
  countCap?: number;
}

const keyEventKey = (receivedAt: number, leafHash: string) => `${pad16(receivedAt)}#${leafHash}`;
const headCountKey = (count: number, time: number, leafHash: string) =>
  `${pad16(count)}#${pad16(time)}#${leafHash}`;
const headTimeKey = (count: number, time: number, leafHash: string) =>
  `${pad16(time)}#${pad16(count)}#${leafHash}`;
/** Key events ('0') before heads ('2') within one millisecond, as StatementStore.listPending orders them. */
export const statementPendingKey = (
  e: Pick<StatementEntry, 'receivedAt' | 'kind' | 'deviceId' | 'leafHash'>,
) => `${pad16(e.receivedAt)}#${e.kind === 'key-event' ? '0' : '2'}#${e.deviceId}#${e.leafHash}`;

/** Above every key of the index for the same prefix: '~' sorts after digits, hex and '#'. */
const AFTER = '~';
const clamp = (n: number | undefined, dflt: number) =>
  n === undefined ? dflt : Math.min(Math.max(Math.trunc(n), 0), Number.MAX_SAFE_INTEGER);

const EVENT_TYPES = ['register', 'rotate', 'revoke'] as const;

export class DynamoStatementStore implements StatementStore {
  private readonly db: DynamoDBClient;
  private readonly table: string;
  private readonly pendingShards: number;
  private readonly width: number;
  private readonly countCap: number;

  constructor(opts: DynamoStatementStoreOptions) {
    this.db = opts.db;
    this.table = opts.table;
    this.pendingShards = opts.pendingShards ?? 8;
    this.width = opts.writeConcurrency ?? 16;
    this.countCap = opts.countCap ?? Number.POSITIVE_INFINITY;
    for (const n of [this.pendingShards, this.width]) {
      if (!Number.isInteger(n) || n < 1 || n > 256)
        // A programming error (the composition roots pass validated settings): a RangeError.
        throw new RangeError('shard and concurrency counts are 1-256');
    }
  }

  async putStatement(e: StatementEntry): Promise<PutStatementResult> {
    checkStatementEntry(e);
    const item: Item = {
      deviceId: S(e.deviceId),
      leafHash: S(e.leafHash),
      kind: S(e.kind),
      leaf: S(e.leaf),
      receivedAt: N(e.receivedAt),
      ...(e.head
        ? {
            headCount: N(e.head.count),
            headTime: N(e.head.time),
            headDevice: S(e.deviceId),
            headCountKey: S(headCountKey(e.head.count, e.head.time, e.leafHash)),
            headTimeKey: S(headTimeKey(e.head.count, e.head.time, e.leafHash)),
          }
        : {}),
      ...(e.keyEvent
        ? {
            eventType: S(e.keyEvent.type),
            keyId: S(e.keyEvent.keyId),
            keyEventDevice: S(e.deviceId),
            keyEventKey: S(keyEventKey(e.receivedAt, e.leafHash)),
          }
        : {}),
      ...(e.batch
        ? { batchId: S(e.batch.batchId), leafIndex: N(e.batch.leafIndex) }
        : {
            pendingShard: S(String(fnv1a(e.statementId) % this.pendingShards)),
            pendingKey: S(statementPendingKey(e)),
          }),
    };
    if ((await putIfAbsent(this.db, this.table, item, 'leafHash')) === 'created')
      return { outcome: 'created' };
    const existing = await this.getStatement(e.deviceId, e.leafHash);
    if (!existing)
      throw new StorageError('storage-malformed', `statement ${e.statementId} neither written nor found`);
    return { outcome: 'duplicate', existing };
  }

  async getStatement(deviceId: string, leafHash: string): Promise<StatementEntry | undefined> {
    const out = await this.db.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { deviceId: S(deviceId), leafHash: S(leafHash) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? toStatement(out.Item) : undefined;
  }

  async listKeyEvents(
    deviceId: string,
    q: { limit: number; cursor?: string },
  ): Promise<Page<StatementEntry>> {
    if (q.limit < 1) return { items: [] };
    const after = decodeCursor(q.cursor, ['string'] as const)?.[0];
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        IndexName: 'keyEvents',
        KeyConditionExpression:
          typeof after === 'string' ? 'keyEventDevice = :d AND keyEventKey > :c' : 'keyEventDevice = :d',
        ExpressionAttributeValues: {
          ':d': S(deviceId),
          ...(typeof after === 'string' ? { ':c': S(after) } : {}),
        },
      },
      q.limit + 1,
    );
    return pageOf(items.map(toStatement), q.limit, (s) => keyEventKey(s.receivedAt, s.leafHash));
  }

  async listHeads(deviceId: string, q: HeadQuery): Promise<Page<StatementEntry>> {
    const min = clamp(q.min, 0);
    const max = clamp(q.max, Number.MAX_SAFE_INTEGER);
    if (q.limit < 1 || max < min) return { items: [] };
    const [indexName, attr, keyOf] =
      q.by === 'count'
        ? (['heads', 'headCountKey', headCountKey] as const)
        : (['headsByTime', 'headTimeKey', headTimeKey] as const);
    let lo = pad16(min);
    let hi = `${pad16(max)}${AFTER}`;
    // Keys all have one length, so the first key after c is at least c + '\0'; the cursor item itself is
    // dropped below on the way down.
    const cursor = decodeCursor(q.cursor, ['string'] as const)?.[0];
    if (cursor !== undefined) {
      if (q.order === 'asc' && `${cursor}\u0000` > lo) lo = `${cursor}\u0000`;
      if (q.order === 'desc' && cursor < hi) hi = cursor;
    }
    if (lo > hi) return { items: [] };
    const input: QueryCommandInput = {
      TableName: this.table,
      IndexName: indexName,
      KeyConditionExpression: `headDevice = :d AND ${attr} BETWEEN :lo AND :hi`,
      ExpressionAttributeValues: { ':d': S(deviceId), ':lo': S(lo), ':hi': S(hi) },
      ScanIndexForward: q.order === 'asc',
    };
    const { items } = await queryUpTo(this.db, input, q.limit + 2);
    const entries = items
      .filter((i) => cursor === undefined || str(i, attr) !== cursor)
      .slice(0, q.limit + 1)
      .map(toStatement);
    return pageOf(entries, q.limit, (s) => keyOf(s.head?.count ?? 0, s.head?.time ?? 0, s.leafHash));
  }

  private pendingQueries(): QueryCommandInput[] {
    return Array.from({ length: this.pendingShards }, (_, i) => ({
      TableName: this.table,
      IndexName: 'pending',
      KeyConditionExpression: 'pendingShard = :s',
      ExpressionAttributeValues: { ':s': S(String(i)) },
    }));
  }

  async listPending(limit: number): Promise<StatementEntry[]> {
    if (limit < 1) return [];
    const items = await mergeQueries(
      this.db,
      this.pendingQueries(),
      limit,
      (i) => str(i, 'pendingKey'),
      'asc',
    );
    return items.map(toStatement);
  }

  async countPending(): Promise<number> {
    const counts = await Promise.all(this.pendingQueries().map((q) => queryCount(this.db, q, this.countCap)));
    return Math.min(
      counts.reduce((a, b) => a + b, 0),
      this.countCap,
    );
  }

  async assignToBatch(
    assignments: readonly { deviceId: string; leafHash: string; batchId: string; leafIndex: number }[],
  ): Promise<void> {
    await inParallel(assignments, this.width, async (a) => {
      try {
        await this.db.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: { deviceId: S(a.deviceId), leafHash: S(a.leafHash) },
            UpdateExpression: 'SET batchId = :b, leafIndex = :i REMOVE pendingShard, pendingKey',
            ConditionExpression:
              'attribute_exists(leafHash) AND (attribute_not_exists(batchId) OR batchId = :b)',
            ExpressionAttributeValues: { ':b': S(a.batchId), ':i': N(a.leafIndex) },
          }),
        );
      } catch (err) {
        // Unknown statement, or already placed in another batch: the first placement stands.
        if (!isConditionalCheckFailed(err)) throw err;
      }
    });
  }

  /** The client belongs to the composition root, which may share it; nothing to release here. */
  async close(): Promise<void> {}
}

function pageOf(items: StatementEntry[], limit: number, cursorOf: (last: StatementEntry) => string) {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return items.length > limit && last
    ? { items: page, next: encodeCursor([cursorOf(last)]) }
    : { items: page };
}

function toStatement(i: Item): StatementEntry {
  const deviceId = str(i, 'deviceId');
  const leafHash = str(i, 'leafHash');
  const kind = str(i, 'kind');
  if (kind !== 'head' && kind !== 'key-event')
    throw new StorageError('storage-malformed', `statement kind ${kind} is unknown`);
  const e: StatementEntry = {
    statementId: statementIdOf(deviceId, leafHash),
    deviceId,
    kind,
    leaf: str(i, 'leaf'),
    leafHash,
    receivedAt: num(i, 'receivedAt'),
  };
  if (kind === 'head') e.head = { count: num(i, 'headCount'), time: num(i, 'headTime') };
  else {
    const type = str(i, 'eventType');
    const known = EVENT_TYPES.find((t) => t === type);
    if (!known) throw new StorageError('storage-malformed', `key event type ${type} is unknown`);
    e.keyEvent = { type: known, keyId: str(i, 'keyId') };
  }
  const batchId = optStr(i, 'batchId');
  const leafIndex = optNum(i, 'leafIndex');
  if (batchId !== undefined && leafIndex !== undefined) e.batch = { batchId, leafIndex };
  return e;
}
