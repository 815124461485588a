/**
 * The AWS Lambda authorizer's answer (docs/deploy.md "Operators and auditors"): API Gateway's HTTP API
 * "simple response", `{ isAuthorized, context }`, whose context reaches the verify function as
 * `requestContext.authorizer.lambda`. The context carries the outcome of lib/access/authenticate.ts in flat
 * string and number values, which is what the simple response format passes on.
 *
 * The authorizer labels, it does not refuse: a request with a missing, unknown, expired or revoked token goes
 * on with `role: none` and its code, so the verify function answers it in the same documented JSON as the
 * embedded runtime does (401 with `token-expired`, and so on), instead of API Gateway's bare
 * `{"message":"Forbidden"}`. The function trusts this context only, never the Authorization header.
 */
import { z } from 'zod';
import {
  type AuthenticateDeps,
  type AuthOutcome,
  type AuthRefusalCode,
  authenticateBearer,
} from './authenticate.js';
import { PERMISSIONS, type Permission } from './scope.js';
import { parseScopeJson } from './stored-token.js';

export type AuthorizerContextValues = Record<string, string | number>;

export interface SimpleAuthorizerResponse {
  isAuthorized: boolean;
  context: AuthorizerContextValues;
}

export function authorizerResponseOf(outcome: AuthOutcome): SimpleAuthorizerResponse {
  if (!outcome.ok)
    return {
      isAuthorized: true,
      context: {
        role: 'none',
        code: outcome.code,
        message: outcome.message,
        ...(outcome.tokenId ? { tokenId: outcome.tokenId } : {}),
      },
    };
  const p = outcome.principal;
  if (p.role === 'operator') return { isAuthorized: true, context: { role: 'operator', actor: p.actor } };
  return {
    isAuthorized: true,
    context: {
      role: 'auditor',
      actor: p.actor,
      tokenId: p.tokenId,
      scope: JSON.stringify(p.scope),
      permissions: p.permissions.join(','),
      expiresAt: p.expiresAt,
    },
  };
}

const REFUSALS = [
  'unauthorized',
  'token-expired',
  'token-revoked',
] as const satisfies readonly AuthRefusalCode[];

const Context = z.discriminatedUnion('role', [
  z.object({ role: z.literal('operator'), actor: z.string().min(1) }),
  z.object({
    role: z.literal('auditor'),
    actor: z.string().min(1),
    tokenId: z.string().min(1),
    scope: z.string(),
    permissions: z.string(),
    // Numbers may arrive as strings, depending on how the context was serialised on the way.
    expiresAt: z.coerce.number().int(),
  }),
  z.object({
    role: z.literal('none'),
    code: z.enum(REFUSALS),
    message: z.string(),
    tokenId: z.string().optional(),
  }),
]);

const NO_CONTEXT: AuthOutcome = {
  ok: false,
  code: 'unauthorized',
  message: 'this request did not pass the authorizer; a bearer token is required',
};

/**
 * The verify function's view of who is calling. Anything but a well-formed context from the authorizer,
 * including none at all (a route someone added without auth), is `unauthorized`.
 */
export function outcomeOfAuthorizerContext(ctx: unknown): AuthOutcome {
  const r = Context.safeParse(ctx);
  if (!r.success) return NO_CONTEXT;
  const c = r.data;
  if (c.role === 'operator') return { ok: true, principal: { role: 'operator', actor: c.actor } };
  if (c.role === 'none')
    return { ok: false, code: c.code, message: c.message, ...(c.tokenId ? { tokenId: c.tokenId } : {}) };
  const permissions = c.permissions.split(',').filter((x) => x !== '');
  if (!permissions.every((x) => (PERMISSIONS as readonly string[]).includes(x))) return NO_CONTEXT;
  let scope: ReturnType<typeof parseScopeJson>;
  try {
    scope = parseScopeJson(c.scope);
  } catch {
    return NO_CONTEXT;
  }
  return {
    ok: true,
    principal: {
      role: 'auditor',
      actor: c.actor,
      tokenId: c.tokenId,
      scope,
      permissions: permissions as Permission[],
      expiresAt: c.expiresAt,
    },
  };
}

/** The authorizer's whole decision for one request: authenticate the bearer, label the request with it. */
export async function authorizeHttpRequest(
  deps: AuthenticateDeps,
  authorization: string | undefined,
): Promise<SimpleAuthorizerResponse> {
  return authorizerResponseOf(await authenticateBearer(deps, authorization));
}
