import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlitePinQueue } from '../../lib/adapters/local/sqlite-pin-queue.js';
import { retryDelayMs } from '../../lib/core/backoff.js';
import { DEFAULT_PIN_BACKOFF } from '../../lib/ipfs/pin-record.js';
import type { PinTarget } from '../../lib/ports.js';
import { tempDir } from './support/ipfs-fixture.js';

const target = (seq: number, deviceId = 'dev-1'): PinTarget => ({
  recordId: `${deviceId}.${seq}`,
  deviceId,
  seq,
  objectKey: `records/${deviceId}/${seq.toString(16).padStart(64, '0')}`,
  recordHash: seq.toString(16).padStart(64, '0'),
});

describe('SqlitePinQueue', () => {
  const dir = tempDir('queue');
  let queue: SqlitePinQueue;
  const path = () => `${dir.dir}/pins.sqlite`;

  beforeEach(() => {
    dir.remove();
    queue = new SqlitePinQueue(path());
  });
  afterEach(async () => {
    await queue.close();
    dir.remove();
  });

  it('enqueues once per record', async () => {
    expect(await queue.enqueue(target(1), 1000)).toBe('queued');
    expect(await queue.enqueue(target(1), 2000)).toBe('exists');
    expect(await queue.countPending()).toBe(1);
    expect(await queue.getJob('dev-1.1')).toEqual({
      ...target(1),
      state: 'pending',
      attempts: 0,
      nextAttemptAt: 1000,
      enqueuedAt: 1000,
    });
  });

  it('claims due jobs oldest first and leases them away from a second claim', async () => {
    await queue.enqueue(target(3), 300);
    await queue.enqueue(target(1), 100);
    await queue.enqueue(target(2), 200);
    await queue.enqueue(target(4), 5000);
    const first = await queue.claimDue({ now: 1000, limit: 2, leaseMs: 60_000 });
    expect(first.map((j) => j.recordId)).toEqual(['dev-1.1', 'dev-1.2']);
    expect(first.every((j) => j.nextAttemptAt === 61_000)).toBe(true);
    const second = await queue.claimDue({ now: 1000, limit: 10, leaseMs: 60_000 });
    expect(second.map((j) => j.recordId)).toEqual(['dev-1.3']);
    expect(await queue.claimDue({ now: 1000, limit: 10, leaseMs: 60_000 })).toEqual([]);
    // A worker that died: its lease runs out and the job is due again, with no attempt counted.
    const again = await queue.claimDue({ now: 61_000, limit: 10, leaseMs: 60_000 });
    expect(again.map((j) => [j.recordId, j.attempts])).toEqual([
      ['dev-1.4', 0],
      ['dev-1.1', 0],
      ['dev-1.2', 0],
      ['dev-1.3', 0],
    ]);
  });

  it('records retries, releases, failures and pins', async () => {
    for (const s of [1, 2, 3, 4]) await queue.enqueue(target(s), 0);
    await queue.claimDue({ now: 0, limit: 10, leaseMs: 1000 });
    await queue.markRetry('dev-1.1', { code: 'ipfs-unavailable', message: 'refused', nextAttemptAt: 500 });
    await queue.release('dev-1.2', 500);
    await queue.markFailed('dev-1.3', { code: 'object-missing', message: 'gone', at: 10 });
    await queue.markPinned('dev-1.4', { cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', at: 20 });
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
    expect(await queue.getJob('dev-1.4')).toMatchObject({
      state: 'pinned',
      cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
      pinnedAt: 20,
    });
    expect(await queue.countPending()).toBe(2);
    expect((await queue.claimDue({ now: 500, limit: 10, leaseMs: 1000 })).map((j) => j.recordId)).toEqual([
      'dev-1.1',
      'dev-1.2',
    ]);
    // A late retry cannot resurrect a job that is already done.
    await queue.markRetry('dev-1.4', { code: 'ipfs-timeout', message: 'late', nextAttemptAt: 1 });
    expect(await queue.getJob('dev-1.4')).toMatchObject({ state: 'pinned', attempts: 0 });
  });

  it('keeps everything across a reopen', async () => {
    await queue.enqueue(target(9), 42);
    await queue.close();
    queue = new SqlitePinQueue(path());
    expect(await queue.getJob('dev-1.9')).toMatchObject({ state: 'pending', enqueuedAt: 42 });
    expect(await queue.enqueue(target(9), 43)).toBe('exists');
  });
});

describe('retry backoff', () => {
  it('doubles from the base up to the cap, half of it jittered', () => {
    const p = { baseMs: 1000, maxMs: 60_000 };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, p, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, p, () => 0.999999))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(50, p, () => 0.5)).toBe(45_000);
    expect(retryDelayMs(5000, p, () => 1)).toBe(60_000);
    expect(retryDelayMs(1, DEFAULT_PIN_BACKOFF, () => 0)).toBeGreaterThan(0);
  });
});
