/**
 * LeaseStore in a SQLite file (node:sqlite): one row per leased name. Each operation is one write
 * transaction taken with BEGIN IMMEDIATE, so two processes on the same DATA_DIR (two `npm start`s by
 * mistake) settle a race in SQLite's write lock, as two Lambdas settle theirs in DynamoDB's conditions.
 *
 * As in the DynamoDB adapter, a released row keeps its token, so tokens only ever grow.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { checkLeaseArgs, type Lease, type LeaseAcquired, type LeaseStore } from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import { prepareSqliteFile } from './private-files.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS leases (
  name TEXT PRIMARY KEY, holder TEXT, token INTEGER NOT NULL, expires_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

type Row = { holder: string | null; token: number; expires_at: number };

export class SqliteLeaseStore implements LeaseStore {
  private readonly db: DatabaseSync;
  private readonly stmts: Record<'get' | 'upsert' | 'renew' | 'release', StatementSync>;
  private closed = false;

  /** `durable: false` (DURABLE_WRITES=false) skips fsync: for throwaway runs and benchmarks only. */
  constructor(path: string, opts: { durable?: boolean } = {}) {
    prepareSqliteFile(path);
    this.db = new DatabaseSync(path);
    this.db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${opts.durable === false ? 'OFF' : 'FULL'}; PRAGMA busy_timeout = 5000;`,
    );
    this.db.exec(SCHEMA);
    this.stmts = {
      get: this.db.prepare('SELECT holder, token, expires_at FROM leases WHERE name = ?'),
      upsert: this.db.prepare(`INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, 1, ?)
        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = token + 1, expires_at = excluded.expires_at
        RETURNING token`),
      renew: this.db.prepare('UPDATE leases SET expires_at = ? WHERE name = ? AND token = ? AND holder = ?'),
      release: this.db.prepare(
        'UPDATE leases SET holder = NULL, expires_at = 0 WHERE name = ? AND token = ? AND holder = ?',
      ),
    };
  }

  private open(): void {
    if (this.closed) throw new StorageError('storage-refused', 'lease store is closed');
  }

  async acquire(name: string, holder: string, opts: { now: number; ttlMs: number }): Promise<LeaseAcquired> {
    checkLeaseArgs(name, holder, opts.ttlMs);
    this.open();
    const expiresAt = opts.now + opts.ttlMs;
    // IMMEDIATE takes the write lock before the read: another process acquiring at once waits, then sees ours.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const row = this.stmts.get.get(name) as Row | undefined;
      if (row && row.holder !== null && row.expires_at > opts.now) {
        this.db.exec('ROLLBACK');
        return { acquired: false, heldBy: row.holder, expiresAt: row.expires_at };
      }
      const out = this.stmts.upsert.get(name, holder, expiresAt) as { token: number };
      this.db.exec('COMMIT');
      return { acquired: true, lease: { name, holder, token: out.token, expiresAt } };
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  async renew(lease: Lease, opts: { now: number; ttlMs: number }): Promise<Lease | undefined> {
    checkLeaseArgs(lease.name, lease.holder, opts.ttlMs);
    this.open();
    const expiresAt = opts.now + opts.ttlMs;
    const r = this.stmts.renew.run(expiresAt, lease.name, lease.token, lease.holder);
    return r.changes === 1 ? { ...lease, expiresAt } : undefined;
  }

  async release(lease: Lease): Promise<void> {
    this.open();
    this.stmts.release.run(lease.name, lease.token, lease.holder);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
