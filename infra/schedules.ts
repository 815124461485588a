/**
 * What each `sst.aws.CronV2` schedule (EventBridge Scheduler) hands its function. Scheduler sends the target
 * input as given, replacing its context attributes (`<aws.scheduler.*>`, documented at
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html) in each
 * invocation. functions/edge/schedule-event.ts validates the result, so a schedule pointed at the wrong
 * function is refused (`malformed-event`), not run.
 */

/** The `source` of every schedule input; EventBridge rules use `aws.events`, which this is not. */
export const SCHEDULE_SOURCE = 'iot-notary.schedule';

export const SCHEDULED_JOBS = ['anchor', 'ipfs-pin'] as const;
export type ScheduledJob = (typeof SCHEDULED_JOBS)[number];

export interface ScheduleInput {
  source: typeof SCHEDULE_SOURCE;
  job: ScheduledJob;
  /** When the tick was due (ISO 8601, seconds), e.g. 2022-03-22T18:59:43Z. */
  scheduledTime: string;
  /** Unique per attempted invocation. */
  executionId: string;
  /** The attempt's number, as a string: Scheduler substitutes into strings. */
  attempt: string;
}

/** The input sst.config.ts gives `job`'s schedule: Scheduler fills in the three attributes per tick. */
export function scheduleInputTemplate(job: ScheduledJob): ScheduleInput {
  return {
    source: SCHEDULE_SOURCE,
    job,
    scheduledTime: '<aws.scheduler.scheduled-time>',
    executionId: '<aws.scheduler.execution-id>',
    attempt: '<aws.scheduler.attempt-number>',
  };
}
