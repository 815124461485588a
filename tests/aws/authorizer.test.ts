/**
 * Roles on AWS: the Lambda authorizer (functions/authorizer/lambda.ts, logic in lib/access) in front of the
 * verify function, as API Gateway chains them, with tokens in DynamoDB (dynalite) and operator JWTs from a
 * stand-in issuer serving its keys over HTTP. Every refusal comes back in the API's own JSON, as in the
 * embedded runtime.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../lib/core/bytes.js';
import { openRecord, parseEnvelope, sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import type { AuditEvent } from '../../lib/ports.js';
import {
  type AwsStack,
  authorizerEvent,
  type HttpApiResult,
  httpApiEvent,
  iotRuleEvent,
  jsonBody,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';

const MASTER = new Uint8Array(randomBytes(32));
const DEVICE = 'aws-auth-1';
const T0 = Date.now() - 60_000;

describe('the Lambda authorizer and the verify function, chained as API Gateway runs them', () => {
  let stack: AwsStack;
  let operator: string;
  const envelopes: Uint8Array[] = [];
  const code = (r: HttpApiResult) => jsonBody<{ error?: { code: string } }>(r).error?.code ?? 'ok';
  const refusal = (r: HttpApiResult) => ({ status: r.statusCode, code: code(r) });
  const mint = async (body: Record<string, unknown>) => {
    const r = await stack.api('POST', '/v1/tokens', {
      authorization: operator,
      body: { name: 'aws audit', ttlSeconds: 600, permissions: ['read'], ...body },
    });
    expect(r.statusCode, r.body).toBe(201);
    return jsonBody<{ token: string; tokenId: string }>(r);
  };

  beforeAll(async () => {
    stack = await startAwsStack();
    operator = `Bearer ${await stack.issuer.sign('alice')}`;
    const p = await stack.api('POST', '/v1/devices', {
      authorization: operator,
      body: { deviceId: DEVICE, masterKey: toBase64(MASTER) },
    });
    expect(p.statusCode).toBe(201);
    for (let seq = 0; seq < 6; seq++) {
      const timestamp = T0 + seq * 1000;
      const sealed = sealRecord({
        recordKey: deriveRecordKey(MASTER, DEVICE, timestamp, seq),
        deviceId: DEVICE,
        seq,
        timestamp,
        prevHash: ZERO_HASH,
        nonce: randomBytes(12),
        plaintext: new TextEncoder().encode(`reading ${seq}`),
      });
      envelopes.push(sealed.envelope);
      await stack.ingest(
        iotRuleEvent(`devices/${DEVICE}/records`, sealed.envelope, DEVICE),
        lambdaContext('ingest'),
      );
    }
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('lets an operator JWT of the issuer and audience through, and nothing else that looks like one', async () => {
    const ok = await stack.api('GET', '/v1/audit', { authorization: operator });
    expect(ok.statusCode).toBe(200);
    expect(jsonBody<{ items: AuditEvent[] }>(ok).items.at(-1)).toMatchObject({
      actor: 'jwt:alice',
      action: 'device-provisioned',
    });
    for (const bad of [
      await stack.issuer.sign('mallory', { audience: 'another-client' }),
      await stack.issuer.sign('mallory', { issuer: 'https://elsewhere.example' }),
      await stack.issuer.sign('mallory', { expiresInSeconds: -120 }),
      'not-a-jwt',
    ])
      expect(refusal(await stack.api('GET', '/v1/audit', { authorization: `Bearer ${bad}` }))).toEqual({
        status: 401,
        code: 'unauthorized',
      });
    expect(refusal(await stack.api('GET', '/v1/audit'))).toEqual({ status: 401, code: 'unauthorized' });
    // The keys were fetched from the issuer's JWKS endpoint, and cached by jose between requests.
    expect(stack.issuer.jwksFetches()).toBeGreaterThanOrEqual(1);
  });

  it('answers an auditor token within its scope, and out-of-scope or forbidden outside it', async () => {
    const t = await mint({ devices: ['aws-auth-*'] });
    const as = (method: string, path: string, body?: unknown) =>
      stack.api(method, path, {
        authorization: `Bearer ${t.token}`,
        ...(body === undefined ? {} : { body }),
      });
    expect((await as('GET', `/v1/records/${DEVICE}.2/proof`)).statusCode).toBe(200);
    expect((await as('GET', `/v1/devices/${DEVICE}/records`)).statusCode).toBe(200);
    expect((await as('GET', '/v1/chains')).statusCode).toBe(200);
    const outside = await as('GET', '/v1/devices/other-1/records');
    expect(refusal(outside)).toEqual({ status: 403, code: 'out-of-scope' });
    expect((await as('GET', '/v1/records/other-1.0')).body).toBe(outside.body);
    expect(refusal(await as('GET', '/v1/audit'))).toEqual({ status: 403, code: 'forbidden' });
    expect(
      refusal(await as('POST', `/v1/devices/${DEVICE}/key-release`, { at: T0, reason: 'x-ray' })),
    ).toEqual({
      status: 403,
      code: 'forbidden',
    });
    // One audit row per request, in DynamoDB, refusals included.
    const rows = (await stack.index.listAudit({ limit: 100 })).items.filter(
      (e) => e.actor === `auditor:${t.tokenId}`,
    );
    expect(rows.map((e) => e.error?.code ?? e.outcome).sort()).toEqual([
      'forbidden',
      'forbidden',
      'out-of-scope',
      'out-of-scope',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
  });

  it('refuses a revoked token from the next request, and an expired one, with their codes', async () => {
    const t = await mint({ devices: [DEVICE] });
    const as = () =>
      stack.api('GET', `/v1/devices/${DEVICE}/records`, { authorization: `Bearer ${t.token}` });
    expect((await as()).statusCode).toBe(200);
    expect(
      (await stack.api('DELETE', `/v1/tokens/${t.tokenId}`, { authorization: operator })).statusCode,
    ).toBe(200);
    expect(refusal(await as())).toEqual({ status: 401, code: 'token-revoked' });

    const short = await mint({ devices: [DEVICE], ttlSeconds: undefined, expiresAt: Date.now() + 1200 });
    await new Promise((r) => setTimeout(r, 1300));
    expect(refusal(await stack.api('GET', '/v1/chains', { authorization: `Bearer ${short.token}` }))).toEqual(
      { status: 401, code: 'token-expired' },
    );
    const made = `Bearer ina_${'Q'.repeat(43)}`;
    expect(refusal(await stack.api('GET', '/v1/chains', { authorization: made }))).toEqual({
      status: 401,
      code: 'unauthorized',
    });
  });

  it('releases a range of keys through Lambda’s buffered answer: each opens its record and no other', async () => {
    const t = await mint({
      devices: [DEVICE],
      permissions: ['read', 'key-release'],
      from: T0 + 1000,
      to: T0 + 4000,
    });
    const r = await stack.api('POST', `/v1/devices/${DEVICE}/key-release`, {
      authorization: `Bearer ${t.token}`,
      body: { from: T0 + 1000, to: T0 + 4000, reason: 'quarterly audit' },
    });
    expect(r.statusCode).toBe(200);
    const keys = jsonBody<{ format: string; count: number; keys: { seq: number; key: string }[] }>(r);
    expect(keys).toMatchObject({ format: 'iot-notary.keys.v1', count: 3 });
    expect(keys.keys.map((k) => k.seq)).toEqual([1, 2, 3]);
    envelopes.forEach((envelope, seq) => {
      const env = parseEnvelope(envelope);
      if (!env.ok) throw new Error(env.message);
      for (const k of keys.keys)
        expect(openRecord(env, fromBase64(k.key) as Uint8Array).ok, `seq ${seq}, key ${k.seq}`).toBe(
          k.seq === seq,
        );
    });
    const wide = await stack.api('POST', `/v1/devices/${DEVICE}/key-release`, {
      authorization: `Bearer ${t.token}`,
      body: { from: T0, to: T0 + 4000, reason: 'quarterly audit' },
    });
    expect(refusal(wide)).toEqual({ status: 403, code: 'out-of-scope' });
  });

  it('the verify function trusts only a well-formed authorizer context, never the Authorization header', async () => {
    const t = await mint({ devices: [DEVICE] });
    // A route someone deployed without the authorizer: the bearer token alone opens nothing.
    const bare = await stack.verify(
      httpApiEvent('GET', `/v1/devices/${DEVICE}/records`, {
        headers: { authorization: `Bearer ${t.token}` },
      }),
      lambdaContext('verify'),
    );
    expect(refusal(bare)).toEqual({ status: 401, code: 'unauthorized' });
    const garbled = await stack.verify(
      httpApiEvent('GET', `/v1/devices/${DEVICE}/records`, {
        authorizer: {
          role: 'auditor',
          actor: 'auditor:x',
          tokenId: 'x',
          scope: 'not json',
          permissions: 'read',
          expiresAt: 1,
        },
      }),
      lambdaContext('verify'),
    );
    expect(refusal(garbled)).toEqual({ status: 401, code: 'unauthorized' });
    // The authorizer itself denies an event API Gateway would never send.
    expect(await stack.authorizer({ version: '1.0' } as never, lambdaContext('authorizer'))).toEqual({
      isAuthorized: false,
      context: {},
    });
    const labelled = await stack.authorizer(
      authorizerEvent('GET', '/v1/chains', { authorization: `Bearer ${t.token}` }),
      lambdaContext('authorizer'),
    );
    expect(labelled).toMatchObject({
      isAuthorized: true,
      context: {
        role: 'auditor',
        tokenId: t.tokenId,
        permissions: 'read',
        scope: JSON.stringify({ devices: [DEVICE] }),
      },
    });
    expect(JSON.stringify(labelled)).not.toContain(t.token);
  });

  it('reads the HTTP API events as API Gateway sends them: a source address with a port, any method', async () => {
    // Powertools' schemas take a bare IP address and seven methods (functions/edge/http-api-event.ts).
    const t = await mint({ devices: [DEVICE] });
    const withPort = <E extends { requestContext: { http: { sourceIp: string } } }>(e: E): E => {
      e.requestContext.http.sourceIp = '203.0.113.7:39870';
      return e;
    };
    const labelled = await stack.authorizer(
      withPort(authorizerEvent('GET', '/v1/chains', { authorization: `Bearer ${t.token}` })),
      lambdaContext('authorizer'),
    );
    expect(labelled).toMatchObject({ isAuthorized: true, context: { role: 'auditor', tokenId: t.tokenId } });
    const served = await stack.verify(
      withPort(httpApiEvent('GET', `/v1/devices/${DEVICE}/records`, { authorizer: labelled.context })),
      lambdaContext('verify'),
    );
    expect(served.statusCode, served.body).toBe(200);
    expect(jsonBody<{ items: unknown[] }>(served).items).toHaveLength(envelopes.length);
    // A method the app has no route for is the app's to answer (404), not a malformed event (400).
    const unknown = await stack.verify(
      httpApiEvent('PROPFIND', '/v1/chains', { operator: 'alice' }),
      lambdaContext('verify'),
    );
    expect(refusal(unknown)).toEqual({ status: 404, code: 'not-found' });
  });
});
