/**
 * Direct access to the embedded object store's SQLite file, the way someone with access to the disk would
 * alter it: a second connection, behind the store's back. Tests use it to tamper with and delete objects.
 */
import { DatabaseSync } from 'node:sqlite';

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA busy_timeout = 5000');
  return db;
}

/** Keys present, sorted; with `prefix`, only those under it. */
export function listObjectKeys(dbPath: string, prefix = ''): string[] {
  const db = open(dbPath);
  try {
    const rows = db
      .prepare('SELECT key FROM objects WHERE substr(key, 1, ?) = ? ORDER BY key')
      .all(prefix.length, prefix) as {
      key: string;
    }[];
    return rows.map((r) => r.key);
  } finally {
    db.close();
  }
}

export function readObject(dbPath: string, key: string): Uint8Array {
  const db = open(dbPath);
  try {
    const row = db.prepare('SELECT id, data FROM objects WHERE key = ?').get(key) as
      | { id: number; data: Uint8Array | null }
      | undefined;
    if (!row) throw new Error(`no object ${key}`);
    if (row.data) return new Uint8Array(row.data);
    const rows = db.prepare('SELECT data FROM chunks WHERE object_id = ? ORDER BY idx').all(row.id) as {
      data: Uint8Array;
    }[];
    return new Uint8Array(Buffer.concat(rows.map((r) => r.data)));
  } finally {
    db.close();
  }
}

/** Rewrites an object's bytes in place, as one inline row (fine for the sizes tests tamper with). */
export function editObject(dbPath: string, key: string, edit: (bytes: Uint8Array) => Uint8Array): void {
  const bytes = edit(readObject(dbPath, key));
  const db = open(dbPath);
  try {
    db.exec('BEGIN');
    db.prepare('DELETE FROM chunks WHERE object_id = (SELECT id FROM objects WHERE key = ?)').run(key);
    db.prepare('UPDATE objects SET data = ?, size = ? WHERE key = ?').run(bytes, bytes.length, key);
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

export function deleteObject(dbPath: string, key: string): void {
  const db = open(dbPath);
  try {
    db.prepare('DELETE FROM chunks WHERE object_id = (SELECT id FROM objects WHERE key = ?)').run(key);
    db.prepare('DELETE FROM objects WHERE key = ?').run(key);
  } finally {
    db.close();
  }
}
