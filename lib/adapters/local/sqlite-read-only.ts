/**
 * Opening an embedded SQLite file without writing anything, for tools/fsck.ts. A plain read-only connection
 * to a WAL database still creates the -shm and -wal files next to it; when there is no -wal (no process has
 * the file open, and the last one closed it cleanly) the file is opened `immutable` instead, which creates
 * nothing. With a -wal present (the runtime is running, or crashed) the normal read-only open reads it.
 */
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { StorageError } from '../../storage-error.js';

export function openSqliteReadOnly(path: string): DatabaseSync {
  if (!existsSync(path)) throw new StorageError('storage-unavailable', `no database at ${path}`);
  if (existsSync(`${path}-wal`)) return new DatabaseSync(path, { readOnly: true });
  const url = pathToFileURL(path);
  url.searchParams.set('immutable', '1');
  return new DatabaseSync(url, { readOnly: true });
}
