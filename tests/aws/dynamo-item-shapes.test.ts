/**
 * The DynamoDB items the index adapters write, attribute for attribute and type for type (S, N, BOOL), as
 * the hand-written codec wrote them before @aws-sdk/util-dynamodb's marshall replaced it: tables already
 * deployed hold such items, and their indexes, conditions and TTL read these exact attributes. Read back raw
 * with GetItem, on dynalite.
 */
import { type AttributeValue, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoIndexStore } from '../../lib/adapters/aws/dynamo-index-store.js';
import type { IndexTableNames } from '../../lib/adapters/aws/dynamo-tables.js';
import {
  auditEvent,
  batchEntry,
  deadLetter,
  deviceEntry,
  deviceKey,
  recordEntry,
} from '../adapters/index-fixtures.js';
import { createTables, type RunningDynalite, startDynalite } from './support/emulators.js';

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });

describe('DynamoDB index items keep their stored shape', () => {
  let dynamo: RunningDynalite;
  let tables: IndexTableNames;
  let store: DynamoIndexStore;
  const raw = async (table: string, key: Record<string, AttributeValue>) =>
    (await dynamo.db.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;

  beforeAll(async () => {
    dynamo = await startDynalite();
    tables = (await createTables(dynamo.db)).index;
    // One shard each, so the shard attributes are known without the hash.
    store = new DynamoIndexStore({ db: dynamo.db, tables, pendingShards: 1, deadLetterShards: 1 });
  });
  afterAll(async () => {
    await dynamo.close();
  });

  it('a queued packed record and a batched record', async () => {
    const queued = recordEntry('shape-dev', 7, { objectRange: { offset: 10, length: 90 }, via: 'upload' });
    const batched = recordEntry('shape-dev', 8, { batch: { batchId: 'b-1', leafIndex: 3 } });
    await store.putRecord(queued);
    await store.putRecord(batched);
    const common = (r: typeof queued) => ({
      deviceId: S(r.deviceId),
      seq: N(r.seq),
      recordId: S(r.recordId),
      timestamp: N(r.timestamp),
      receivedAt: N(r.receivedAt),
      recordHash: S(r.recordHash),
      prevHash: S(r.prevHash),
      ciphertextHash: S(r.ciphertextHash),
      ciphertextLength: N(r.ciphertextLength),
      envelopeSize: N(r.envelopeSize),
      header: S(r.header),
      objectKey: S(r.objectKey),
      via: S(r.via),
      timeKey: S(`${String(r.timestamp).padStart(16, '0')}#${String(r.seq).padStart(16, '0')}`),
    });
    expect(await raw(tables.records, { deviceId: S('shape-dev'), seq: N(7) })).toEqual({
      ...common(queued),
      objectOffset: N(10),
      objectLength: N(90),
      pendingShard: S('0'),
      pendingKey: S(`${String(queued.receivedAt).padStart(16, '0')}#shape-dev#${'7'.padStart(16, '0')}`),
    });
    expect(await raw(tables.records, { deviceId: S('shape-dev'), seq: N(8) })).toEqual({
      ...common(batched),
      batchId: S('b-1'),
      leafIndex: N(3),
    });
    await store.setIpfsCid('shape-dev', 7, 'QmShape', 1234);
    await store.assignToBatch([{ deviceId: 'shape-dev', seq: 7, batchId: 'b-2', leafIndex: 0 }]);
    const placed = await raw(tables.records, { deviceId: S('shape-dev'), seq: N(7) });
    expect(placed).toMatchObject({ ipfsCid: S('QmShape'), ipfsPinnedAt: N(1234), batchId: S('b-2') });
    expect(placed).not.toHaveProperty('pendingShard');
  });

  it('a batch, before and after its anchors change', async () => {
    const b = batchEntry('shape-b', {
      inline: [{ chainId: 'evm:1', records: ['r.1'], dataBytes: 100 }],
    });
    await store.putBatch(b);
    expect(await raw(tables.batches, { part: S('batch'), batchId: S('shape-b') })).toEqual({
      part: S('batch'),
      batchId: S('shape-b'),
      root: S(b.root),
      size: N(b.size),
      createdAt: N(b.createdAt),
      state: S('built'),
      treeKey: S(b.treeKey),
      anchors: S('[]'),
      version: N(0),
      unanchored: S('u'),
      inline: S(JSON.stringify(b.inline)),
    });
    const anchors = [{ chainId: 'evm:1', txId: '0xab', submittedAt: 5, nextCheckAt: 99 }];
    expect(await store.compareAndSetAnchors('shape-b', 0, { anchors, state: 'anchored' })).toEqual({
      status: 'written',
      version: 1,
    });
    const after = await raw(tables.batches, { part: S('batch'), batchId: S('shape-b') });
    expect(after).toMatchObject({
      anchors: S(JSON.stringify(anchors)),
      state: S('anchored'),
      version: N(1),
      checkShard: S('0'),
      nextCheckAt: N(99),
    });
    expect(after).not.toHaveProperty('unanchored');
  });

  it('a device, and its keys after an update', async () => {
    const d = deviceEntry('shape-dev');
    await store.createDevice(d);
    expect(await raw(tables.devices, { part: S('device'), deviceId: S('shape-dev') })).toEqual({
      part: S('device'),
      deviceId: S('shape-dev'),
      createdAt: N(d.createdAt),
      status: S('active'),
      credentialHash: S(d.credentialHash),
      wrappedMasterKey: S(d.wrappedMasterKey),
      signingKeys: S('[]'),
      allowUnsigned: { BOOL: true },
      keysRevision: N(0),
    });
    const keys = [deviceKey('k')];
    await store.updateDeviceKeys('shape-dev', { keys, allowUnsigned: false }, 0);
    expect(await raw(tables.devices, { part: S('device'), deviceId: S('shape-dev') })).toMatchObject({
      signingKeys: S(JSON.stringify(keys)),
      allowUnsigned: { BOOL: false },
      keysRevision: N(1),
    });
  });

  it('a dead letter with every optional field, and one with none', async () => {
    const at = 1_700_000_000_000;
    const full = deadLetter('dl-full', at, {
      deviceId: 'shape-dev',
      topic: 't/1',
      clientId: 'c-1',
      seq: 4,
      remoteAddress: '10.0.0.1',
      count: 12,
      firstAt: at - 50,
      lastAt: at,
      truncated: true,
    });
    await store.putDeadLetter(full);
    await store.putDeadLetter(deadLetter('dl-bare', at));
    const base = (d: typeof full) => ({
      dlShard: S('0'),
      atId: S(`${String(at).padStart(16, '0')}#${d.id}`),
      id: S(d.id),
      at: N(d.at),
      source: S(d.source),
      code: S(d.code),
      reason: S(d.reason),
      payloadSize: N(d.payloadSize),
      payloadSha256: S(d.payloadSha256),
      payload: S(d.payload),
      truncated: { BOOL: d.truncated },
      expiresAt: N(Math.ceil((at + 30 * 86_400_000) / 1000)),
    });
    const key = (id: string) => ({ dlShard: S('0'), atId: S(`${String(at).padStart(16, '0')}#${id}`) });
    expect(await raw(tables.deadLetters, key('dl-full'))).toEqual({
      ...base(full),
      deviceId: S('shape-dev'),
      topic: S('t/1'),
      clientId: S('c-1'),
      seq: N(4),
      remoteAddress: S('10.0.0.1'),
      aggregateCount: N(12),
      firstAt: N(at - 50),
      lastAt: N(at),
    });
    expect(await raw(tables.deadLetters, key('dl-bare'))).toEqual(base(deadLetter('dl-bare', at)));
  });

  it('an audit event with details and an error, and a bare one', async () => {
    const at = 1_700_000_000_000;
    const e = auditEvent('au-full', at, {
      reason: 'why',
      outcome: 'failed',
      error: { code: 'x-failed', message: 'it failed' },
      details: { count: 3, range: 'a..b' },
    });
    await store.appendAudit(e);
    await store.appendAudit(auditEvent('au-bare', at));
    const key = (id: string) => ({ part: S('audit'), atId: S(`${String(at).padStart(16, '0')}#${id}`) });
    const base = (id: string, outcome: string) => ({
      ...key(id),
      id: S(id),
      at: N(at),
      actor: S('operator'),
      action: S('device-provisioned'),
      target: S(`dev-${id}`),
      outcome: S(outcome),
    });
    expect(await raw(tables.audit, key('au-full'))).toEqual({
      ...base('au-full', 'failed'),
      reason: S('why'),
      details: S(JSON.stringify(e.details)),
      errorCode: S('x-failed'),
      errorMessage: S('it failed'),
    });
    expect(await raw(tables.audit, key('au-bare'))).toEqual(base('au-bare', 'succeeded'));
  });
});
