import { sweepDeadLetters, sweepStagedUploads } from '../ingest/retention.js';
import type { Logger } from '../logger.js';
import type { DeadLetterStore, ObjectStore } from '../ports.js';

export interface SweepScheduler {
  /** Runs a sweep now (after any running one) and resolves with it. */
  runNow(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Every `intervalMs` (SWEEP_INTERVAL_MS), the first time at once: deletes staged uploads past their maximum
 * age and dead letters past their retention or beyond the row cap (lib/ingest/retention.ts). Sweeps never
 * overlap; a failed one is logged and the next tick tries again, since each sweep starts from scratch.
 */
export function startSweepScheduler(
  deps: { objects: ObjectStore; deadLetters: DeadLetterStore; clock: () => number; log: Logger },
  o: {
    intervalMs: number;
    stagedUploadMaxAgeMs: number;
    deadLetterRetentionMs: number;
    deadLetterMaxRows: number;
  },
): SweepScheduler {
  let current: Promise<void> = Promise.resolve();
  let queued = false;
  const sweep = (): Promise<void> => {
    queued = true;
    current = current.then(async () => {
      queued = false;
      try {
        const uploads = await sweepStagedUploads(deps, { maxAgeMs: o.stagedUploadMaxAgeMs });
        const letters = await sweepDeadLetters(deps, {
          retentionMs: o.deadLetterRetentionMs,
          maxRows: o.deadLetterMaxRows,
        });
        if (uploads.deleted > 0 || letters.deleted > 0) {
          deps.log.info('swept', { stagedUploads: uploads.deleted, deadLetters: letters.deleted });
        }
      } catch (err) {
        deps.log.error('sweep failed; the next one tries again', { err });
      }
    });
    return current;
  };
  const timer = setInterval(() => {
    if (!queued) void sweep();
  }, o.intervalMs);
  void sweep();
  return {
    runNow: sweep,
    stop: async () => {
      clearInterval(timer);
      await current;
    },
  };
}
