/**
 * SqliteIndexStore opening an index.sqlite written before device signing keys: the devices table gains its
 * columns in place, and every device already there reads as a device from before keys (no keys, unsigned
 * envelopes still accepted, revision 0), whose keys can then be set like any other's.
 */

import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { makeTempDir } from '../support/temp-dir.js';
import { deviceKey } from './index-fixtures.js';

/** The devices table exactly as the releases before issue 9 created it. */
const OLD = `
CREATE TABLE devices (
  device_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, status TEXT NOT NULL,
  credential_hash TEXT NOT NULL, wrapped_master_key TEXT NOT NULL
);
`;

describe('SqliteIndexStore on a file from before device keys', () => {
  const temps: ReturnType<typeof makeTempDir>[] = [];
  afterEach(() => {
    for (const t of temps.splice(0)) t.remove();
  });

  it('migrates the devices table in place: old devices have no keys and accept unsigned envelopes', async () => {
    const t = makeTempDir('migrate-devices');
    temps.push(t);
    const path = join(t.dir, 'index.sqlite');
    const old = new DatabaseSync(path);
    old.exec(OLD);
    old
      .prepare('INSERT INTO devices VALUES (?, ?, ?, ?, ?)')
      .run('old-dev', 1000, 'active', 'aa'.repeat(32), 'd3JhcHBlZA==');
    old.close();

    const store = new SqliteIndexStore(path);
    try {
      const before = {
        deviceId: 'old-dev',
        createdAt: 1000,
        status: 'active',
        credentialHash: 'aa'.repeat(32),
        wrappedMasterKey: 'd3JhcHBlZA==',
        keys: [],
        allowUnsigned: true,
        keysRevision: 0,
      };
      expect(await store.getDevice('old-dev')).toEqual(before);
      expect((await store.listDevices({ limit: 5 })).items).toEqual([before]);
      const key = deviceKey('a');
      expect(await store.updateDeviceKeys('old-dev', { keys: [key], allowUnsigned: false }, 0)).toBe(
        'updated',
      );
      expect(await store.getDevice('old-dev')).toEqual({
        ...before,
        keys: [key],
        allowUnsigned: false,
        keysRevision: 1,
      });
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(path);
    const cols = (db.prepare('PRAGMA table_info(devices)').all() as { name: string }[]).map((c) => c.name);
    db.close();
    expect(cols).toEqual(expect.arrayContaining(['signing_keys', 'allow_unsigned', 'keys_revision']));
    // A second open of the migrated file is a no-op that keeps what was written.
    const again = new SqliteIndexStore(path);
    expect((await again.getDevice('old-dev'))?.keysRevision).toBe(1);
    await again.close();
  });
});
