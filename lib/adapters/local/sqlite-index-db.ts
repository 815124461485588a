/**
 * The one SQLite file (node:sqlite) that holds the record index and anchor queue, batches, devices, dead
 * letters and audit log: its schema, the migration of files older versions made, the read connection and
 * the writer thread. Each sub-port's adapter (sqlite-record-index.ts, sqlite-batch-store.ts,
 * sqlite-device-registry.ts, sqlite-dead-letters.ts, sqlite-audit-log.ts) works on its own tables over this
 * one database, so they share one writer and its group commit.
 *
 * WAL with synchronous=FULL: a write resolves once its commit is on disk. Writes are group-committed on a
 * writer thread (sqlite-writer.ts): every write that arrives in the same turn of the event loop shares one
 * transaction and one fsync, and the event loop never waits for the disk, which is what lets ingest keep up
 * with the broker while acknowledging only durable records.
 *
 * The queries mirror what the DynamoDB adapter can do with keys and indexes (see lib/ports.ts): no scans.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { prepareSqliteFile } from './private-files.js';
import { openSqliteReadOnly } from './sqlite-read-only.js';
import type { Row } from './sqlite-row.js';
import { SqliteWriteError, SqliteWriter } from './sqlite-writer.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  device_id TEXT NOT NULL, seq INTEGER NOT NULL, record_id TEXT NOT NULL, timestamp INTEGER NOT NULL,
  received_at INTEGER NOT NULL, record_hash TEXT NOT NULL, prev_hash TEXT NOT NULL, ct_hash TEXT NOT NULL,
  ct_len INTEGER NOT NULL, env_size INTEGER NOT NULL, header TEXT NOT NULL, object_key TEXT NOT NULL,
  via TEXT NOT NULL, batch_id TEXT, leaf_index INTEGER,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_time ON records (device_id, timestamp, seq);
CREATE INDEX IF NOT EXISTS records_pending ON records (received_at, device_id, seq) WHERE batch_id IS NULL;
CREATE TABLE IF NOT EXISTS batches (
  batch_id TEXT PRIMARY KEY, root TEXT NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL,
  state TEXT NOT NULL, tree_key TEXT NOT NULL, anchors TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_built ON batches (created_at) WHERE state = 'built';
CREATE TABLE IF NOT EXISTS devices (
  device_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, status TEXT NOT NULL,
  credential_hash TEXT NOT NULL, wrapped_master_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
  id TEXT PRIMARY KEY, at INTEGER NOT NULL, source TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL,
  device_id TEXT, topic TEXT, client_id TEXT, seq INTEGER, payload_size INTEGER NOT NULL,
  payload_sha256 TEXT NOT NULL, payload TEXT NOT NULL, truncated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (at, id);
CREATE INDEX IF NOT EXISTS dead_letters_by_device ON dead_letters (device_id, at, id);
CREATE TABLE IF NOT EXISTS audit (
  id TEXT PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
  reason TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at, id);
`;

/**
 * Columns added after the first release, with the statement that adds each to an existing file. Nullable with
 * no default, so ALTER TABLE ADD COLUMN is a schema change only: no row is rewritten however large the table.
 */
const ADDED_COLUMNS: readonly { table: string; column: string; ddl: string }[] = [
  { table: 'records', column: 'ipfs_cid', ddl: 'ALTER TABLE records ADD COLUMN ipfs_cid TEXT' },
  {
    table: 'records',
    column: 'ipfs_pinned_at',
    ddl: 'ALTER TABLE records ADD COLUMN ipfs_pinned_at INTEGER',
  },
  // Finality polling: the earliest nextCheckAt of the batch's anchors (BatchStore.listAnchorsDue).
  { table: 'batches', column: 'next_check_at', ddl: 'ALTER TABLE batches ADD COLUMN next_check_at INTEGER' },
  // Planned inline transactions (BatchEntry.inline), JSON.
  { table: 'batches', column: 'inline_parts', ddl: 'ALTER TABLE batches ADD COLUMN inline_parts TEXT' },
  // The version compareAndSetAnchors checks and moves on; NULL in a row no such write touched reads as 0.
  {
    table: 'batches',
    column: 'anchors_version',
    ddl: 'ALTER TABLE batches ADD COLUMN anchors_version INTEGER',
  },
  // Device signing keys (DeviceEntry.keys, JSON), whether v1 envelopes are accepted, and the revision that
  // guards their updates. NULL in a row from before them reads as: no keys, unsigned allowed, revision 0.
  { table: 'devices', column: 'signing_keys', ddl: 'ALTER TABLE devices ADD COLUMN signing_keys TEXT' },
  {
    table: 'devices',
    column: 'allow_unsigned',
    ddl: 'ALTER TABLE devices ADD COLUMN allow_unsigned INTEGER',
  },
  { table: 'devices', column: 'keys_revision', ddl: 'ALTER TABLE devices ADD COLUMN keys_revision INTEGER' },
  // Where refused traffic came from, and the aggregates of rate-limited refusals (DeadLetter.count).
  {
    table: 'dead_letters',
    column: 'remote_address',
    ddl: 'ALTER TABLE dead_letters ADD COLUMN remote_address TEXT',
  },
  { table: 'dead_letters', column: 'count', ddl: 'ALTER TABLE dead_letters ADD COLUMN count INTEGER' },
  { table: 'dead_letters', column: 'first_at', ddl: 'ALTER TABLE dead_letters ADD COLUMN first_at INTEGER' },
  { table: 'dead_letters', column: 'last_at', ddl: 'ALTER TABLE dead_letters ADD COLUMN last_at INTEGER' },
  // Whether an audited action took effect (AuditEvent.outcome); NULL on events written before.
  { table: 'audit', column: 'outcome', ddl: 'ALTER TABLE audit ADD COLUMN outcome TEXT' },
  { table: 'audit', column: 'error_code', ddl: 'ALTER TABLE audit ADD COLUMN error_code TEXT' },
  { table: 'audit', column: 'error_message', ddl: 'ALTER TABLE audit ADD COLUMN error_message TEXT' },
  // AuditEvent.details, JSON.
  { table: 'audit', column: 'details', ddl: 'ALTER TABLE audit ADD COLUMN details TEXT' },
  // RecordEntry.objectRange: where a packed record lies in its pack's object; NULL for one object per record.
  { table: 'records', column: 'object_offset', ddl: 'ALTER TABLE records ADD COLUMN object_offset INTEGER' },
  { table: 'records', column: 'object_length', ddl: 'ALTER TABLE records ADD COLUMN object_length INTEGER' },
];

/**
 * Indexes on added columns, created once the columns exist. batches_unanchored (state <> 'anchored') was
 * replaced by batches_built when 'final' became a state.
 */
const AFTER_MIGRATION = `
DROP INDEX IF EXISTS batches_unanchored;
CREATE INDEX IF NOT EXISTS batches_due ON batches (next_check_at) WHERE next_check_at IS NOT NULL;
`;

const missingColumns = (db: DatabaseSync) =>
  ADDED_COLUMNS.filter(({ table, column }) => {
    const cols = db.prepare(`PRAGMA table_info(${table})`).all() as Row[];
    return !cols.some((c) => c.name === column);
  });

/** Adds whatever ADDED_COLUMNS a file made by an older version lacks; a no-op on an up-to-date one. */
function migrate(db: DatabaseSync): void {
  for (const { ddl } of missingColumns(db)) db.exec(ddl);
}

const needsMigration = (db: DatabaseSync): boolean => missingColumns(db).length > 0;

export class SqliteIndexDb {
  /** Reads only; every write goes through the writer thread, so a durable commit never blocks the event loop. */
  private readonly db: DatabaseSync;
  /** Absent when opened read-only (fsck): every write then fails. */
  private readonly writer: SqliteWriter | undefined;
  private closed = false;

  /**
   * `readOnly`: opens an existing file without creating, migrating or writing anything (tools/fsck.ts); it
   * refuses a file an older version made, since the queries need the current columns.
   */
  constructor(path: string, opts: { durable?: boolean; readOnly?: boolean } = {}) {
    if (opts.readOnly) {
      this.db = openSqliteReadOnly(path);
      this.db.exec('PRAGMA busy_timeout = 10000;');
      if (needsMigration(this.db)) {
        this.db.close();
        throw new Error(`${path} was made by an older version; start the runtime once to migrate it`);
      }
      this.writer = undefined;
    } else {
      prepareSqliteFile(path);
      this.db = new DatabaseSync(path);
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;');
      this.db.exec(SCHEMA);
      // Before the writer opens its connection, so its statements are prepared against the current schema.
      migrate(this.db);
      this.db.exec(AFTER_MIGRATION);
      this.writer = new SqliteWriter({ path, durable: opts.durable !== false });
    }
  }

  /** A read statement on the read connection; prepare once, when the sub-port's adapter is made. */
  prepare(sql: string): StatementSync {
    return this.db.prepare(sql);
  }

  /** The writer thread; refuses when the file was opened read-only. */
  writes(): SqliteWriter {
    if (!this.writer) throw new SqliteWriteError('the index store was opened read-only');
    return this.writer;
  }

  /** For the writes that must fail fast, with a plain message, once the store is closed. */
  assertOpen(): void {
    if (this.closed) throw new Error('index store is closed');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer?.close();
    this.db.close();
  }
}

/** The statements of one sub-port by name, so a missing one is a clear error rather than undefined. */
export function prepared<K extends string>(
  db: SqliteIndexDb,
  sql: Record<K, string>,
): Record<K, StatementSync> {
  const out = {} as Record<K, StatementSync>;
  for (const name of Object.keys(sql) as K[]) out[name] = db.prepare(sql[name]);
  return out;
}
