/**
 * The events a scheduled function (anchor, ipfs-pin's drain) accepts:
 *
 *   - what its `sst.aws.CronV2` schedule delivers: EventBridge Scheduler invokes the function with the input
 *     infra/schedules.ts sets, whose `<aws.scheduler.*>` context attributes Scheduler fills in per invocation;
 *   - EventBridge's own "Scheduled Event" (Powertools' schema), for a rule an operator points at it;
 *   - `{}`, for a manual `aws lambda invoke`.
 *
 * Anything else is answered `malformed-event` and not retried: it would never parse.
 */
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas';
import { z } from 'zod';

export const SCHEDULE_SOURCE = 'iot-notary.schedule';

export const SCHEDULED_JOBS = ['anchor', 'ipfs-pin'] as const;
export type ScheduledJob = (typeof SCHEDULED_JOBS)[number];

/** The input of `job`'s schedule, once Scheduler has filled it in. Another job's input is not this job's. */
export function schedulerInput<J extends ScheduledJob>(job: J) {
  return z.strictObject({
    source: z.literal(SCHEDULE_SOURCE),
    job: z.literal(job),
    scheduledTime: z.iso.datetime(),
    executionId: z.string().min(1).max(128),
    // Scheduler substitutes its attributes into strings: the attempt number arrives as one.
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
