/**
 * The embedded runtime's SQLite index is locked by another process (here: this test, holding a write
 * transaction on the runtime's own file, as a backup tool or a hand-run `sqlite3` session would). The
 * runtime's writes wait their busy timeout, then fail with SQLITE_BUSY; key release, whose audit event is a
 * write, must answer the documented `503 storage-unavailable` with `Retry-After` (docs/api.md), not
 * `500 internal`, and work again once the lock is gone.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { STORAGE_RETRY_AFTER_SECONDS } from '../../lib/adapters/storage-failure.js';
import { type SpawnedRuntime, spawnRuntime, tempDir } from '../support/runtime.js';

describe('a locked SQLite index answers 503 storage-unavailable', () => {
  const dataDir = tempDir('iotn-locked-');
  const stateDir = tempDir('iotn-locked-stub-');
  const [deviceId] = fleetDeviceIds({ devices: 1, seed: 12, prefix: 'lock' }) as [string];
  let rt: SpawnedRuntime;

  const release = () =>
    fetch(`${rt.info.baseUrl}/v1/records/${deviceId}.0/key-release`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'audit while the index is locked' }),
    });

  beforeAll(async () => {
    rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '600000' });
    const run = await startFleet({
      devices: 1,
      records: 1,
      ratePerSecond: 0,
      packetBytes: 100,
      seed: 12,
      prefix: 'lock',
      mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
      apiUrl: rt.info.baseUrl,
      operatorToken: rt.token,
      stateDir,
      maxInFlight: 10,
      ackTimeoutMs: 3000,
      timeoutMs: 60_000,
    }).result;
    expect(run).toMatchObject({ stored: 1, ok: true });
  }, 180_000);

  afterAll(async () => {
    rt?.child.kill('SIGTERM');
    await rt?.exited;
  });

  it('key release while another process holds the write lock, and again once it is released', async () => {
    const other = new DatabaseSync(join(dataDir, 'index.sqlite'));
    let locked: Response;
    try {
      // BEGIN IMMEDIATE takes SQLite's write lock (WAL mode: readers still read, writers wait).
      other.exec('BEGIN IMMEDIATE');
      locked = await release();
      other.exec('ROLLBACK');
    } finally {
      other.close();
    }
    const body = (await locked.json()) as { error: { code: string; message: string } };
    expect({ status: locked.status, code: body.error.code }).toEqual({
      status: 503,
      code: 'storage-unavailable',
    });
    expect(body.error.message).toBe('storage unavailable (SQLite: busy); retry later');
    expect(locked.headers.get('retry-after')).toBe(String(STORAGE_RETRY_AFTER_SECONDS));

    const after = await release();
    expect(after.status).toBe(200);
    expect(((await after.json()) as { recordId: string }).recordId).toBe(`${deviceId}.0`);
  }, 60_000);
});
