/**
 * BatchStore on the index's SQLite file (sqlite-index-db.ts): the batches table, with next_check_at kept in
 * step with the anchors (the due key of listAnchorsDue) and anchors_version for the compare-and-set.
 */
import type { StatementSync } from 'node:sqlite';
import { batchNextCheckAt } from '../../anchor/anchor-slots.js';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type {
  AnchorRef,
  AnchorsWriteResult,
  BatchEntry,
  BatchState,
  BatchStore,
  Page,
  VersionedBatch,
} from '../../ports.js';
import { prepared, type SqliteIndexDb } from './sqlite-index-db.js';
import { optNum, type Row } from './sqlite-row.js';
import { toBatch } from './sqlite-stored-form.js';

const READS = {
  getBatch: 'SELECT * FROM batches WHERE batch_id = ?',
  unanchored: "SELECT * FROM batches WHERE state = 'built' ORDER BY created_at",
  anchorsDue:
    'SELECT * FROM batches WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at, batch_id LIMIT ?',
  listBatches: 'SELECT * FROM batches WHERE batch_id < ? ORDER BY batch_id DESC LIMIT ?',
};

/** Writes, all positional, run on the writer thread (sqlite-writer.ts). */
const W = {
  insertBatch: `INSERT INTO batches (batch_id, root, size, created_at, state, tree_key, anchors, next_check_at,
    inline_parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  // Compare-and-set: no row changes unless the anchors are still at the version the writer read.
  setAnchors: `UPDATE batches SET state = ?, anchors = ?, next_check_at = ?,
    anchors_version = COALESCE(anchors_version, 0) + 1 WHERE batch_id = ? AND COALESCE(anchors_version, 0) = ?`,
};

export class SqliteBatchStore implements BatchStore {
  private readonly q: Record<keyof typeof READS, StatementSync>;

  constructor(private readonly db: SqliteIndexDb) {
    this.q = prepared(db, READS);
  }

  async putBatch(b: BatchEntry): Promise<'created' | 'exists'> {
    const [r] = await this.db.writes().write([
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
    const r = this.q.getBatch.get(batchId) as Row | undefined;
    return r ? toBatch(r) : undefined;
  }

  async getBatchVersioned(batchId: string): Promise<VersionedBatch | undefined> {
    const r = this.q.getBatch.get(batchId) as Row | undefined;
    return r ? { batch: toBatch(r), version: optNum(r, 'anchors_version') ?? 0 } : undefined;
  }

  async compareAndSetAnchors(
    batchId: string,
    expectedVersion: number,
    next: { anchors: AnchorRef[]; state: BatchState },
  ): Promise<AnchorsWriteResult> {
    const [r] = await this.db.writes().write([
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
    return this.q.getBatch.get(batchId) ? { status: 'conflict' } : { status: 'not-found' };
  }

  async listUnanchored(): Promise<BatchEntry[]> {
    return (this.q.unanchored.all() as Row[]).map(toBatch);
  }

  async listAnchorsDue(now: number, limit: number): Promise<BatchEntry[]> {
    if (limit < 1) return [];
    return (this.q.anchorsDue.all(now, limit) as Row[]).map(toBatch);
  }

  async listBatches(q: { limit: number; cursor?: string }): Promise<Page<BatchEntry>> {
    const after = decodeCursor(q.cursor, ['string'])?.[0] ?? '\u{10FFFF}';
    const rows = this.q.listBatches.all(after, q.limit + 1) as Row[];
    const items = rows.slice(0, q.limit).map(toBatch);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.batchId]) } : { items };
  }
}
