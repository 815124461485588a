/**
 * The anchor function on a schedule (an `sst.aws.CronV2`, i.e. EventBridge Scheduler). It runs the same
 * anchoring cycle as the embedded scheduler. The Lambda has a reserved concurrency of 1 (sst.config.ts): two
 * cycles at once would not corrupt anything (placements are conditional) but would waste a batch.
 *
 * A cycle whose chain submission fails reports it (the AnchorFailures metric, an error line) and leaves the
 * batch to the next cycle; only an error outside that (storage unreachable) fails the invocation.
 */
import type { z } from 'zod';
import type { AnchorReport } from '../../lib/anchor/anchor-pending.js';
import type { Logger } from '../../lib/logger.js';
import { buildAnchor, fromEnv } from '../../lib/runtime/aws.js';
import type { LambdaTools } from '../../lib/runtime/lambda-edge.js';
import { defineLambda } from '../edge/define-lambda.js';
import { scheduleEvent } from '../edge/schedule-event.js';

export interface AnchorLambdaDeps {
  anchor: () => Promise<AnchorReport>;
  log: Logger;
}

/** Its schedule's input, EventBridge's "Scheduled Event", or `{}` for a manual `aws lambda invoke`. */
export const AnchorEvent = scheduleEvent('anchor');
export type AnchorEvent = z.infer<typeof AnchorEvent>;

export type AnchorLambdaResult =
  | ({ status: 'done' } & AnchorReport)
  | { status: 'rejected'; code: 'malformed-event'; reason: string };

export function createAnchorLambda(load: (tools: LambdaTools) => Promise<AnchorLambdaDeps>) {
  return defineLambda({
    service: 'anchor',
    schema: AnchorEvent,
    load,
    invalid: async (_raw, reason, edge): Promise<AnchorLambdaResult> => {
      // Not thrown: the scheduler would retry an event that can never parse.
      (await edge.deps()).log.error('anchor invoked with an event that is not a schedule', {
        code: 'malformed-event',
        reason,
      });
      return { status: 'rejected', code: 'malformed-event', reason };
    },
    handler: async (_event, d): Promise<AnchorLambdaResult> => {
      const report = await d.anchor();
      return { status: 'done', ...report };
    },
  });
}

export const handler = createAnchorLambda(fromEnv(buildAnchor));
