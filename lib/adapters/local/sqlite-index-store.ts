/**
 * Record index, anchor queue, batches, devices, dead letters and audit log in one SQLite file (node:sqlite).
 *
 * WAL with synchronous=FULL: a write resolves once its commit is on disk. Writes are group-committed on a
 * writer thread (sqlite-writer.ts): every write that arrives in the same turn of the event loop shares one
 * transaction and one fsync, and the event loop never waits for the disk, which is what lets ingest keep up
 * with the broker while acknowledging only durable records.
 *
 * The queries mirror what the DynamoDB adapter can do with keys and indexes (see lib/ports.ts): no scans.
 *
 * Size (over 500 lines): one adapter of the whole IndexStore port (records, batches, devices, dead letters,
 * audit) over one file and one writer thread. It splits with the port (issue 12 part 1), one file per
 * sub-port.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { batchNextCheckAt } from '../../anchor/anchor-slots.js';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type {
  AnchorRef,
  AnchorsWriteResult,
  AuditEvent,
  BatchEntry,
  BatchState,
  DeadLetter,
  DeviceEntry,
  DeviceKey,
  DeviceKeyRegistry,
  IndexStore,
  Page,
  PutRecordResult,
  RecordEntry,
  VersionedBatch,
} from '../../ports.js';
import { prepareSqliteFile } from './private-files.js';
import { openSqliteReadOnly } from './sqlite-read-only.js';
import { num, optNum, type Row } from './sqlite-row.js';
import { toAudit, toBatch, toDeadLetter, toDevice, toRecord } from './sqlite-stored-form.js';
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

/** Writes, all positional, run on the writer thread (sqlite-writer.ts). */
const W = {
  insertRecord: `INSERT INTO records (device_id, seq, record_id, timestamp, received_at, record_hash, prev_hash,
    ct_hash, ct_len, env_size, header, object_key, via, batch_id, leaf_index, object_offset, object_length)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  getRecord: 'SELECT * FROM records WHERE device_id = ? AND seq = ?',
  assign:
    'UPDATE records SET batch_id = ?, leaf_index = ? WHERE device_id = ? AND seq = ? AND (batch_id IS NULL OR batch_id = ?)',
  // A repeat with the same CID matches no row, so the first pinned_at stays.
  setIpfsCid: `UPDATE records SET ipfs_cid = ?, ipfs_pinned_at = ? WHERE device_id = ? AND seq = ?
    AND (ipfs_cid IS NULL OR ipfs_cid <> ?)`,
  insertBatch: `INSERT INTO batches (batch_id, root, size, created_at, state, tree_key, anchors, next_check_at,
    inline_parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  // Compare-and-set: no row changes unless the anchors are still at the version the writer read.
  setAnchors: `UPDATE batches SET state = ?, anchors = ?, next_check_at = ?,
    anchors_version = COALESCE(anchors_version, 0) + 1 WHERE batch_id = ? AND COALESCE(anchors_version, 0) = ?`,
  insertDevice: `INSERT INTO devices (device_id, created_at, status, credential_hash, wrapped_master_key,
    signing_keys, allow_unsigned, keys_revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  setCredential: 'UPDATE devices SET credential_hash = ? WHERE device_id = ?',
  updateKeys: `UPDATE devices SET signing_keys = ?, allow_unsigned = ?, keys_revision = ?
    WHERE device_id = ? AND COALESCE(keys_revision, 0) = ?`,
  deviceExists: 'SELECT device_id FROM devices WHERE device_id = ?',
  insertDead: `INSERT INTO dead_letters (id, at, source, code, reason, device_id, topic, client_id, seq,
    payload_size, payload_sha256, payload, truncated, remote_address, count, first_at, last_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  // Oldest first, through dead_letters_by_time, so a sweep cut short by its limit has removed the oldest.
  pruneDeadBefore:
    'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE at < ? ORDER BY at, id LIMIT ?)',
  pruneDeadOldest:
    'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY at, id LIMIT ?)',
  insertAudit: `INSERT INTO audit (id, at, actor, action, target, reason, outcome, error_code, error_message,
    details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
};

export class SqliteIndexStore implements IndexStore, DeviceKeyRegistry {
  /** Reads only; every write goes through the writer thread, so a durable commit never blocks the event loop. */
  private readonly db: DatabaseSync;
  /** Absent when opened read-only (fsck): every write then fails. */
  private readonly writer: SqliteWriter | undefined;
  private readonly stmts: Record<string, StatementSync>;
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
    const p = (sql: string) => this.db.prepare(sql);
    this.stmts = {
      getRecord: p('SELECT * FROM records WHERE device_id = ? AND seq = ?'),
      listByTime: p(`SELECT * FROM records WHERE device_id = :d AND timestamp >= :from AND timestamp < :to
        AND (timestamp > :ct OR (timestamp = :ct AND seq > :cs)) ORDER BY timestamp, seq LIMIT :limit`),
      listBySeq: p(
        'SELECT * FROM records WHERE device_id = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
      ),
      maxSeq: p('SELECT MAX(seq) AS m FROM records WHERE device_id = ?'),
      inForceAt: p(
        'SELECT * FROM records WHERE device_id = ? AND timestamp <= ? ORDER BY timestamp DESC, seq DESC LIMIT 1',
      ),
      listPending: p(
        'SELECT * FROM records WHERE batch_id IS NULL ORDER BY received_at, device_id, seq LIMIT ?',
      ),
      countPending: p('SELECT COUNT(*) AS n FROM records WHERE batch_id IS NULL'),
      getBatch: p('SELECT * FROM batches WHERE batch_id = ?'),
      unanchored: p("SELECT * FROM batches WHERE state = 'built' ORDER BY created_at"),
      anchorsDue: p(
        'SELECT * FROM batches WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at, batch_id LIMIT ?',
      ),
      listBatches: p('SELECT * FROM batches WHERE batch_id < ? ORDER BY batch_id DESC LIMIT ?'),
      getDevice: p('SELECT * FROM devices WHERE device_id = ?'),
      listDevices: p('SELECT * FROM devices WHERE device_id > ? ORDER BY device_id LIMIT ?'),
      listDead: p(
        `SELECT * FROM dead_letters WHERE (at < :at OR (at = :at AND id < :id)) ORDER BY at DESC, id DESC LIMIT :limit`,
      ),
      listDeadByDevice:
        p(`SELECT * FROM dead_letters WHERE device_id = :d AND (at < :at OR (at = :at AND id < :id))
        ORDER BY at DESC, id DESC LIMIT :limit`),
      countDead: p('SELECT COUNT(*) AS n FROM dead_letters'),
      listAudit: p(
        'SELECT * FROM audit WHERE (at < :at OR (at = :at AND id < :id)) ORDER BY at DESC, id DESC LIMIT :limit',
      ),
    };
  }

  // ------------------------------------------------------------------------------------------- records

  async putRecord(e: RecordEntry): Promise<PutRecordResult> {
    if (this.closed) throw new Error('index store is closed');
    const [r] = await this.w().write([
      {
        sql: W.insertRecord,
        params: [
          e.deviceId,
          e.seq,
          e.recordId,
          e.timestamp,
          e.receivedAt,
          e.recordHash,
          e.prevHash,
          e.ciphertextHash,
          e.ciphertextLength,
          e.envelopeSize,
          e.header,
          e.objectKey,
          e.via,
          e.batch?.batchId ?? null,
          e.batch?.leafIndex ?? null,
          e.objectRange?.offset ?? null,
          e.objectRange?.length ?? null,
        ],
        ifUnchanged: { sql: W.getRecord, params: [e.deviceId, e.seq] },
      },
    ]);
    if (r?.changes === 1) return { outcome: 'created' };
    if (!r?.row) throw new Error(`record ${e.recordId} neither inserted nor found`);
    const rec = toRecord(r.row);
    return rec.recordHash === e.recordHash
      ? { outcome: 'duplicate', existing: rec }
      : { outcome: 'conflict', existing: rec };
  }

  async getRecord(deviceId: string, seq: number): Promise<RecordEntry | undefined> {
    const r = this.stmt('getRecord').get(deviceId, seq) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  async listByTime(
    deviceId: string,
    q: { from: number; to: number; limit: number; cursor?: string },
  ): Promise<Page<RecordEntry>> {
    const c = decodeCursor(q.cursor, ['int', 'int']);
    const [ct, cs] = c ?? [-1, -1];
    const rows = this.stmt('listByTime').all({
      d: deviceId,
      from: q.from,
      to: q.to,
      ct,
      cs,
      limit: q.limit + 1,
    }) as Row[];
    const items = rows.slice(0, q.limit).map(toRecord);
    const last = items.at(-1);
    return rows.length > q.limit && last
      ? { items, next: encodeCursor([last.timestamp, last.seq]) }
      : { items };
  }

  async listBySeq(
    deviceId: string,
    q: { fromSeq: number; toSeq: number; limit: number },
  ): Promise<RecordEntry[]> {
    return (this.stmt('listBySeq').all(deviceId, q.fromSeq, q.toSeq, q.limit) as Row[]).map(toRecord);
  }

  async recordInForceAt(deviceId: string, at: number): Promise<RecordEntry | undefined> {
    const r = this.stmt('inForceAt').get(deviceId, at) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  async maxSeq(deviceId: string): Promise<number | undefined> {
    const r = this.stmt('maxSeq').get(deviceId) as Row | undefined;
    return optNum(r ?? {}, 'm');
  }

  async listPending(limit: number): Promise<RecordEntry[]> {
    return (this.stmt('listPending').all(limit) as Row[]).map(toRecord);
  }

  async countPending(): Promise<number> {
    return num(this.stmt('countPending').get() as Row, 'n');
  }

  async assignToBatch(
    assignments: readonly { deviceId: string; seq: number; batchId: string; leafIndex: number }[],
  ): Promise<void> {
    if (assignments.length === 0) return;
    await this.w().write(
      assignments.map((a) => ({
        sql: W.assign,
        params: [a.batchId, a.leafIndex, a.deviceId, a.seq, a.batchId],
      })),
    );
  }

  async setIpfsCid(deviceId: string, seq: number, cid: string, at: number): Promise<void> {
    if (this.closed) throw new Error('index store is closed');
    await this.w().write([{ sql: W.setIpfsCid, params: [cid, at, deviceId, seq, cid] }]);
  }

  // ------------------------------------------------------------------------------------------- batches

  async putBatch(b: BatchEntry): Promise<'created' | 'exists'> {
    const [r] = await this.w().write([
      {
        sql: W.insertBatch,
        params: [
          b.batchId,
          b.root,
          b.size,
          b.createdAt,
          b.state,
          b.treeKey,
          JSON.stringify(b.anchors),
          batchNextCheckAt(b.anchors) ?? null,
          b.inline === undefined ? null : JSON.stringify(b.inline),
        ],
      },
    ]);
    return r?.changes === 1 ? 'created' : 'exists';
  }

  async getBatch(batchId: string): Promise<BatchEntry | undefined> {
    const r = this.stmt('getBatch').get(batchId) as Row | undefined;
    return r ? toBatch(r) : undefined;
  }

  async getBatchVersioned(batchId: string): Promise<VersionedBatch | undefined> {
    const r = this.stmt('getBatch').get(batchId) as Row | undefined;
    return r ? { batch: toBatch(r), version: optNum(r, 'anchors_version') ?? 0 } : undefined;
  }

  async compareAndSetAnchors(
    batchId: string,
    expectedVersion: number,
    next: { anchors: AnchorRef[]; state: BatchState },
  ): Promise<AnchorsWriteResult> {
    const [r] = await this.w().write([
      {
        sql: W.setAnchors,
        params: [
          next.state,
          JSON.stringify(next.anchors),
          batchNextCheckAt(next.anchors) ?? null,
          batchId,
          expectedVersion,
        ],
      },
    ]);
    if (r?.changes === 1) return { status: 'written', version: expectedVersion + 1 };
    // Read after the write resolved: the row either never existed or was moved on by another writer.
    return this.stmt('getBatch').get(batchId) ? { status: 'conflict' } : { status: 'not-found' };
  }

  async listUnanchored(): Promise<BatchEntry[]> {
    return (this.stmt('unanchored').all() as Row[]).map(toBatch);
  }

  async listAnchorsDue(now: number, limit: number): Promise<BatchEntry[]> {
    if (limit < 1) return [];
    return (this.stmt('anchorsDue').all(now, limit) as Row[]).map(toBatch);
  }

  async listBatches(q: { limit: number; cursor?: string }): Promise<Page<BatchEntry>> {
    const after = decodeCursor(q.cursor, ['string'])?.[0] ?? '\u{10FFFF}';
    const rows = this.stmt('listBatches').all(after, q.limit + 1) as Row[];
    const items = rows.slice(0, q.limit).map(toBatch);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.batchId]) } : { items };
  }

  // ------------------------------------------------------------------------------------------- devices

  async createDevice(d: DeviceEntry): Promise<'created' | 'exists'> {
    const [r] = await this.w().write([
      {
        sql: W.insertDevice,
        params: [
          d.deviceId,
          d.createdAt,
          d.status,
          d.credentialHash,
          d.wrappedMasterKey,
          JSON.stringify(d.keys),
          d.allowUnsigned ? 1 : 0,
          d.keysRevision,
        ],
      },
    ]);
    return r?.changes === 1 ? 'created' : 'exists';
  }

  async updateDeviceKeys(
    deviceId: string,
    next: { keys: readonly DeviceKey[]; allowUnsigned: boolean },
    ifRevision: number,
  ): Promise<'updated' | 'conflict' | 'not-found'> {
    if (this.closed) throw new Error('index store is closed');
    const [r] = await this.w().write([
      {
        sql: W.updateKeys,
        params: [JSON.stringify(next.keys), next.allowUnsigned ? 1 : 0, ifRevision + 1, deviceId, ifRevision],
        ifUnchanged: { sql: W.deviceExists, params: [deviceId] },
      },
    ]);
    if (r?.changes === 1) return 'updated';
    return r?.row ? 'conflict' : 'not-found';
  }

  async getDevice(deviceId: string): Promise<DeviceEntry | undefined> {
    const r = this.stmt('getDevice').get(deviceId) as Row | undefined;
    return r ? toDevice(r) : undefined;
  }

  async setCredentialHash(deviceId: string, credentialHash: string): Promise<void> {
    await this.w().write([{ sql: W.setCredential, params: [credentialHash, deviceId] }]);
  }

  async listDevices(q: { limit: number; cursor?: string }): Promise<Page<DeviceEntry>> {
    const after = decodeCursor(q.cursor, ['string'])?.[0] ?? '';
    const rows = this.stmt('listDevices').all(after, q.limit + 1) as Row[];
    const items = rows.slice(0, q.limit).map(toDevice);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.deviceId]) } : { items };
  }

  // ------------------------------------------------------------------------------------------- dead letters

  async putDeadLetter(d: DeadLetter): Promise<void> {
    await this.w().write([
      {
        sql: W.insertDead,
        params: [
          d.id,
          d.at,
          d.source,
          d.code,
          d.reason,
          d.deviceId ?? null,
          d.topic ?? null,
          d.clientId ?? null,
          d.seq ?? null,
          d.payloadSize,
          d.payloadSha256,
          d.payload,
          d.truncated ? 1 : 0,
          d.remoteAddress ?? null,
          d.count ?? null,
          d.firstAt ?? null,
          d.lastAt ?? null,
        ],
      },
    ]);
  }

  async pruneDeadLetters(q: { before: number; keep: number; limit: number }): Promise<number> {
    if (this.closed) throw new Error('index store is closed');
    if (q.limit < 1) return 0;
    const [expired] = await this.w().write([{ sql: W.pruneDeadBefore, params: [q.before, q.limit] }]);
    let deleted = expired?.changes ?? 0;
    const excess = num(this.stmt('countDead').get() as Row, 'n') - Math.max(0, q.keep);
    const more = Math.min(excess, q.limit - deleted);
    if (more > 0) {
      const [oldest] = await this.w().write([{ sql: W.pruneDeadOldest, params: [more] }]);
      deleted += oldest?.changes ?? 0;
    }
    return deleted;
  }

  async listDeadLetters(q: { limit: number; cursor?: string; deviceId?: string }): Promise<Page<DeadLetter>> {
    const [at, id] = decodeCursor(q.cursor, ['int', 'string']) ?? [Number.MAX_SAFE_INTEGER, '\u{10FFFF}'];
    const params: Record<string, SQLInputValue> = { at, id, limit: q.limit + 1 };
    const rows = (
      q.deviceId === undefined
        ? this.stmt('listDead').all(params)
        : this.stmt('listDeadByDevice').all({ ...params, d: q.deviceId })
    ) as Row[];
    const items = rows.slice(0, q.limit).map(toDeadLetter);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.at, last.id]) } : { items };
  }

  // ------------------------------------------------------------------------------------------- audit

  async appendAudit(e: AuditEvent): Promise<void> {
    await this.w().write([
      {
        sql: W.insertAudit,
        params: [
          e.id,
          e.at,
          e.actor,
          e.action,
          e.target,
          e.reason ?? null,
          e.outcome,
          e.error?.code ?? null,
          e.error?.message ?? null,
          e.details === undefined ? null : JSON.stringify(e.details),
        ],
      },
    ]);
  }

  async listAudit(q: { limit: number; cursor?: string }): Promise<Page<AuditEvent>> {
    const [at, id] = decodeCursor(q.cursor, ['int', 'string']) ?? [Number.MAX_SAFE_INTEGER, '\u{10FFFF}'];
    const rows = this.stmt('listAudit').all({ at, id, limit: q.limit + 1 }) as Row[];
    const items = rows.slice(0, q.limit).map(toAudit);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.at, last.id]) } : { items };
  }

  // ------------------------------------------------------------------------------------------- lifecycle

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer?.close();
    this.db.close();
  }

  private w(): SqliteWriter {
    if (!this.writer) throw new SqliteWriteError('the index store was opened read-only');
    return this.writer;
  }

  private stmt(name: string): StatementSync {
    const s = this.stmts[name];
    if (!s) throw new Error(`no statement ${name}`);
    return s;
  }
}
