/**
 * The ipfs-pin function in AWS, with two triggers (sst.config.ts):
 *
 * - the S3 object-created notification for `records/`: each new envelope's record is looked up in the index
 *   and, when hot, queued in the DynamoDB pin queue; then one drain pass pins what is due, this record first
 *   unless older jobs are waiting. A record not indexed yet (ingest writes the object first) throws, and
 *   Lambda's retries of asynchronous invocations (2, then the dead-letter queue) try again; every step is
 *   idempotent.
 * - a schedule (EventBridge Scheduler), which drains the queue: jobs that backed off during an IPFS outage are pinned
 *   when they come due. The queue holds them until then, however long the outage.
 *
 * An event that is neither is answered `malformed-event` and not retried: it would never parse.
 */
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { ObjectCreatedOutcome } from '../../lib/ipfs/object-created.js';
import type { PinQueueReport } from '../../lib/ipfs/pin-record.js';
import { fromEnv } from '../../lib/runtime/aws.js';
import { buildIpfsPin } from '../../lib/runtime/aws-ipfs.js';
import type { IpfsPinLambdaDeps } from '../../lib/runtime/lambda-deps.js';
import type { LambdaTools } from '../../lib/runtime/lambda-edge.js';
import { defineLambda } from '../edge/define-lambda.js';
import { scheduleEvent } from '../edge/schedule-event.js';

/**
 * One S3 event notification record (event structure version 2.x); fields beyond these are ignored. Our own
 * schema, not Powertools' S3Schema: that one takes `requestParameters.sourceIPAddress` only as IPv4 (or
 * `s3.amazonaws.com`), so the notification of an upload over S3's dual-stack (IPv6) endpoint would be
 * refused as malformed and its record never pinned. This function reads the bucket and the key, nothing else.
 */
const S3Record = z
  .object({
    eventSource: z.literal('aws:s3'),
    eventName: z.string().startsWith('ObjectCreated:'),
    s3: z
      .object({
        bucket: z.object({ name: z.string().min(3).max(63) }).passthrough(),
        object: z
          .object({ key: z.string().min(1).max(3072), size: z.number().int().nonnegative().optional() })
          .passthrough(),
      })
      .passthrough(),
  })
  .passthrough();

export const S3ObjectCreatedEvent = z.object({ Records: z.array(S3Record).min(1).max(1000) }).passthrough();
export type S3ObjectCreatedEvent = z.infer<typeof S3ObjectCreatedEvent>;

/** Its schedule's input, EventBridge's "Scheduled Event", or `{}` for a manual `aws lambda invoke`. */
export const DrainEvent = scheduleEvent('ipfs-pin');

export const IpfsPinEvent = z.union([S3ObjectCreatedEvent, DrainEvent]);
export type IpfsPinEvent = z.infer<typeof IpfsPinEvent>;

export interface PassSummary {
  claimed: number;
  pinned: number;
  retried: number;
  released: number;
  failed: number;
}

export type IpfsPinLambdaResult =
  | {
      status: 'handled';
      objects: ({ key: string } & ObjectCreatedOutcome)[];
      pass?: PassSummary;
    }
  | ({ status: 'drained'; passes: number } & PassSummary)
  | { status: 'rejected'; code: 'malformed-event'; reason: string };

const summary = (r: PinQueueReport): PassSummary => ({
  claimed: r.claimed,
  pinned: r.pinned.length,
  retried: r.retried.length,
  released: r.released.length,
  failed: r.failed.length,
});

/** S3 event keys are URL-encoded, with `+` for a space. */
export function decodeS3Key(key: string): string | undefined {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

async function drainWhileTimeAllows(d: IpfsPinLambdaDeps, context: Context): Promise<IpfsPinLambdaResult> {
  const total: PassSummary = { claimed: 0, pinned: 0, retried: 0, released: 0, failed: 0 };
  let passes = 0;
  for (;;) {
    const r = await d.pin.drain();
    passes++;
    for (const [k, v] of Object.entries(summary(r)) as [keyof PassSummary, number][]) total[k] += v;
    const more = r.claimed >= d.drainBatch && r.retried.length + r.released.length === 0;
    if (!more || context.getRemainingTimeInMillis() < d.passBudgetMs) break;
  }
  return { status: 'drained', passes, ...total };
}

export function createIpfsPinLambda(load: (tools: LambdaTools) => Promise<IpfsPinLambdaDeps>) {
  return defineLambda({
    service: 'ipfs-pin',
    schema: IpfsPinEvent,
    load,
    invalid: async (_raw, reason, edge): Promise<IpfsPinLambdaResult> => {
      // Not thrown: Lambda would retry an event that can never parse.
      (await edge.deps()).log.error('ipfs-pin invoked with an event it does not handle', {
        code: 'malformed-event',
        reason,
      });
      return { status: 'rejected', code: 'malformed-event', reason };
    },
    handler: async (event, d, context): Promise<IpfsPinLambdaResult> => {
      if (!('Records' in event)) return drainWhileTimeAllows(d, context);
      const objects: ({ key: string } & ObjectCreatedOutcome)[] = [];
      for (const r of event.Records) {
        const key = decodeS3Key(r.s3.object.key);
        if (key === undefined) {
          objects.push({
            key: r.s3.object.key,
            status: 'not-a-record',
            reason: 'the key is not URL-encoded',
          });
          continue;
        }
        // Throws PinRetryableError while a record is not indexed yet: the whole event is retried, and the
        // records already queued answer `exists` then.
        objects.push({ key, ...(await d.pin.objectCreated(key)) });
      }
      const queued = objects.some(
        (o) => o.status === 'queued' || (o.status === 'pack' && o.records.some((r) => r.status === 'queued')),
      );
      if (!queued) return { status: 'handled', objects };
      return { status: 'handled', objects, pass: summary(await d.pin.drain()) };
    },
  });
}

export const handler = createIpfsPinLambda(fromEnv(buildIpfsPin));
