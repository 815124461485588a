/**
 * Conformance suite for the RecordIndex port (lib/ports.ts): the record index and anchor queue, and the records' IPFS hot copies. Every adapter runs it unchanged
 * (tests/adapters/local.test.ts on SQLite, tests/aws/conformance.test.ts on dynalite), e.g.:
 *
 *   describeRecordIndexConformance('Sqlite…', async () => ({ store, cleanup }));
 *
 * `make` is called once per test and must return an empty store; `cleanup` must also close it. Ordering is
 * asserted only where the port promises one; paging is asserted to visit every item exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordEntry, RecordIndex } from '../../lib/ports.js';
import {
  collectPages,
  expectEveryCursorRefused,
  recordEntry,
  type SubPortFixture,
  withCursor,
} from './index-fixtures.js';

export function describeRecordIndexConformance(
  name: string,
  make: () => Promise<SubPortFixture<RecordIndex>>,
): void {
  describe(`RecordIndex conformance: ${name}`, () => {
    let fx: SubPortFixture<RecordIndex>;
    let store: RecordIndex;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe('records', () => {
      it('putRecord creates once; the same content again is a duplicate that returns the stored entry', async () => {
        const e = recordEntry('dev-a', 0);
        expect(await store.putRecord(e)).toEqual({ outcome: 'created' });
        // A redelivery is stored later, with a later receivedAt: nothing of it may replace the first.
        const again = { ...e, receivedAt: e.receivedAt + 5000, via: 'upload' as const };
        expect(await store.putRecord(again)).toEqual({ outcome: 'duplicate', existing: e });
        expect(await store.getRecord('dev-a', 0)).toEqual(e);
      });

      it('putRecord of other content for a stored (device, seq) is a conflict and writes nothing', async () => {
        const first = recordEntry('dev-a', 4);
        const forged = recordEntry('dev-a', 4, { variant: 'forged' });
        expect(forged.recordHash).not.toBe(first.recordHash);
        expect(await store.putRecord(first)).toEqual({ outcome: 'created' });
        expect(await store.putRecord(forged)).toEqual({ outcome: 'conflict', existing: first });
        expect(await store.getRecord('dev-a', 4)).toEqual(first);
        expect(await store.countPending()).toBe(1);
      });

      it('a packed record keeps where it lies in its pack object, through get, duplicate and pending', async () => {
        const packKey = `records/dev-pk/packs/${'ab'.repeat(32)}`;
        const a = {
          ...recordEntry('dev-pk', 0),
          objectKey: packKey,
          objectRange: { offset: 11, length: 257 },
        };
        const b = {
          ...recordEntry('dev-pk', 1),
          objectKey: packKey,
          objectRange: { offset: 272, length: 160 },
        };
        expect(await store.putRecord(a)).toEqual({ outcome: 'created' });
        expect(await store.putRecord(b)).toEqual({ outcome: 'created' });
        expect(await store.getRecord('dev-pk', 0)).toEqual(a);
        expect(await store.getRecord('dev-pk', 1)).toEqual(b);
        expect(await store.putRecord({ ...b, receivedAt: b.receivedAt + 1 })).toEqual({
          outcome: 'duplicate',
          existing: b,
        });
        const pending = await store.listPending(10);
        expect(pending.find((r) => r.recordId === a.recordId)?.objectRange).toEqual({
          offset: 11,
          length: 257,
        });
        // A record stored alone still has no range.
        await store.putRecord(recordEntry('dev-pk', 2));
        expect(await store.getRecord('dev-pk', 2)).not.toHaveProperty('objectRange');
      });

      it('the same seq on different devices are different records', async () => {
        expect(await store.putRecord(recordEntry('dev-a', 1))).toEqual({ outcome: 'created' });
        expect(await store.putRecord(recordEntry('dev-b', 1))).toEqual({ outcome: 'created' });
        expect((await store.getRecord('dev-b', 1))?.recordHash).toBe(recordEntry('dev-b', 1).recordHash);
      });

      it('many concurrent puts of the same record: exactly one created, the rest duplicates', async () => {
        const e = recordEntry('dev-race', 7);
        const results = await Promise.all(
          Array.from({ length: 25 }, (_, i) => store.putRecord({ ...e, receivedAt: e.receivedAt + i })),
        );
        expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(24);
        const stored = await store.getRecord('dev-race', 7);
        expect(stored?.recordHash).toBe(e.recordHash);
        for (const r of results) if (r.outcome !== 'created') expect(r.existing).toEqual(stored);
        expect(await store.countPending()).toBe(1);
      });

      it('many concurrent puts of different content for one seq: exactly one created, the rest conflicts', async () => {
        const variants = Array.from({ length: 25 }, (_, i) =>
          recordEntry('dev-race', 3, { variant: `v${i}` }),
        );
        const results = await Promise.all(variants.map((v) => store.putRecord(v)));
        const created = results.flatMap((r, i) =>
          r.outcome === 'created' ? [variants[i] as RecordEntry] : [],
        );
        expect(created).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'conflict')).toHaveLength(24);
        const winner = created[0] as RecordEntry;
        expect(await store.getRecord('dev-race', 3)).toEqual(winner);
        for (const r of results) if (r.outcome === 'conflict') expect(r.existing).toEqual(winner);
      });

      it('getRecord of an unknown device or seq is undefined', async () => {
        await store.putRecord(recordEntry('dev-a', 0));
        expect(await store.getRecord('dev-a', 1)).toBeUndefined();
        expect(await store.getRecord('dev-z', 0)).toBeUndefined();
      });

      it('listByTime returns from <= timestamp < to, by timestamp then seq, for one device only', async () => {
        const t0 = 1_700_000_000_000;
        // seq 2 and 3 share a timestamp; seq 4 was stamped before seq 3 (device clock step back).
        const entries = [
          recordEntry('dev-t', 0, { timestamp: t0 }),
          recordEntry('dev-t', 1, { timestamp: t0 + 10 }),
          recordEntry('dev-t', 3, { timestamp: t0 + 20 }),
          recordEntry('dev-t', 2, { timestamp: t0 + 20 }),
          recordEntry('dev-t', 4, { timestamp: t0 + 15 }),
          recordEntry('dev-t', 5, { timestamp: t0 + 30 }),
          recordEntry('dev-other', 0, { timestamp: t0 + 10 }),
        ];
        for (const e of entries) await store.putRecord(e);
        const all = await store.listByTime('dev-t', { from: t0, to: t0 + 31, limit: 100 });
        expect(all.items.map((r) => r.seq)).toEqual([0, 1, 4, 2, 3, 5]);
        expect(all.next).toBeUndefined();
        const window = await store.listByTime('dev-t', { from: t0 + 10, to: t0 + 30, limit: 100 });
        expect(window.items.map((r) => r.seq)).toEqual([1, 4, 2, 3]);
        expect((await store.listByTime('dev-t', { from: t0 + 31, to: t0 + 99, limit: 10 })).items).toEqual(
          [],
        );
        expect((await store.listByTime('dev-none', { from: 0, to: t0 * 2, limit: 10 })).items).toEqual([]);
        expect(all.items[0]).toEqual(entries[0]);
      });

      it('recordInForceAt finds the latest record at or before a time, the highest seq among ties', async () => {
        const t0 = 1_700_000_000_000;
        // seq 2 and 3 share a timestamp; seq 4 was stamped before seq 3 (device clock step back).
        for (const [seq, dt] of [
          [0, 0],
          [1, 10],
          [3, 20],
          [2, 20],
          [4, 15],
          [5, 30],
        ] as const)
          await store.putRecord(recordEntry('dev-f', seq, { timestamp: t0 + dt }));
        await store.putRecord(recordEntry('dev-g', 9, { timestamp: t0 + 25 }));
        const at = async (dt: number) => (await store.recordInForceAt('dev-f', t0 + dt))?.seq;
        expect(await at(-1)).toBeUndefined();
        expect(await at(0)).toBe(0);
        expect(await at(9)).toBe(0);
        expect(await at(14)).toBe(1);
        expect(await at(15)).toBe(4);
        expect(await at(20)).toBe(3);
        expect(await at(29)).toBe(3);
        expect(await at(10_000)).toBe(5);
        expect(await store.recordInForceAt('dev-none', t0)).toBeUndefined();
        expect(await store.recordInForceAt('dev-f', t0 + 30)).toEqual(
          recordEntry('dev-f', 5, { timestamp: t0 + 30 }),
        );
      });

      it('listByTime pages with a cursor that stays put while records are added around it', async () => {
        const t0 = 1_700_000_000_000;
        for (let s = 0; s < 7; s++)
          await store.putRecord(recordEntry('dev-p', s, { timestamp: t0 + 100 * s }));
        const q = { from: t0, to: t0 + 10_000, limit: 3 };
        const p1 = await store.listByTime('dev-p', q);
        expect(p1.items.map((r) => r.seq)).toEqual([0, 1, 2]);
        expect(p1.next).toBeDefined();
        // One record lands before the cursor, one after it.
        await store.putRecord(recordEntry('dev-p', 100, { timestamp: t0 + 50 }));
        await store.putRecord(recordEntry('dev-p', 101, { timestamp: t0 + 450 }));
        const p2 = await store.listByTime('dev-p', withCursor(q, p1.next));
        expect(p2.items.map((r) => r.seq)).toEqual([3, 4, 101]);
        const p3 = await store.listByTime('dev-p', withCursor(q, p2.next));
        expect(p3.items.map((r) => r.seq)).toEqual([5, 6]);
        expect(p3.next).toBeUndefined();
        // The same cursor gives the same page again.
        const p2again = await store.listByTime('dev-p', withCursor(q, p1.next));
        expect(p2again.items.map((r) => r.seq)).toEqual([3, 4, 101]);
      });

      it('listByTime pages across ties in timestamp without skipping or repeating', async () => {
        const t = 1_700_000_000_000;
        for (let s = 0; s < 9; s++) await store.putRecord(recordEntry('dev-tie', s, { timestamp: t }));
        const { items } = await collectPages(2, (c) =>
          store.listByTime('dev-tie', withCursor({ from: t, to: t + 1, limit: 2 }, c)),
        );
        expect(items.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      });

      it('listBySeq returns fromSeq <= seq <= toSeq by seq, up to the limit, for one device only', async () => {
        for (const s of [0, 1, 2, 5, 9, 10, 11]) await store.putRecord(recordEntry('dev-s', s));
        await store.putRecord(recordEntry('dev-s2', 3));
        const seqs = async (fromSeq: number, toSeq: number, limit: number) =>
          (await store.listBySeq('dev-s', { fromSeq, toSeq, limit })).map((r) => r.seq);
        expect(await seqs(0, 100, 100)).toEqual([0, 1, 2, 5, 9, 10, 11]);
        expect(await seqs(2, 10, 100)).toEqual([2, 5, 9, 10]);
        expect(await seqs(3, 4, 100)).toEqual([]);
        expect(await seqs(1, 100, 3)).toEqual([1, 2, 5]);
        expect(await seqs(10, 10, 5)).toEqual([10]);
        expect((await store.listBySeq('dev-s', { fromSeq: 9, toSeq: 9, limit: 1 }))[0]).toEqual(
          recordEntry('dev-s', 9),
        );
      });

      it('maxSeq is the highest stored seq of the device, undefined for a device with none', async () => {
        expect(await store.maxSeq('dev-m')).toBeUndefined();
        for (const s of [3, 0, 12, 7]) await store.putRecord(recordEntry('dev-m', s));
        await store.putRecord(recordEntry('dev-m2', 40));
        expect(await store.maxSeq('dev-m')).toBe(12);
        expect(await store.maxSeq('dev-m2')).toBe(40);
        expect(await store.maxSeq('dev-m3')).toBeUndefined();
      });
    });

    describe('anchor queue', () => {
      it('listPending returns queued records oldest receivedAt first, up to the limit; countPending counts them', async () => {
        const base = 1_700_000_000_000;
        await store.putRecord(recordEntry('dev-b', 0, { receivedAt: base + 30 }));
        await store.putRecord(recordEntry('dev-a', 0, { receivedAt: base + 10 }));
        await store.putRecord(recordEntry('dev-a', 1, { receivedAt: base + 20 }));
        // Received in the same millisecond: device, then seq (numerically: 9 before 10).
        await store.putRecord(recordEntry('dev-c', 10, { receivedAt: base + 40 }));
        await store.putRecord(recordEntry('dev-d', 0, { receivedAt: base + 40 }));
        await store.putRecord(recordEntry('dev-c', 9, { receivedAt: base + 40 }));
        expect(await store.countPending()).toBe(6);
        const ids = (rs: RecordEntry[]) => rs.map((r) => r.recordId);
        expect(ids(await store.listPending(100))).toEqual([
          'dev-a.0',
          'dev-a.1',
          'dev-b.0',
          'dev-c.9',
          'dev-c.10',
          'dev-d.0',
        ]);
        expect(ids(await store.listPending(2))).toEqual(['dev-a.0', 'dev-a.1']);
        expect((await store.listPending(1))[0]).toEqual(recordEntry('dev-a', 0, { receivedAt: base + 10 }));
      });

      it('an empty queue lists nothing and counts zero', async () => {
        expect(await store.listPending(10)).toEqual([]);
        expect(await store.countPending()).toBe(0);
      });

      it('assignToBatch places records, takes them out of the queue, and is idempotent', async () => {
        for (let s = 0; s < 5; s++) await store.putRecord(recordEntry('dev-q', s, { receivedAt: 1000 + s }));
        const assignments = [0, 1, 3].map((seq, leafIndex) => ({
          deviceId: 'dev-q',
          seq,
          batchId: 'batch-1',
          leafIndex,
        }));
        await store.assignToBatch(assignments);
        await store.assignToBatch(assignments);
        expect(await store.countPending()).toBe(2);
        expect((await store.listPending(10)).map((r) => r.seq)).toEqual([2, 4]);
        expect((await store.getRecord('dev-q', 3))?.batch).toEqual({ batchId: 'batch-1', leafIndex: 2 });
        expect((await store.getRecord('dev-q', 0))?.batch).toEqual({ batchId: 'batch-1', leafIndex: 0 });
        expect((await store.getRecord('dev-q', 2))?.batch).toBeUndefined();
        // Everything else about the record is unchanged by its placement.
        const { batch: _b, ...rest } = (await store.getRecord('dev-q', 1)) as RecordEntry;
        expect(rest).toEqual(recordEntry('dev-q', 1, { receivedAt: 1001 }));
        await store.assignToBatch([]);
        expect(await store.countPending()).toBe(2);
      });

      it('assignToBatch never moves a record already placed in another batch', async () => {
        await store.putRecord(recordEntry('dev-q', 0));
        await store.assignToBatch([{ deviceId: 'dev-q', seq: 0, batchId: 'batch-1', leafIndex: 4 }]);
        // An adapter may refuse loudly or ignore it; either way the first placement stands.
        await store
          .assignToBatch([{ deviceId: 'dev-q', seq: 0, batchId: 'batch-2', leafIndex: 0 }])
          .catch(() => undefined);
        expect((await store.getRecord('dev-q', 0))?.batch).toEqual({ batchId: 'batch-1', leafIndex: 4 });
        expect(await store.countPending()).toBe(0);
      });

      it('a redelivered record that is already batched stays out of the queue', async () => {
        const e = recordEntry('dev-q', 0);
        await store.putRecord(e);
        await store.assignToBatch([{ deviceId: 'dev-q', seq: 0, batchId: 'batch-1', leafIndex: 0 }]);
        const again = await store.putRecord(e);
        expect(again.outcome).toBe('duplicate');
        expect(await store.countPending()).toBe(0);
        expect((await store.getRecord('dev-q', 0))?.batch).toEqual({ batchId: 'batch-1', leafIndex: 0 });
      });
    });

    describe('ipfs hot copies', () => {
      const cidA = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';
      const cidB = 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH';

      it('setIpfsCid records the CID; the same CID again keeps the first pinnedAt', async () => {
        const e = recordEntry('dev-h', 0);
        await store.putRecord(e);
        expect((await store.getRecord('dev-h', 0))?.ipfs).toBeUndefined();
        await store.setIpfsCid('dev-h', 0, cidA, 5000);
        await store.setIpfsCid('dev-h', 0, cidA, 6000);
        expect(await store.getRecord('dev-h', 0)).toEqual({ ...e, ipfs: { cid: cidA, pinnedAt: 5000 } });
        // Pinning is not anchoring: the record stays queued for its batch.
        expect(await store.countPending()).toBe(1);
      });

      it('setIpfsCid with another CID replaces the first', async () => {
        await store.putRecord(recordEntry('dev-h', 1));
        await store.setIpfsCid('dev-h', 1, cidA, 5000);
        await store.setIpfsCid('dev-h', 1, cidB, 7000);
        expect((await store.getRecord('dev-h', 1))?.ipfs).toEqual({ cid: cidB, pinnedAt: 7000 });
      });

      it('setIpfsCid of an unknown record creates nothing', async () => {
        await store.putRecord(recordEntry('dev-h', 0));
        await store.setIpfsCid('dev-h', 9, cidA, 5000);
        await store.setIpfsCid('dev-none', 0, cidA, 5000);
        expect(await store.getRecord('dev-h', 9)).toBeUndefined();
        expect(await store.getRecord('dev-none', 0)).toBeUndefined();
        expect(await store.maxSeq('dev-h')).toBe(0);
        expect(await store.countPending()).toBe(1);
      });

      it('the CID and the batch placement are independent, in either order, and every read returns both', async () => {
        const t0 = 1_700_000_000_000;
        for (let s = 0; s < 3; s++)
          await store.putRecord(recordEntry('dev-h', s, { timestamp: t0 + s, receivedAt: t0 + s }));
        await store.setIpfsCid('dev-h', 0, cidA, 5000);
        await store.assignToBatch([{ deviceId: 'dev-h', seq: 0, batchId: 'batch-h', leafIndex: 0 }]);
        await store.assignToBatch([{ deviceId: 'dev-h', seq: 1, batchId: 'batch-h', leafIndex: 1 }]);
        await store.setIpfsCid('dev-h', 1, cidB, 6000);
        const expected0 = {
          ...recordEntry('dev-h', 0, { timestamp: t0, receivedAt: t0 }),
          batch: { batchId: 'batch-h', leafIndex: 0 },
          ipfs: { cid: cidA, pinnedAt: 5000 },
        };
        expect(await store.getRecord('dev-h', 0)).toEqual(expected0);
        expect(await store.getRecord('dev-h', 1)).toMatchObject({
          batch: { batchId: 'batch-h', leafIndex: 1 },
          ipfs: { cid: cidB, pinnedAt: 6000 },
        });
        expect(
          (await store.listBySeq('dev-h', { fromSeq: 0, toSeq: 2, limit: 10 })).map((r) => r.ipfs),
        ).toEqual([{ cid: cidA, pinnedAt: 5000 }, { cid: cidB, pinnedAt: 6000 }, undefined]);
        expect((await store.listByTime('dev-h', { from: t0, to: t0 + 10, limit: 10 })).items[0]).toEqual(
          expected0,
        );
        // A redelivery's duplicate answer carries the stored entry, CID included.
        const again = await store.putRecord(recordEntry('dev-h', 0, { timestamp: t0, receivedAt: t0 + 99 }));
        expect(again).toEqual({ outcome: 'duplicate', existing: expected0 });
        await store.setIpfsCid('dev-h', 2, cidA, 8000);
        expect((await store.listPending(10)).map((r) => [r.seq, r.ipfs])).toEqual([
          [2, { cid: cidA, pinnedAt: 8000 }],
        ]);
      });
    });

    describe('cursors', () => {
      it('every list refuses a cursor it could not have issued with invalid-cursor, even on an empty store', async () => {
        await expectEveryCursorRefused([
          ['listByTime', (cursor) => store.listByTime('dev-1', { from: 0, to: 10, limit: 5, cursor })],
        ]);
      });
    });
  });
}
