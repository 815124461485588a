/**
 * Key events and device heads (the StatementStore port) in their own SQLite file (node:sqlite), beside
 * index.sqlite: one row per statement, keyed by (device, leaf hash), which is also its anchor-queue entry
 * while batch_id is NULL.
 *
 * Its own file, so its own writer thread: two writer threads on one file would take turns on SQLite's single
 * write lock, and a busy ingest of records could keep a head waiting for seconds. Like the index, writes are
 * group-committed per event-loop turn (sqlite-writer.ts), WAL with synchronous=FULL, and every query is a
 * range on an index, mirroring what the DynamoDB adapter does with its keys.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import {
  checkStatementEntry,
  type HeadQuery,
  type Page,
  type PutStatementResult,
  type StatementEntry,
  type StatementStore,
  statementIdOf,
} from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import { prepareSqliteFile } from './private-files.js';
import { openSqliteReadOnly } from './sqlite-read-only.js';
import { num, optNum, optStr, type Row, str } from './sqlite-row.js';
import { SqliteWriter } from './sqlite-writer.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS statements (
  device_id TEXT NOT NULL, leaf_hash TEXT NOT NULL, kind TEXT NOT NULL, leaf TEXT NOT NULL,
  received_at INTEGER NOT NULL, head_count INTEGER, head_time INTEGER, event_type TEXT, key_id TEXT,
  batch_id TEXT, leaf_index INTEGER,
  PRIMARY KEY (device_id, leaf_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS statements_key_events ON statements (device_id, received_at, leaf_hash)
  WHERE kind = 'key-event';
CREATE INDEX IF NOT EXISTS statements_heads_by_count ON statements (device_id, head_count, head_time, leaf_hash)
  WHERE kind = 'head';
CREATE INDEX IF NOT EXISTS statements_heads_by_time ON statements (device_id, head_time, head_count, leaf_hash)
  WHERE kind = 'head';
CREATE INDEX IF NOT EXISTS statements_pending ON statements (received_at, kind DESC, device_id, leaf_hash)
  WHERE batch_id IS NULL;
`;

const EVENT_TYPES = ['register', 'rotate', 'revoke'] as const;

function toStatement(r: Row): StatementEntry {
  const deviceId = str(r, 'device_id');
  const leafHash = str(r, 'leaf_hash');
  const kind = str(r, 'kind');
  if (kind !== 'head' && kind !== 'key-event')
    throw new StorageError('storage-malformed', `statement kind ${kind} is unknown`);
  const e: StatementEntry = {
    statementId: statementIdOf(deviceId, leafHash),
    deviceId,
    kind,
    leaf: str(r, 'leaf'),
    leafHash,
    receivedAt: num(r, 'received_at'),
  };
  if (kind === 'head') e.head = { count: num(r, 'head_count'), time: num(r, 'head_time') };
  else {
    const type = str(r, 'event_type');
    const known = EVENT_TYPES.find((t) => t === type);
    if (!known) throw new StorageError('storage-malformed', `key event type ${type} is unknown`);
    e.keyEvent = { type: known, keyId: str(r, 'key_id') };
  }
  const batchId = optStr(r, 'batch_id');
  const leafIndex = optNum(r, 'leaf_index');
  if (batchId !== undefined && leafIndex !== undefined) e.batch = { batchId, leafIndex };
  return e;
}

const W = {
  insert: `INSERT INTO statements (device_id, leaf_hash, kind, leaf, received_at, head_count, head_time,
    event_type, key_id, batch_id, leaf_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  get: 'SELECT * FROM statements WHERE device_id = ? AND leaf_hash = ?',
  assign: `UPDATE statements SET batch_id = ?, leaf_index = ? WHERE device_id = ? AND leaf_hash = ?
    AND (batch_id IS NULL OR batch_id = ?)`,
};

/** The heads query for one ordering field and direction: (primary, secondary, leaf_hash) past the cursor. */
function headsSql(by: HeadQuery['by'], order: HeadQuery['order']): string {
  const [a, b] = by === 'count' ? ['head_count', 'head_time'] : ['head_time', 'head_count'];
  const dir = order === 'asc' ? 'ASC' : 'DESC';
  const past = order === 'asc' ? '>' : '<';
  return `SELECT * FROM statements INDEXED BY statements_heads_by_${by}
    WHERE device_id = :d AND kind = 'head' AND ${a} >= :min AND ${a} <= :max
    AND (:c1 IS NULL OR (${a}, ${b}, leaf_hash) ${past} (:c1, :c2, :c3))
    ORDER BY ${a} ${dir}, ${b} ${dir}, leaf_hash ${dir} LIMIT :limit`;
}

export class SqliteStatementStore implements StatementStore {
  private readonly db: DatabaseSync;
  /** Absent when opened read-only. */
  private readonly writer: SqliteWriter | undefined;
  private readonly stmts: Map<string, StatementSync>;
  private closed = false;

  /**
   * `durable: false` (DURABLE_WRITES=false) skips fsync: for throwaway runs and benchmarks only. `readOnly`:
   * opens an existing file without creating or writing anything (tools/fsck.ts); every write then fails.
   */
  constructor(path: string, opts: { durable?: boolean; readOnly?: boolean } = {}) {
    if (opts.readOnly) {
      this.db = openSqliteReadOnly(path);
      this.db.exec('PRAGMA busy_timeout = 10000;');
      this.writer = undefined;
    } else {
      prepareSqliteFile(path);
      this.db = new DatabaseSync(path);
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;');
      this.db.exec(SCHEMA);
      this.writer = new SqliteWriter({ path, durable: opts.durable !== false });
    }
    const p = (sql: string) => this.db.prepare(sql);
    this.stmts = new Map([
      ['get', p(W.get)],
      [
        'keyEvents',
        p(`SELECT * FROM statements INDEXED BY statements_key_events
          WHERE device_id = :d AND kind = 'key-event' AND (:c1 IS NULL OR (received_at, leaf_hash) > (:c1, :c3))
          ORDER BY received_at, leaf_hash LIMIT :limit`),
      ],
      [
        'pending',
        // kind DESC: 'key-event' before 'head' within one millisecond (StatementStore.listPending).
        p(`SELECT * FROM statements INDEXED BY statements_pending WHERE batch_id IS NULL
          ORDER BY received_at, kind DESC, device_id, leaf_hash LIMIT ?`),
      ],
      ['countPending', p('SELECT COUNT(*) AS n FROM statements WHERE batch_id IS NULL')],
      ['heads:count:asc', p(headsSql('count', 'asc'))],
      ['heads:count:desc', p(headsSql('count', 'desc'))],
      ['heads:time:asc', p(headsSql('time', 'asc'))],
      ['heads:time:desc', p(headsSql('time', 'desc'))],
    ]);
  }

  async putStatement(e: StatementEntry): Promise<PutStatementResult> {
    if (this.closed) throw new StorageError('storage-refused', 'statement store is closed');
    checkStatementEntry(e);
    const [r] = await this.w().write([
      {
        sql: W.insert,
        params: [
          e.deviceId,
          e.leafHash,
          e.kind,
          e.leaf,
          e.receivedAt,
          e.head?.count ?? null,
          e.head?.time ?? null,
          e.keyEvent?.type ?? null,
          e.keyEvent?.keyId ?? null,
          e.batch?.batchId ?? null,
          e.batch?.leafIndex ?? null,
        ],
        ifUnchanged: { sql: W.get, params: [e.deviceId, e.leafHash] },
      },
    ]);
    if (r?.changes === 1) return { outcome: 'created' };
    if (!r?.row)
      throw new StorageError('storage-malformed', `statement ${e.statementId} neither inserted nor found`);
    return { outcome: 'duplicate', existing: toStatement(r.row) };
  }

  async getStatement(deviceId: string, leafHash: string): Promise<StatementEntry | undefined> {
    const r = this.stmt('get').get(deviceId, leafHash) as Row | undefined;
    return r ? toStatement(r) : undefined;
  }

  async listKeyEvents(
    deviceId: string,
    q: { limit: number; cursor?: string },
  ): Promise<Page<StatementEntry>> {
    if (q.limit < 1) return { items: [] };
    const c = decodeCursor(q.cursor, ['int', 'string'] as const);
    const rows = this.stmt('keyEvents').all({
      d: deviceId,
      c1: c?.[0] ?? null,
      c3: c?.[1] ?? '',
      limit: q.limit + 1,
    }) as Row[];
    return pageOf(rows.map(toStatement), q.limit, (s) => [s.receivedAt, s.leafHash]);
  }

  async listHeads(deviceId: string, q: HeadQuery): Promise<Page<StatementEntry>> {
    if (q.limit < 1) return { items: [] };
    const c = decodeCursor(q.cursor, ['int', 'int', 'string'] as const);
    const rows = this.stmt(`heads:${q.by}:${q.order}`).all({
      d: deviceId,
      min: q.min ?? 0,
      max: q.max ?? Number.MAX_SAFE_INTEGER,
      c1: c?.[0] ?? null,
      c2: c?.[1] ?? 0,
      c3: c?.[2] ?? '',
      limit: q.limit + 1,
    }) as Row[];
    return pageOf(rows.map(toStatement), q.limit, (s) => {
      const h = s.head ?? { count: 0, time: 0 };
      return q.by === 'count' ? [h.count, h.time, s.leafHash] : [h.time, h.count, s.leafHash];
    });
  }

  async listPending(limit: number): Promise<StatementEntry[]> {
    if (limit < 1) return [];
    return (this.stmt('pending').all(limit) as Row[]).map(toStatement);
  }

  async countPending(): Promise<number> {
    return num(this.stmt('countPending').get() as Row, 'n');
  }

  async assignToBatch(
    assignments: readonly { deviceId: string; leafHash: string; batchId: string; leafIndex: number }[],
  ): Promise<void> {
    if (assignments.length === 0) return;
    if (this.closed) throw new StorageError('storage-refused', 'statement store is closed');
    await this.w().write(
      assignments.map((a) => ({
        sql: W.assign,
        params: [a.batchId, a.leafIndex, a.deviceId, a.leafHash, a.batchId],
      })),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer?.close();
    this.db.close();
  }

  private w(): SqliteWriter {
    if (!this.writer) throw new StorageError('storage-refused', 'the statement store was opened read-only');
    return this.writer;
  }

  private stmt(name: string): StatementSync {
    const s = this.stmts.get(name);
    // A programming error (a statement name not prepared in the constructor): a plain Error.
    if (!s) throw new Error(`no statement ${name}`);
    return s;
  }
}

/** `items` holds up to limit + 1 entries; the extra one only says that another page exists. */
function pageOf<T>(items: T[], limit: number, cursorOf: (last: T) => (string | number)[]): Page<T> {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return items.length > limit && last ? { items: page, next: encodeCursor(cursorOf(last)) } : { items: page };
}
