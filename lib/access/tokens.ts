/**
 * Auditor tokens: made, listed and revoked by the operator (docs/api.md "Tokens"). A token is 256 random bits
 * written `ina_<43 base64url characters>`, a prefix that makes a leaked one easy to recognise (and to scan
 * for); it is shown once, in the answer that creates it. The store keeps only its SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { toHex, utf8 } from '../core/bytes.js';
import { NotaryError } from '../core/errors.js';
import { sha256 } from '../core/hash.js';
import { newId } from '../core/ids.js';
import type { AccessToken, AuditLog, Page, TokenStore } from '../ports.js';
import { type Permission, type Scope, scopeProblem } from './scope.js';

export const TOKEN_PREFIX = 'ina_';
export const TOKEN_PATTERN = /^ina_[A-Za-z0-9_-]{43}$/;
/** The longest a token may live: an audit is a bounded engagement, and a forgotten token should die. */
export const MAX_TOKEN_TTL_SECONDS = 90 * 24 * 3600;

export const tokenHashOf = (token: string): string => toHex(sha256(utf8(token)));

export function newTokenSecret(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** A token as the API shows it: never the secret, never its hash. */
export interface TokenView {
  tokenId: string;
  name: string;
  role: 'auditor';
  scope: Scope;
  permissions: Permission[];
  createdAt: number;
  createdBy: string;
  expiresAt: number;
  status: 'active' | 'expired' | 'revoked';
  revokedAt?: number;
  revokedBy?: string;
}

export function viewOf(t: AccessToken, now: number): TokenView {
  const { tokenHash: _hash, ...rest } = t;
  return {
    ...rest,
    status: t.revokedAt !== undefined ? 'revoked' : now >= t.expiresAt ? 'expired' : 'active',
  };
}

export interface TokenDeps {
  tokens: TokenStore;
  audit: AuditLog;
  clock: () => number;
}

export interface CreateTokenRequest {
  name: string;
  devices: string[];
  from?: number;
  to?: number;
  /** Exactly one of expiresAt and ttlSeconds. */
  expiresAt?: number;
  ttlSeconds?: number;
  permissions: Permission[];
  actor: string;
}

export async function createAuditorToken(
  deps: TokenDeps,
  req: CreateTokenRequest,
): Promise<TokenView & { token: string }> {
  const now = deps.clock();
  if ((req.expiresAt === undefined) === (req.ttlSeconds === undefined))
    throw new NotaryError('bad-request', 'give exactly one of expiresAt and ttlSeconds');
  const expiresAt = req.expiresAt ?? now + (req.ttlSeconds ?? 0) * 1000;
  if (expiresAt <= now) throw new NotaryError('bad-request', 'expiresAt must be in the future');
  if (expiresAt > now + MAX_TOKEN_TTL_SECONDS * 1000)
    throw new NotaryError('bad-request', `a token lives at most ${MAX_TOKEN_TTL_SECONDS / 86_400} days`);
  if (!req.permissions.includes('read'))
    throw new NotaryError(
      'bad-request',
      'permissions must include read ("read" or "read" and "key-release")',
    );
  const scope: Scope = {
    devices: [...new Set(req.devices)],
    ...(req.from === undefined ? {} : { from: req.from }),
    ...(req.to === undefined ? {} : { to: req.to }),
  };
  const problem = scopeProblem(scope);
  if (problem) throw new NotaryError('bad-request', problem);

  const token = newTokenSecret();
  const stored: AccessToken = {
    tokenId: newId(now, 'tok-'),
    tokenHash: tokenHashOf(token),
    name: req.name,
    role: 'auditor',
    scope,
    permissions: [...new Set(req.permissions)].sort() as Permission[],
    createdAt: now,
    createdBy: req.actor,
    expiresAt,
  };
  // 256 random bits do not collide; 'exists' would mean a broken random source, which must not pass quietly.
  if ((await deps.tokens.putToken(stored)) !== 'created')
    throw new NotaryError('internal', 'a token with the same hash exists; the random source is broken');
  // The secret leaves only once the token's creation is in the audit log. If that write fails, the token is
  // revoked before the error goes back, so no token works that the log does not show.
  try {
    await deps.audit.appendAudit({
      id: newId(now, 'au-'),
      at: now,
      actor: req.actor,
      action: 'token-created',
      target: stored.tokenId,
      outcome: 'succeeded',
      details: {
        name: stored.name,
        devices: scope.devices.join(','),
        ...(scope.from === undefined ? {} : { from: scope.from }),
        ...(scope.to === undefined ? {} : { to: scope.to }),
        permissions: stored.permissions.join(','),
        expiresAt,
      },
    });
  } catch (err) {
    await deps.tokens
      .revokeToken(stored.tokenId, { at: now, by: 'system:audit-failed' })
      .catch(() => undefined);
    throw err;
  }
  return { ...viewOf(stored, now), token };
}

export async function listAuditorTokens(
  deps: Pick<TokenDeps, 'tokens' | 'clock'>,
  q: { limit: number; cursor?: string },
): Promise<Page<TokenView>> {
  const page = await deps.tokens.listTokens(q);
  const now = deps.clock();
  return { items: page.items.map((t) => viewOf(t, now)), ...(page.next ? { next: page.next } : {}) };
}

export async function revokeAuditorToken(
  deps: TokenDeps,
  req: { tokenId: string; actor: string },
): Promise<TokenView> {
  const now = deps.clock();
  const before = await deps.tokens.getToken(req.tokenId);
  if (!before) throw new NotaryError('token-not-found', `no token ${req.tokenId}`);
  // Revoked first: a revocation must take effect even when the audit log cannot be written (the error then
  // goes back, and the token stays revoked).
  if ((await deps.tokens.revokeToken(req.tokenId, { at: now, by: req.actor })) === 'revoked') {
    await deps.audit.appendAudit({
      id: newId(now, 'au-'),
      at: now,
      actor: req.actor,
      action: 'token-revoked',
      target: req.tokenId,
      outcome: 'succeeded',
      details: { name: before.name },
    });
  }
  const after = await deps.tokens.getToken(req.tokenId);
  if (!after) throw new NotaryError('token-not-found', `no token ${req.tokenId}`);
  return viewOf(after, now);
}
