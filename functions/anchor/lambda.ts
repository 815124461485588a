/**
 * The anchor function on a schedule (an `sst.aws.CronV2`, i.e. EventBridge Scheduler). It runs the same
 * anchoring cycle as the embedded scheduler, under the anchor lease (lib/anchor/anchor-lease.ts): a tick that
 * starts while another cycle still runs finds the lease held and returns `busy`. Two cycles at once would not
 * corrupt anything (placements are conditional) but would build and pay for a second batch of the same
 * records. Reserved concurrency is not needed for this (it is an opt-in stage setting, docs/deploy.md).
 *
 * A cycle whose chain submission fails reports it (the AnchorFailures metric, an error line) and leaves the
 * batch to the next cycle; only an error outside that (storage unreachable) fails the invocation.
 */
import type { z } from 'zod';
import type { AnchorRun } from '../../lib/anchor/anchor-handler.js';
import { buildAnchor, fromEnv } from '../../lib/runtime/aws.js';
import type { AnchorLambdaDeps } from '../../lib/runtime/lambda-deps.js';
import type { LambdaTools } from '../../lib/runtime/lambda-edge.js';
import { defineLambda } from '../edge/define-lambda.js';
import { scheduleEvent } from '../edge/schedule-event.js';

/** Its schedule's input, EventBridge's "Scheduled Event", or `{}` for a manual `aws lambda invoke`. */
export const AnchorEvent = scheduleEvent('anchor');
export type AnchorEvent = z.infer<typeof AnchorEvent>;

export type AnchorLambdaResult = AnchorRun | { status: 'rejected'; code: 'malformed-event'; reason: string };

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
    handler: async (_event, d): Promise<AnchorLambdaResult> => d.anchor(),
  });
}

export const handler = createAnchorLambda(fromEnv(buildAnchor));
