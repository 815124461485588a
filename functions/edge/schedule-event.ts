/**
 * The events a scheduled function (anchor, ipfs-pin's drain) accepts:
 *
 *   - what its `sst.aws.CronV2` schedule delivers: the input infra/schedules.ts defines, with the
 *     `<aws.scheduler.*>` context attributes EventBridge Scheduler filled in for this invocation;
 *   - EventBridge's own "Scheduled Event" (Powertools' schema of it), for a rule an operator points at it;
 *   - `{}`, for a manual `aws lambda invoke`.
 *
 * Anything else, another job's schedule input included, is answered `malformed-event` and not retried: it
 * would never parse.
 */
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas';
import { z } from 'zod';
import { SCHEDULE_SOURCE, type ScheduledJob } from '../../infra/schedules.js';

/** The input of `job`'s schedule, once Scheduler has filled it in. */
export function schedulerInput<J extends ScheduledJob>(job: J) {
  return z.strictObject({
    source: z.literal(SCHEDULE_SOURCE),
    job: z.literal(job),
    scheduledTime: z.iso.datetime(),
    executionId: z.string().min(1).max(128),
    attempt: z.string().regex(/^[0-9]{1,4}$/),
  });
}

export const EventBridgeScheduledEvent = EventBridgeSchema.extend({
  version: z.literal('0'),
  'detail-type': z.literal('Scheduled Event'),
  source: z.literal('aws.events'),
});

export function scheduleEvent<J extends ScheduledJob>(job: J) {
  return z.union([schedulerInput(job), EventBridgeScheduledEvent, z.strictObject({})]);
}
