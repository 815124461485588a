/**
 * Pinning one record's hot copy, and working through the pin queue.
 *
 * What goes to IPFS is the ciphertext, not the whole envelope. IPFS content is public to anyone holding the
 * CID, and provider records advertise CIDs; the header would add the device id, sequence number and device
 * timestamps of every hot record. The header is already in the index and in every proof bundle, so the
 * envelope is rebuilt as header (bundle) ‖ ciphertext (IPFS), and verify checks the fetched bytes against the
 * ciphertext hash inside the anchored header (verify-cid.ts).
 *
 * Before pinning, the stored envelope is checked against the record's hash: a hot copy of bytes that do not
 * match the anchored record would only be a durable copy of the wrong thing.
 */
import { type BackoffPolicy, retryDelayMs } from '../core/backoff.js';
import { toHex } from '../core/bytes.js';
import { checkCiphertextHash, parseEnvelope, recordHashOf } from '../core/envelope.js';
import type { ObjectStore, Pinner, PinQueue, PinTarget, RecordEntry, RecordIndex } from '../ports.js';
import { readRecordEnvelope } from '../record-object.js';
import { type IpfsErrorCode, isIpfsError } from './errors.js';
import type { HotPolicy } from './hot-policy.js';
import { routeOfRecord } from './hot-policy.js';

/** A pin job's retries: the first after 1 s, none more than 5 min after the one before. */
export const DEFAULT_PIN_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000 };

/** Codes of outcomes no retry can change; the job is parked as failed for an operator. */
export type PinFailureCode = 'object-missing' | 'object-malformed' | 'object-mismatch';

/** Codes of outcomes that may pass: the IpfsError's code, or storage-error when the object store failed. */
export type PinRetryCode = IpfsErrorCode | 'storage-error';

export type PinOutcome =
  | { status: 'pinned'; cid: string; size: number }
  /** IPFS or the object store failed in a way that may pass; `code` is the IpfsError code or storage-error. */
  | { status: 'retry'; code: PinRetryCode; message: string }
  | { status: 'failed'; code: PinFailureCode; message: string };

export interface PinRecordDeps {
  objects: ObjectStore;
  pinner: Pinner;
}

export async function pinRecord(
  deps: PinRecordDeps,
  target: PinTarget,
  opts: { signal?: AbortSignal } = {},
): Promise<PinOutcome> {
  let stored: Uint8Array | undefined;
  try {
    stored = await readRecordEnvelope(deps.objects, target);
  } catch (e) {
    return { status: 'retry', code: 'storage-error', message: messageOf(e) };
  }
  if (!stored)
    return {
      status: 'failed',
      code: 'object-missing',
      message: `object ${target.objectKey} is not in the store`,
    };
  const env = parseEnvelope(stored);
  if (!env.ok)
    return { status: 'failed', code: 'object-malformed', message: `stored object: ${env.message}` };
  if (toHex(recordHashOf(env.headerBytes)) !== target.recordHash)
    return {
      status: 'failed',
      code: 'object-mismatch',
      message: `object ${target.objectKey} holds a record other than ${target.recordHash.slice(0, 16)}…`,
    };
  if (!checkCiphertextHash(env).ok)
    return {
      status: 'failed',
      code: 'object-mismatch',
      message: `ciphertext in ${target.objectKey} does not match its header`,
    };
  try {
    const { cid, size } = await deps.pinner.pin(env.ciphertext, opts);
    return { status: 'pinned', cid, size };
  } catch (e) {
    if (isIpfsError(e)) return { status: 'retry', code: e.code, message: e.message };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------- enqueue

export interface EnqueueDeps {
  queue: PinQueue;
  policy: HotPolicy;
  clock: () => number;
}

export type EnqueueOutcome = 'queued' | 'exists' | 'cold';

export function pinTargetOf(
  entry: Pick<RecordEntry, 'recordId' | 'deviceId' | 'seq' | 'objectKey' | 'recordHash'>,
): PinTarget {
  return {
    recordId: entry.recordId,
    deviceId: entry.deviceId,
    seq: entry.seq,
    objectKey: entry.objectKey,
    recordHash: entry.recordHash,
  };
}

/**
 * Called once a record is durably indexed (the index entry, not the object, is the commit point: an object
 * can exist for a record that lost a race and is deleted again). Queues a pin job if the record is hot.
 */
export async function enqueueIfHot(
  deps: EnqueueDeps,
  entry: Pick<RecordEntry, 'recordId' | 'deviceId' | 'seq' | 'objectKey' | 'recordHash' | 'via'>,
): Promise<EnqueueOutcome> {
  if (!deps.policy.isHot({ deviceId: entry.deviceId, route: routeOfRecord(entry.via) })) return 'cold';
  return deps.queue.enqueue(pinTargetOf(entry), deps.clock());
}

// ---------------------------------------------------------------------------------------------- drain

export interface PinQueueDeps extends PinRecordDeps {
  queue: PinQueue;
  /** Where the CID is recorded for verify and the proof bundle, before the job counts as pinned. */
  index: Pick<RecordIndex, 'setIpfsCid'>;
  clock: () => number;
  backoff?: BackoffPolicy;
  random?: () => number;
}

export interface PinQueueReport {
  claimed: number;
  pinned: { recordId: string; cid: string }[];
  retried: { recordId: string; code: string; attempts: number; nextAttemptAt: number }[];
  /** Claimed and handed back untried: the endpoint had just proved down (due again with the first retry), or the pass was aborted. */
  released: string[];
  failed: { recordId: string; code: string }[];
}

/** Endpoint-wide failures: the next job would meet the same wall, so the rest of the batch is handed back. */
const OUTAGE_CODES = new Set(['ipfs-unavailable', 'ipfs-timeout']);

/**
 * One pass: claim up to `limit` due jobs and try each in turn. Pinned jobs record their CID in the index, then
 * in the queue; retryable failures back off exponentially; terminal ones are parked as failed. A job is never
 * dropped: a crash between claim and mark leaves it leased, and the lease running out makes it due again. An
 * abort (a runtime stopping) hands the job in flight and the untried rest back at once, so a clean stop leaves
 * nothing leased for a restart to wait on.
 */
export async function processPinQueue(
  deps: PinQueueDeps,
  opts: { limit: number; leaseMs: number; signal?: AbortSignal },
): Promise<PinQueueReport> {
  const report: PinQueueReport = { claimed: 0, pinned: [], retried: [], released: [], failed: [] };
  const jobs = await deps.queue.claimDue({ now: deps.clock(), limit: opts.limit, leaseMs: opts.leaseMs });
  report.claimed = jobs.length;
  let outageUntil: number | undefined;
  for (const job of jobs) {
    if (outageUntil !== undefined || opts.signal?.aborted) {
      const at = outageUntil ?? deps.clock();
      await deps.queue.release(job.recordId, at);
      report.released.push(job.recordId);
      continue;
    }
    let outcome: PinOutcome;
    try {
      outcome = await pinRecord(deps, job, opts.signal ? { signal: opts.signal } : {});
    } catch (e) {
      if (!opts.signal?.aborted) throw e;
      await deps.queue.release(job.recordId, deps.clock());
      report.released.push(job.recordId);
      continue;
    }
    const now = deps.clock();
    if (outcome.status === 'pinned') {
      // Index first: a job marked pinned whose CID never reached the index would never be retried.
      try {
        await deps.index.setIpfsCid(job.deviceId, job.seq, outcome.cid, now);
      } catch (e) {
        outcome = { status: 'retry', code: 'storage-error', message: `recording the CID: ${messageOf(e)}` };
      }
    }
    if (outcome.status === 'pinned') {
      await deps.queue.markPinned(job.recordId, { cid: outcome.cid, at: now });
      report.pinned.push({ recordId: job.recordId, cid: outcome.cid });
    } else if (outcome.status === 'failed') {
      await deps.queue.markFailed(job.recordId, { code: outcome.code, message: outcome.message, at: now });
      report.failed.push({ recordId: job.recordId, code: outcome.code });
    } else {
      const attempts = job.attempts + 1;
      const nextAttemptAt =
        now + retryDelayMs(attempts, deps.backoff ?? DEFAULT_PIN_BACKOFF, deps.random ?? Math.random);
      await deps.queue.markRetry(job.recordId, {
        code: outcome.code,
        message: outcome.message,
        nextAttemptAt,
      });
      report.retried.push({ recordId: job.recordId, code: outcome.code, attempts, nextAttemptAt });
      if (OUTAGE_CODES.has(outcome.code)) outageUntil = nextAttemptAt;
    }
  }
  return report;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
