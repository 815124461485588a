import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Reads a secret from `path`, creating it (mode 0600, atomically) on first use. The embedded runtime keeps its
 * few root secrets this way; in AWS they are KMS keys instead.
 */
export function loadOrCreateSecret(
  path: string,
  create: () => Uint8Array = () => randomBytes(32),
): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const secret = create();
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, secret, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
  return secret;
}
