/**
 * The API Gateway (HTTP API) Lambda authorizer in front of the verify function (docs/deploy.md "Operators and
 * auditors"). It resolves the bearer token of each request, an operator JWT or an auditor token looked up by
 * its SHA-256 in the tokens table, and answers with a simple response whose context names the role, the
 * token and its scope (lib/access/authorizer-context.ts). Results are not cached (TTL 0), so a revocation
 * counts from the next request.
 */
import { authorizeHttpRequest, type SimpleAuthorizerResponse } from '../../lib/access/authorizer-context.js';
import { buildAuthorizer, fromEnv } from '../../lib/runtime/aws.js';
import type { AuthorizerLambdaDeps } from '../../lib/runtime/lambda-deps.js';
import type { LambdaTools } from '../../lib/runtime/lambda-edge.js';
import { defineLambda } from '../edge/define-lambda.js';
import { AuthorizerEvent } from '../edge/http-api-event.js';

const DENY: SimpleAuthorizerResponse = { isAuthorized: false, context: {} };

export function createAuthorizerLambda(load: (tools: LambdaTools) => Promise<AuthorizerLambdaDeps>) {
  return defineLambda({
    service: 'authorizer',
    schema: AuthorizerEvent,
    load,
    invalid: async (_raw, reason, edge) => {
      // Not something API Gateway sends: nothing to label, so nothing goes through.
      edge.log.warn('authorizer invoked with an event that is not an HTTP API 2.0 authorizer request', {
        reason,
      });
      return DENY;
    },
    handler: async (event, d) => {
      // HTTP API lower-cases header names.
      const answer = await authorizeHttpRequest(d.auth, event.headers.authorization);
      if (answer.context.role === 'none')
        d.log.info('request labelled unauthenticated', {
          path: event.rawPath,
          code: answer.context.code,
          ...(answer.context.tokenId ? { tokenId: answer.context.tokenId } : {}),
        });
      return answer;
    },
  });
}

export const handler = createAuthorizerLambda(fromEnv(buildAuthorizer));
