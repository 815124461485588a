/**
 * DynamoIndexStore beyond the IndexStore conformance suite: the anchor queue read as a k-way merge of its
 * shards, page by page, when the queue is longer than one page per shard; the count cap that keeps
 * /v1/health within API Gateway's time limit during a large backlog; a device item written before device
 * keys existed; and the TTL attribute that gives dead letters their retention on AWS.
 */
import { PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ItemShapeError, inParallel } from '../../lib/adapters/aws/dynamo-codec.js';
import { DynamoIndexStore } from '../../lib/adapters/aws/dynamo-index-store.js';
import type { IndexTableNames } from '../../lib/adapters/aws/dynamo-tables.js';
import { deadLetter, deviceKey, recordEntry } from '../adapters/index-fixtures.js';
import { createTables, type RunningDynalite, startDynalite } from './support/emulators.js';

describe('DynamoIndexStore on dynalite', () => {
  let dynamo: RunningDynalite;
  let tables: IndexTableNames;
  const N = 2400;
  beforeAll(async () => {
    dynamo = await startDynalite();
    tables = (await createTables(dynamo.db)).index;
    const store = new DynamoIndexStore({ db: dynamo.db, tables, pendingShards: 6 });
    // receivedAt runs backwards against the write order, so no shard is already in global order by accident.
    const entries = Array.from({ length: N }, (_, i) =>
      recordEntry(`q-${i % 7}`, Math.floor(i / 7), { receivedAt: 1_000_000 + ((i * 7919) % N) }),
    );
    await inParallel(entries, 32, async (e) => {
      expect((await store.putRecord(e)).outcome).toBe('created');
    });
  }, 60_000);
  afterAll(async () => {
    await dynamo.close();
  });

  it('lists the oldest queued records across shards, in order, past one page per shard', async () => {
    const store = new DynamoIndexStore({ db: dynamo.db, tables, pendingShards: 6 });
    const got = await store.listPending(1500);
    expect(got).toHaveLength(1500);
    const keys = got.map((r) => [r.receivedAt, r.deviceId, r.seq] as const);
    const sorted = [...keys].sort(
      (a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[2] - b[2]),
    );
    expect(keys).toEqual(sorted);
    // Exactly the 1,500 smallest receivedAt values (they are a permutation of 0..N-1 over the base).
    expect(got.at(-1)?.receivedAt).toBe(1_000_000 + 1499);
    expect(await store.countPending()).toBe(N);
  });

  it('caps countPending where configured, so a health check never reads the whole backlog', async () => {
    const capped = new DynamoIndexStore({ db: dynamo.db, tables, pendingShards: 6, countCap: 101 });
    expect(await capped.countPending()).toBe(101);
  });

  it('reads a device item from before device keys as no keys, unsigned allowed, revision 0, and updates it', async () => {
    const store = new DynamoIndexStore({ db: dynamo.db, tables, pendingShards: 6 });
    // The item exactly as the adapter wrote it before issue 9.
    await dynamo.db.send(
      new PutItemCommand({
        TableName: tables.devices,
        Item: {
          part: { S: 'device' },
          deviceId: { S: 'legacy-dev' },
          createdAt: { N: '1000' },
          status: { S: 'active' },
          credentialHash: { S: 'aa'.repeat(32) },
          wrappedMasterKey: { S: 'd3JhcHBlZA==' },
        },
      }),
    );
    const before = {
      deviceId: 'legacy-dev',
      createdAt: 1000,
      status: 'active',
      credentialHash: 'aa'.repeat(32),
      wrappedMasterKey: 'd3JhcHBlZA==',
      keys: [],
      allowUnsigned: true,
      keysRevision: 0,
    };
    expect(await store.getDevice('legacy-dev')).toEqual(before);
    // A stale revision against an item with none is still a conflict once the first update set it.
    expect(
      await store.updateDeviceKeys('legacy-dev', { keys: [deviceKey('a')], allowUnsigned: false }, 0),
    ).toBe('updated');
    expect(await store.updateDeviceKeys('legacy-dev', { keys: [], allowUnsigned: true }, 0)).toBe('conflict');
    expect(await store.getDevice('legacy-dev')).toEqual({
      ...before,
      keys: [deviceKey('a')],
      allowUnsigned: false,
      keysRevision: 1,
    });
  });
});

describe('DynamoIndexStore reading items written by something else, on dynalite', () => {
  let dynamo: RunningDynalite;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });

  it('an item of the wrong shape is an ItemShapeError naming the attribute, never a default', async () => {
    const { index } = await createTables(dynamo.db);
    const store = new DynamoIndexStore({ db: dynamo.db, tables: index });
    await dynamo.db.send(
      new PutItemCommand({
        TableName: index.devices,
        Item: {
          part: { S: 'device' },
          deviceId: { S: 'bad-dev' },
          createdAt: { S: 'yesterday' },
          status: { S: 'active' },
          credentialHash: { S: 'aa'.repeat(32) },
          wrappedMasterKey: { S: 'd3JhcHBlZA==' },
        },
      }),
    );
    const err = await store.getDevice('bad-dev').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ItemShapeError);
    expect((err as Error).message).toMatch(/device is malformed: createdAt/);
  });
});

describe('DynamoIndexStore dead-letter retention on dynalite', () => {
  let dynamo: RunningDynalite;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });

  it('writes the TTL attribute expiresAt in epoch seconds, the retention after the entry', async () => {
    const { index } = await createTables(dynamo.db);
    const store = new DynamoIndexStore({ db: dynamo.db, tables: index, deadLetterRetentionDays: 30 });
    const at = 1_700_000_000_123;
    await store.putDeadLetter(deadLetter('dl-ttl', at, { deviceId: 'dev-ttl' }));
    // dynalite never deletes by TTL (it answers DescribeTimeToLive with DISABLED), so the attribute is
    // what can be checked here; DynamoDB deletes the item some time after this second.
    const { Items } = await dynamo.db.send(new ScanCommand({ TableName: index.deadLetters }));
    expect(Items?.map((i) => i.expiresAt)).toEqual([{ N: String(Math.ceil((at + 30 * 86_400_000) / 1000)) }]);
    // The port's entry does not show the attribute: retention is the store's business.
    expect((await store.listDeadLetters({ limit: 1 })).items[0]).toEqual(
      deadLetter('dl-ttl', at, { deviceId: 'dev-ttl' }),
    );
  });

  it('refuses a retention that is not a positive number of days', () => {
    const tables = {} as IndexTableNames;
    expect(() => new DynamoIndexStore({ db: dynamo.db, tables, deadLetterRetentionDays: 0 })).toThrow(
      RangeError,
    );
  });
});
