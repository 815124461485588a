/**
 * The embedded object store: objects as chunked BLOBs in one SQLite file ($DATA_DIR/objects.sqlite).
 *
 * Why not one file per object: each record would cost a create, write, fsync, rename and directory fsync,
 * five trips through libuv's thread pool, and ext4 serialises creates within a directory; measured here it
 * capped ingest near 2,500 records/s whatever else we did (BENCHMARKS.md). Here every put that arrives in
 * the same turn of the event loop shares one transaction and one fsync (WAL, synchronous=FULL), an object is
 * either wholly present or absent, and a million records are one file to back up instead of a million.
 *
 * An object up to 256 KiB (every record sent inline) is one row. Larger ones (uploads, batch trees) are split
 * into 256 KiB chunks so a range read (an inclusion path from a 64 MB tree) touches only the chunks it needs.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { toHex } from '../../core/bytes.js';
import type { ObjectStore, Page, StoredObject, UploadGrant } from '../../ports.js';
import { StorageError } from '../../storage-error.js';
import { prepareSqliteFile } from './private-files.js';
import { openSqliteReadOnly } from './sqlite-read-only.js';
import { SqliteWriteError, SqliteWriter, type WriteStatement } from './sqlite-writer.js';
import { signUpload } from './upload-signing.js';

export const CHUNK_BYTES = 256 * 1024;
const KEY_RE = /^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*)(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

export function assertObjectKey(key: string): void {
  if (key.length > 1024 || !KEY_RE.test(key))
    // A programming error (keys are built by lib/, never taken from a request unchecked): a RangeError.
    throw new RangeError(`invalid object key ${JSON.stringify(key)}`);
}

export interface SqliteObjectStoreOptions {
  path: string;
  /** fsync before put() resolves (synchronous=FULL). Only benches turn it off. */
  durable?: boolean;
  /** Base URL of the runtime's HTTP server, for upload URLs, e.g. http://127.0.0.1:8080. */
  uploadBaseUrl?: () => string;
  /** HMAC key that signs upload URLs. */
  uploadSecret?: Uint8Array;
  /** The clock the upload endpoint checks expiry against. */
  clock?: () => number;
  /** Opens an existing file without creating or writing anything (tools/fsck.ts); every write then fails. */
  readOnly?: boolean;
}

const SQL = {
  dropChunks: 'DELETE FROM chunks WHERE object_id = (SELECT id FROM objects WHERE key = ?)',
  dropObject: 'DELETE FROM objects WHERE key = ?',
  insert: 'INSERT INTO objects (key, size, stored_at, data) VALUES (?, ?, ?, ?)',
  putChunk: 'INSERT INTO chunks (object_id, idx, data) VALUES ((SELECT id FROM objects WHERE key = ?), ?, ?)',
};

export class SqliteObjectStore implements ObjectStore {
  /** Reads only; every write goes through the writer thread. */
  private readonly db: DatabaseSync;
  /** Absent when opened read-only (fsck): every write then fails. */
  private readonly writer: SqliteWriter | undefined;
  private readonly s: Record<'head' | 'inline' | 'chunks' | 'list', StatementSync>;
  private closed = false;

  constructor(private readonly opts: SqliteObjectStoreOptions) {
    if (opts.readOnly) {
      this.db = openSqliteReadOnly(opts.path);
      this.db.exec('PRAGMA busy_timeout = 10000;');
      this.writer = undefined;
    } else {
      prepareSqliteFile(opts.path);
      this.db = new DatabaseSync(opts.path);
      this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;
        CREATE TABLE IF NOT EXISTS objects (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
          stored_at INTEGER NOT NULL, data BLOB);
        CREATE TABLE IF NOT EXISTS chunks (object_id INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
          PRIMARY KEY (object_id, idx));`);
      this.writer = new SqliteWriter({ path: opts.path, durable: opts.durable !== false });
    }
    this.s = {
      head: this.db.prepare('SELECT id, size, data IS NOT NULL AS inline FROM objects WHERE key = ?'),
      inline: this.db.prepare('SELECT substr(data, ?, ?) AS part FROM objects WHERE id = ?'),
      chunks: this.db.prepare(
        'SELECT idx, data FROM chunks WHERE object_id = ? AND idx BETWEEN ? AND ? ORDER BY idx',
      ),
      // A range on the key's unique index. Keys are ASCII below 0x7f, so prefix || 0x7f bounds the prefix.
      list: this.db.prepare(
        'SELECT key, size, stored_at FROM objects WHERE key >= ? AND key < ? AND key > ? ORDER BY key LIMIT ?',
      ),
    };
  }

  async put(key: string, body: Uint8Array, _opts?: { sha256?: Uint8Array }): Promise<void> {
    assertObjectKey(key);
    if (this.closed) throw new StorageError('storage-refused', 'object store is closed');
    const now = (this.opts.clock ?? Date.now)();
    const job: WriteStatement[] = [
      { sql: SQL.dropChunks, params: [key] },
      { sql: SQL.dropObject, params: [key] },
    ];
    if (body.length <= CHUNK_BYTES) {
      // Most objects (every inline record) fit one row: no chunk rows at all.
      job.push({ sql: SQL.insert, params: [key, body.length, now, body] });
    } else {
      job.push({ sql: SQL.insert, params: [key, body.length, now, null] });
      for (let i = 0, idx = 0; i < body.length; i += CHUNK_BYTES, idx++) {
        job.push({
          sql: SQL.putChunk,
          params: [key, idx, body.subarray(i, Math.min(i + CHUNK_BYTES, body.length))],
        });
      }
    }
    await this.w().write(job);
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    if (this.closed) throw new StorageError('storage-refused', 'object store is closed');
    await this.w().write([
      { sql: SQL.dropChunks, params: [key] },
      { sql: SQL.dropObject, params: [key] },
    ]);
  }

  private row(key: string): { id: number; size: number; inline: number } | undefined {
    assertObjectKey(key);
    return this.s.head.get(key) as { id: number; size: number; inline: number } | undefined;
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    const r = this.row(key);
    return r ? { size: r.size } : undefined;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const r = this.row(key);
    return r ? this.read(r, 0, r.size) : undefined;
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const r = this.row(key);
    if (!r) return undefined;
    const start = Math.min(Math.max(0, offset), r.size);
    const end = Math.min(start + Math.max(0, length), r.size);
    return this.read(r, start, end);
  }

  private read(r: { id: number; inline: number }, start: number, end: number): Uint8Array {
    if (end <= start) return new Uint8Array(0);
    if (r.inline) {
      const part = (this.s.inline.get(start + 1, end - start, r.id) as { part: Uint8Array | null }).part;
      return new Uint8Array(part ?? new Uint8Array(0));
    }
    const out = new Uint8Array(end - start);
    const first = Math.floor(start / CHUNK_BYTES);
    const last = Math.floor((end - 1) / CHUNK_BYTES);
    const rows = this.s.chunks.all(r.id, first, last) as { idx: number; data: Uint8Array }[];
    for (const { idx, data } of rows) {
      const chunkStart = idx * CHUNK_BYTES;
      const from = Math.max(start, chunkStart) - chunkStart;
      const to = Math.min(end, chunkStart + data.length) - chunkStart;
      if (to > from) out.set(data.subarray(from, to), chunkStart + from - start);
    }
    return out;
  }

  async createUploadUrl(
    key: string,
    opts: { sha256: Uint8Array; size: number; expiresInSeconds: number },
  ): Promise<UploadGrant> {
    assertObjectKey(key);
    const { uploadBaseUrl, uploadSecret } = this.opts;
    if (!uploadBaseUrl || !uploadSecret)
      throw new StorageError('storage-refused', 'this object store was built without an upload endpoint');
    const expiresAt = (this.opts.clock ?? Date.now)() + opts.expiresInSeconds * 1000;
    const sha = toHex(opts.sha256);
    const sig = signUpload(uploadSecret, { key, sha256: sha, size: opts.size, expiresAt });
    const q = new URLSearchParams({ key, sha256: sha, size: String(opts.size), exp: String(expiresAt), sig });
    return {
      url: `${uploadBaseUrl()}/v1/uploads?${q.toString()}`,
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-content-sha256': sha },
      expiresAt,
    };
  }

  async list(prefix: string, q: { limit: number; cursor?: string }): Promise<Page<StoredObject>> {
    if (q.limit < 1) return { items: [] };
    const limit = Math.min(q.limit, 1000);
    const after = decodeListCursor(q.cursor) ?? '';
    const rows = this.s.list.all(prefix, `${prefix}\x7f`, after, limit + 1) as {
      key: string;
      size: number;
      stored_at: number;
    }[];
    const items = rows.slice(0, limit).map((r) => ({ key: r.key, size: r.size, storedAt: r.stored_at }));
    const last = items.at(-1);
    return rows.length > limit && last ? { items, next: encodeListCursor(last.key) } : { items };
  }

  /** Writes what is queued, then closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer?.close();
    this.db.close();
  }

  private w(): SqliteWriter {
    if (!this.writer) throw new SqliteWriteError('the object store was opened read-only');
    return this.writer;
  }
}

/** A list cursor is the last key returned, opaque to callers. */
const encodeListCursor = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');
function decodeListCursor(c: string | undefined): string | undefined {
  return c === undefined ? undefined : Buffer.from(c, 'base64url').toString('utf8');
}
