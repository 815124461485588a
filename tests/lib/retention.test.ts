/**
 * The retention sweeps (lib/ingest/retention.ts) over the real SQLite adapters with a clock the test moves,
 * and the settings that drive them (lib/runtime/config.ts).
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { sweepDeadLetters, sweepStagedUploads } from '../../lib/ingest/retention.js';
import { ConfigError, configFromEnv } from '../../lib/runtime/config.js';
import { deadLetter } from '../adapters/index-fixtures.js';
import { patternBytes } from '../support/bytes.js';
import { makeTempDir } from '../support/temp-dir.js';
import { testClock } from '../support/test-device.js';

describe('retention sweeps', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let clock: ReturnType<typeof testClock>;
  let objects: SqliteObjectStore;
  let index: SqliteIndexStore;

  beforeEach(() => {
    tmp = makeTempDir('retention');
    clock = testClock();
    objects = new SqliteObjectStore({
      path: join(tmp.dir, 'objects.sqlite'),
      durable: false,
      clock: clock.now,
    });
    index = new SqliteIndexStore(join(tmp.dir, 'index.sqlite'), { durable: false });
  });
  afterEach(async () => {
    await objects.close();
    await index.close();
    tmp.remove();
  });

  it('deletes staged uploads stored longer ago than the maximum age, and nothing else', async () => {
    for (let i = 0; i < 3; i++) await objects.put(`uploads/dev-${i}/${'a'.repeat(64)}`, patternBytes(100, i));
    await objects.put('records/dev-0/old-record', patternBytes(10, 1));
    await objects.put('batches/b-1/tree', patternBytes(10, 2));
    clock.advance(10_000);
    await objects.put(`uploads/dev-0/${'b'.repeat(64)}`, patternBytes(100, 9));
    clock.advance(2_000);

    expect(await sweepStagedUploads({ objects, clock: clock.now }, { maxAgeMs: 5_000 })).toEqual({
      deleted: 3,
      kept: 1,
    });
    const left = (await objects.list('', { limit: 100 })).items.map((o) => o.key);
    expect(left).toEqual(['batches/b-1/tree', 'records/dev-0/old-record', `uploads/dev-0/${'b'.repeat(64)}`]);
    // Re-uploading the same URL stores it anew, so its age starts again.
    clock.advance(4_000);
    await objects.put(`uploads/dev-0/${'b'.repeat(64)}`, patternBytes(100, 9));
    expect(await sweepStagedUploads({ objects, clock: clock.now }, { maxAgeMs: 5_000 })).toEqual({
      deleted: 0,
      kept: 1,
    });
  });

  it('deletes dead letters past the retention and beyond the row cap, over several store calls', async () => {
    const now = clock.now();
    for (let i = 0; i < 50; i++)
      await index.putDeadLetter(deadLetter(`dl-old-${i}`, now - 40 * 86_400_000 + i));
    for (let i = 0; i < 1200; i++)
      await index.putDeadLetter(deadLetter(`dl-${String(i).padStart(4, '0')}`, now - 5000 + i));
    const r = await sweepDeadLetters(
      { deadLetters: index, clock: clock.now },
      { retentionMs: 30 * 86_400_000, maxRows: 100 },
    );
    expect(r).toEqual({ deleted: 1150 });
    const { items } = await index.listDeadLetters({ limit: 1000 });
    expect(items.map((d) => d.id)).toEqual(
      Array.from({ length: 100 }, (_, i) => `dl-${String(1199 - i).padStart(4, '0')}`),
    );
  });
});

describe('retention and rate-limit settings', () => {
  const base = { DATA_DIR: '/tmp/iotn-config-check' };

  it('has safe defaults', () => {
    const c = configFromEnv(base);
    expect(c.failures).toEqual({ burst: 10, perMinute: 6, summaryMs: 60_000 });
    expect(c.deadLetterRetentionDays).toBe(30);
    expect(c.deadLetterMaxRows).toBe(100_000);
    expect(c.sweepIntervalMs).toBe(600_000);
    expect(c.stagedUploadMaxAgeSeconds).toBe(86_400);
  });

  it.each([
    [{ FAILURE_BURST: '0' }, /FAILURE_BURST/],
    [{ FAILURE_RATE_PER_MINUTE: '-1' }, /FAILURE_RATE_PER_MINUTE/],
    [{ FAILURE_SUMMARY_MS: 'soon' }, /FAILURE_SUMMARY_MS/],
    [{ DEAD_LETTER_RETENTION_DAYS: '0' }, /DEAD_LETTER_RETENTION_DAYS/],
    [{ DEAD_LETTER_MAX_ROWS: '1.5' }, /DEAD_LETTER_MAX_ROWS/],
    [{ SWEEP_INTERVAL_MS: '0' }, /SWEEP_INTERVAL_MS/],
    [
      { UPLOAD_TTL_SECONDS: '900', STAGED_UPLOAD_MAX_AGE_SECONDS: '600' },
      /must be at least UPLOAD_TTL_SECONDS/,
    ],
  ])('refuses %o', (env, message) => {
    expect(() => configFromEnv({ ...base, ...env })).toThrow(ConfigError);
    expect(() => configFromEnv({ ...base, ...env })).toThrow(message);
  });
});
