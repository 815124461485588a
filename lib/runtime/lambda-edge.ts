/**
 * What the runtime side of the Lambda entry points shares: a once-per-container loader, the tools the edge
 * hands to the runtime it builds (`LambdaTools`, Powertools behind lib's own interfaces; the edge itself is
 * functions/edge/define-lambda.ts), and the caller identity that API Gateway's Lambda authorizer established.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuthOutcome } from '../access/authenticate.js';
import { outcomeOfAuthorizerContext } from '../access/authorizer-context.js';
import type { Logger, LogLevel } from '../logger.js';
import type { Metrics } from '../metrics.js';

/**
 * Builds the runtime on first use and keeps it for the container's life. A failed build is not kept, so the
 * next invocation tries again (e.g. after a throttled KMS call at cold start).
 */
export function once<A extends unknown[], T>(load: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let p: Promise<T> | undefined;
  return (...args) => {
    p ??= load(...args).catch((e: unknown) => {
      p = undefined;
      throw e;
    });
    return p;
  };
}

/**
 * What the Lambda edge gives the runtime it builds. In AWS these are Powertools (functions/edge/powertools.ts);
 * lib/ sees only its own Logger and Metrics, so the embedded runtime never loads Powertools.
 */
export interface LambdaTools {
  /** Every line carries the invocation's request id, cold start, function name and X-Ray trace id. */
  log: Logger;
  /** Flushed as one EMF line at the end of each invocation. */
  metrics: Metrics;
  /** The client with its calls traced (X-Ray subsegments) when tracing is on; unchanged otherwise. */
  trace<C extends object>(client: C): C;
  /** Called once the configuration is read: its log level, and the stage for the metrics' dimension. */
  configure(o: { stage: string; logLevel: LogLevel }): void;
}

// ------------------------------------------------------------------------------------------- caller

/**
 * The part of an HTTP API (payload 2.0) request context that API Gateway's authorizer fills in: for our
 * Lambda authorizer (functions/authorizer/lambda.ts), the simple response's context under `lambda`.
 */
export interface AuthorizerContext {
  lambda?: Record<string, unknown>;
}

const authorizer = new AsyncLocalStorage<AuthorizerContext | undefined>();

/** Runs `fn` with the authorizer context of the request being handled, for `authorizerAuthenticator`. */
export function withAuthorizer<T>(ctx: AuthorizerContext | undefined, fn: () => Promise<T>): Promise<T> {
  return authorizer.run(ctx, fn);
}

/**
 * The verify API's `authenticate` in AWS. The Lambda authorizer has resolved the bearer token before the
 * function runs, so this trusts the authorizer context of this request and ignores the Authorization
 * header. A request that reached the function without that context, e.g. through a route someone added
 * without auth, is `unauthorized` on every route but health.
 */
export function authorizerAuthenticator(): (authorization: string | undefined) => Promise<AuthOutcome> {
  return async () => outcomeOfAuthorizerContext(authorizer.getStore()?.lambda);
}
