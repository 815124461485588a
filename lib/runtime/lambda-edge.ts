/**
 * What the three Lambda entry points share: middy middlewares for zod validation of the event and for
 * structured logs, a once-per-container loader for the runtime, and the caller identity that API Gateway's
 * Lambda authorizer established. Each entry point stays an edge: parse, call the same function the embedded runtime
 * calls, map the result.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import type { AuthOutcome } from '../access/authenticate.js';
import { outcomeOfAuthorizerContext } from '../access/authorizer-context.js';
import { describeZod } from '../ingest/device-message.js';
import { createLogger, type Logger } from '../logger.js';

/**
 * Builds the runtime on first use and keeps it for the container's life. A failed build is not kept, so the
 * next invocation tries again (e.g. after a throttled KMS call at cold start).
 */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= load().catch((e: unknown) => {
      p = undefined;
      throw e;
    });
    return p;
  };
}

/** Logs before the runtime exists (a config error at cold start) still go out as JSON lines. */
export const bootLogger: Logger = createLogger({ base: { component: 'lambda-boot' } });

/**
 * Validates the raw event with `schema` and hands the parsed value to the handler. An event that does not
 * parse will not parse on a retry either, so it is answered by `onInvalid` (which records and reports it)
 * instead of being thrown back to Lambda's retry machinery.
 */
export function parseEvent<S extends z.ZodType, R>(
  schema: S,
  onInvalid: (raw: unknown, reason: string, context: Context) => Promise<R>,
): MiddlewareObj<z.infer<S>, R> {
  return {
    name: 'zod-event',
    before: async (request) => {
      const parsed = schema.safeParse(request.event);
      if (parsed.success) {
        request.event = parsed.data;
        return undefined;
      }
      return onInvalid(request.event, describeZod(parsed.error), request.context);
    },
  };
}

/**
 * One JSON log line per failed invocation, with the request id, then the error goes on to Lambda (which
 * retries asynchronous invocations and counts it in the Errors metric). Success is logged at debug level.
 */
export function invocationLogs<E, R>(log: () => Logger): MiddlewareObj<E, R> {
  const started = new WeakMap<object, number>();
  let cold = true;
  // Fields are computed at the end, when the runtime (and so the configured logger) exists.
  const fields = (context: Context) => {
    const f = {
      requestId: context.awsRequestId,
      ms: Math.round(performance.now() - (started.get(context) ?? performance.now())),
      ...(cold ? { coldStart: true } : {}),
    };
    cold = false;
    return f;
  };
  return {
    name: 'invocation-logs',
    before: (request) => {
      started.set(request.context, performance.now());
    },
    after: (request) => {
      log().debug('invocation done', fields(request.context));
    },
    onError: (request) => {
      log().error('invocation failed', {
        ...fields(request.context),
        err: request.error,
      });
    },
  };
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
