/** AuditLog on the index's SQLite file (sqlite-index-db.ts): the audit table, append-only. */
import type { StatementSync } from 'node:sqlite';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type { AuditEvent, AuditLog, Page } from '../../ports.js';
import { prepared, type SqliteIndexDb } from './sqlite-index-db.js';
import type { Row } from './sqlite-row.js';
import { toAudit } from './sqlite-stored-form.js';

const READS = {
  listAudit:
    'SELECT * FROM audit WHERE (at < :at OR (at = :at AND id < :id)) ORDER BY at DESC, id DESC LIMIT :limit',
};

const INSERT = `INSERT INTO audit (id, at, actor, action, target, reason, outcome, error_code, error_message,
  details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export class SqliteAuditLog implements AuditLog {
  private readonly q: Record<keyof typeof READS, StatementSync>;

  constructor(private readonly db: SqliteIndexDb) {
    this.q = prepared(db, READS);
  }

  async appendAudit(e: AuditEvent): Promise<void> {
    await this.db.writes().write([
      {
        sql: INSERT,
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
    const rows = this.q.listAudit.all({ at, id, limit: q.limit + 1 }) as Row[];
    const items = rows.slice(0, q.limit).map(toAudit);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.at, last.id]) } : { items };
  }
}
