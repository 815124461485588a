/**
 * The operator check of the AWS authorizer: a JWT from the operators' OIDC issuer (the stage's Cognito user
 * pool, or NOTARY_JWT_ISSUER), verified with the issuer's published keys (JWKS, fetched and cached by jose),
 * its issuer, audience and expiry. The actor is `jwt:<sub>`, as the audit log recorded it before the
 * authorizer existed. Cognito ID tokens carry the app client id as `aud`, so that is the audience checked.
 */
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';

export interface OperatorJwtConfig {
  issuer: string;
  audience: string;
  /** Where the issuer publishes its keys; Cognito: `<issuer>/.well-known/jwks.json`. */
  jwksUrl: string;
}

export const defaultJwksUrl = (issuer: string): string =>
  `${issuer.replace(/\/$/, '')}/.well-known/jwks.json`;

/**
 * A token that is not a valid JWT of this issuer and audience is not an operator (undefined). A JWKS that
 * cannot be fetched is not the caller's fault: that throws, so the authorizer fails and API Gateway answers
 * 500 instead of telling an operator that their token is wrong.
 */
export function jwtOperatorCheck(cfg: OperatorJwtConfig): (bearer: string) => Promise<string | undefined> {
  const keys = createRemoteJWKSet(new URL(cfg.jwksUrl));
  return async (bearer) => {
    try {
      const { payload } = await jwtVerify(bearer, keys, { issuer: cfg.issuer, audience: cfg.audience });
      return typeof payload.sub === 'string' && payload.sub.length > 0 ? `jwt:${payload.sub}` : undefined;
    } catch (err) {
      if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) throw err;
      if (err instanceof errors.JOSEError) return undefined;
      throw err;
    }
  };
}
