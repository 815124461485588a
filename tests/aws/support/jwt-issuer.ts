/**
 * STAND-IN for the operators' OIDC issuer (the stage's Cognito user pool): an HTTP server on 127.0.0.1 that
 * publishes an RS256 key at `/.well-known/jwks.json`, the path Cognito uses, and signs ID-token-shaped JWTs
 * (iss, aud = the app client id, sub, token_use) with it. The authorizer fetches and checks the keys exactly
 * as it would from Cognito; what Cognito itself does (users, passwords) is not modelled.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export interface JwtIssuer {
  issuer: string;
  audience: string;
  jwksUrl: string;
  /** Requests the JWKS endpoint served. */
  jwksFetches: () => number;
  sign(
    sub: string,
    opts?: { audience?: string; issuer?: string; expiresInSeconds?: number },
  ): Promise<string>;
  close(): Promise<void>;
}

export async function startJwtIssuer(audience = 'operators-client-id'): Promise<JwtIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/us-east-1_TestPool`;
  // Cognito serves the JWKS under the issuer URL; here the issuer's path is part of the same server.
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return {
    issuer,
    audience,
    jwksUrl,
    jwksFetches: () => fetches,
    sign: async (sub, opts = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ token_use: 'id' })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key-1' })
        .setSubject(sub)
        .setIssuer(opts.issuer ?? issuer)
        .setAudience(opts.audience ?? audience)
        .setIssuedAt(now - 60)
        .setExpirationTime(now + (opts.expiresInSeconds ?? 3600))
        .sign(privateKey);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
