/**
 * Everything the embedded runtime and the device stub keep on disk is for their owner only: indexes of
 * device data, ciphertexts, secrets, and (in the stub's outbox) master keys and passwords in plaintext. Files
 * are 0600 and folders we create 0700, whatever the mode of the folder they are in and whatever an older
 * version left behind, because a mode given at creation does nothing for a file that already exists.
 *
 * SQLite creates its -wal, -shm and -journal files with the mode of the database file, so making the database
 * file private before the first connection covers new ones; existing ones are chmod-ed here too.
 */
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Sets `path` to 0600 if it exists (and is not already); a missing file is not an error. */
export function makePrivate(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return;
    throw e;
  }
  if (mode !== PRIVATE_FILE_MODE) chmodSync(path, PRIVATE_FILE_MODE);
}

/**
 * Creates `dir` (and missing parents) 0700. An existing folder keeps its mode: it may be the operator's own
 * choice, and its files are private either way.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Makes a SQLite database file private before it is opened: creates it 0600 if absent, chmods it and its
 * -wal, -shm and -journal files if present. Call before every `new DatabaseSync(path)` that may write.
 */
export function prepareSqliteFile(path: string): void {
  ensurePrivateDir(dirname(path));
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) makePrivate(p);
}

/**
 * The mode of `dir` if its group or others have any access to it, else undefined. The runtime warns about it
 * rather than changing it: the files inside are private anyway, but others can still list their names and
 * sizes, and a folder they can write lets them delete or replace files.
 */
export function openDirMode(dir: string): number | undefined {
  const mode = statSync(dir).mode & 0o777;
  return (mode & 0o077) !== 0 ? mode : undefined;
}

/** Every file under `root` (not following links) whose mode lets its group or others in, with that mode. */
export function filesOpenToOthers(root: string): { path: string; mode: number }[] {
  const out: { path: string; mode: number }[] = [];
  for (const d of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!d.isFile()) continue;
    const path = join(d.parentPath, d.name);
    const mode = lstatSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) out.push({ path, mode });
  }
  return out;
}
