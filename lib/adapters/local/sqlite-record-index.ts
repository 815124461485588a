/**
 * RecordIndex on the index's SQLite file (sqlite-index-db.ts): the records table, which is also the anchor
 * queue (a record without a batch is queued, through the partial index records_pending).
 */
import type { StatementSync } from 'node:sqlite';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type { Page, PutRecordResult, RecordEntry, RecordIndex } from '../../ports.js';
import { prepared, type SqliteIndexDb } from './sqlite-index-db.js';
import { num, optNum, type Row } from './sqlite-row.js';
import { toRecord } from './sqlite-stored-form.js';

const READS = {
  getRecord: 'SELECT * FROM records WHERE device_id = ? AND seq = ?',
  listByTime: `SELECT * FROM records WHERE device_id = :d AND timestamp >= :from AND timestamp < :to
    AND (timestamp > :ct OR (timestamp = :ct AND seq > :cs)) ORDER BY timestamp, seq LIMIT :limit`,
  listBySeq: 'SELECT * FROM records WHERE device_id = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
  maxSeq: 'SELECT MAX(seq) AS m FROM records WHERE device_id = ?',
  inForceAt:
    'SELECT * FROM records WHERE device_id = ? AND timestamp <= ? ORDER BY timestamp DESC, seq DESC LIMIT 1',
  listPending: 'SELECT * FROM records WHERE batch_id IS NULL ORDER BY received_at, device_id, seq LIMIT ?',
  countPending: 'SELECT COUNT(*) AS n FROM records WHERE batch_id IS NULL',
};

/** Writes, all positional, run on the writer thread (sqlite-writer.ts). */
const W = {
  insertRecord: `INSERT INTO records (device_id, seq, record_id, timestamp, received_at, record_hash, prev_hash,
    ct_hash, ct_len, env_size, header, object_key, via, batch_id, leaf_index, object_offset, object_length)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  getRecord: READS.getRecord,
  assign:
    'UPDATE records SET batch_id = ?, leaf_index = ? WHERE device_id = ? AND seq = ? AND (batch_id IS NULL OR batch_id = ?)',
  // A repeat with the same CID matches no row, so the first pinned_at stays.
  setIpfsCid: `UPDATE records SET ipfs_cid = ?, ipfs_pinned_at = ? WHERE device_id = ? AND seq = ?
    AND (ipfs_cid IS NULL OR ipfs_cid <> ?)`,
};

export class SqliteRecordIndex implements RecordIndex {
  private readonly q: Record<keyof typeof READS, StatementSync>;

  constructor(private readonly db: SqliteIndexDb) {
    this.q = prepared(db, READS);
  }

  async putRecord(e: RecordEntry): Promise<PutRecordResult> {
    this.db.assertOpen();
    const [r] = await this.db.writes().write([
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
    const r = this.q.getRecord.get(deviceId, seq) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  async listByTime(
    deviceId: string,
    q: { from: number; to: number; limit: number; cursor?: string },
  ): Promise<Page<RecordEntry>> {
    const c = decodeCursor(q.cursor, ['int', 'int']);
    const [ct, cs] = c ?? [-1, -1];
    const rows = this.q.listByTime.all({
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
    return (this.q.listBySeq.all(deviceId, q.fromSeq, q.toSeq, q.limit) as Row[]).map(toRecord);
  }

  async recordInForceAt(deviceId: string, at: number): Promise<RecordEntry | undefined> {
    const r = this.q.inForceAt.get(deviceId, at) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  async maxSeq(deviceId: string): Promise<number | undefined> {
    const r = this.q.maxSeq.get(deviceId) as Row | undefined;
    return optNum(r ?? {}, 'm');
  }

  async listPending(limit: number): Promise<RecordEntry[]> {
    return (this.q.listPending.all(limit) as Row[]).map(toRecord);
  }

  async countPending(): Promise<number> {
    return num(this.q.countPending.get() as Row, 'n');
  }

  async assignToBatch(
    assignments: readonly { deviceId: string; seq: number; batchId: string; leafIndex: number }[],
  ): Promise<void> {
    if (assignments.length === 0) return;
    await this.db.writes().write(
      assignments.map((a) => ({
        sql: W.assign,
        params: [a.batchId, a.leafIndex, a.deviceId, a.seq, a.batchId],
      })),
    );
  }

  async setIpfsCid(deviceId: string, seq: number, cid: string, at: number): Promise<void> {
    this.db.assertOpen();
    await this.db.writes().write([{ sql: W.setIpfsCid, params: [cid, at, deviceId, seq, cid] }]);
  }
}
