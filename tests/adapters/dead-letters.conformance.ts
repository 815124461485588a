/**
 * Conformance suite for the DeadLetterStore port (lib/ports.ts): refusals kept for an operator, listed newest first, by device, and pruned. Every adapter runs it unchanged
 * (tests/adapters/local.test.ts on SQLite, tests/aws/conformance.test.ts on dynalite), e.g.:
 *
 *   describeDeadLetterStoreConformance('Sqlite…', async () => ({ store, cleanup }));
 *
 * `make` is called once per test and must return an empty store; `cleanup` must also close it. Ordering is
 * asserted only where the port promises one; paging is asserted to visit every item exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterStore } from '../../lib/ports.js';
import {
  collectPages,
  deadLetter,
  expectEveryCursorRefused,
  type SubPortFixture,
  withCursor,
} from './index-fixtures.js';

export function describeDeadLetterStoreConformance(
  name: string,
  make: () => Promise<SubPortFixture<DeadLetterStore>>,
): void {
  describe(`DeadLetterStore conformance: ${name}`, () => {
    let fx: SubPortFixture<DeadLetterStore>;
    let store: DeadLetterStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
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

    describe('cursors', () => {
      it('every list refuses a cursor it could not have issued with invalid-cursor, even on an empty store', async () => {
        await expectEveryCursorRefused([
          ['listDeadLetters', (cursor) => store.listDeadLetters({ limit: 5, cursor })],
          [
            'listDeadLetters by device',
            (cursor) => store.listDeadLetters({ limit: 5, cursor, deviceId: 'd' }),
          ],
        ]);
      });
    });
  });
}
