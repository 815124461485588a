/** DeadLetterStore on the index's SQLite file (sqlite-index-db.ts): the dead_letters table. */
import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type { DeadLetter, DeadLetterStore, Page } from '../../ports.js';
import { prepared, type SqliteIndexDb } from './sqlite-index-db.js';
import { num, type Row } from './sqlite-row.js';
import { toDeadLetter } from './sqlite-stored-form.js';

const READS = {
  listDead: `SELECT * FROM dead_letters WHERE (at < :at OR (at = :at AND id < :id))
    ORDER BY at DESC, id DESC LIMIT :limit`,
  listDeadByDevice: `SELECT * FROM dead_letters WHERE device_id = :d AND (at < :at OR (at = :at AND id < :id))
    ORDER BY at DESC, id DESC LIMIT :limit`,
  countDead: 'SELECT COUNT(*) AS n FROM dead_letters',
};

/** Writes, all positional, run on the writer thread (sqlite-writer.ts). */
const W = {
  insertDead: `INSERT INTO dead_letters (id, at, source, code, reason, device_id, topic, client_id, seq,
    payload_size, payload_sha256, payload, truncated, remote_address, count, first_at, last_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  // Oldest first, through dead_letters_by_time, so a sweep cut short by its limit has removed the oldest.
  pruneDeadBefore:
    'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE at < ? ORDER BY at, id LIMIT ?)',
  pruneDeadOldest:
    'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY at, id LIMIT ?)',
};

export class SqliteDeadLetterStore implements DeadLetterStore {
  private readonly q: Record<keyof typeof READS, StatementSync>;

  constructor(private readonly db: SqliteIndexDb) {
    this.q = prepared(db, READS);
  }

  async putDeadLetter(d: DeadLetter): Promise<void> {
    await this.db.writes().write([
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
    this.db.assertOpen();
    if (q.limit < 1) return 0;
    const [expired] = await this.db.writes().write([{ sql: W.pruneDeadBefore, params: [q.before, q.limit] }]);
    let deleted = expired?.changes ?? 0;
    const excess = num(this.q.countDead.get() as Row, 'n') - Math.max(0, q.keep);
    const more = Math.min(excess, q.limit - deleted);
    if (more > 0) {
      const [oldest] = await this.db.writes().write([{ sql: W.pruneDeadOldest, params: [more] }]);
      deleted += oldest?.changes ?? 0;
    }
    return deleted;
  }

  async listDeadLetters(q: { limit: number; cursor?: string; deviceId?: string }): Promise<Page<DeadLetter>> {
    const [at, id] = decodeCursor(q.cursor, ['int', 'string']) ?? [Number.MAX_SAFE_INTEGER, '\u{10FFFF}'];
    const params: Record<string, SQLInputValue> = { at, id, limit: q.limit + 1 };
    const rows = (
      q.deviceId === undefined
        ? this.q.listDead.all(params)
        : this.q.listDeadByDevice.all({ ...params, d: q.deviceId })
    ) as Row[];
    const items = rows.slice(0, q.limit).map(toDeadLetter);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.at, last.id]) } : { items };
  }
}
