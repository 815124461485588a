import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateDir, makePrivate, PRIVATE_FILE_MODE } from './private-files.js';

/**
 * Reads the secret at `path`, or undefined if there is no file there. A secret an older version left readable
 * by others is made 0600 first.
 */
export function readSecret(path: string): Uint8Array | undefined {
  try {
    makePrivate(path);
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Writes a new secret (mode 0600, atomically: a crash leaves the old state or the whole new file). */
export function writeSecret(path: string, secret: Uint8Array): void {
  ensurePrivateDir(dirname(path));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, secret, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  renameSync(tmp, path);
}

/**
 * Reads a secret from `path`, creating it on first use. The embedded runtime keeps its few root secrets this
 * way; in AWS they are KMS keys instead. Only for secrets whose loss loses nothing: a secret that data
 * depends on (the key-encryption key, the ledger key) must not be silently replaced, and its caller checks
 * first (lib/runtime/embedded-store-checks.ts).
 */
export function loadOrCreateSecret(
  path: string,
  create: () => Uint8Array = () => randomBytes(32),
): Uint8Array {
  const existing = readSecret(path);
  if (existing) return existing;
  const secret = create();
  writeSecret(path, secret);
  return secret;
}
