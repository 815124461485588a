/**
 * An index.sqlite written before records had a CID column: opening it with the current SqliteIndexStore adds
 * the columns in place (ALTER TABLE ADD COLUMN, guarded by PRAGMA table_info), keeps every row, and a second
 * open changes nothing.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { recordEntry } from '../adapters/index-fixtures.js';
import { tempDir } from './support/ipfs-fixture.js';

const columns = (path: string): string[] => {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare('PRAGMA table_info(records)').all() as { name: string }[]).map((c) => c.name);
  } finally {
    db.close();
  }
};

describe('SqliteIndexStore on a file from before hot copies', () => {
  it('adds the CID columns, keeps the records, and reopens without changing anything', async () => {
    const tmp = tempDir('migrate');
    const path = join(tmp.dir, 'index.sqlite');
    try {
      const first = new SqliteIndexStore(path, { durable: false });
      const old = recordEntry('dev-old', 0);
      await first.putRecord(old);
      await first.close();
      // Make it the file an older version wrote: the same table without the two columns.
      const db = new DatabaseSync(path);
      db.exec('ALTER TABLE records DROP COLUMN ipfs_cid; ALTER TABLE records DROP COLUMN ipfs_pinned_at;');
      db.close();
      expect(columns(path)).not.toContain('ipfs_cid');

      const migrated = new SqliteIndexStore(path, { durable: false });
      expect(await migrated.getRecord('dev-old', 0)).toEqual(old);
      await migrated.setIpfsCid('dev-old', 0, 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', 1234);
      await migrated.putRecord(recordEntry('dev-old', 1));
      await migrated.close();
      const cols = columns(path);
      expect(cols.filter((c) => c.startsWith('ipfs_'))).toEqual(['ipfs_cid', 'ipfs_pinned_at']);

      const again = new SqliteIndexStore(path, { durable: false });
      expect(columns(path)).toEqual(cols);
      expect((await again.getRecord('dev-old', 0))?.ipfs).toEqual({
        cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
        pinnedAt: 1234,
      });
      expect(await again.getRecord('dev-old', 1)).toEqual(recordEntry('dev-old', 1));
      await again.close();
    } finally {
      tmp.remove();
    }
  });
});
