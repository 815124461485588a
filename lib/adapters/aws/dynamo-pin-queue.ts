/**
 * PinQueue on DynamoDB: the AWS retry queue of IPFS pin jobs, one item per hot record in the pinJobs table of
 * dynamo-tables.ts. It mirrors the SQLite queue (lib/adapters/local/sqlite-pin-queue.ts) write for write:
 * enqueue is a conditional put on recordId, and every other write is a conditional update of that one item.
 *
 * "Due jobs" is a range on the sparse `due` index, whose sort key is `<nextAttemptAt>#<recordId>`: only
 * pending jobs carry its keys, so pinned and failed ones drop out of it. A claim reads candidates from that
 * index (eventually consistent, like every GSI) and then leases each with an update conditional on the
 * state and the nextAttemptAt it read, on the table itself: a job another worker leased a moment ago, or
 * that was pinned meanwhile, fails the condition and is skipped. Two workers never get the same job.
 */
import {
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import type { PinJob, PinJobError, PinJobState, PinQueue, PinTarget } from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import {
  fnv1a,
  type Item,
  isConditionalCheckFailed,
  mergeQueries,
  N,
  num,
  optNum,
  optStr,
  putIfAbsent,
  queryCount,
  S,
  str,
} from './dynamo-codec.js';
import { pad16 } from './dynamo-tables.js';

export interface DynamoPinQueueOptions {
  db: DynamoDBClient;
  /** The pinJobs table (spec in dynamo-tables.ts). */
  table: string;
  /**
   * Partitions of the due index. Only ever raise it: jobs under a shard number no longer listed would never
   * be claimed. Pins are slow (an IPFS add each), so a few are plenty.
   */
  shards?: number;
}

const STATES: readonly PinJobState[] = ['pending', 'pinned', 'failed'];
/** Error messages are kept for operators, not as a log: long ones are cut (as in the SQLite queue). */
const MAX_ERROR_CHARS = 2_000;
/** Sorts after `#` and every record id character: `<time>$` bounds all keys of that millisecond. */
const AFTER_MS = '$';

export const dueKey = (nextAttemptAt: number, recordId: string): string =>
  `${pad16(nextAttemptAt)}#${recordId}`;

export class DynamoPinQueue implements PinQueue {
  private readonly db: DynamoDBClient;
  private readonly table: string;
  private readonly shards: number;

  constructor(opts: DynamoPinQueueOptions) {
    this.db = opts.db;
    this.table = opts.table;
    this.shards = opts.shards ?? 4;
    if (!Number.isInteger(this.shards) || this.shards < 1 || this.shards > 256)
      // A programming error (the composition roots pass validated settings): a RangeError.
      throw new RangeError('shards must be 1-256');
  }

  private shardOf(recordId: string): string {
    return String(fnv1a(recordId) % this.shards);
  }

  async enqueue(t: PinTarget, now: number): Promise<'queued' | 'exists'> {
    return (await putIfAbsent(
      this.db,
      this.table,
      {
        recordId: S(t.recordId),
        deviceId: S(t.deviceId),
        seq: N(t.seq),
        objectKey: S(t.objectKey),
        recordHash: S(t.recordHash),
        state: S('pending'),
        attempts: N(0),
        nextAttemptAt: N(now),
        enqueuedAt: N(now),
        dueShard: S(this.shardOf(t.recordId)),
        dueKey: S(dueKey(now, t.recordId)),
      },
      'recordId',
    )) === 'created'
      ? 'queued'
      : 'exists';
  }

  async claimDue(q: { now: number; limit: number; leaseMs: number }): Promise<PinJob[]> {
    if (q.limit <= 0) return [];
    const candidates = await mergeQueries(
      this.db,
      Array.from({ length: this.shards }, (_, shard) => ({
        TableName: this.table,
        IndexName: 'due',
        KeyConditionExpression: 'dueShard = :s AND dueKey < :hi',
        ExpressionAttributeValues: { ':s': S(String(shard)), ':hi': S(`${pad16(q.now)}${AFTER_MS}`) },
      })),
      q.limit,
      (i) => str(i, 'dueKey'),
      'asc',
    );
    const leaseEnd = q.now + q.leaseMs;
    const jobs: PinJob[] = [];
    for (const c of candidates) {
      const recordId = str(c, 'recordId');
      const leased = await this.update(
        recordId,
        {
          UpdateExpression: 'SET nextAttemptAt = :n, dueKey = :k',
          ConditionExpression: '#st = :pending AND nextAttemptAt = :seen',
          ExpressionAttributeNames: { '#st': 'state' },
          ExpressionAttributeValues: {
            ':n': N(leaseEnd),
            ':k': S(dueKey(leaseEnd, recordId)),
            ':pending': S('pending'),
            ':seen': N(num(c, 'nextAttemptAt')),
          },
        },
        true,
      );
      if (leased) jobs.push(toJob(leased));
    }
    return jobs;
  }

  async markPinned(recordId: string, r: { cid: string; at: number }): Promise<void> {
    await this.update(recordId, {
      UpdateExpression:
        'SET #st = :pinned, cid = :c, pinnedAt = :t REMOVE dueShard, dueKey, lastErrorCode, lastError',
      ConditionExpression: 'attribute_exists(recordId)',
      ExpressionAttributeNames: { '#st': 'state' },
      ExpressionAttributeValues: { ':pinned': S('pinned'), ':c': S(r.cid), ':t': N(r.at) },
    });
  }

  async markRetry(recordId: string, r: PinJobError & { nextAttemptAt: number }): Promise<void> {
    await this.update(recordId, {
      UpdateExpression:
        'SET attempts = attempts + :one, nextAttemptAt = :n, dueKey = :k, lastErrorCode = :ec, lastError = :em',
      ConditionExpression: '#st = :pending',
      ExpressionAttributeNames: { '#st': 'state' },
      ExpressionAttributeValues: {
        ':one': N(1),
        ':n': N(r.nextAttemptAt),
        ':k': S(dueKey(r.nextAttemptAt, recordId)),
        ':ec': S(r.code),
        ':em': S(r.message.slice(0, MAX_ERROR_CHARS)),
        ':pending': S('pending'),
      },
    });
  }

  async release(recordId: string, nextAttemptAt: number): Promise<void> {
    await this.update(recordId, {
      UpdateExpression: 'SET nextAttemptAt = :n, dueKey = :k',
      ConditionExpression: '#st = :pending',
      ExpressionAttributeNames: { '#st': 'state' },
      ExpressionAttributeValues: {
        ':n': N(nextAttemptAt),
        ':k': S(dueKey(nextAttemptAt, recordId)),
        ':pending': S('pending'),
      },
    });
  }

  async markFailed(recordId: string, r: PinJobError & { at: number }): Promise<void> {
    await this.update(recordId, {
      UpdateExpression:
        'SET #st = :failed, attempts = attempts + :one, nextAttemptAt = :at, lastErrorCode = :ec, lastError = :em REMOVE dueShard, dueKey',
      ConditionExpression: '#st = :pending',
      ExpressionAttributeNames: { '#st': 'state' },
      ExpressionAttributeValues: {
        ':failed': S('failed'),
        ':one': N(1),
        ':at': N(r.at),
        ':ec': S(r.code),
        ':em': S(r.message.slice(0, MAX_ERROR_CHARS)),
        ':pending': S('pending'),
      },
    });
  }

  async getJob(recordId: string): Promise<PinJob | undefined> {
    const out = await this.db.send(
      new GetItemCommand({ TableName: this.table, Key: { recordId: S(recordId) }, ConsistentRead: true }),
    );
    return out.Item ? toJob(out.Item) : undefined;
  }

  async countPending(): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: this.shards }, (_, shard) =>
        queryCount(this.db, {
          TableName: this.table,
          IndexName: 'due',
          KeyConditionExpression: 'dueShard = :s',
          ExpressionAttributeValues: { ':s': S(String(shard)) },
        }),
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** The client belongs to the composition root, which may share it; nothing to release here. */
  async close(): Promise<void> {}

  /**
   * One conditional update of one job. A failed condition is the port's "changes nothing" (an unknown job, or
   * one no longer pending), never an error; with `returnNew` the updated item comes back, else undefined.
   */
  private async update(
    recordId: string,
    input: Omit<UpdateItemCommandInput, 'TableName' | 'Key'>,
    returnNew = false,
  ): Promise<Item | undefined> {
    try {
      const out = await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { recordId: S(recordId) },
          ...input,
          ...(returnNew ? { ReturnValues: 'ALL_NEW' as const } : {}),
        }),
      );
      return out.Attributes;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return undefined;
      throw err;
    }
  }
}

function toJob(i: Item): PinJob {
  const state = str(i, 'state') as PinJobState;
  if (!STATES.includes(state))
    throw new StorageError('storage-malformed', `pin job state ${state} is unknown`);
  const job: PinJob = {
    recordId: str(i, 'recordId'),
    deviceId: str(i, 'deviceId'),
    seq: num(i, 'seq'),
    objectKey: str(i, 'objectKey'),
    recordHash: str(i, 'recordHash'),
    state,
    attempts: num(i, 'attempts'),
    nextAttemptAt: num(i, 'nextAttemptAt'),
    enqueuedAt: num(i, 'enqueuedAt'),
  };
  const code = optStr(i, 'lastErrorCode');
  const message = optStr(i, 'lastError');
  if (code !== undefined && message !== undefined) job.lastError = { code, message };
  const cid = optStr(i, 'cid');
  if (cid !== undefined) job.cid = cid;
  const pinnedAt = optNum(i, 'pinnedAt');
  if (pinnedAt !== undefined) job.pinnedAt = pinnedAt;
  return job;
}
