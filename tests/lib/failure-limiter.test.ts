/**
 * The failure limiter (lib/ingest/failure-limiter.ts) over a real SqliteIndexStore, with a clock the test
 * moves: which refusals become rows and which are counted, what an aggregate carries, when a source is
 * turned away and for how long, and that its own memory stays bounded.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import {
  addressKey,
  FailureLimiter,
  MAX_AGGREGATES,
  MAX_KEYS,
  MAX_SINGLE_PER_WINDOW,
  type Refusal,
} from '../../lib/ingest/failure-limiter.js';
import { createLogger } from '../../lib/logger.js';
import type { DeadLetter } from '../../lib/ports.js';
import { makeTempDir } from '../support/temp-dir.js';

describe('FailureLimiter', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let store: SqliteIndexStore;
  let now: number;
  let lines: { level: string; msg: string }[];
  let limiter: FailureLimiter;

  beforeEach(() => {
    tmp = makeTempDir('limiter');
    store = new SqliteIndexStore(join(tmp.dir, 'index.sqlite'), { durable: false });
    now = 1_700_000_000_000;
    lines = [];
    const log = createLogger({ write: (l) => lines.push(JSON.parse(l) as { level: string; msg: string }) });
    limiter = new FailureLimiter(
      { store, clock: () => now, log },
      { budget: { burst: 3, perMinute: 6 }, summaryMs: 60_000 },
    );
  });
  afterEach(async () => {
    await store.close();
    tmp.remove();
  });

  const rows = async (): Promise<DeadLetter[]> => (await store.listDeadLetters({ limit: 5000 })).items;
  const badPassword = (remoteAddress: string, deviceId = 'dev-1'): Refusal => ({
    source: 'broker',
    code: 'bad-credentials',
    reason: 'password does not match',
    remoteAddress,
    deviceId,
    clientId: deviceId,
  });

  it('keeps refusals singly within the burst, then counts them into one aggregate per window', async () => {
    const verdicts: string[] = [];
    for (let i = 0; i < 10; i++) {
      verdicts.push(await limiter.refused(badPassword('192.0.2.1')));
      now += 100;
    }
    expect(verdicts).toEqual([...Array(3).fill('kept'), ...Array(7).fill('counted')]);
    expect((await rows()).map((d) => d.count)).toEqual([undefined, undefined, undefined]);
    expect((await rows())[0]).toMatchObject({ remoteAddress: '192.0.2.1', deviceId: 'dev-1' });

    await limiter.flush();
    const aggregate = (await rows()).find((d) => d.count !== undefined);
    expect(aggregate).toMatchObject({
      source: 'broker',
      code: 'bad-credentials',
      remoteAddress: '192.0.2.1',
      count: 7,
      firstAt: 1_700_000_000_300,
      lastAt: 1_700_000_000_900,
      at: 1_700_000_000_900,
      payloadSize: 0,
      payload: '',
    });
    expect(aggregate?.deviceId).toBeUndefined();
    expect(aggregate?.reason).toMatch(/^7 refusals from 192\.0\.2\.1 over the per-source budget/);
    // One log line for the window, with the count; nothing for an empty window.
    expect(lines.filter((l) => l.msg === 'refusals summarised')).toHaveLength(1);
    expect(lines.at(-1)).toMatchObject({ msg: 'refusals summarised', refusals: 7, deadLetters: 1 });
    await limiter.flush();
    expect(lines.filter((l) => l.msg === 'refusals summarised')).toHaveLength(1);
  });

  it('turns a source away once its bucket is empty, for as long as one token takes to refill', async () => {
    for (let i = 0; i < 3; i++) await limiter.refused(badPassword('192.0.2.2'));
    expect(limiter.admit('broker', '192.0.2.2')).toEqual({ ok: false, retryAfterMs: 10_000 });
    // Other sources, and the same address on the other surface, are not affected.
    expect(limiter.admit('broker', '192.0.2.3')).toEqual({ ok: true });
    expect(limiter.admit('upload', '192.0.2.2')).toEqual({ ok: true });
    now += 4_000;
    expect(limiter.admit('broker', '192.0.2.2')).toEqual({ ok: false, retryAfterMs: 6_000 });
    limiter.limited({ source: 'broker', reason: 'too many', remoteAddress: '192.0.2.2' });
    now += 6_000;
    expect(limiter.admit('broker', '192.0.2.2')).toEqual({ ok: true });
    await limiter.flush();
    expect((await rows()).find((d) => d.code === 'rate-limited')).toMatchObject({
      count: 1,
      remoteAddress: '192.0.2.2',
    });
  });

  it('bounds rows by the claimed device id across many sources, without ever turning a source away', async () => {
    for (let i = 0; i < 50; i++) {
      expect(limiter.admit('broker', `198.51.100.${i}`)).toEqual({ ok: true });
      await limiter.refused(badPassword(`198.51.100.${i}`, 'victim'));
    }
    await limiter.flush();
    const all = await rows();
    expect(all.filter((d) => d.count === undefined)).toHaveLength(3);
    const aggregate = all.find((d) => d.count !== undefined);
    expect(aggregate).toMatchObject({ deviceId: 'victim', count: 47 });
    expect(aggregate?.remoteAddress).toBeUndefined();
    expect(aggregate?.reason).toMatch(/^47 refusals from 47 address\(es\) claiming device victim/);
  });

  it('writes at most MAX_SINGLE_PER_WINDOW single rows a window, however many sources fail', async () => {
    const n = MAX_SINGLE_PER_WINDOW + 50;
    for (let i = 0; i < n; i++) await limiter.refused(badPassword(`10.0.${i >> 8}.${i & 255}`, `d-${i}`));
    await limiter.flush();
    const all = await rows();
    expect(all.filter((d) => d.count === undefined)).toHaveLength(MAX_SINGLE_PER_WINDOW);
    expect(all.filter((d) => d.count !== undefined)).toMatchObject([{ count: 50 }]);
    expect(all.reduce((s, d) => s + (d.count ?? 1), 0)).toBe(n);
    // A new window has its own allowance.
    expect(await limiter.refused(badPassword('10.9.9.9', 'd-new'))).toBe('kept');
  });

  it('folds aggregates beyond MAX_AGGREGATES into one per surface and code, keeping the count', async () => {
    const n = MAX_AGGREGATES + 20;
    for (let i = 0; i < n; i++)
      limiter.limited({ source: 'upload', reason: 'x', remoteAddress: `10.1.${i >> 8}.${i & 255}` });
    await limiter.flush();
    const all = await rows();
    expect(all).toHaveLength(MAX_AGGREGATES + 1);
    expect(all.reduce((s, d) => s + (d.count ?? 1), 0)).toBe(n);
    expect(all.filter((d) => d.remoteAddress === undefined)).toMatchObject([
      { count: 20, code: 'rate-limited' },
    ]);
  });

  it('forgets the least recently used bucket beyond MAX_KEYS', async () => {
    for (let i = 0; i < 3; i++) await limiter.refused(badPassword('192.0.2.9'));
    expect(limiter.admit('broker', '192.0.2.9').ok).toBe(false);
    for (let i = 0; i < MAX_KEYS; i++) limiter.admit('broker', `10.2.${i >> 8}.${i & 255}`);
    // Its bucket was dropped: the address starts again with a full budget.
    expect(limiter.admit('broker', '192.0.2.9')).toEqual({ ok: true });
  });

  it('budgets and summarises an IPv6 source by its /64', async () => {
    for (let i = 0; i < 20; i++) await limiter.refused(badPassword(`2001:db8:7:7::${i.toString(16)}`));
    expect(limiter.admit('broker', '2001:db8:7:7::ffff').ok).toBe(false);
    expect(limiter.admit('broker', '2001:db8:7:8::1').ok).toBe(true);
    await limiter.flush();
    const aggregates = (await rows()).filter((d) => d.count !== undefined);
    expect(aggregates).toMatchObject([{ remoteAddress: '2001:db8:7:7::/64', count: 17 }]);
  });

  it('budgets IPv6 sources by their /64 and IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('2001:0db8:0000:0001::')).toBe('2001:db8:0:1::/64');
  });

  it('writes what the window counted when stopped', async () => {
    for (let i = 0; i < 5; i++) await limiter.refused(badPassword('192.0.2.4'));
    limiter.start();
    await limiter.stop();
    expect((await rows()).reduce((s, d) => s + (d.count ?? 1), 0)).toBe(5);
  });
});
