/**
 * The whole IndexStore on one SQLite file: the sub-port adapters (sqlite-record-index.ts,
 * sqlite-batch-store.ts, sqlite-device-registry.ts, sqlite-dead-letters.ts, sqlite-audit-log.ts) over one
 * SqliteIndexDb (sqlite-index-db.ts: schema, migration, read connection, writer thread), so every write of
 * every sub-port shares one group commit.
 */
import { CompositeIndexStore } from '../composite-index-store.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';
import { SqliteBatchStore } from './sqlite-batch-store.js';
import { SqliteDeadLetterStore } from './sqlite-dead-letters.js';
import { SqliteDeviceRegistry } from './sqlite-device-registry.js';
import { SqliteIndexDb } from './sqlite-index-db.js';
import { SqliteRecordIndex } from './sqlite-record-index.js';

export class SqliteIndexStore extends CompositeIndexStore {
  /**
   * `readOnly`: opens an existing file without creating, migrating or writing anything (tools/fsck.ts); it
   * refuses a file an older version made, since the queries need the current columns.
   */
  constructor(path: string, opts: { durable?: boolean; readOnly?: boolean } = {}) {
    const db = new SqliteIndexDb(path, opts);
    super(
      {
        records: new SqliteRecordIndex(db),
        batches: new SqliteBatchStore(db),
        devices: new SqliteDeviceRegistry(db),
        deadLetters: new SqliteDeadLetterStore(db),
        audit: new SqliteAuditLog(db),
      },
      () => db.close(),
    );
  }
}
