/**
 * SqliteIndexStore beyond the sub-port conformance suites: group commit, durability across reopen, and rows
 * written by something else (read through lib/model's stored-form schemas).
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { addAnchor } from '../../lib/anchor/anchor-slots.js';
import { makeTempDir } from '../support/temp-dir.js';
import { auditEvent, batchEntry, deadLetter, deviceEntry, recordEntry } from './index-fixtures.js';

describe('SqliteIndexStore', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let path: string;
  const open: SqliteIndexStore[] = [];
  const openStore = () => {
    const s = new SqliteIndexStore(path);
    open.push(s);
    return s;
  };

  beforeEach(() => {
    tmp = makeTempDir('sqlite');
    path = join(tmp.dir, 'db', 'index.sqlite');
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    tmp.remove();
  });

  it('group commit: hundreds of concurrent puts across devices all resolve with the right outcome', async () => {
    const store = openStore();
    const entries = Array.from({ length: 400 }, (_, i) => recordEntry(`dev-${i % 8}`, Math.floor(i / 8)));
    // Redeliveries and a forged seq ride in the same turn of the event loop as the originals.
    const redelivered = entries.slice(0, 20);
    const forged = recordEntry('dev-3', 0, { variant: 'forged' });
    const results = await Promise.all([
      ...entries.map((e) => store.putRecord(e)),
      ...redelivered.map((e) => store.putRecord(e)),
      store.putRecord(forged),
    ]);
    expect(results.slice(0, 400).every((r) => r.outcome === 'created')).toBe(true);
    expect(results.slice(400, 420).every((r) => r.outcome === 'duplicate')).toBe(true);
    expect(results[420]?.outcome).toBe('conflict');
    expect(await store.countPending()).toBe(400);
    expect(await store.maxSeq('dev-7')).toBe(49);
  });

  it('puts queued in the same turn as close() are committed before it closes', async () => {
    const store = openStore();
    const puts = [0, 1, 2].map((s) => store.putRecord(recordEntry('dev-c', s)));
    await store.close();
    expect((await Promise.all(puts)).map((r) => r.outcome)).toEqual(['created', 'created', 'created']);
    await expect(store.putRecord(recordEntry('dev-c', 3))).rejects.toThrow(/closed/);
    const reopened = openStore();
    expect(
      (await reopened.listBySeq('dev-c', { fromSeq: 0, toSeq: 10, limit: 10 })).map((r) => r.seq),
    ).toEqual([0, 1, 2]);
  });

  it('everything it holds survives close and reopen', async () => {
    const first = openStore();
    const records = [0, 1, 2, 3].map((s) => recordEntry('dev-r', s));
    for (const r of records) await first.putRecord(r);
    await first.assignToBatch([
      { deviceId: 'dev-r', seq: 0, batchId: 'b-1', leafIndex: 0 },
      { deviceId: 'dev-r', seq: 1, batchId: 'b-1', leafIndex: 1 },
    ]);
    const anchor = { chainId: 'embedded:0011223344556677', txId: 'ab'.repeat(32), submittedAt: 5 };
    await first.putBatch(batchEntry('b-1', { size: 2 }));
    await addAnchor(first, 'b-1', anchor, 'anchored');
    await first.putBatch(batchEntry('b-2'));
    await first.createDevice(deviceEntry('dev-r'));
    await first.setCredentialHash('dev-r', 'cd'.repeat(32));
    await first.putDeadLetter(deadLetter('dl-1', 10, { deviceId: 'dev-r', seq: 9 }));
    await first.appendAudit(auditEvent('au-1', 11, { reason: 'because' }));
    await first.close();

    const store = openStore();
    expect(await store.getRecord('dev-r', 3)).toEqual(records[3]);
    expect((await store.getRecord('dev-r', 1))?.batch).toEqual({ batchId: 'b-1', leafIndex: 1 });
    expect((await store.listPending(10)).map((r) => r.seq)).toEqual([2, 3]);
    expect(await store.getBatch('b-1')).toEqual(
      batchEntry('b-1', { size: 2, state: 'anchored', anchors: [anchor] }),
    );
    expect((await store.listUnanchored()).map((b) => b.batchId)).toEqual(['b-2']);
    expect(await store.getDevice('dev-r')).toEqual(deviceEntry('dev-r', { credentialHash: 'cd'.repeat(32) }));
    expect((await store.listDeadLetters({ limit: 5 })).items).toEqual([
      deadLetter('dl-1', 10, { deviceId: 'dev-r', seq: 9 }),
    ]);
    expect((await store.listAudit({ limit: 5 })).items).toEqual([
      auditEvent('au-1', 11, { reason: 'because' }),
    ]);
    // And the conditional writes still hold against what was there before the restart.
    expect((await store.putRecord(records[0] as (typeof records)[0])).outcome).toBe('duplicate');
    expect(await store.putBatch(batchEntry('b-1'))).toBe('exists');
    expect(await store.createDevice(deviceEntry('dev-r'))).toBe('exists');
  });

  it('close() is idempotent', async () => {
    const store = openStore();
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });
  it('a row of the wrong shape is a TypeError naming the field, never a default', async () => {
    const store = openStore();
    await store.createDevice(deviceEntry('dev-bad'));
    await store.putBatch(batchEntry('b-bad'));
    const raw = new DatabaseSync(path);
    raw.exec("UPDATE devices SET created_at = 'yesterday' WHERE device_id = 'dev-bad'");
    raw.exec("UPDATE batches SET anchors = '{not json' WHERE batch_id = 'b-bad'");
    raw.close();
    await expect(store.getDevice('dev-bad')).rejects.toThrow(TypeError);
    await expect(store.getDevice('dev-bad')).rejects.toThrow(/device is malformed: createdAt/);
    await expect(store.getBatch('b-bad')).rejects.toThrow(/batch is malformed: anchors: is not JSON/);
  });

  it('reads values this version does not know as the model says: state built, status active, outcome unknown', async () => {
    const store = openStore();
    await store.createDevice(deviceEntry('dev-odd'));
    await store.putBatch(batchEntry('b-odd'));
    await store.appendAudit(auditEvent('au-odd', 1000));
    const raw = new DatabaseSync(path);
    raw.exec("UPDATE devices SET status = 'retired' WHERE device_id = 'dev-odd'");
    raw.exec("UPDATE batches SET state = 'someday' WHERE batch_id = 'b-odd'");
    raw.exec("UPDATE audit SET outcome = NULL WHERE id = 'au-odd'");
    raw.close();
    expect((await store.getDevice('dev-odd'))?.status).toBe('active');
    expect((await store.getBatch('b-odd'))?.state).toBe('built');
    expect((await store.listAudit({ limit: 1 })).items[0]?.outcome).toBe('unknown');
  });
});
