/**
 * The operator and auditor API behind API Gateway (HTTP API, payload format 2.0): the same Hono app the
 * embedded runtime serves (lib/api/api-app.ts), adapted by hono/aws-lambda. The Lambda authorizer
 * (functions/authorizer/lambda.ts) resolves the caller before the function runs; the app's `authenticate`
 * then trusts the authorizer context of this request (lib/runtime/lambda-edge.ts), never a bare
 * Authorization header.
 */
import type { LambdaEvent } from 'hono/aws-lambda';
import { buildVerify, fromEnv } from '../../lib/runtime/aws.js';
import type { HttpApiResult, VerifyLambdaDeps } from '../../lib/runtime/lambda-deps.js';
import { type AuthorizerContext, type LambdaTools, withAuthorizer } from '../../lib/runtime/lambda-edge.js';
import { defineLambda } from '../edge/define-lambda.js';
import { HttpApiEvent } from '../edge/http-api-event.js';

const json = (statusCode: number, body: unknown): HttpApiResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
  isBase64Encoded: false,
});

export function createVerifyLambda(load: (tools: LambdaTools) => Promise<VerifyLambdaDeps>) {
  return defineLambda({
    service: 'verify',
    schema: HttpApiEvent,
    load,
    invalid: async (_raw, reason, edge) => {
      edge.log.warn('verify invoked with an event that is not an HTTP API 2.0 request', { reason });
      return json(400, {
        error: { code: 'bad-request', message: `not an HTTP API (2.0) event: ${reason}` },
      });
    },
    handler: async (event, d, context) => {
      const auth = event.requestContext.authorizer as AuthorizerContext | undefined;
      return withAuthorizer(auth, () => d.handle(event as unknown as LambdaEvent, context));
    },
    // The app maps its own errors; this is for a runtime that could not be built (e.g. config).
    recover: () =>
      json(500, { error: { code: 'internal', message: 'internal error; see the function log' } }),
  });
}

export const handler = createVerifyLambda(fromEnv(buildVerify));
