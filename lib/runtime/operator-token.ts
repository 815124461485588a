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

export function bearerAuthenticator(
  token: string,
): (authorization: string | undefined) => Promise<string | undefined> {
  const want = sha256(new TextEncoder().encode(token));
  return async (authorization) => {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m?.[1]) return undefined;
    const got = sha256(new TextEncoder().encode(m[1]));
    return timingSafeEqual(want, got) ? 'operator' : undefined;
  };
}
