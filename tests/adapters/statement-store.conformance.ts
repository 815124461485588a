/**
 * Conformance suite for the StatementStore port (lib/ports.ts): key events and device heads, stored once by
 * content, queued for anchoring like records, listed in the orders the API and the anchorer rely on. Every
 * adapter runs it unchanged; `make` returns an empty store, `cleanup` closes it and removes what backs it.
 *
 * The leaves here are opaque bytes: the store never parses them (lib/devices does), it keeps them verbatim.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { concatBytes, toBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { type StatementEntry, type StatementStore, statementIdOf } from '../../lib/ports.js';

export interface StatementStoreFixture {
  store: StatementStore;
  cleanup(): Promise<void>;
}

const leafOf = (text: string) => utf8(text);
const leafHashOf = (leaf: Uint8Array) => toHex(sha256(concatBytes(new Uint8Array([0]), leaf)));

/** A head of `deviceId` with `count` records at device time `time`; `variant` changes its bytes. */
export function headEntry(
  deviceId: string,
  count: number,
  time: number,
  over: Partial<StatementEntry> & { variant?: string } = {},
): StatementEntry {
  const { variant = 'a', ...rest } = over;
  const leaf = leafOf(`IOTH ${deviceId} ${count} ${time} ${variant}`);
  const leafHash = leafHashOf(leaf);
  return {
    statementId: statementIdOf(deviceId, leafHash),
    deviceId,
    kind: 'head',
    leaf: toBase64(leaf),
    leafHash,
    receivedAt: time + 50,
    head: { count, time },
    ...rest,
  };
}

export function keyEventEntry(
  deviceId: string,
  type: 'register' | 'rotate' | 'revoke',
  key: string,
  receivedAt: number,
): StatementEntry {
  const leaf = leafOf(`IOTK ${deviceId} ${type} ${key} ${receivedAt}`);
  const leafHash = leafHashOf(leaf);
  return {
    statementId: statementIdOf(deviceId, leafHash),
    deviceId,
    kind: 'key-event',
    leaf: toBase64(leaf),
    leafHash,
    receivedAt,
    keyEvent: { type, keyId: toHex(sha256(utf8(key))) },
  };
}

async function allPages(
  fetchPage: (cursor: string | undefined) => Promise<{ items: StatementEntry[]; next?: string }>,
  limit: number,
): Promise<StatementEntry[]> {
  const out: StatementEntry[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await fetchPage(cursor);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    out.push(...page.items);
    if (page.next === undefined) return out;
    expect(page.items.length).toBeGreaterThan(0);
    cursor = page.next;
  }
  throw new Error('paging does not terminate');
}

const withCursor = <Q extends object>(q: Q, cursor: string | undefined): Q & { cursor?: string } =>
  cursor === undefined ? q : { ...q, cursor };

export function describeStatementStoreConformance(
  name: string,
  make: () => Promise<StatementStoreFixture>,
): void {
  describe(`StatementStore conformance: ${name}`, () => {
    let fx: StatementStoreFixture;
    let store: StatementStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe('writes', () => {
      it('putStatement creates once; the same leaf again is a duplicate that returns the first entry', async () => {
        const h = headEntry('dev-a', 5, 1_700_000_000_000);
        expect(await store.putStatement(h)).toEqual({ outcome: 'created' });
        const again = { ...h, receivedAt: h.receivedAt + 9000 };
        expect(await store.putStatement(again)).toEqual({ outcome: 'duplicate', existing: h });
        expect(await store.getStatement('dev-a', h.leafHash)).toEqual(h);
        expect(await store.countPending()).toBe(1);
      });

      it('key events read back with their type and key id; unknown ones are undefined', async () => {
        const e = keyEventEntry('dev-a', 'register', 'k1', 1000);
        await store.putStatement(e);
        expect(await store.getStatement('dev-a', e.leafHash)).toEqual(e);
        expect(await store.getStatement('dev-b', e.leafHash)).toBeUndefined();
        expect(await store.getStatement('dev-a', '0'.repeat(64))).toBeUndefined();
      });

      it('many concurrent puts of one statement: exactly one created', async () => {
        const h = headEntry('dev-race', 3, 1_700_000_000_000);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.putStatement({ ...h, receivedAt: h.receivedAt + i })),
        );
        expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
        const stored = await store.getStatement('dev-race', h.leafHash);
        for (const r of results) if (r.outcome === 'duplicate') expect(r.existing).toEqual(stored);
        expect(await store.countPending()).toBe(1);
      });

      it('refuses a malformed entry before writing anything', async () => {
        const h = headEntry('dev-a', 1, 1000);
        await expect(store.putStatement({ ...h, statementId: 'dev-b:00' })).rejects.toThrow(RangeError);
        await expect(store.putStatement({ ...h, head: { count: -1, time: 5 } })).rejects.toThrow(RangeError);
        await expect(store.putStatement({ ...h, head: { count: 2 ** 60, time: 5 } })).rejects.toThrow(
          RangeError,
        );
        const { head: _h, ...noHead } = h;
        await expect(store.putStatement(noHead)).rejects.toThrow(RangeError);
        const k = keyEventEntry('dev-a', 'register', 'k', 5);
        const { keyEvent: _k, ...noEvent } = k;
        await expect(store.putStatement(noEvent)).rejects.toThrow(RangeError);
        expect(await store.countPending()).toBe(0);
      });
    });

    describe('queries', () => {
      it('listKeyEvents: one device, acceptance order, paged exactly once', async () => {
        const events = [
          keyEventEntry('dev-k', 'rotate', 'k2', 3000),
          keyEventEntry('dev-k', 'register', 'k1', 1000),
          keyEventEntry('dev-k', 'revoke', 'k2', 5000),
          keyEventEntry('dev-k', 'register', 'k3', 5000),
          keyEventEntry('dev-other', 'register', 'x', 2000),
        ];
        for (const e of events) await store.putStatement(e);
        await store.putStatement(headEntry('dev-k', 1, 1500));
        const sameMs = [events[2], events[3]].sort((a, b) =>
          (a?.leafHash ?? '') < (b?.leafHash ?? '') ? -1 : 1,
        );
        const expected = [events[1], events[0], ...sameMs];
        expect((await store.listKeyEvents('dev-k', { limit: 100 })).items).toEqual(expected);
        expect(await allPages((c) => store.listKeyEvents('dev-k', withCursor({ limit: 1 }, c)), 1)).toEqual(
          expected,
        );
        expect((await store.listKeyEvents('dev-none', { limit: 10 })).items).toEqual([]);
      });

      it('listHeads by count: both directions, bounds inclusive, ties by time, paged exactly once', async () => {
        const t = 1_700_000_000_000;
        const heads = [
          headEntry('dev-h', 10, t + 10),
          headEntry('dev-h', 20, t + 20),
          headEntry('dev-h', 20, t + 25),
          headEntry('dev-h', 30, t + 5), // the device clock went back
          headEntry('dev-h', 0, t),
          headEntry('dev-x', 100, t),
        ];
        for (const h of heads) await store.putStatement(h);
        await store.putStatement(keyEventEntry('dev-h', 'register', 'k', t));
        const counts = (items: StatementEntry[]) => items.map((h) => [h.head?.count, h.head?.time]);
        const asc = await store.listHeads('dev-h', { by: 'count', order: 'asc', limit: 100 });
        expect(counts(asc.items)).toEqual([
          [0, t],
          [10, t + 10],
          [20, t + 20],
          [20, t + 25],
          [30, t + 5],
        ]);
        expect(asc.items[0]).toEqual(heads[4]);
        const latest = await store.listHeads('dev-h', { by: 'count', order: 'desc', limit: 1 });
        expect(latest.items).toEqual([heads[3]]);
        expect(latest.next).toBeDefined();
        // The earliest head covering seq 15 (count - 1 >= 15).
        const covering = await store.listHeads('dev-h', { by: 'count', min: 16, order: 'asc', limit: 1 });
        expect(counts(covering.items)).toEqual([[20, t + 20]]);
        const window = await store.listHeads('dev-h', {
          by: 'count',
          min: 10,
          max: 20,
          order: 'desc',
          limit: 100,
        });
        expect(counts(window.items)).toEqual([
          [20, t + 25],
          [20, t + 20],
          [10, t + 10],
        ]);
        for (const order of ['asc', 'desc'] as const) {
          const paged = await allPages(
            (c) => store.listHeads('dev-h', withCursor({ by: 'count' as const, order, limit: 2 }, c)),
            2,
          );
          const full = (await store.listHeads('dev-h', { by: 'count', order, limit: 100 })).items;
          expect(paged).toEqual(full);
        }
        expect(
          (await store.listHeads('dev-h', { by: 'count', min: 31, order: 'asc', limit: 5 })).items,
        ).toEqual([]);
      });

      it('listHeads by time: the latest head signed before a time, and paging both ways', async () => {
        const t = 1_700_000_000_000;
        const heads = [
          headEntry('dev-h', 10, t + 10),
          headEntry('dev-h', 20, t + 20),
          headEntry('dev-h', 30, t + 5),
          headEntry('dev-h', 40, t + 40),
        ];
        for (const h of heads) await store.putStatement(h);
        const before = await store.listHeads('dev-h', { by: 'time', max: t + 39, order: 'desc', limit: 1 });
        expect(before.items).toEqual([heads[1]]);
        const times = (items: StatementEntry[]) => items.map((h) => h.head?.time);
        expect(
          times((await store.listHeads('dev-h', { by: 'time', order: 'asc', limit: 100 })).items),
        ).toEqual([t + 5, t + 10, t + 20, t + 40]);
        expect(
          times(
            (
              await store.listHeads('dev-h', {
                by: 'time',
                min: t + 6,
                max: t + 20,
                order: 'asc',
                limit: 100,
              })
            ).items,
          ),
        ).toEqual([t + 10, t + 20]);
        for (const order of ['asc', 'desc'] as const) {
          const paged = await allPages(
            (c) => store.listHeads('dev-h', withCursor({ by: 'time' as const, order, limit: 1 }, c)),
            1,
          );
          expect(times(paged)).toEqual(
            order === 'asc' ? [t + 5, t + 10, t + 20, t + 40] : [t + 40, t + 20, t + 10, t + 5],
          );
        }
      });
    });

    it('refuses a cursor it could not have issued with invalid-cursor', async () => {
      await store.putStatement(headEntry('dev-c', 1, 1000));
      const json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const garbage = [
        'not base64url!',
        json({ a: 1 }),
        json([]),
        Buffer.from('{').toString('base64url'),
        'x'.repeat(600),
      ];
      const calls: [string, (cursor: string) => Promise<unknown>][] = [
        ['listKeyEvents', (cursor) => store.listKeyEvents('dev-c', { limit: 5, cursor })],
        ['listHeads', (cursor) => store.listHeads('dev-c', { by: 'count', order: 'asc', limit: 5, cursor })],
        [
          'listHeads by time',
          (cursor) => store.listHeads('dev-c', { by: 'time', order: 'desc', limit: 5, cursor }),
        ],
      ];
      for (const [list, call] of calls) {
        for (const cursor of garbage) {
          await expect(call(cursor), `${list}: ${cursor.slice(0, 20)}`).rejects.toMatchObject({
            code: 'invalid-cursor',
          });
        }
      }
    });

    describe('anchor queue', () => {
      it('listPending: oldest receivedAt first, then key events before heads, then device, then leaf hash', async () => {
        const a = headEntry('dev-b', 1, 1000, { receivedAt: 30 });
        const b = keyEventEntry('dev-a', 'register', 'k', 10);
        const c = headEntry('dev-a', 2, 1000, { receivedAt: 40 });
        const d = headEntry('dev-a', 3, 1000, { receivedAt: 40 });
        const e = headEntry('dev-c', 1, 1000, { receivedAt: 40 });
        // Same millisecond as the heads, and of a device that sorts after theirs: still first.
        const f = keyEventEntry('dev-z', 'rotate', 'k2', 40);
        for (const s of [a, b, c, d, e, f]) await store.putStatement(s);
        const [first, second] = [c, d].sort((x, y) => (x.leafHash < y.leafHash ? -1 : 1));
        expect(await store.listPending(100)).toEqual([b, a, f, first, second, e]);
        expect(await store.listPending(2)).toEqual([b, a]);
        expect(await store.listPending(3)).toEqual([b, a, f]);
        expect(await store.countPending()).toBe(6);
      });

      it('assignToBatch places statements, takes them out of the queue, is idempotent, never moves one', async () => {
        const s = [0, 1, 2].map((i) => headEntry('dev-q', i, 1000 + i));
        for (const x of s) await store.putStatement(x);
        const place = (batchId: string, leafIndex: number, x: StatementEntry) => ({
          deviceId: x.deviceId,
          leafHash: x.leafHash,
          batchId,
          leafIndex,
        });
        const first = [place('b-1', 4, s[0] as StatementEntry), place('b-1', 7, s[2] as StatementEntry)];
        await store.assignToBatch(first);
        await store.assignToBatch(first);
        expect(await store.countPending()).toBe(1);
        expect(await store.listPending(10)).toEqual([s[1]]);
        expect(await store.getStatement('dev-q', (s[2] as StatementEntry).leafHash)).toEqual({
          ...s[2],
          batch: { batchId: 'b-1', leafIndex: 7 },
        });
        await store.assignToBatch([place('b-2', 0, s[0] as StatementEntry)]).catch(() => undefined);
        expect((await store.getStatement('dev-q', (s[0] as StatementEntry).leafHash))?.batch).toEqual({
          batchId: 'b-1',
          leafIndex: 4,
        });
        // Placing a statement that does not exist creates nothing.
        await store.assignToBatch([
          { deviceId: 'dev-q', leafHash: 'ab'.repeat(32), batchId: 'b-1', leafIndex: 9 },
        ]);
        expect(await store.getStatement('dev-q', 'ab'.repeat(32))).toBeUndefined();
        // A redelivery of a placed statement stays placed and out of the queue.
        expect((await store.putStatement(s[0] as StatementEntry)).outcome).toBe('duplicate');
        expect(await store.countPending()).toBe(1);
        // Placed statements still answer the device queries, with their placement.
        const heads = await store.listHeads('dev-q', { by: 'count', order: 'asc', limit: 10 });
        expect(heads.items.map((h) => h.batch?.leafIndex)).toEqual([4, undefined, 7]);
      });

      it('an empty queue lists nothing and counts zero', async () => {
        expect(await store.listPending(10)).toEqual([]);
        expect(await store.countPending()).toBe(0);
      });
    });
  });
}
