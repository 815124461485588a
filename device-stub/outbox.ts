/**
 * The device-side outbox on disk (SQLite). A record is written here, with the device's new sequence number
 * and hash-chain head, in one transaction before it is first published, and leaves only when the backend
 * acknowledges it as durably stored. So a reboot of the device or a restart of the backend loses nothing:
 * what is in the outbox is published again, and ingest treats a redelivery as a no-op.
 *
 * The AWS IoT device SDKs' offline queues live in RAM only; this is what they lack.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { prepareSqliteFile } from '../lib/adapters/local/private-files.js';

export interface DeviceState {
  deviceId: string;
  masterKey: Uint8Array;
  password: string | null;
  nextSeq: number;
  prevHash: Uint8Array;
  /** `count` of the last head the backend acknowledged; null before the first (docs/device-keys.md). */
  headCount: number | null;
}

export interface OutboxEntry {
  deviceId: string;
  seq: number;
  envelope: Uint8Array;
  createdAt: number;
}

export interface RejectedEntry {
  deviceId: string;
  seq: number;
  code: string;
  reason: string;
}

type Row = Record<string, unknown>;

export class Outbox {
  private readonly db: DatabaseSync;
  private readonly s: Record<
    | 'getDevice'
    | 'createDevice'
    | 'setPassword'
    | 'insert'
    | 'advance'
    | 'pending'
    | 'ack'
    | 'get'
    | 'reject'
    | 'count'
    | 'setHeadCount',
    StatementSync
  >;

  constructor(path: string) {
    // It holds master keys and passwords in plaintext: 0600 (and its -wal, -shm), in a folder made 0700.
    prepareSqliteFile(path);
    this.db = new DatabaseSync(path);
    // synchronous=FULL: a record the device believes written survives power loss, like flash on a device.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, master_key BLOB NOT NULL, password TEXT,
        next_seq INTEGER NOT NULL, prev_hash BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (device_id TEXT NOT NULL, seq INTEGER NOT NULL, envelope BLOB NOT NULL,
        created_at INTEGER NOT NULL, PRIMARY KEY (device_id, seq));
      CREATE TABLE IF NOT EXISTS rejected (device_id TEXT NOT NULL, seq INTEGER NOT NULL, code TEXT NOT NULL,
        reason TEXT NOT NULL, envelope BLOB, at INTEGER NOT NULL, PRIMARY KEY (device_id, seq));`);
    // Outboxes made before heads existed gain the column; their devices have sent no head yet.
    const columns = (this.db.prepare('PRAGMA table_info(devices)').all() as Row[]).map((c) => c.name);
    if (!columns.includes('head_count')) this.db.exec('ALTER TABLE devices ADD COLUMN head_count INTEGER');
    const p = (sql: string) => this.db.prepare(sql);
    this.s = {
      getDevice: p('SELECT * FROM devices WHERE device_id = ?'),
      createDevice: p(
        'INSERT INTO devices (device_id, master_key, password, next_seq, prev_hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      setPassword: p('UPDATE devices SET password = ? WHERE device_id = ?'),
      insert: p('INSERT INTO outbox (device_id, seq, envelope, created_at) VALUES (?, ?, ?, ?)'),
      advance: p('UPDATE devices SET next_seq = ?, prev_hash = ? WHERE device_id = ?'),
      pending: p('SELECT * FROM outbox WHERE device_id = ? ORDER BY seq'),
      ack: p('DELETE FROM outbox WHERE device_id = ? AND seq = ?'),
      get: p('SELECT envelope FROM outbox WHERE device_id = ? AND seq = ?'),
      reject: p(
        'INSERT OR REPLACE INTO rejected (device_id, seq, code, reason, envelope, at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      count: p('SELECT COUNT(*) AS n FROM outbox'),
      setHeadCount: p('UPDATE devices SET head_count = ? WHERE device_id = ?'),
    };
  }

  getDevice(deviceId: string): DeviceState | undefined {
    const r = this.s.getDevice.get(deviceId) as Row | undefined;
    if (!r) return undefined;
    return {
      deviceId,
      masterKey: new Uint8Array(r.master_key as Uint8Array),
      password: (r.password as string | null) ?? null,
      nextSeq: r.next_seq as number,
      prevHash: new Uint8Array(r.prev_hash as Uint8Array),
      headCount: (r.head_count as number | null) ?? null,
    };
  }

  createDevice(s: Omit<DeviceState, 'headCount'>): void {
    this.s.createDevice.run(s.deviceId, s.masterKey, s.password, s.nextSeq, s.prevHash);
  }

  /** The backend acknowledged a head of this count. */
  setHeadCount(deviceId: string, count: number): void {
    this.s.setHeadCount.run(count, deviceId);
  }

  setPassword(deviceId: string, password: string): void {
    this.s.setPassword.run(password, deviceId);
  }

  /** Stores a new record and advances the device's sequence and chain head, atomically. */
  append(e: OutboxEntry, recordHash: Uint8Array): void {
    this.tx(() => {
      this.s.insert.run(e.deviceId, e.seq, e.envelope, e.createdAt);
      this.s.advance.run(e.seq + 1, recordHash, e.deviceId);
    });
  }

  pending(deviceId: string): OutboxEntry[] {
    return (this.s.pending.all(deviceId) as Row[]).map((r) => ({
      deviceId,
      seq: r.seq as number,
      envelope: new Uint8Array(r.envelope as Uint8Array),
      createdAt: r.created_at as number,
    }));
  }

  /** Removes acknowledged records, in one transaction; returns the seqs that were (still) in the outbox. */
  acknowledge(deviceId: string, seqs: readonly number[]): number[] {
    const removed: number[] = [];
    this.tx(() => {
      for (const seq of seqs) if (this.s.ack.run(deviceId, seq).changes === 1) removed.push(seq);
    });
    return removed;
  }

  /** Moves a refused record aside, keeping its bytes for inspection; it is not resent. */
  reject(deviceId: string, seq: number, code: string, reason: string): boolean {
    let moved = false;
    this.tx(() => {
      const row = this.s.get.get(deviceId, seq) as Row | undefined;
      if (!row) return;
      this.s.reject.run(deviceId, seq, code, reason, row.envelope as Uint8Array, Date.now());
      this.s.ack.run(deviceId, seq);
      moved = true;
    });
    return moved;
  }

  rejected(deviceId?: string): RejectedEntry[] {
    const rows = (
      deviceId === undefined
        ? this.db.prepare('SELECT device_id, seq, code, reason FROM rejected ORDER BY device_id, seq').all()
        : this.db
            .prepare('SELECT device_id, seq, code, reason FROM rejected WHERE device_id = ? ORDER BY seq')
            .all(deviceId)
    ) as Row[];
    return rows.map((r) => ({
      deviceId: r.device_id as string,
      seq: r.seq as number,
      code: r.code as string,
      reason: r.reason as string,
    }));
  }

  countPending(): number {
    return (this.s.count.get() as Row).n as number;
  }

  close(): void {
    this.db.close();
  }

  private tx(fn: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      fn();
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }
}
