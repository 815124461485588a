/**
 * Conformance suite for the BatchStore port (lib/ports.ts): batches, their anchors written through lib/anchor's addAnchor over the port's compare-and-set, and the
 * lists the anchorer and the finality poller read. Every adapter runs it unchanged
 * (tests/adapters/local.test.ts on SQLite, tests/aws/conformance.test.ts on dynalite), e.g.:
 *
 *   describeBatchStoreConformance('Sqlite…', async () => ({ store, cleanup }));
 *
 * `make` is called once per test and must return an empty store; `cleanup` must also close it. Ordering is
 * asserted only where the port promises one; paging is asserted to visit every item exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addAnchor, anchorSlot } from '../../lib/anchor/anchor-slots.js';
import type { AnchorRef, BatchStore } from '../../lib/ports.js';
import {
  batchEntry,
  collectPages,
  expectEveryCursorRefused,
  hex32,
  type SubPortFixture,
  withCursor,
} from './index-fixtures.js';

export function describeBatchStoreConformance(
  name: string,
  make: () => Promise<SubPortFixture<BatchStore>>,
): void {
  describe(`BatchStore conformance: ${name}`, () => {
    let fx: SubPortFixture<BatchStore>;
    let store: BatchStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
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

    describe('cursors', () => {
      it('every list refuses a cursor it could not have issued with invalid-cursor, even on an empty store', async () => {
        await expectEveryCursorRefused([
          ['listBatches', (cursor) => store.listBatches({ limit: 5, cursor })],
        ]);
      });
    });
  });
}
