/**
 * Powertools for AWS Lambda behind lib's own interfaces: one Logger, Metrics and Tracer per function, and the
 * `LambdaTools` the runtime is built with (lib/runtime/lambda-edge.ts). lib/ never imports Powertools (lint
 * enforces it), so the embedded runtime neither loads nor changes with it.
 *
 * - Logs: Powertools' JSON lines, one per call, with the request id, cold start, function name and X-Ray trace
 *   id of the invocation on every line (`injectLambdaContext` in define-lambda.ts sets them per invocation).
 *   Every lib logger is a view of the one Powertools logger, so lines logged deep in lib/ carry them too.
 * - Metrics: lib/metrics.ts's catalogue, in the namespace `iot-notary` with the dimensions service and stage,
 *   written as one EMF line per invocation that reported anything.
 * - Traces: the SDK clients and the handler. X-Ray records them only when the function runs with active
 *   tracing, which the deploy leaves off (docs/operations.md "Traces"); outside Lambda the Tracer is off.
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Logger, LogLevel } from '../../lib/logger.js';
import { METRIC_NAMESPACE, METRICS } from '../../lib/metrics.js';
import type { LambdaTools } from '../../lib/runtime/lambda-edge.js';

export interface Powertools {
  logger: PowertoolsLogger;
  metrics: PowertoolsMetrics;
  tracer: Tracer;
  /** The same three as lib sees them. */
  tools: LambdaTools;
}

/** A lib Logger that writes through `pt`, with `base` fields on every line (lib's `child`). */
export function loggerOver(pt: PowertoolsLogger, base: Record<string, unknown> = {}): Logger {
  return {
    debug: (msg, fields) => pt.debug(msg, { ...base, ...fields }),
    info: (msg, fields) => pt.info(msg, { ...base, ...fields }),
    warn: (msg, fields) => pt.warn(msg, { ...base, ...fields }),
    error: (msg, fields) => pt.error(msg, { ...base, ...fields }),
    // Not Powertools' createChild: a child made at build time would miss the request ids set later.
    child: (fields) => loggerOver(pt, { ...base, ...fields }),
  };
}

/** `service` names the function in logs, in the metrics' `service` dimension and in traces. */
export function createPowertools(service: string): Powertools {
  const logger = new PowertoolsLogger({ serviceName: service });
  const metrics = new PowertoolsMetrics({ namespace: METRIC_NAMESPACE, serviceName: service });
  const tracer = new Tracer({ serviceName: service });
  return {
    logger,
    metrics,
    tracer,
    tools: {
      log: loggerOver(logger),
      metrics: { add: (name, value) => metrics.addMetric(name, METRICS[name].unit, value) },
      trace: (client) => tracer.captureAWSv3Client(client),
      configure: ({ stage, logLevel }) => {
        // Powertools names its levels in capitals; lib's are lower case.
        logger.setLogLevel(logLevel.toUpperCase() as Uppercase<LogLevel>);
        logger.appendPersistentKeys({ stage });
        metrics.setDefaultDimensions({ stage });
      },
    },
  };
}
