/**
 * The two HTTP API (payload format 2.0) events the API's functions receive, from Powertools' schemas of them
 * (@aws-lambda-powertools/parser), which name every field API Gateway sends, the authorizer's `lambda`
 * context included. Two of its fields are read more loosely than Powertools does, because API Gateway sends
 * values there that its schema refuses, and a refused event costs a caller a 400 (verify) or a deny
 * (authorizer) that it did nothing to deserve:
 *
 *   - `requestContext.http.sourceIp` may carry a port (`203.0.113.7:39870`, seen on TLS connections:
 *     aws-powertools/powertools-lambda-python#7288); Powertools' TypeScript schema takes a bare IPv4 or IPv6.
 *   - `requestContext.http.method` is any method the client sent; Powertools lists seven. The app answers an
 *     unknown one itself, as it did before these schemas were Powertools'.
 */
import {
  APIGatewayProxyEventV2Schema,
  APIGatewayRequestAuthorizerEventV2Schema,
  APIGatewayRequestContextV2Schema,
} from '@aws-lambda-powertools/parser/schemas';
import { z } from 'zod';

const RequestContext = APIGatewayRequestContextV2Schema.extend({
  http: APIGatewayRequestContextV2Schema.shape.http.extend({
    method: z.string().min(1),
    sourceIp: z.string(),
  }),
});

/** Headers API Gateway did not send read as none (HTTP API lower-cases the names of those it sends). */
const Headers = z.record(z.string(), z.string()).default({});

/**
 * A request for the verify function, held to payload version 2.0 and a path from the root. Fields the schema
 * does not name are passed on, so hono sees the whole event.
 */
export const HttpApiEvent = APIGatewayProxyEventV2Schema.extend({
  version: z.literal('2.0'),
  rawPath: z.string().startsWith('/'),
  headers: Headers,
  requestContext: RequestContext,
}).loose();
export type HttpApiEvent = z.infer<typeof HttpApiEvent>;

/**
 * A request for the Lambda authorizer; without headers it is labelled unauthenticated, not refused as
 * malformed.
 */
export const AuthorizerEvent = APIGatewayRequestAuthorizerEventV2Schema.extend({
  headers: Headers,
  requestContext: RequestContext,
});
export type AuthorizerEvent = z.infer<typeof AuthorizerEvent>;
