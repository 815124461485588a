/**
 * DeviceRegistry and DeviceKeyRegistry on the index's SQLite file (sqlite-index-db.ts): the devices table,
 * whose keys_revision guards every change of a device's keys.
 */
import type { StatementSync } from 'node:sqlite';
import { decodeCursor, encodeCursor } from '../../core/page-cursor.js';
import type { DeviceEntry, DeviceKey, DeviceKeyRegistry, DeviceRegistry, Page } from '../../ports.js';
import { prepared, type SqliteIndexDb } from './sqlite-index-db.js';
import type { Row } from './sqlite-row.js';
import { toDevice } from './sqlite-stored-form.js';

const READS = {
  getDevice: 'SELECT * FROM devices WHERE device_id = ?',
  listDevices: 'SELECT * FROM devices WHERE device_id > ? ORDER BY device_id LIMIT ?',
};

/** Writes, all positional, run on the writer thread (sqlite-writer.ts). */
const W = {
  insertDevice: `INSERT INTO devices (device_id, created_at, status, credential_hash, wrapped_master_key,
    signing_keys, allow_unsigned, keys_revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  setCredential: 'UPDATE devices SET credential_hash = ? WHERE device_id = ?',
  updateKeys: `UPDATE devices SET signing_keys = ?, allow_unsigned = ?, keys_revision = ?
    WHERE device_id = ? AND COALESCE(keys_revision, 0) = ?`,
  deviceExists: 'SELECT device_id FROM devices WHERE device_id = ?',
};

export class SqliteDeviceRegistry implements DeviceRegistry, DeviceKeyRegistry {
  private readonly q: Record<keyof typeof READS, StatementSync>;

  constructor(private readonly db: SqliteIndexDb) {
    this.q = prepared(db, READS);
  }

  async createDevice(d: DeviceEntry): Promise<'created' | 'exists'> {
    const [r] = await this.db.writes().write([
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
    this.db.assertOpen();
    const [r] = await this.db.writes().write([
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
    const r = this.q.getDevice.get(deviceId) as Row | undefined;
    return r ? toDevice(r) : undefined;
  }

  async setCredentialHash(deviceId: string, credentialHash: string): Promise<void> {
    await this.db.writes().write([{ sql: W.setCredential, params: [credentialHash, deviceId] }]);
  }

  async listDevices(q: { limit: number; cursor?: string }): Promise<Page<DeviceEntry>> {
    const after = decodeCursor(q.cursor, ['string'])?.[0] ?? '';
    const rows = this.q.listDevices.all(after, q.limit + 1) as Row[];
    const items = rows.slice(0, q.limit).map(toDevice);
    const last = items.at(-1);
    return rows.length > q.limit && last ? { items, next: encodeCursor([last.deviceId]) } : { items };
  }
}
