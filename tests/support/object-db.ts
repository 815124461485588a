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
    const rows = db.prepare('SELECT data FROM chunks WHERE key = ? ORDER BY idx').all(key) as {
      data: Uint8Array;
    }[];
    if (rows.length === 0) throw new Error(`no object ${key}`);
    return new Uint8Array(Buffer.concat(rows.map((r) => r.data)));
  } finally {
    db.close();
  }
}

/** Rewrites an object's bytes in place (one chunk; fine for the sizes tests tamper with). */
export function editObject(dbPath: string, key: string, edit: (bytes: Uint8Array) => Uint8Array): void {
  const bytes = edit(readObject(dbPath, key));
  const db = open(dbPath);
  try {
    db.exec('BEGIN');
    db.prepare('DELETE FROM chunks WHERE key = ?').run(key);
    db.prepare('INSERT INTO chunks (key, idx, data) VALUES (?, 0, ?)').run(key, bytes);
    db.prepare('UPDATE objects SET size = ? WHERE key = ?').run(bytes.length, key);
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

export function deleteObject(dbPath: string, key: string): void {
  const db = open(dbPath);
  try {
    db.prepare('DELETE FROM chunks WHERE key = ?').run(key);
    db.prepare('DELETE FROM objects WHERE key = ?').run(key);
  } finally {
    db.close();
  }
}
