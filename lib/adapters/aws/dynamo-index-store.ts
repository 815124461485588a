/**
 * IndexStore on DynamoDB: record index and anchor queue, batches, devices, dead letters and audit log, in the
 * tables of dynamo-tables.ts. Every write that must not happen twice is one conditional write on one item
 * (no TransactWriteItems: the port does not need it, and dynalite has none); a failed condition is read back
 * and reported as the port's duplicate / conflict / exists. Every read is a GetItem or a Query.
 *
 * Reads on the tables themselves are strongly consistent. Reads on a GSI (records by time, the pending
 * queue, unanchored batches, dead letters by device) are eventually consistent, as GSIs always are: a record
 * stored a moment ago can be missing from them for a moment. Ingest never depends on a GSI.
 *
 * Size (over 500 lines): one adapter of the whole IndexStore port (records, batches, devices, dead letters,
 * audit). It splits with the port (issue 12 part 1), one file per sub-port.
 */
import {
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { batchNextCheckAt } from '../../anchor/anchor-slots.js';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type {
  AnchorRef,
  AnchorsWriteResult,
  AuditEvent,
  BatchEntry,
  BatchState,
  DeadLetter,
  DeviceEntry,
  DeviceKey,
  DeviceKeyRegistry,
  IndexStore,
  Page,
  PutRecordResult,
  RecordEntry,
  VersionedBatch,
} from '../../ports.js';
import {
  batchGetInOrder,
  fnv1a,
  type Item,
  inParallel,
  isConditionalCheckFailed,
  mergeQueries,
  N,
  num,
  optNum,
  queryCount,
  queryUpTo,
  S,
  str,
} from './dynamo-codec.js';
import { toAudit, toBatch, toDeadLetter, toDevice, toRecord } from './dynamo-stored-form.js';
import { type IndexTableNames, pad16 } from './dynamo-tables.js';

export interface DynamoIndexStoreOptions {
  db: DynamoDBClient;
  tables: IndexTableNames;
  /**
   * Partitions of the pending-records index. Each takes about 1,000 writes/s, so this bounds ingest at
   * roughly shards x 1,000 records/s. Only ever raise it: records queued under a shard number that is no
   * longer listed would wait forever.
   */
  pendingShards?: number;
  /** Partitions of the dead-letter table; the same rule applies. */
  deadLetterShards?: number;
  /**
   * Days after `at` when DynamoDB's TTL may delete a dead letter (the table's expiresAt attribute). Default
   * 30, as DEAD_LETTER_RETENTION_DAYS in the embedded runtime.
   */
  deadLetterRetentionDays?: number;
  /** Concurrent UpdateItems while placing records in a batch. */
  writeConcurrency?: number;
  /**
   * countPending stops counting here (and reports this number): counting reads the whole queue index, and a
   * health check only needs to know the backlog passed its threshold. Unlimited by default.
   */
  countCap?: number;
}

const BATCH_PART = 'batch';
const DEVICE_PART = 'device';
const AUDIT_PART = 'audit';
const UNANCHORED = 'u';
/**
 * The anchorsDue index's partition. One suffices: a batch is written once per anchor cycle and its anchors
 * a few times until final, far below one partition's write rate. The key shape would allow sharding.
 */
const CHECK_SHARD = '0';
const MAX_SEQ_KEY = 9007199254740991;

export const timeKey = (timestamp: number, seq: number): string => `${pad16(timestamp)}#${pad16(seq)}`;
export const pendingKey = (receivedAt: number, deviceId: string, seq: number): string =>
  `${pad16(receivedAt)}#${deviceId}#${pad16(seq)}`;
const atIdKey = (at: number, id: string): string => `${pad16(at)}#${id}`;

const DAY_MS = 24 * 3600 * 1000;

const clampTime = (t: number): number => Math.min(Math.max(Math.trunc(t), 0), Number.MAX_SAFE_INTEGER);

export class DynamoIndexStore implements IndexStore, DeviceKeyRegistry {
  private readonly db: DynamoDBClient;
  private readonly t: IndexTableNames;
  private readonly pendingShards: number;
  private readonly deadLetterShards: number;
  private readonly width: number;
  private readonly countCap: number;
  private readonly deadLetterRetentionMs: number;

  constructor(opts: DynamoIndexStoreOptions) {
    this.db = opts.db;
    this.t = opts.tables;
    this.pendingShards = opts.pendingShards ?? 8;
    this.deadLetterShards = opts.deadLetterShards ?? 4;
    this.width = opts.writeConcurrency ?? 16;
    this.countCap = opts.countCap ?? Number.POSITIVE_INFINITY;
    const days = opts.deadLetterRetentionDays ?? 30;
    if (!(days > 0 && days <= 36_500))
      throw new RangeError('deadLetterRetentionDays is 1 second to 100 years');
    this.deadLetterRetentionMs = days * DAY_MS;
    for (const n of [this.pendingShards, this.deadLetterShards, this.width]) {
      if (!Number.isInteger(n) || n < 1 || n > 256)
        throw new RangeError('shard and concurrency counts are 1-256');
    }
  }

  // ------------------------------------------------------------------------------------------- records

  private pendingShardOf(recordId: string): string {
    return String(fnv1a(recordId) % this.pendingShards);
  }

  async putRecord(e: RecordEntry): Promise<PutRecordResult> {
    const item: Item = {
      deviceId: S(e.deviceId),
      seq: N(e.seq),
      recordId: S(e.recordId),
      timestamp: N(e.timestamp),
      receivedAt: N(e.receivedAt),
      recordHash: S(e.recordHash),
      prevHash: S(e.prevHash),
      ciphertextHash: S(e.ciphertextHash),
      ciphertextLength: N(e.ciphertextLength),
      envelopeSize: N(e.envelopeSize),
      header: S(e.header),
      objectKey: S(e.objectKey),
      ...(e.objectRange
        ? { objectOffset: N(e.objectRange.offset), objectLength: N(e.objectRange.length) }
        : {}),
      via: S(e.via),
      timeKey: S(timeKey(e.timestamp, e.seq)),
      ...(e.batch
        ? { batchId: S(e.batch.batchId), leafIndex: N(e.batch.leafIndex) }
        : {
            pendingShard: S(this.pendingShardOf(e.recordId)),
            pendingKey: S(pendingKey(e.receivedAt, e.deviceId, e.seq)),
          }),
    };
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.t.records,
          Item: item,
          ConditionExpression: 'attribute_not_exists(seq)',
        }),
      );
      return { outcome: 'created' };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
    // Read back (consistently) what won; dynalite ignores ReturnValuesOnConditionCheckFailure.
    const existing = await this.getRecord(e.deviceId, e.seq);
    if (!existing) throw new Error(`record ${e.recordId} neither written nor found`);
    return existing.recordHash === e.recordHash
      ? { outcome: 'duplicate', existing }
      : { outcome: 'conflict', existing };
  }

  async getRecord(deviceId: string, seq: number): Promise<RecordEntry | undefined> {
    const out = await this.db.send(
      new GetItemCommand({
        TableName: this.t.records,
        Key: { deviceId: S(deviceId), seq: N(seq) },
        ConsistentRead: true,
      }),
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
        TableName: this.t.records,
        IndexName: 'byTime',
        KeyConditionExpression: 'deviceId = :d AND timeKey BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':d': S(deviceId), ':lo': S(lo), ':hi': S(hi) },
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
    return batchGetInOrder(this.db, this.t.records, keys, ['deviceId', 'seq']);
  }

  async recordInForceAt(deviceId: string, at: number): Promise<RecordEntry | undefined> {
    if (at < 0) return undefined;
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.t.records,
        IndexName: 'byTime',
        KeyConditionExpression: 'deviceId = :d AND timeKey <= :hi',
        ExpressionAttributeValues: { ':d': S(deviceId), ':hi': S(timeKey(clampTime(at), MAX_SEQ_KEY)) },
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
        TableName: this.t.records,
        KeyConditionExpression: 'deviceId = :d AND seq BETWEEN :a AND :b',
        ExpressionAttributeValues: { ':d': S(deviceId), ':a': N(q.fromSeq), ':b': N(q.toSeq) },
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
        TableName: this.t.records,
        KeyConditionExpression: 'deviceId = :d',
        ExpressionAttributeValues: { ':d': S(deviceId) },
        ProjectionExpression: 'seq',
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      1,
    );
    return items[0] ? num(items[0], 'seq') : undefined;
  }

  private shards(n: number): string[] {
    return Array.from({ length: n }, (_, i) => String(i));
  }

  async listPending(limit: number): Promise<RecordEntry[]> {
    if (limit < 1) return [];
    const items = await mergeQueries(
      this.db,
      this.shards(this.pendingShards).map((shard) => ({
        TableName: this.t.records,
        IndexName: 'pending',
        KeyConditionExpression: 'pendingShard = :s',
        ExpressionAttributeValues: { ':s': S(shard) },
      })),
      limit,
      (i) => str(i, 'pendingKey'),
      'asc',
    );
    return items.map(toRecord);
  }

  async countPending(): Promise<number> {
    const counts = await Promise.all(
      this.shards(this.pendingShards).map((shard) =>
        queryCount(
          this.db,
          {
            TableName: this.t.records,
            IndexName: 'pending',
            KeyConditionExpression: 'pendingShard = :s',
            ExpressionAttributeValues: { ':s': S(shard) },
          },
          this.countCap,
        ),
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
            TableName: this.t.records,
            Key: { deviceId: S(a.deviceId), seq: N(a.seq) },
            // Removing the pending keys is what takes the record out of the sparse queue index.
            UpdateExpression: 'SET batchId = :b, leafIndex = :i REMOVE pendingShard, pendingKey',
            ConditionExpression: 'attribute_exists(seq) AND (attribute_not_exists(batchId) OR batchId = :b)',
            ExpressionAttributeValues: { ':b': S(a.batchId), ':i': N(a.leafIndex) },
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
          TableName: this.t.records,
          Key: { deviceId: S(deviceId), seq: N(seq) },
          UpdateExpression: 'SET ipfsCid = :c, ipfsPinnedAt = :t',
          // No half item for an unknown record; the same CID again keeps the first ipfsPinnedAt.
          ConditionExpression: 'attribute_exists(seq) AND (attribute_not_exists(ipfsCid) OR ipfsCid <> :c)',
          ExpressionAttributeValues: { ':c': S(cid), ':t': N(at) },
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }

  // ------------------------------------------------------------------------------------------- batches

  async putBatch(b: BatchEntry): Promise<'created' | 'exists'> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.t.batches,
          Item: {
            part: S(BATCH_PART),
            batchId: S(b.batchId),
            root: S(b.root),
            size: N(b.size),
            createdAt: N(b.createdAt),
            state: S(b.state),
            treeKey: S(b.treeKey),
            anchors: S(JSON.stringify(b.anchors)),
            version: N(0),
            ...(b.state === 'built' ? { unanchored: S(UNANCHORED) } : {}),
            ...dueKeys(b.anchors),
            ...(b.inline === undefined ? {} : { inline: S(JSON.stringify(b.inline)) }),
          },
          ConditionExpression: 'attribute_not_exists(batchId)',
        }),
      );
      return 'created';
    } catch (err) {
      if (isConditionalCheckFailed(err)) return 'exists';
      throw err;
    }
  }

  private async getBatchItem(batchId: string): Promise<Item | undefined> {
    const out = await this.db.send(
      new GetItemCommand({
        TableName: this.t.batches,
        Key: { part: S(BATCH_PART), batchId: S(batchId) },
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
    const values: Item = {
      ':a': S(JSON.stringify(next.anchors)),
      ':s': S(next.state),
      ':v0': N(expectedVersion),
      ':v1': N(expectedVersion + 1),
    };
    if (next.state === 'built') {
      set.push('unanchored = :u');
      values[':u'] = S(UNANCHORED);
    } else remove.push('unanchored');
    if (due === undefined) remove.push('checkShard', 'nextCheckAt');
    else {
      set.push('checkShard = :cs', 'nextCheckAt = :nc');
      values[':cs'] = S(CHECK_SHARD);
      values[':nc'] = N(due);
    }
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.t.batches,
          Key: { part: S(BATCH_PART), batchId: S(batchId) },
          UpdateExpression: `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`,
          // Fails on a missing batch too: putBatch writes every batch at version 0.
          ConditionExpression: 'version = :v0',
          ExpressionAttributeNames: { '#st': 'state' },
          ExpressionAttributeValues: values,
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
      this.db,
      {
        TableName: this.t.batches,
        IndexName: 'unanchored',
        KeyConditionExpression: 'unanchored = :u',
        ExpressionAttributeValues: { ':u': S(UNANCHORED) },
      },
      Number.POSITIVE_INFINITY,
    );
    return items.map(toBatch);
  }

  async listAnchorsDue(now: number, limit: number): Promise<BatchEntry[]> {
    if (limit < 1) return [];
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.t.batches,
        IndexName: 'anchorsDue',
        KeyConditionExpression: 'checkShard = :s AND nextCheckAt <= :now',
        ExpressionAttributeValues: { ':s': S(CHECK_SHARD), ':now': N(Math.max(0, Math.trunc(now))) },
      },
      limit,
    );
    return items.map(toBatch);
  }

  async listBatches(q: { limit: number; cursor?: string }): Promise<Page<BatchEntry>> {
    const before = decodeCursor(q.cursor, ['string'])?.[0];
    if (q.limit < 1) return { items: [] };
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.t.batches,
        KeyConditionExpression: typeof before === 'string' ? 'part = :p AND batchId < :c' : 'part = :p',
        ExpressionAttributeValues: {
          ':p': S(BATCH_PART),
          ...(typeof before === 'string' ? { ':c': S(before) } : {}),
        },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      q.limit + 1,
    );
    return pageOf(items.map(toBatch), q.limit, (b) => [b.batchId]);
  }

  // ------------------------------------------------------------------------------------------- devices

  async createDevice(d: DeviceEntry): Promise<'created' | 'exists'> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.t.devices,
          Item: {
            part: S(DEVICE_PART),
            deviceId: S(d.deviceId),
            createdAt: N(d.createdAt),
            status: S(d.status),
            credentialHash: S(d.credentialHash),
            wrappedMasterKey: S(d.wrappedMasterKey),
            signingKeys: S(JSON.stringify(d.keys)),
            allowUnsigned: { BOOL: d.allowUnsigned },
            keysRevision: N(d.keysRevision),
          },
          ConditionExpression: 'attribute_not_exists(deviceId)',
        }),
      );
      return 'created';
    } catch (err) {
      if (isConditionalCheckFailed(err)) return 'exists';
      throw err;
    }
  }

  async getDevice(deviceId: string): Promise<DeviceEntry | undefined> {
    const out = await this.db.send(
      new GetItemCommand({
        TableName: this.t.devices,
        Key: { part: S(DEVICE_PART), deviceId: S(deviceId) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? toDevice(out.Item) : undefined;
  }

  async setCredentialHash(deviceId: string, credentialHash: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.t.devices,
          Key: { part: S(DEVICE_PART), deviceId: S(deviceId) },
          UpdateExpression: 'SET credentialHash = :c',
          // Without the condition an update of an unknown device would create a half item.
          ConditionExpression: 'attribute_exists(deviceId)',
          ExpressionAttributeValues: { ':c': S(credentialHash) },
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }

  async updateDeviceKeys(
    deviceId: string,
    next: { keys: readonly DeviceKey[]; allowUnsigned: boolean },
    ifRevision: number,
  ): Promise<'updated' | 'conflict' | 'not-found'> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.t.devices,
          Key: { part: S(DEVICE_PART), deviceId: S(deviceId) },
          UpdateExpression: 'SET signingKeys = :k, allowUnsigned = :u, keysRevision = :next',
          // An item from before device keys has no revision: it counts as revision 0.
          ConditionExpression:
            ifRevision === 0
              ? 'attribute_exists(deviceId) AND (attribute_not_exists(keysRevision) OR keysRevision = :r)'
              : 'attribute_exists(deviceId) AND keysRevision = :r',
          ExpressionAttributeValues: {
            ':k': S(JSON.stringify(next.keys)),
            ':u': { BOOL: next.allowUnsigned },
            ':r': N(ifRevision),
            ':next': N(ifRevision + 1),
          },
        }),
      );
      return 'updated';
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
    }
    return (await this.getDevice(deviceId)) ? 'conflict' : 'not-found';
  }

  async listDevices(q: { limit: number; cursor?: string }): Promise<Page<DeviceEntry>> {
    const after = decodeCursor(q.cursor, ['string'])?.[0];
    if (q.limit < 1) return { items: [] };
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.t.devices,
        KeyConditionExpression: typeof after === 'string' ? 'part = :p AND deviceId > :c' : 'part = :p',
        ExpressionAttributeValues: {
          ':p': S(DEVICE_PART),
          ...(typeof after === 'string' ? { ':c': S(after) } : {}),
        },
        ConsistentRead: true,
      },
      q.limit + 1,
    );
    return pageOf(items.map(toDevice), q.limit, (d) => [d.deviceId]);
  }

  // ------------------------------------------------------------------------------------------- dead letters

  async putDeadLetter(d: DeadLetter): Promise<void> {
    const item: Item = {
      dlShard: S(String(fnv1a(d.id) % this.deadLetterShards)),
      atId: S(atIdKey(d.at, d.id)),
      id: S(d.id),
      at: N(d.at),
      source: S(d.source),
      code: S(d.code),
      reason: S(d.reason),
      payloadSize: N(d.payloadSize),
      payloadSha256: S(d.payloadSha256),
      payload: S(d.payload),
      truncated: { BOOL: d.truncated },
      // DynamoDB's TTL reads epoch seconds; rounded up so an item never goes before its retention is over.
      expiresAt: N(Math.ceil((d.at + this.deadLetterRetentionMs) / 1000)),
    };
    if (d.deviceId !== undefined) item.deviceId = S(d.deviceId);
    if (d.topic !== undefined) item.topic = S(d.topic);
    if (d.clientId !== undefined) item.clientId = S(d.clientId);
    if (d.seq !== undefined) item.seq = N(d.seq);
    if (d.remoteAddress !== undefined) item.remoteAddress = S(d.remoteAddress);
    // COUNT is a DynamoDB reserved word: the attribute is named so it never needs an alias in an expression.
    if (d.count !== undefined) item.aggregateCount = N(d.count);
    if (d.firstAt !== undefined) item.firstAt = N(d.firstAt);
    if (d.lastAt !== undefined) item.lastAt = N(d.lastAt);
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.t.deadLetters,
          Item: item,
          ConditionExpression: 'attribute_not_exists(atId)',
        }),
      );
    } catch (err) {
      // A dead letter put twice under one id is kept once, as SQLite's ON CONFLICT DO NOTHING does.
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }

  async listDeadLetters(q: { limit: number; cursor?: string; deviceId?: string }): Promise<Page<DeadLetter>> {
    const c = decodeCursor(q.cursor, ['int', 'string']);
    if (q.limit < 1) return { items: [] };
    const before = c ? atIdKey(c[0], c[1]) : undefined;
    const range = before === undefined ? '' : ' AND atId < :c';
    const values: Item = before === undefined ? {} : { ':c': S(before) };
    let items: Item[];
    if (q.deviceId !== undefined) {
      ({ items } = await queryUpTo(
        this.db,
        {
          TableName: this.t.deadLetters,
          IndexName: 'byDevice',
          KeyConditionExpression: `deviceId = :d${range}`,
          ExpressionAttributeValues: { ':d': S(q.deviceId), ...values },
          ScanIndexForward: false,
        },
        q.limit + 1,
      ));
    } else {
      items = await mergeQueries(
        this.db,
        this.shards(this.deadLetterShards).map((shard) => ({
          TableName: this.t.deadLetters,
          KeyConditionExpression: `dlShard = :s${range}`,
          ExpressionAttributeValues: { ':s': S(shard), ...values },
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
        await this.db.send(new DeleteItemCommand({ TableName: this.t.deadLetters, Key: keys(i) }));
      });
      return items.length;
    };
    const shardQuery = (shard: string, range: string, values: Item) => ({
      TableName: this.t.deadLetters,
      KeyConditionExpression: `dlShard = :s${range}`,
      ExpressionAttributeValues: { ':s': S(shard), ...values },
      ProjectionExpression: 'dlShard, atId',
      ConsistentRead: true,
    });
    const before = clampTime(q.before);
    // Every atId of an entry with at < before sorts below "<pad16(before)>#".
    const expired = await mergeQueries(
      this.db,
      this.shards(this.deadLetterShards).map((s) =>
        shardQuery(s, ' AND atId < :c', { ':c': S(`${pad16(before)}#`) }),
      ),
      q.limit,
      (i) => str(i, 'atId'),
      'asc',
    );
    let deleted = await drop(expired);
    const counts = await Promise.all(
      this.shards(this.deadLetterShards).map((s) => queryCount(this.db, shardQuery(s, '', {}))),
    );
    const more = Math.min(counts.reduce((a, b) => a + b, 0) - Math.max(0, q.keep), q.limit - deleted);
    if (more > 0) {
      const oldest = await mergeQueries(
        this.db,
        this.shards(this.deadLetterShards).map((s) => shardQuery(s, '', {})),
        more,
        (i) => str(i, 'atId'),
        'asc',
      );
      deleted += await drop(oldest);
    }
    return deleted;
  }

  // ------------------------------------------------------------------------------------------- audit

  async appendAudit(e: AuditEvent): Promise<void> {
    await this.db.send(
      new PutItemCommand({
        TableName: this.t.audit,
        Item: {
          part: S(AUDIT_PART),
          atId: S(atIdKey(e.at, e.id)),
          id: S(e.id),
          at: N(e.at),
          actor: S(e.actor),
          action: S(e.action),
          target: S(e.target),
          ...(e.reason === undefined ? {} : { reason: S(e.reason) }),
          ...(e.details === undefined ? {} : { details: S(JSON.stringify(e.details)) }),
          outcome: S(e.outcome),
          ...(e.error === undefined ? {} : { errorCode: S(e.error.code), errorMessage: S(e.error.message) }),
        },
      }),
    );
  }

  async listAudit(q: { limit: number; cursor?: string }): Promise<Page<AuditEvent>> {
    const c = decodeCursor(q.cursor, ['int', 'string']);
    if (q.limit < 1) return { items: [] };
    const before = c ? atIdKey(c[0], c[1]) : undefined;
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.t.audit,
        KeyConditionExpression: before === undefined ? 'part = :p' : 'part = :p AND atId < :c',
        ExpressionAttributeValues: {
          ':p': S(AUDIT_PART),
          ...(before === undefined ? {} : { ':c': S(before) }),
        },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      q.limit + 1,
    );
    return pageOf(items.map(toAudit), q.limit, (e) => [e.at, e.id]);
  }

  /** The client belongs to the composition root, which may share it; nothing to release here. */
  async close(): Promise<void> {}
}

// --------------------------------------------------------------------------------------------- mapping

/** `items` holds up to limit + 1 entries; the extra one only says that another page exists. */
function pageOf<T>(items: T[], limit: number, cursorOf: (last: T) => (string | number)[]): Page<T> {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return items.length > limit && last ? { items: page, next: encodeCursor(cursorOf(last)) } : { items: page };
}

function dueKeys(anchors: readonly AnchorRef[]): Item {
  const next = batchNextCheckAt(anchors);
  return next === undefined ? {} : { checkShard: S(CHECK_SHARD), nextCheckAt: N(next) };
}
