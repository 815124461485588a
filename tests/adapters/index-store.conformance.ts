/**
 * Conformance suite for the IndexStore port (lib/ports.ts): record index and anchor queue, batches (their
 * anchors written through lib/anchor's addAnchor, over the port's compare-and-set), device registry, dead
 * letters and audit log. Every adapter runs it unchanged, e.g.:
 *
 *   describeIndexStoreConformance('SqliteIndexStore', async () => ({ store, cleanup }));
 *
 * `make` is called once per test and must return an empty store; `cleanup` must also close it. Ordering is
 * asserted only where the port promises one; paging is asserted to visit every item exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addAnchor, anchorSlot } from '../../lib/anchor/anchor-slots.js';
import { toBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import { NotaryError } from '../../lib/core/errors.js';
import { sha256 } from '../../lib/core/hash.js';
import type {
  AnchorRef,
  AuditEvent,
  BatchEntry,
  DeadLetter,
  DeviceEntry,
  DeviceKey,
  DeviceKeyRegistry,
  IndexStore,
  Page,
  RecordEntry,
} from '../../lib/ports.js';

export interface IndexStoreFixture {
  store: IndexStore & DeviceKeyRegistry;
  /** Closes the store and removes whatever backs it. */
  cleanup(): Promise<void>;
}

// ------------------------------------------------------------------------------------------ fixtures

const hex32 = (s: string): string => toHex(sha256(utf8(s)));

/** A well-formed index entry; `variant` changes the content (and so the record hash) for the same seq. */
export function recordEntry(
  deviceId: string,
  seq: number,
  over: Partial<RecordEntry> & { variant?: string } = {},
): RecordEntry {
  const { variant = 'a', ...rest } = over;
  const recordHash = hex32(`record ${deviceId} ${seq} ${variant}`);
  return {
    recordId: `${deviceId}.${seq}`,
    deviceId,
    seq,
    timestamp: 1_700_000_000_000 + seq * 1000,
    receivedAt: 1_700_000_000_500 + seq * 1000,
    recordHash,
    prevHash: seq === 0 ? '0'.repeat(64) : hex32(`record ${deviceId} ${seq - 1} a`),
    ciphertextHash: hex32(`ct ${deviceId} ${seq} ${variant}`),
    ciphertextLength: 64 + seq,
    envelopeSize: 200 + seq,
    header: toBase64(utf8(`header ${deviceId} ${seq} ${variant}`)),
    objectKey: `records/${deviceId}/${recordHash}`,
    via: 'inline',
    ...rest,
  };
}

export function batchEntry(batchId: string, over: Partial<BatchEntry> = {}): BatchEntry {
  return {
    batchId,
    root: hex32(`root ${batchId}`),
    size: 3,
    createdAt: 1_700_000_100_000,
    state: 'built',
    treeKey: `batches/${batchId}/tree`,
    anchors: [],
    ...over,
  };
}

export function deviceEntry(deviceId: string, over: Partial<DeviceEntry> = {}): DeviceEntry {
  return {
    deviceId,
    createdAt: 1_700_000_000_000,
    status: 'active',
    credentialHash: hex32(`password of ${deviceId}`),
    wrappedMasterKey: toBase64(utf8(`wrapped key of ${deviceId}`)),
    keys: [],
    allowUnsigned: true,
    keysRevision: 0,
    ...over,
  };
}

/** A key as lib/devices/device-keys.ts records it; the store keeps it verbatim. */
export function deviceKey(name: string, over: Partial<DeviceKey> = {}): DeviceKey {
  return {
    keyId: hex32(`key ${name}`),
    alg: 'ed25519',
    publicKey: toBase64(sha256(utf8(`public key ${name}`))),
    status: 'active',
    registeredBy: { statementId: `dev-1:${hex32(`register ${name}`)}`, type: 'register', at: 1000 },
    ...over,
  };
}

export function deadLetter(id: string, at: number, over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    id,
    at,
    source: 'mqtt',
    code: 'schema-invalid',
    reason: `reason ${id}`,
    payloadSize: 3,
    payloadSha256: hex32(`payload ${id}`),
    payload: toBase64(utf8('abc')),
    truncated: false,
    ...over,
  };
}

export function auditEvent(id: string, at: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id,
    at,
    actor: 'operator',
    action: 'device-provisioned',
    target: `dev-${id}`,
    outcome: 'succeeded',
    ...over,
  };
}

/** Follows `next` cursors to the end, checking every page keeps to the limit. */
async function collectPages<T>(
  limit: number,
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await fetchPage(cursor);
    pages++;
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    if (page.next === undefined) return { items, pages };
    expect(page.items.length).toBeGreaterThan(0);
    if (pages > 1000) throw new Error('paging does not terminate');
    cursor = page.next;
  }
}

const withCursor = <Q extends object>(q: Q, cursor: string | undefined): Q & { cursor?: string } =>
  cursor === undefined ? q : { ...q, cursor };

// ------------------------------------------------------------------------------------------ suite

export function describeIndexStoreConformance(name: string, make: () => Promise<IndexStoreFixture>): void {
  describe(`IndexStore conformance: ${name}`, () => {
    let fx: IndexStoreFixture;
    let store: IndexStore & DeviceKeyRegistry;
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
        const packKey = 'records/dev-pk/packs/' + 'ab'.repeat(32);
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

    describe('batches', () => {
      it('putBatch creates once; a second put of the id reports exists and changes nothing', async () => {
        const b = batchEntry('b-0001');
        expect(await store.putBatch(b)).toBe('created');
        expect(await store.putBatch({ ...b, root: hex32('other root'), size: 99 })).toBe('exists');
        expect(await store.getBatch('b-0001')).toEqual(b);
        expect(await store.getBatch('b-9999')).toBeUndefined();
      });

      it('addAnchor records one anchor per chain, replaces it on repeat, and sets the state', async () => {
        await store.putBatch(batchEntry('b-0001'));
        const a1 = { chainId: 'embedded:aaaa', txId: 'tx-1', submittedAt: 1_700_000_200_000 };
        await addAnchor(store, 'b-0001', a1, 'built');
        await addAnchor(store, 'b-0001', a1, 'built');
        expect(await store.getBatch('b-0001')).toMatchObject({ state: 'built', anchors: [a1] });
        const a2 = { chainId: 'evm:31337', txId: '0xbeef', submittedAt: 1_700_000_200_001 };
        await addAnchor(store, 'b-0001', a2, 'anchored');
        await addAnchor(store, 'b-0001', a2, 'anchored');
        const got = await store.getBatch('b-0001');
        expect(got?.state).toBe('anchored');
        expect(got?.anchors).toHaveLength(2);
        expect(got?.anchors).toEqual(expect.arrayContaining([a1, a2]));
        const a1b = { ...a1, txId: 'tx-1-retried', submittedAt: 1_700_000_300_000 };
        await addAnchor(store, 'b-0001', a1b, 'anchored');
        const again = await store.getBatch('b-0001');
        expect(again?.anchors).toHaveLength(2);
        expect(again?.anchors).toEqual(expect.arrayContaining([a1b, a2]));
        expect(again).toMatchObject({
          root: batchEntry('b-0001').root,
          size: 3,
          treeKey: 'batches/b-0001/tree',
        });
      });

      it('compareAndSetAnchors writes only at the version read: the second of two writers gets a conflict', async () => {
        await store.putBatch(batchEntry('b-v'));
        const read = await store.getBatchVersioned('b-v');
        expect(read?.batch).toEqual(batchEntry('b-v'));
        const v0 = read?.version as number;
        const mine = { chainId: 'evm:1', txId: '0x01', submittedAt: 1, nextCheckAt: 7000 };
        const theirs = { chainId: 'bigbang:testnet', txId: 'bb01', submittedAt: 2 };
        // Both read v0; both write. Exactly one lands, whichever the store took first.
        const results = await Promise.all([
          store.compareAndSetAnchors('b-v', v0, { anchors: [mine], state: 'built' }),
          store.compareAndSetAnchors('b-v', v0, { anchors: [theirs], state: 'anchored' }),
        ]);
        expect(results.map((r) => r.status).sort()).toEqual(['conflict', 'written']);
        const won = results[0]?.status === 'written' ? mine : theirs;
        const after = await store.getBatchVersioned('b-v');
        expect(after?.batch.anchors).toEqual([won]);
        expect(after?.version).toBe(v0 + 1);
        expect(results.find((r) => r.status === 'written')).toEqual({ status: 'written', version: v0 + 1 });
        // The loser reads again and writes over the new version; the due key follows what was written.
        const again = await store.compareAndSetAnchors('b-v', v0 + 1, {
          anchors: [mine, theirs],
          state: 'built',
        });
        expect(again).toEqual({ status: 'written', version: v0 + 2 });
        expect((await store.listAnchorsDue(7000, 10)).map((b) => b.batchId)).toEqual(['b-v']);
        expect(await store.compareAndSetAnchors('b-v', v0, { anchors: [], state: 'built' })).toEqual({
          status: 'conflict',
        });
        expect(await store.compareAndSetAnchors('b-none', 0, { anchors: [], state: 'built' })).toEqual({
          status: 'not-found',
        });
        expect(await store.getBatchVersioned('b-none')).toBeUndefined();
      });

      it('two concurrent writers adding anchors to one batch lose neither one', async () => {
        await store.putBatch(batchEntry('b-c'));
        // Two anchorers (say a submit path and a finality poller), each writing five slots of its own, one
        // after another, interleaved with the other: every write must land on top of the other's.
        const writer = (chainId: string) => async () => {
          for (let part = 0; part < 5; part++) {
            const a: AnchorRef = {
              chainId,
              txId: `${chainId}-${part}`,
              submittedAt: 1000 + part,
              kind: 'inline',
              part,
              nextCheckAt: 5000 + part,
            };
            await addAnchor(store, 'b-c', a, 'built');
          }
        };
        await Promise.all([writer('evm:1')(), writer('bigbang:testnet')()]);
        const got = await store.getBatch('b-c');
        expect(got?.anchors.map((a) => a.txId).sort()).toEqual(
          ['bigbang:testnet', 'evm:1'].flatMap((c) => [0, 1, 2, 3, 4].map((p) => `${c}-${p}`)).sort(),
        );
        // The due key follows the merged anchors, not either writer's own view.
        expect((await store.listAnchorsDue(5000, 10)).map((b) => b.batchId)).toEqual(['b-c']);
      });

      it('listUnanchored returns built batches oldest first and drops them once anchored', async () => {
        await store.putBatch(batchEntry('b-3', { createdAt: 3000 }));
        await store.putBatch(batchEntry('b-1', { createdAt: 1000 }));
        await store.putBatch(batchEntry('b-2', { createdAt: 2000 }));
        await store.putBatch(batchEntry('b-0', { createdAt: 500, state: 'anchored' }));
        expect((await store.listUnanchored()).map((b) => b.batchId)).toEqual(['b-1', 'b-2', 'b-3']);
        await addAnchor(
          store,
          'b-2',
          { chainId: 'embedded:aaaa', txId: 'tx', submittedAt: 4000 },
          'anchored',
        );
        const rest = await store.listUnanchored();
        expect(rest.map((b) => b.batchId)).toEqual(['b-1', 'b-3']);
        expect(rest[0]).toEqual(batchEntry('b-1', { createdAt: 1000 }));
      });

      it("a 'final' batch is neither unanchored nor due; every state round-trips", async () => {
        await store.putBatch(batchEntry('b-f', { createdAt: 100, state: 'final' }));
        await store.putBatch(batchEntry('b-b', { createdAt: 200 }));
        expect((await store.getBatch('b-f'))?.state).toBe('final');
        expect((await store.listUnanchored()).map((b) => b.batchId)).toEqual(['b-b']);
        const a = { chainId: 'evm:31337', txId: '0x01', submittedAt: 300, phase: 'final' as const };
        await addAnchor(store, 'b-b', a, 'final');
        expect(await store.getBatch('b-b')).toMatchObject({ state: 'final', anchors: [a] });
        expect(await store.listUnanchored()).toEqual([]);
        expect(await store.listAnchorsDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      });

      it('listAnchorsDue lists batches by their earliest nextCheckAt <= now, up to the limit, and forgets settled ones', async () => {
        const due = (chainId: string, nextCheckAt: number | undefined, over: Partial<AnchorRef> = {}) => ({
          chainId,
          txId: `tx-${chainId}-${nextCheckAt}`,
          submittedAt: 1000,
          phase: nextCheckAt === undefined ? ('final' as const) : ('submitted' as const),
          ...(nextCheckAt === undefined ? {} : { nextCheckAt }),
          ...over,
        });
        // Written with anchors already in place (putBatch) and added later (addAnchor): both keep the key.
        await store.putBatch(batchEntry('b-1', { createdAt: 1, anchors: [due('evm:1', 5000)] }));
        await store.putBatch(batchEntry('b-2', { createdAt: 2 }));
        await addAnchor(store, 'b-2', due('evm:1', 3000), 'built');
        await addAnchor(store, 'b-2', due('embedded:aa', 9000), 'built');
        await store.putBatch(batchEntry('b-3', { createdAt: 3 }));
        await addAnchor(store, 'b-3', due('embedded:aa', undefined), 'built');
        await store.putBatch(batchEntry('b-4', { createdAt: 4, anchors: [due('evm:1', 4000)] }));

        const ids = async (now: number, limit = 10) =>
          (await store.listAnchorsDue(now, limit)).map((b) => b.batchId);
        expect(await ids(2999)).toEqual([]);
        expect(await ids(3000)).toEqual(['b-2']);
        expect(await ids(10_000)).toEqual(['b-2', 'b-4', 'b-1']);
        expect(await ids(10_000, 2)).toEqual(['b-2', 'b-4']);
        const got = (await store.listAnchorsDue(3000, 1))[0];
        expect(got?.anchors).toHaveLength(2);

        // The evm anchor of b-2 settles: the batch is now due at its other anchor's time.
        await addAnchor(store, 'b-2', due('evm:1', undefined), 'built');
        expect(await ids(5000)).toEqual(['b-4', 'b-1']);
        expect(await ids(9000)).toEqual(['b-4', 'b-1', 'b-2']);
        // Both settle: no longer due at all.
        await addAnchor(store, 'b-2', due('embedded:aa', undefined), 'final');
        expect(await ids(Number.MAX_SAFE_INTEGER)).toEqual(['b-4', 'b-1']);
        expect(await store.listAnchorsDue(10_000, 0)).toEqual([]);
      });

      it('inline anchors have their own slot per part; the planned inline parts round-trip', async () => {
        const inline = [
          { chainId: 'evm:1', records: ['d.0', 'd.1'], dataBytes: 400 },
          { chainId: 'evm:1', records: ['d.2'], dataBytes: 210 },
        ];
        await store.putBatch(batchEntry('b-i', { inline }));
        const root = { chainId: 'evm:1', txId: '0xr', submittedAt: 1, kind: 'root' as const };
        const p0 = { chainId: 'evm:1', txId: '0xa', submittedAt: 2, kind: 'inline' as const, part: 0 };
        const p1 = { chainId: 'evm:1', txId: '0xb', submittedAt: 3, kind: 'inline' as const, part: 1 };
        await addAnchor(store, 'b-i', root, 'built');
        await addAnchor(store, 'b-i', p0, 'built');
        await addAnchor(store, 'b-i', p1, 'built');
        const p0b = { ...p0, txId: '0xa2', attempt: 2, replaced: ['0xa'] };
        await addAnchor(store, 'b-i', p0b, 'built');
        const got = await store.getBatch('b-i');
        expect(got?.inline).toEqual(inline);
        expect(got?.anchors).toHaveLength(3);
        expect(got?.anchors).toEqual(expect.arrayContaining([root, p0b, p1]));
        expect(anchorSlot(p0)).not.toBe(anchorSlot(root));
      });

      it('listBatches pages through every batch exactly once', async () => {
        const ids = Array.from({ length: 11 }, (_, i) => `b-${String(i).padStart(4, '0')}`);
        for (const [i, id] of ids.entries()) await store.putBatch(batchEntry(id, { createdAt: 1000 + i }));
        const { items, pages } = await collectPages(4, (c) => store.listBatches(withCursor({ limit: 4 }, c)));
        expect(pages).toBeGreaterThanOrEqual(3);
        expect(items.map((b) => b.batchId).sort()).toEqual(ids);
        expect(items.find((b) => b.batchId === 'b-0003')).toEqual(batchEntry('b-0003', { createdAt: 1003 }));
        expect((await store.listBatches({ limit: 50 })).next).toBeUndefined();
      });

      it('listBatches on an empty store is one empty page', async () => {
        const page = await store.listBatches({ limit: 10 });
        expect(page.items).toEqual([]);
        expect(page.next).toBeUndefined();
      });
    });

    describe('devices', () => {
      it('createDevice creates once; a second create reports exists and keeps the first', async () => {
        const d = deviceEntry('dev-1');
        expect(await store.createDevice(d)).toBe('created');
        expect(
          await store.createDevice({ ...d, credentialHash: hex32('attacker'), status: 'disabled' }),
        ).toBe('exists');
        expect(await store.getDevice('dev-1')).toEqual(d);
        expect(await store.getDevice('dev-2')).toBeUndefined();
      });

      it('setCredentialHash replaces only the credential hash', async () => {
        const d = deviceEntry('dev-1', { status: 'disabled' });
        await store.createDevice(d);
        await store.setCredentialHash('dev-1', hex32('new password'));
        expect(await store.getDevice('dev-1')).toEqual({ ...d, credentialHash: hex32('new password') });
      });

      it('a device is created with its keys and allowUnsigned, and reads back as written', async () => {
        const d = deviceEntry('dev-1', { keys: [deviceKey('a')], allowUnsigned: false });
        expect(await store.createDevice(d)).toBe('created');
        expect(await store.getDevice('dev-1')).toEqual(d);
        expect((await store.listDevices({ limit: 10 })).items).toEqual([d]);
      });

      it('updateDeviceKeys replaces keys and allowUnsigned at the expected revision, and bumps it', async () => {
        await store.createDevice(deviceEntry('dev-1'));
        const a = deviceKey('a');
        expect(await store.updateDeviceKeys('dev-1', { keys: [a], allowUnsigned: false }, 0)).toBe('updated');
        expect(await store.getDevice('dev-1')).toEqual(
          deviceEntry('dev-1', { keys: [a], allowUnsigned: false, keysRevision: 1 }),
        );
        const rotated = [
          {
            ...a,
            status: 'revoked' as const,
            revokedBy: { statementId: `dev-1:${hex32('rot')}`, type: 'rotate' as const, at: 2000 },
          },
          deviceKey('b', { alg: 'p256' }),
        ];
        expect(await store.updateDeviceKeys('dev-1', { keys: rotated, allowUnsigned: false }, 1)).toBe(
          'updated',
        );
        const stored = await store.getDevice('dev-1');
        expect(stored?.keys).toEqual(rotated);
        expect(stored?.keysRevision).toBe(2);
        // Credentials are a separate field: rotating them leaves the keys and the revision alone.
        await store.setCredentialHash('dev-1', hex32('other'));
        expect((await store.getDevice('dev-1'))?.keysRevision).toBe(2);
      });

      it('updateDeviceKeys at a stale revision is a conflict that writes nothing; unknown devices are not created', async () => {
        await store.createDevice(deviceEntry('dev-1'));
        await store.updateDeviceKeys('dev-1', { keys: [deviceKey('a')], allowUnsigned: true }, 0);
        expect(await store.updateDeviceKeys('dev-1', { keys: [], allowUnsigned: false }, 0)).toBe('conflict');
        expect(await store.getDevice('dev-1')).toEqual(
          deviceEntry('dev-1', { keys: [deviceKey('a')], keysRevision: 1 }),
        );
        expect(await store.updateDeviceKeys('dev-9', { keys: [], allowUnsigned: false }, 0)).toBe(
          'not-found',
        );
        expect(await store.getDevice('dev-9')).toBeUndefined();
      });

      it('concurrent updateDeviceKeys at one revision: exactly one is applied', async () => {
        await store.createDevice(deviceEntry('dev-1'));
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.updateDeviceKeys('dev-1', { keys: [deviceKey(`k${i}`)], allowUnsigned: false }, 0),
          ),
        );
        expect(results.filter((r) => r === 'updated')).toHaveLength(1);
        expect(results.filter((r) => r === 'conflict')).toHaveLength(9);
        const winner = results.indexOf('updated');
        expect((await store.getDevice('dev-1'))?.keys).toEqual([deviceKey(`k${winner}`)]);
      });

      it('listDevices pages through every device exactly once', async () => {
        const ids = Array.from({ length: 9 }, (_, i) => `dev-${String(i).padStart(3, '0')}`);
        for (const id of [...ids].reverse()) await store.createDevice(deviceEntry(id));
        const { items, pages } = await collectPages(2, (c) => store.listDevices(withCursor({ limit: 2 }, c)));
        expect(pages).toBeGreaterThanOrEqual(5);
        expect(items.map((d) => d.deviceId).sort()).toEqual(ids);
        expect(items.find((d) => d.deviceId === 'dev-004')).toEqual(deviceEntry('dev-004'));
        const one = await store.listDevices({ limit: 100 });
        expect(one.items).toHaveLength(9);
        expect(one.next).toBeUndefined();
      });
    });

    describe('dead letters', () => {
      it('lists newest first with all fields, and pages through every entry exactly once', async () => {
        const entries = [
          deadLetter('dl-1', 1000, {
            deviceId: 'dev-a',
            topic: 'devices/dev-a/records',
            clientId: 'dev-a',
            seq: 4,
          }),
          deadLetter('dl-2', 3000),
          deadLetter('dl-3', 2000, {
            deviceId: 'dev-b',
            source: 'upload',
            truncated: true,
            payloadSize: 20000,
          }),
          deadLetter('dl-4', 5000, { deviceId: 'dev-a', code: 'sequence-replayed' }),
          deadLetter('dl-5', 4000, { source: 'broker', clientId: 'intruder' }),
        ];
        for (const d of entries) await store.putDeadLetter(d);
        const all = await store.listDeadLetters({ limit: 100 });
        expect(all.items.map((d) => d.id)).toEqual(['dl-4', 'dl-5', 'dl-2', 'dl-3', 'dl-1']);
        expect(all.next).toBeUndefined();
        expect(all.items.find((d) => d.id === 'dl-1')).toEqual(entries[0]);
        expect(all.items.find((d) => d.id === 'dl-3')).toEqual(entries[2]);
        const paged = await collectPages(2, (c) => store.listDeadLetters(withCursor({ limit: 2 }, c)));
        expect(paged.items.map((d) => d.id)).toEqual(['dl-4', 'dl-5', 'dl-2', 'dl-3', 'dl-1']);
      });

      it('filters by device, newest first, with paging', async () => {
        for (let i = 0; i < 7; i++) {
          await store.putDeadLetter(deadLetter(`dl-a${i}`, 1000 + i, { deviceId: 'dev-a' }));
          await store.putDeadLetter(deadLetter(`dl-b${i}`, 1000 + i, { deviceId: 'dev-b' }));
        }
        await store.putDeadLetter(deadLetter('dl-none', 2000));
        const { items } = await collectPages(3, (c) =>
          store.listDeadLetters(withCursor({ limit: 3, deviceId: 'dev-a' }, c)),
        );
        expect(items.map((d) => d.id)).toEqual([
          'dl-a6',
          'dl-a5',
          'dl-a4',
          'dl-a3',
          'dl-a2',
          'dl-a1',
          'dl-a0',
        ]);
        expect((await store.listDeadLetters({ limit: 10, deviceId: 'dev-z' })).items).toEqual([]);
        expect((await store.listDeadLetters({ limit: 100 })).items).toHaveLength(15);
      });

      it('keeps the address and an aggregate’s count and first and last time', async () => {
        const single = deadLetter('dl-one', 1000, { source: 'broker', remoteAddress: '192.0.2.7' });
        const aggregate = deadLetter('dl-agg', 9000, {
          source: 'upload',
          code: 'rate-limited',
          remoteAddress: '2001:db8::1',
          deviceId: 'dev-a',
          count: 1234,
          firstAt: 2000,
          lastAt: 9000,
          payloadSize: 0,
        });
        await store.putDeadLetter(single);
        await store.putDeadLetter(aggregate);
        expect((await store.listDeadLetters({ limit: 10 })).items).toEqual([aggregate, single]);
        expect((await store.listDeadLetters({ limit: 10, deviceId: 'dev-a' })).items).toEqual([aggregate]);
      });

      it('prunes entries older than a time, then the oldest beyond a row cap, at most a limit a call', async () => {
        for (let i = 0; i < 10; i++) {
          await store.putDeadLetter(deadLetter(`dl-${i}`, 1000 + i * 100, { deviceId: 'dev-p' }));
        }
        const ids = async () => (await store.listDeadLetters({ limit: 100 })).items.map((d) => d.id);
        // Older than 1300: dl-0, dl-1, dl-2; nothing beyond the cap yet.
        expect(await store.pruneDeadLetters({ before: 1300, keep: 100, limit: 100 })).toBe(3);
        expect(await ids()).toEqual(['dl-9', 'dl-8', 'dl-7', 'dl-6', 'dl-5', 'dl-4', 'dl-3']);
        // The cap keeps the newest: a limit of 2 removes the two oldest, the next call the rest.
        expect(await store.pruneDeadLetters({ before: 0, keep: 3, limit: 2 })).toBe(2);
        expect(await ids()).toEqual(['dl-9', 'dl-8', 'dl-7', 'dl-6', 'dl-5']);
        expect(await store.pruneDeadLetters({ before: 0, keep: 3, limit: 100 })).toBe(2);
        expect(await ids()).toEqual(['dl-9', 'dl-8', 'dl-7']);
        expect(await store.pruneDeadLetters({ before: 1300, keep: 3, limit: 100 })).toBe(0);
        // Both rules in one call, the expired ones counted first.
        expect(await store.pruneDeadLetters({ before: 1800, keep: 0, limit: 2 })).toBe(2);
        expect(await ids()).toEqual(['dl-9']);
        const page = await store.listDeadLetters({ limit: 10, deviceId: 'dev-p' });
        expect(page.items.map((d) => d.id)).toEqual(['dl-9']);
      });

      it('pages across entries written in the same millisecond without skipping or repeating', async () => {
        const ids = Array.from({ length: 10 }, (_, i) => `dl-${i}`);
        for (const id of ids) await store.putDeadLetter(deadLetter(id, 7777));
        await store.putDeadLetter(deadLetter('dl-newer', 8888));
        const { items } = await collectPages(3, (c) => store.listDeadLetters(withCursor({ limit: 3 }, c)));
        expect(items[0]?.id).toBe('dl-newer');
        expect(items.map((d) => d.id).sort()).toEqual([...ids, 'dl-newer'].sort());
      });
    });

    describe('audit log', () => {
      it('lists newest first with all fields, and pages through every event exactly once', async () => {
        const events = [
          auditEvent('au-1', 1000),
          auditEvent('au-2', 3000, {
            action: 'record-key-released',
            target: 'dev-1.4',
            reason: 'court order 17',
          }),
          auditEvent('au-3', 2000, { action: 'credential-rotated' }),
          auditEvent('au-4', 2000, { actor: 'someone-else' }),
          auditEvent('au-5', 4000, {
            action: 'record-key-released',
            target: 'dev-1.5',
            reason: 'court order 18',
            outcome: 'failed',
            error: { code: 'unwrap-failed', message: 'cannot unwrap: wrong vault key or context' },
          }),
        ];
        for (const e of events) await store.appendAudit(e);
        const all = await store.listAudit({ limit: 10 });
        expect(all.items.map((e) => e.at)).toEqual([4000, 3000, 2000, 2000, 1000]);
        expect(all.items.find((e) => e.id === 'au-2')).toEqual(events[1]);
        expect(all.items.find((e) => e.id === 'au-1')).toEqual(events[0]);
        // A failed action is kept with its outcome and error, so the log never claims what did not happen.
        expect(all.items.find((e) => e.id === 'au-5')).toEqual(events[4]);
        expect(all.next).toBeUndefined();
        const paged = await collectPages(2, (c) => store.listAudit(withCursor({ limit: 2 }, c)));
        expect(paged.items.map((e) => e.at)).toEqual([4000, 3000, 2000, 2000, 1000]);
        expect(paged.items.map((e) => e.id).sort()).toEqual(['au-1', 'au-2', 'au-3', 'au-4', 'au-5']);
      });

      it('an empty log is one empty page', async () => {
        expect(await store.listAudit({ limit: 5 })).toEqual({ items: [] });
      });

      it('keeps the details of an entry exactly, numbers as numbers', async () => {
        const e = auditEvent('au-d', 5000, {
          action: 'record-keys-released',
          actor: 'auditor:tok-1',
          target: 'sensor-001',
          reason: 'annual audit',
          details: { from: 1000, to: 2000, count: 17, range: 'time' },
        });
        await store.appendAudit(e);
        expect((await store.listAudit({ limit: 1 })).items[0]).toEqual(e);
      });
    });

    describe('cursors', () => {
      const json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const garbage: [string, string][] = [
        ['empty', ''],
        ['not base64url', 'not a cursor!'],
        ['base64url of no JSON', Buffer.from('{oops').toString('base64url')],
        ['JSON that is no array', json({ at: 1 })],
        ['too long', 'A'.repeat(513)],
        ['an array of the wrong length', json([1, 'x', 3])],
        ['a negative number', json([-1, -1])],
        ['a fraction', json([1.5, 'x'])],
        ['a number past 2^53', json([2 ** 60, 'x'])],
        ['null where a string belongs', json([null])],
      ];
      const lists: [string, (cursor: string) => Promise<unknown>][] = [
        ['listByTime', (cursor) => store.listByTime('dev-1', { from: 0, to: 10, limit: 5, cursor })],
        ['listBatches', (cursor) => store.listBatches({ limit: 5, cursor })],
        ['listDevices', (cursor) => store.listDevices({ limit: 5, cursor })],
        ['listDeadLetters', (cursor) => store.listDeadLetters({ limit: 5, cursor })],
        ['listDeadLetters by device', (cursor) => store.listDeadLetters({ limit: 5, cursor, deviceId: 'd' })],
        ['listAudit', (cursor) => store.listAudit({ limit: 5, cursor })],
      ];

      it('every list refuses a cursor it could not have issued with invalid-cursor, even on an empty store', async () => {
        for (const [list, call] of lists) {
          for (const [what, cursor] of garbage) {
            const err = await call(cursor).then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(err, `${list}: ${what}`).toBeInstanceOf(NotaryError);
            expect((err as NotaryError).code, `${list}: ${what}`).toBe('invalid-cursor');
          }
        }
      });

      it("a cursor of another list's shape is refused too; a well-formed position is served", async () => {
        await expect(store.listAudit({ limit: 5, cursor: json(['dev-1']) })).rejects.toMatchObject({
          code: 'invalid-cursor',
        });
        await expect(store.listDevices({ limit: 5, cursor: json([5, 'x']) })).rejects.toMatchObject({
          code: 'invalid-cursor',
        });
        // A position between items needs no item at it: the page after it is served.
        await store.appendAudit(auditEvent('au-1', 1000));
        expect((await store.listAudit({ limit: 5, cursor: json([2000, 'au-9']) })).items).toHaveLength(1);
        expect((await store.listAudit({ limit: 5, cursor: json([500, 'au-0']) })).items).toHaveLength(0);
      });
    });
  });
}
