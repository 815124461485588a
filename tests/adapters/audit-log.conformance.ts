/**
 * Conformance suite for the AuditLog port (lib/ports.ts): the append-only audit log, newest first. Every adapter runs it unchanged
 * (tests/adapters/local.test.ts on SQLite, tests/aws/conformance.test.ts on dynalite), e.g.:
 *
 *   describeAuditLogConformance('Sqlite…', async () => ({ store, cleanup }));
 *
 * `make` is called once per test and must return an empty store; `cleanup` must also close it. Ordering is
 * asserted only where the port promises one; paging is asserted to visit every item exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../lib/ports.js';
import {
  auditEvent,
  collectPages,
  cursorJson,
  expectEveryCursorRefused,
  type SubPortFixture,
  withCursor,
} from './index-fixtures.js';

export function describeAuditLogConformance(
  name: string,
  make: () => Promise<SubPortFixture<AuditLog>>,
): void {
  describe(`AuditLog conformance: ${name}`, () => {
    let fx: SubPortFixture<AuditLog>;
    let store: AuditLog;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
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
      it('every list refuses a cursor it could not have issued with invalid-cursor, even on an empty store', async () => {
        await expectEveryCursorRefused([['listAudit', (cursor) => store.listAudit({ limit: 5, cursor })]]);
      });

      it("a cursor of another list's shape is refused too; a well-formed position is served", async () => {
        await expect(store.listAudit({ limit: 5, cursor: cursorJson(['dev-1']) })).rejects.toMatchObject({
          code: 'invalid-cursor',
        });
        // A position between items needs no item at it: the page after it is served.
        await store.appendAudit(auditEvent('au-1', 1000));
        expect((await store.listAudit({ limit: 5, cursor: cursorJson([2000, 'au-9']) })).items).toHaveLength(
          1,
        );
        expect((await store.listAudit({ limit: 5, cursor: cursorJson([500, 'au-0']) })).items).toHaveLength(
          0,
        );
      });
    });
  });
}
