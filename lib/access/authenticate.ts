/**
 * From an Authorization header to a principal: an auditor token (recognised by its `ina_` prefix) is looked
 * up by its SHA-256 in the token store; anything else is handed to the runtime's operator check (the token
 * file in the embedded runtime, a JWT from the operators' issuer on AWS). Both the embedded API and the AWS
 * Lambda authorizer run this same function.
 *
 * Refusals keep their reason: `token-expired` and `token-revoked` tell the holder of a real token why it
 * stopped working, which tells nothing to anyone else (a guessed token is only ever `unauthorized`).
 */
import type { AccessToken, TokenStore } from '../ports.js';
import type { AuditorPrincipal, Principal } from './scope.js';
import { TOKEN_PATTERN, TOKEN_PREFIX, tokenHashOf } from './tokens.js';

export type AuthRefusalCode = 'unauthorized' | 'token-expired' | 'token-revoked';

export type AuthOutcome =
  | { ok: true; principal: Principal }
  /** `tokenId` is set when the token was real (expired or revoked): the refusal is then audited under it. */
  | { ok: false; code: AuthRefusalCode; message: string; tokenId?: string };

export interface AuthenticateDeps {
  tokens: Pick<TokenStore, 'getTokenByHash'>;
  clock: () => number;
  /** This runtime's operator check on a bearer credential that is not an auditor token: the actor, or undefined. */
  operator: (bearer: string) => Promise<string | undefined>;
}

const MISSING: AuthOutcome = {
  ok: false,
  code: 'unauthorized',
  message: 'a bearer token is required (Authorization: Bearer <token>)',
};
const UNKNOWN: AuthOutcome = { ok: false, code: 'unauthorized', message: 'the bearer token is not valid' };

/** The credential of `Authorization: Bearer <credential>`, or undefined for any other header. */
export function bearerOf(authorization: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  return m?.[1];
}

export function auditorPrincipal(t: AccessToken): AuditorPrincipal {
  return {
    role: 'auditor',
    actor: `auditor:${t.tokenId}`,
    tokenId: t.tokenId,
    scope: t.scope,
    permissions: t.permissions,
    expiresAt: t.expiresAt,
  };
}

/** What a stored token allows now; revocation is reported before expiry, since it was a deliberate act. */
export function judgeToken(t: AccessToken | undefined, now: number): AuthOutcome {
  if (!t) return UNKNOWN;
  if (t.revokedAt !== undefined)
    return { ok: false, code: 'token-revoked', message: 'this token was revoked', tokenId: t.tokenId };
  if (now >= t.expiresAt)
    return {
      ok: false,
      code: 'token-expired',
      message: `this token expired at ${new Date(t.expiresAt).toISOString()}`,
      tokenId: t.tokenId,
    };
  return { ok: true, principal: auditorPrincipal(t) };
}

export async function authenticateBearer(
  deps: AuthenticateDeps,
  authorization: string | undefined,
): Promise<AuthOutcome> {
  const bearer = bearerOf(authorization);
  if (bearer === undefined) return MISSING;
  if (bearer.startsWith(TOKEN_PREFIX)) {
    // The shape is checked first so that junk never costs a store read.
    if (!TOKEN_PATTERN.test(bearer)) return UNKNOWN;
    return judgeToken(await deps.tokens.getTokenByHash(tokenHashOf(bearer)), deps.clock());
  }
  const actor = await deps.operator(bearer);
  return actor === undefined ? UNKNOWN : { ok: true, principal: { role: 'operator', actor } };
}
