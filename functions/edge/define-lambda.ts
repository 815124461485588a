/**
 * The one shape of every Lambda entry point (functions/<name>/lambda.ts): validate the event, build the
 * runtime once per container, call the same function the embedded runtime calls, map the result. Written
 * once here, with Powertools around it (powertools.ts):
 *
 *   - the logger gets each invocation's context (request id, cold start, trace id) before anything logs;
 *   - the tracer opens the handler's subsegment (when the function runs with active tracing), without the
 *     response: verify's responses can hold released record keys, which have no place in a trace;
 *   - the metrics the invocation reported are flushed as one EMF line, after success and failure alike;
 *   - a failed invocation is logged once, with its duration, then goes on to Lambda (which retries
 *     asynchronous invocations and counts it in the function's Errors metric), unless `recover` answers it.
 *
 * The event is parsed inside the handler rather than in a `before` middleware: middy skips every `after`
 * step of an early return, and an invalid event must still flush its metrics. The schemas are Powertools'
 * where one fits (http-api-event.ts, schedule-event.ts). No function reads SQS (the dead-letter queue is
 * written by Lambda and the IoT rules, read by operators), so Powertools' batch processor has no place here.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { describeZod } from '../../lib/core/zod-issues.js';
import type { Logger } from '../../lib/logger.js';
import { type LambdaTools, once } from '../../lib/runtime/lambda-edge.js';
import { createPowertools } from './powertools.js';

export interface LambdaDefinition<S extends z.ZodType, D extends { log: Logger }, R> {
  /** The function's name in logs (`service`), in its metrics' `service` dimension and in traces. */
  service: string;
  /**
   * The event. Powertools' parser schemas where one fits (http-api-event.ts, schedule-event.ts); our own
   * where Powertools has none (an IoT rule's event is what its SQL selects) or refuses real events (S3's,
   * functions/ipfs-pin/lambda.ts).
   */
  schema: S;
  /** Builds the function's runtime with the edge's tools; run once per container (a failed build again). */
  load: (tools: LambdaTools) => Promise<D>;
  /**
   * An event that does not parse. Answered, not thrown: a retry would not parse either. `deps` builds the
   * runtime if it is needed (ingest dead-letters the event); `log` is the best logger there is so far.
   */
  invalid: (raw: unknown, reason: string, edge: { deps: () => Promise<D>; log: Logger }) => Promise<R>;
  handler: (event: z.output<S>, deps: D, context: Context) => Promise<R>;
  /** Answers a failed invocation instead of failing it (the HTTP API's 500). Default: it fails. */
  recover?: (error: unknown) => R;
}

export function defineLambda<S extends z.ZodType, D extends { log: Logger }, R>(
  def: LambdaDefinition<S, D, R>,
): MiddyfiedHandler<z.input<S>, R> {
  const pt = createPowertools(def.service);
  const load = once(def.load);
  // Until the runtime exists (a configuration error at cold start) its lines still go out through Powertools.
  let log: Logger = pt.tools.log;
  const deps = async () => {
    const d = await load(pt.tools);
    log = d.log;
    return d;
  };
  const handler = async (raw: z.input<S>, context: Context): Promise<R> => {
    const parsed = def.schema.safeParse(raw);
    if (!parsed.success) return def.invalid(raw, describeZod(parsed.error), { deps, log });
    return def.handler(parsed.data, await deps(), context);
  };
  const m = middy<z.input<S>, R>(handler)
    .use(injectLambdaContext(pt.logger, { resetKeys: true }))
    .use(captureLambdaHandler(pt.tracer, { captureResponse: false }))
    .use(flushMetrics(pt))
    .use(invocationLogs(() => log));
  const recover = def.recover;
  if (recover) {
    m.onError(async (request) => {
      request.response = recover(request.error);
    });
  }
  return m;
}

/** One EMF line per invocation that reported a figure; none (and no Powertools warning) otherwise. */
function flushMetrics<E, R>(pt: ReturnType<typeof createPowertools>): MiddlewareObj<E, R> {
  const flush = () => {
    if (pt.metrics.hasStoredMetrics()) pt.metrics.publishStoredMetrics();
  };
  return { name: 'flush-metrics', after: flush, onError: flush };
}

/**
 * One line per failed invocation (success only at debug level), with how long it ran. The request id and
 * cold start are on the line already, from the logger's Lambda context.
 */
function invocationLogs<E, R>(log: () => Logger): MiddlewareObj<E, R> {
  const started = new WeakMap<object, number>();
  const ms = (context: Context) =>
    Math.round(performance.now() - (started.get(context) ?? performance.now()));
  return {
    name: 'invocation-logs',
    before: (request) => {
      started.set(request.context, performance.now());
    },
    after: (request) => {
      log().debug('invocation done', { ms: ms(request.context) });
    },
    onError: (request) => {
      log().error('invocation failed', { ms: ms(request.context), err: request.error });
    },
  };
}
