/**
 * The anchor function on a schedule (an `sst.aws.Cron`, i.e. an EventBridge rule). It runs the same anchoring
 * cycle as the embedded scheduler, under the anchor lease (lib/anchor/anchor-lease.ts): a tick that starts
 * while another cycle still runs finds the lease held and returns `busy`. Two cycles at once would not
 * corrupt anything (placements are conditional) but would build and pay for a second batch of the same
 * records. Reserved concurrency is not needed for this (it is an opt-in stage setting, docs/deploy.md).
 *
 * A cycle whose chain submission fails reports it and leaves the batch to the next cycle; only an error
 * outside that (storage unreachable) fails the invocation.
 */
import middy from '@middy/core';
import { z } from 'zod';
import type { Logger } from '../../lib/logger.js';
import { buildAnchor, fromEnv } from '../../lib/runtime/aws.js';
import { bootLogger, invocationLogs, once, parseEvent } from '../../lib/runtime/lambda-edge.js';
import type { AnchorRun } from './handler.js';

export interface AnchorLambdaDeps {
  /** One cycle; `force` builds a batch even when the schedule says it is not due (operators, tests). */
  anchor: (opts?: { force?: boolean }) => Promise<AnchorRun>;
  log: Logger;
}

/** EventBridge's "Scheduled Event" (the shape its documentation gives), or `{}` for a manual `aws lambda invoke`. */
export const AnchorEvent = z.union([
  z.object({
    version: z.literal('0'),
    id: z.string().min(1),
    'detail-type': z.literal('Scheduled Event'),
    source: z.literal('aws.events'),
    account: z.string(),
    time: z.string().datetime(),
    region: z.string(),
    resources: z.array(z.string()),
    detail: z.object({}).passthrough(),
  }),
  z.strictObject({}),
]);
export type AnchorEvent = z.infer<typeof AnchorEvent>;

export type AnchorLambdaResult = AnchorRun | { status: 'rejected'; code: 'malformed-event'; reason: string };

export function createAnchorLambda(load: () => Promise<AnchorLambdaDeps>) {
  let log: Logger = bootLogger;
  const deps = async () => {
    const d = await load();
    log = d.log;
    return d;
  };
  return middy<AnchorEvent, AnchorLambdaResult>()
    .use(invocationLogs(() => log))
    .use(
      parseEvent(AnchorEvent, async (_raw, reason): Promise<AnchorLambdaResult> => {
        // Not thrown: EventBridge would retry an event that can never parse.
        (await deps()).log.error('anchor invoked with an event that is not a schedule', {
          code: 'malformed-event',
          reason,
        });
        return { status: 'rejected', code: 'malformed-event', reason };
      }),
    )
    .handler(async () => (await deps()).anchor());
}

export const handler = createAnchorLambda(once(fromEnv(buildAnchor)));
