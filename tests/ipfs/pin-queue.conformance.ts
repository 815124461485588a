/**
 * Conformance suite for the PinQueue port (lib/ports.ts): the durable retry queue of IPFS pin jobs. Every
 * adapter runs it unchanged (tests/ipfs/pin-queue-adapters.test.ts: SQLite on a temp file, DynamoDB on
 * dynalite). `make` is called once per test and must return an empty queue; `cleanup` must also close it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PinQueue, PinTarget } from '../../lib/ports.js';

export interface PinQueueFixture {
  queue: PinQueue;
  /** Opens a second handle on the same queue, as a second worker would (closed by cleanup). */
  reopen?(): Promise<PinQueue>;
  cleanup(): Promise<void>;
}

export const pinTarget = (seq: number, deviceId = 'dev-1'): PinTarget => ({
  recordId: `${deviceId}.${seq}`,
  deviceId,
  seq,
  objectKey: `records/${deviceId}/${seq.toString(16).padStart(64, '0')}`,
  recordHash: seq.toString(16).padStart(64, '0'),
});

const CID = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';

export function describePinQueueConformance(name: string, make: () => Promise<PinQueueFixture>): void {
  describe(`PinQueue conformance: ${name}`, () => {
    let fx: PinQueueFixture;
    let queue: PinQueue;
    beforeEach(async () => {
      fx = await make();
      queue = fx.queue;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('enqueues once per record; the job starts pending, due at once, with no attempt', async () => {
      expect(await queue.enqueue(pinTarget(1), 1000)).toBe('queued');
      expect(await queue.enqueue(pinTarget(1), 2000)).toBe('exists');
      expect(await queue.countPending()).toBe(1);
      expect(await queue.getJob('dev-1.1')).toEqual({
        ...pinTarget(1),
        state: 'pending',
        attempts: 0,
        nextAttemptAt: 1000,
        enqueuedAt: 1000,
      });
      expect(await queue.getJob('dev-1.2')).toBeUndefined();
    });

    it('claims due jobs oldest first, leases them away from a second claim, and takes them back when the lease ends', async () => {
      await queue.enqueue(pinTarget(3), 300);
      await queue.enqueue(pinTarget(1), 100);
      await queue.enqueue(pinTarget(2), 200);
      await queue.enqueue(pinTarget(4), 5000);
      expect(await queue.claimDue({ now: 1000, limit: 0, leaseMs: 60_000 })).toEqual([]);
      const first = await queue.claimDue({ now: 1000, limit: 2, leaseMs: 60_000 });
      expect(first.map((j) => j.recordId)).toEqual(['dev-1.1', 'dev-1.2']);
      expect(first.map((j) => j.nextAttemptAt)).toEqual([61_000, 61_000]);
      expect(first[0]).toEqual({
        ...pinTarget(1),
        state: 'pending',
        attempts: 0,
        nextAttemptAt: 61_000,
        enqueuedAt: 100,
      });
      const second = await queue.claimDue({ now: 1000, limit: 10, leaseMs: 60_000 });
      expect(second.map((j) => j.recordId)).toEqual(['dev-1.3']);
      expect(await queue.claimDue({ now: 1000, limit: 10, leaseMs: 60_000 })).toEqual([]);
      // Leased jobs are still pending: a worker may die holding them.
      expect(await queue.countPending()).toBe(4);
      // A worker that died: its lease runs out and the job is due again, with no attempt counted.
      const again = await queue.claimDue({ now: 61_000, limit: 10, leaseMs: 60_000 });
      expect(again.map((j) => [j.recordId, j.attempts])).toEqual([
        ['dev-1.4', 0],
        ['dev-1.1', 0],
        ['dev-1.2', 0],
        ['dev-1.3', 0],
      ]);
    });

    it('orders jobs due in the same millisecond by record id', async () => {
      for (const s of [12, 3, 7]) await queue.enqueue(pinTarget(s, 'dev-x'), 50);
      const jobs = await queue.claimDue({ now: 50, limit: 10, leaseMs: 10 });
      expect(jobs.map((j) => j.recordId)).toEqual(['dev-x.12', 'dev-x.3', 'dev-x.7']);
    });

    it('records retries, releases, failures and pins; only pending jobs are claimed or counted', async () => {
      for (const s of [1, 2, 3, 4]) await queue.enqueue(pinTarget(s), 0);
      await queue.claimDue({ now: 0, limit: 10, leaseMs: 1000 });
      await queue.markRetry('dev-1.1', { code: 'ipfs-unavailable', message: 'refused', nextAttemptAt: 500 });
      await queue.release('dev-1.2', 500);
      await queue.markFailed('dev-1.3', { code: 'object-missing', message: 'gone', at: 10 });
      await queue.markPinned('dev-1.4', { cid: CID, at: 20 });
      expect(await queue.getJob('dev-1.1')).toMatchObject({
        state: 'pending',
        attempts: 1,
        nextAttemptAt: 500,
        lastError: { code: 'ipfs-unavailable', message: 'refused' },
      });
      expect(await queue.getJob('dev-1.2')).toMatchObject({
        state: 'pending',
        attempts: 0,
        nextAttemptAt: 500,
      });
      expect(await queue.getJob('dev-1.3')).toMatchObject({
        state: 'failed',
        attempts: 1,
        lastError: { code: 'object-missing', message: 'gone' },
      });
      const pinned = await queue.getJob('dev-1.4');
      expect(pinned).toMatchObject({ state: 'pinned', cid: CID, pinnedAt: 20, attempts: 0 });
      expect(pinned?.lastError).toBeUndefined();
      expect(await queue.countPending()).toBe(2);
      expect((await queue.claimDue({ now: 499, limit: 10, leaseMs: 1000 })).map((j) => j.recordId)).toEqual(
        [],
      );
      expect((await queue.claimDue({ now: 500, limit: 10, leaseMs: 1000 })).map((j) => j.recordId)).toEqual([
        'dev-1.1',
        'dev-1.2',
      ]);
      // Done jobs never come back: not after their lease would have ended, not by a late retry or release.
      expect(await queue.claimDue({ now: 10_000_000, limit: 10, leaseMs: 1000 })).toHaveLength(2);
      await queue.markRetry('dev-1.4', { code: 'ipfs-timeout', message: 'late', nextAttemptAt: 1 });
      await queue.release('dev-1.3', 1);
      await queue.markFailed('dev-1.4', { code: 'object-missing', message: 'late', at: 1 });
      expect(await queue.getJob('dev-1.4')).toMatchObject({ state: 'pinned', attempts: 0, cid: CID });
      expect(await queue.getJob('dev-1.3')).toMatchObject({ state: 'failed', attempts: 1 });
      expect(await queue.countPending()).toBe(2);
    });

    it('a pin after a retry clears the error; a second markPinned keeps the job pinned', async () => {
      await queue.enqueue(pinTarget(1), 0);
      await queue.claimDue({ now: 0, limit: 1, leaseMs: 1000 });
      await queue.markRetry('dev-1.1', { code: 'ipfs-timeout', message: 'slow', nextAttemptAt: 10 });
      await queue.claimDue({ now: 10, limit: 1, leaseMs: 1000 });
      await queue.markPinned('dev-1.1', { cid: CID, at: 30 });
      await queue.markPinned('dev-1.1', { cid: CID, at: 40 });
      const job = await queue.getJob('dev-1.1');
      expect(job).toMatchObject({ state: 'pinned', cid: CID, attempts: 1 });
      expect(job?.lastError).toBeUndefined();
      expect(await queue.countPending()).toBe(0);
    });

    it('cuts long error messages, keeping their start', async () => {
      await queue.enqueue(pinTarget(1), 0);
      await queue.markRetry('dev-1.1', { code: 'ipfs-error', message: 'x'.repeat(50_000), nextAttemptAt: 1 });
      const msg = (await queue.getJob('dev-1.1'))?.lastError?.message ?? '';
      expect(msg.length).toBeGreaterThan(100);
      expect(msg.length).toBeLessThan(50_000);
    });

    it('updates of an unknown job create nothing', async () => {
      await queue.markPinned('dev-9.9', { cid: CID, at: 1 });
      await queue.markRetry('dev-9.9', { code: 'ipfs-error', message: 'm', nextAttemptAt: 1 });
      await queue.release('dev-9.9', 1);
      await queue.markFailed('dev-9.9', { code: 'object-missing', message: 'm', at: 1 });
      expect(await queue.getJob('dev-9.9')).toBeUndefined();
      expect(await queue.countPending()).toBe(0);
      expect(await queue.enqueue(pinTarget(9, 'dev-9'), 5)).toBe('queued');
    });

    it('concurrent claims never hand out the same job twice', async () => {
      for (let s = 0; s < 12; s++) await queue.enqueue(pinTarget(s), s);
      const other = fx.reopen ? await fx.reopen() : queue;
      const claims = await Promise.all(
        [queue, other, queue, other].map((q) => q.claimDue({ now: 100, limit: 5, leaseMs: 60_000 })),
      );
      const ids = claims.flat().map((j) => j.recordId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeLessThanOrEqual(12);
      // Whatever a racing claim skipped is still there for the next one.
      const rest = await queue.claimDue({ now: 100, limit: 20, leaseMs: 60_000 });
      expect([...ids, ...rest.map((j) => j.recordId)].sort()).toEqual(
        Array.from({ length: 12 }, (_, s) => `dev-1.${s}`).sort(),
      );
    });
  });
}
