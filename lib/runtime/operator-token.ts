import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { loadOrCreateSecret } from '../adapters/local/secret-file.js';
import { sha256 } from '../core/hash.js';

/**
 * The embedded runtime's operator credential: a random bearer token in $DATA_DIR/operator.token (mode 0600),
 * created on first start and kept across restarts. In AWS, API Gateway's authorizer takes this role.
 */
export function loadOperatorToken(dataDir: string): { path: string; token: string } {
  const path = join(dataDir, 'operator.token');
  const bytes = loadOrCreateSecret(path, () =>
    new TextEncoder().encode(`${randomBytes(32).toString('base64url')}\n`),
  );
  return { path, token: new TextDecoder().decode(bytes).trim() };
}

/**
 * The embedded runtime's operator check on a bearer credential (lib/access/authenticate.ts hands it anything
 * that is not an auditor token). Both sides are hashed first so the constant-time compare sees equal lengths.
 */
export function operatorTokenCheck(token: string): (bearer: string) => Promise<string | undefined> {
  const want = sha256(new TextEncoder().encode(token));
  return async (bearer) => {
    const got = sha256(new TextEncoder().encode(bearer));
    return timingSafeEqual(want, got) ? 'operator' : undefined;
  };
}
