/**
 * The local pin queue: one row per hot record in its own SQLite file (node:sqlite), so a pin job outlives an
 * IPFS outage and a restart. WAL with synchronous=FULL, like the index: enqueue returns once the job is on
 * disk. Enqueue is on the ingest path (before the device's ack), so it goes through a writer thread that
 * group-commits per event-loop turn (sqlite-writer.ts) instead of fsyncing on the event loop; the drain's
 * own writes, one per pin, stay on this connection.
 *
 * Every write touches one row by its key, and "due jobs" is a range on next_attempt_at over pending rows only,
 * which a DynamoDB adapter can mirror with a sparse index. A claim reads and leases in one write transaction,
 * so two workers never get the same job.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { PinJob, PinJobError, PinJobState, PinQueue, PinTarget } from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import { prepareSqliteFile } from './private-files.js';
import { num, type Row, str } from './sqlite-row.js';
import { SqliteWriter } from './sqlite-writer.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pin_jobs (
  record_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL, object_key TEXT NOT NULL,
  record_hash TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL, last_error_code TEXT, last_error TEXT, cid TEXT, pinned_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pin_jobs_due ON pin_jobs (next_attempt_at, record_id) WHERE state = 'pending';
`;

const STATES: readonly PinJobState[] = ['pending', 'pinned', 'failed'];

function toJob(r: Row): PinJob {
  const state = str(r, 'state') as PinJobState;
  if (!STATES.includes(state))
    throw new StorageError('storage-malformed', `pin job state ${state} is unknown`);
  const job: PinJob = {
    recordId: str(r, 'record_id'),
    deviceId: str(r, 'device_id'),
    seq: num(r, 'seq'),
    objectKey: str(r, 'object_key'),
    recordHash: str(r, 'record_hash'),
    state,
    attempts: num(r, 'attempts'),
    nextAttemptAt: num(r, 'next_attempt_at'),
    enqueuedAt: num(r, 'enqueued_at'),
  };
  if (typeof r.last_error_code === 'string' && typeof r.last_error === 'string')
    job.lastError = { code: r.last_error_code, message: r.last_error };
  if (typeof r.cid === 'string') job.cid = r.cid;
  if (typeof r.pinned_at === 'number') job.pinnedAt = r.pinned_at;
  return job;
}

const INSERT = `INSERT INTO pin_jobs (record_id, device_id, seq, object_key, record_hash, state, attempts,
  next_attempt_at, enqueued_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT DO NOTHING`;

/** Error messages are kept for operators, not as a log: long ones are cut. */
const MAX_ERROR_CHARS = 2_000;

export class SqlitePinQueue implements PinQueue {
  private readonly db: DatabaseSync;
  private readonly stmts: Record<string, StatementSync>;
  private readonly writer: SqliteWriter;
  private closed = false;

  /** `durable: false` (DURABLE_WRITES=false) skips fsync: for throwaway runs and benchmarks only. */
  constructor(path: string, opts: { durable?: boolean } = {}) {
    const durable = opts.durable !== false;
    prepareSqliteFile(path);
    this.db = new DatabaseSync(path);
    this.db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${durable ? 'FULL' : 'OFF'}; PRAGMA busy_timeout = 5000;`,
    );
    this.db.exec(SCHEMA);
    this.writer = new SqliteWriter({ path, durable });
    const p = (sql: string) => this.db.prepare(sql);
    this.stmts = {
      due: p(`SELECT * FROM pin_jobs WHERE state = 'pending' AND next_attempt_at <= ?
        ORDER BY next_attempt_at, record_id LIMIT ?`),
      lease: p(`UPDATE pin_jobs SET next_attempt_at = ? WHERE record_id = ? AND state = 'pending'`),
      pinned: p(`UPDATE pin_jobs SET state = 'pinned', cid = ?, pinned_at = ?, last_error_code = NULL,
        last_error = NULL WHERE record_id = ?`),
      retry: p(`UPDATE pin_jobs SET attempts = attempts + 1, next_attempt_at = ?, last_error_code = ?,
        last_error = ? WHERE record_id = ? AND state = 'pending'`),
      release: p(`UPDATE pin_jobs SET next_attempt_at = ? WHERE record_id = ? AND state = 'pending'`),
      failed: p(`UPDATE pin_jobs SET state = 'failed', attempts = attempts + 1, next_attempt_at = ?,
        last_error_code = ?, last_error = ? WHERE record_id = ? AND state = 'pending'`),
      get: p('SELECT * FROM pin_jobs WHERE record_id = ?'),
      countPending: p(`SELECT COUNT(*) AS n FROM pin_jobs WHERE state = 'pending'`),
    };
  }

  private stmt(name: string): StatementSync {
    if (this.closed) throw new StorageError('storage-refused', 'pin queue is closed');
    const s = this.stmts[name];
    // A programming error (a statement name not prepared in the constructor): a plain Error.
    if (!s) throw new Error(`no statement ${name}`);
    return s;
  }

  async enqueue(t: PinTarget, now: number): Promise<'queued' | 'exists'> {
    if (this.closed) throw new StorageError('storage-refused', 'pin queue is closed');
    const [r] = await this.writer.write([
      { sql: INSERT, params: [t.recordId, t.deviceId, t.seq, t.objectKey, t.recordHash, now, now] },
    ]);
    return r?.changes === 1 ? 'queued' : 'exists';
  }

  async claimDue(q: { now: number; limit: number; leaseMs: number }): Promise<PinJob[]> {
    if (q.limit <= 0) return [];
    const due = this.stmt('due');
    const lease = this.stmt('lease');
    const leaseEnd = q.now + q.leaseMs;
    // IMMEDIATE takes the write lock before reading, so a second process claiming at the same time waits and
    // then sees these jobs leased.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const jobs = (due.all(q.now, q.limit) as Row[]).map(toJob);
      for (const j of jobs) {
        lease.run(leaseEnd, j.recordId);
        j.nextAttemptAt = leaseEnd;
      }
      this.db.exec('COMMIT');
      return jobs;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  async markPinned(recordId: string, r: { cid: string; at: number }): Promise<void> {
    this.stmt('pinned').run(r.cid, r.at, recordId);
  }

  async markRetry(recordId: string, r: PinJobError & { nextAttemptAt: number }): Promise<void> {
    this.stmt('retry').run(r.nextAttemptAt, r.code, r.message.slice(0, MAX_ERROR_CHARS), recordId);
  }

  async release(recordId: string, nextAttemptAt: number): Promise<void> {
    this.stmt('release').run(nextAttemptAt, recordId);
  }

  async markFailed(recordId: string, r: PinJobError & { at: number }): Promise<void> {
    this.stmt('failed').run(r.at, r.code, r.message.slice(0, MAX_ERROR_CHARS), recordId);
  }

  async getJob(recordId: string): Promise<PinJob | undefined> {
    const row = this.stmt('get').get(recordId) as Row | undefined;
    return row ? toJob(row) : undefined;
  }

  async countPending(): Promise<number> {
    const row = this.stmt('countPending').get() as Row;
    return num(row, 'n');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Queued enqueues are committed first: each one's caller is waiting to ack a record.
    await this.writer.close();
    this.db.close();
  }
}
