/**
 * The device-side outbox on disk (SQLite). A record is written here, with the device's new sequence number
 * and hash-chain head, in one transaction before it is first published, and leaves only when the backend
 * acknowledges it as durably stored. So a reboot of the device or a restart of the backend loses nothing:
 * what is in the outbox is published again, and ingest treats a redelivery as a no-op.
 *
 * The AWS IoT device SDKs' offline queues live in RAM only; this is what they lack.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface DeviceState {
  deviceId: string;
  masterKey: Uint8Array;
  password: string | null;
  nextSeq: number;
  prevHash: Uint8Array;
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

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    // synchronous=FULL: a record the device believes written survives power loss, like flash on a device.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, master_key BLOB NOT NULL, password TEXT,
        next_seq INTEGER NOT NULL, prev_hash BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (device_id TEXT NOT NULL, seq INTEGER NOT NULL, envelope BLOB NOT NULL,
        created_at INTEGER NOT NULL, PRIMARY KEY (device_id, seq));
      CREATE TABLE IF NOT EXISTS rejected (device_id TEXT NOT NULL, seq INTEGER NOT NULL, code TEXT NOT NULL,
        reason TEXT NOT NULL, envelope BLOB, at INTEGER NOT NULL, PRIMARY KEY (device_id, seq));`);
  }

  getDevice(deviceId: string): DeviceState | undefined {
    const r = this.db.prepare('SELECT * FROM devices WHERE device_id = ?').get(deviceId) as Row | undefined;
    if (!r) return undefined;
    return {
      deviceId,
      masterKey: new Uint8Array(r.master_key as Uint8Array),
      password: (r.password as string | null) ?? null,
      nextSeq: r.next_seq as number,
      prevHash: new Uint8Array(r.prev_hash as Uint8Array),
    };
  }

  createDevice(s: DeviceState): void {
    this.db
      .prepare(
        'INSERT INTO devices (device_id, master_key, password, next_seq, prev_hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(s.deviceId, s.masterKey, s.password, s.nextSeq, s.prevHash);
  }

  setPassword(deviceId: string, password: string): void {
    this.db.prepare('UPDATE devices SET password = ? WHERE device_id = ?').run(password, deviceId);
  }

  /** Stores a new record and advances the device's sequence and chain head, atomically. */
  append(e: OutboxEntry, recordHash: Uint8Array): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.db
        .prepare('INSERT INTO outbox (device_id, seq, envelope, created_at) VALUES (?, ?, ?, ?)')
        .run(e.deviceId, e.seq, e.envelope, e.createdAt);
      this.db
        .prepare('UPDATE devices SET next_seq = ?, prev_hash = ? WHERE device_id = ?')
        .run(e.seq + 1, recordHash, e.deviceId);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  pending(deviceId: string): OutboxEntry[] {
    return (
      this.db.prepare('SELECT * FROM outbox WHERE device_id = ? ORDER BY seq').all(deviceId) as Row[]
    ).map((r) => ({
      deviceId,
      seq: r.seq as number,
      envelope: new Uint8Array(r.envelope as Uint8Array),
      createdAt: r.created_at as number,
    }));
  }

  /** Removes an acknowledged record. Returns false if it was not (or no longer) in the outbox. */
  acknowledge(deviceId: string, seq: number): boolean {
    return (
      this.db.prepare('DELETE FROM outbox WHERE device_id = ? AND seq = ?').run(deviceId, seq).changes === 1
    );
  }

  /** Moves a refused record aside, keeping its bytes for inspection; it is not resent. */
  reject(deviceId: string, seq: number, code: string, reason: string): boolean {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const row = this.db
        .prepare('SELECT envelope FROM outbox WHERE device_id = ? AND seq = ?')
        .get(deviceId, seq) as Row | undefined;
      if (!row) {
        this.db.exec('COMMIT');
        return false;
      }
      this.db
        .prepare(
          'INSERT OR REPLACE INTO rejected (device_id, seq, code, reason, envelope, at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(deviceId, seq, code, reason, row.envelope as Uint8Array, Date.now());
      this.db.prepare('DELETE FROM outbox WHERE device_id = ? AND seq = ?').run(deviceId, seq);
      this.db.exec('COMMIT');
      return true;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
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
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as Row).n as number;
  }

  close(): void {
    this.db.close();
  }
}
