/**
 * The ipfs-pin function's operations, built by both composition roots (lib/runtime/embedded-ipfs.ts,
 * aws-ipfs.ts; lib never imports functions/). Validation of the event here, everything else in pin-record.ts
 * and object-created.ts.
 *
 * - `recordStored`: a record was durably indexed; queue a pin job if the hot policy says so. Locally the
 *   runtime calls it from the ingest edge, after the index put and before the ack.
 * - `objectCreated`: an object was created under records/ (AWS: the S3 event, functions/ipfs-pin/lambda.ts);
 *   find its index entry and queue it like `recordStored`. Throws PinRetryableError while the record is not
 *   indexed yet, so the invoker retries.
 * - `drain`: one pass over the due jobs of the queue; locally a scheduler calls it on an interval and after
 *   each enqueue.
 * - `pinNow`: pin one record directly and return its CID, for an invoker that retries on its own (a Lambda
 *   async invoke): a failure that may pass is thrown, one that cannot is returned.
 */
import { z } from 'zod';
import { DEVICE_ID_PATTERN } from '../core/device-id.js';
import { CodedError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import type { RecordIndex } from '../ports.js';
import type { HotPolicy } from './hot-policy.js';
import { type ObjectCreatedOutcome, recordObjectCreated } from './object-created.js';
import type { PinRetryCode } from './pin-record.js';
import {
  type EnqueueOutcome,
  enqueueIfHot,
  type PinOutcome,
  type PinQueueDeps,
  type PinQueueReport,
  pinRecord,
  pinTargetOf,
  processPinQueue,
} from './pin-record.js';

/** The fields of a RecordEntry the pin path needs; other fields (a whole RecordEntry) are ignored. */
export const RecordStoredEvent = z.object({
  recordId: z.string().min(3).max(90),
  deviceId: z.string().regex(DEVICE_ID_PATTERN),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  objectKey: z.string().min(1).max(1024),
  recordHash: z.string().regex(/^[0-9a-f]{64}$/),
  via: z.enum(['inline', 'upload']),
});
export type RecordStoredEvent = z.infer<typeof RecordStoredEvent>;

/** An S3 object key, as the object-created event carries it once URL-decoded. */
export const ObjectKey = z.string().min(1).max(1024);

export interface IpfsPinHandlerDeps extends PinQueueDeps {
  index: Pick<RecordIndex, 'setIpfsCid' | 'getRecord'>;
  policy: HotPolicy;
  log: Logger;
  /** Jobs per drain pass, and how long a claimed job stays invisible to other workers. */
  drain?: { batch: number; leaseMs: number };
}

export class PinRetryableError extends CodedError<PinRetryCode | 'record-not-indexed'> {
  override readonly name = 'PinRetryableError';
}

export function createIpfsPinHandler(deps: IpfsPinHandlerDeps) {
  const drainOpts = deps.drain ?? { batch: 32, leaseMs: 5 * 60_000 };
  return {
    recordStored: async (event: RecordStoredEvent): Promise<EnqueueOutcome> => {
      const rec = RecordStoredEvent.parse(event);
      const outcome = await enqueueIfHot(deps, rec);
      if (outcome === 'queued') deps.log.debug('pin job queued', { recordId: rec.recordId });
      return outcome;
    },

    objectCreated: async (key: string): Promise<ObjectCreatedOutcome> => {
      const outcome = await recordObjectCreated(deps, ObjectKey.parse(key));
      const notIndexed =
        outcome.status === 'pack' ? outcome.records.find((r) => r.status === 'not-indexed') : undefined;
      if (notIndexed && 'recordId' in notIndexed && notIndexed.recordId !== undefined)
        throw new PinRetryableError(
          'record-not-indexed',
          `${notIndexed.recordId} is not in the index yet (${key})`,
        );
      if (outcome.status === 'not-indexed')
        throw new PinRetryableError(
          'record-not-indexed',
          `${outcome.recordId} is not in the index yet (${key})`,
        );
      if (outcome.status === 'not-a-record')
        deps.log.warn('object under records/ is not a record envelope', { key, reason: outcome.reason });
      else if (outcome.status === 'queued') deps.log.debug('pin job queued', { recordId: outcome.recordId });
      return outcome;
    },

    drain: async (signal?: AbortSignal): Promise<PinQueueReport> => {
      const report = await processPinQueue(deps, {
        limit: drainOpts.batch,
        leaseMs: drainOpts.leaseMs,
        ...(signal ? { signal } : {}),
      });
      if (report.claimed > 0) {
        // Passes follow every enqueue, so a clean one is debug; a retry or a parked job is worth a warning.
        const level = report.retried.length + report.failed.length > 0 ? 'warn' : 'debug';
        deps.log[level]('pin pass', {
          endpoint: deps.pinner.endpoint,
          pinned: report.pinned.length,
          retried: report.retried.map((r) => `${r.recordId}:${r.code}#${r.attempts}`),
          released: report.released.length,
          failed: report.failed,
        });
      }
      return report;
    },

    pinNow: async (event: RecordStoredEvent): Promise<Exclude<PinOutcome, { status: 'retry' }>> => {
      const rec = RecordStoredEvent.parse(event);
      const outcome = await pinRecord(deps, pinTargetOf(rec));
      if (outcome.status === 'retry') throw new PinRetryableError(outcome.code, outcome.message);
      if (outcome.status === 'failed')
        deps.log.error('record cannot be pinned', { recordId: rec.recordId, code: outcome.code });
      return outcome;
    },
  };
}

export type IpfsPinHandler = ReturnType<typeof createIpfsPinHandler>;
