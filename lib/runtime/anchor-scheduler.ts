import type { Logger } from '../logger.js';

export interface AnchorScheduler {
  /** Runs a cycle now (after any running one) and resolves with it. */
  runNow(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs the anchor cycle and, between cycles, the finality poller, never two at once (both write batches'
 * anchors, and a batch's anchors are read-modify-written). The cycle decides how long to wait for the next
 * one (the budget plan's interval: `cycle` resolves with it); the poller runs every `pollEveryMs`. A failed
 * run is logged and retried at the next tick; pending records stay queued.
 */
export function startAnchorScheduler(
  o: {
    cycle: (opts: { force: boolean }) => Promise<{ nextInMs: number }>;
    poll?: () => Promise<unknown>;
    pollEveryMs?: number;
    /** After a cycle that failed outright. The first cycle runs at once. */
    firstIntervalMs: number;
  },
  log: Logger,
): AnchorScheduler {
  let current: Promise<void> = Promise.resolve();
  let stopped = false;
  let cycleTimer: NodeJS.Timeout | undefined;
  let pollQueued = false;

  const schedule = (ms: number) => {
    if (stopped) return;
    clearTimeout(cycleTimer);
    cycleTimer = setTimeout(() => void cycle(false), Math.max(1, ms));
  };
  const cycle = (force: boolean): Promise<void> => {
    current = current.then(() =>
      o.cycle({ force }).then(
        (r) => schedule(r.nextInMs),
        (err: unknown) => {
          log.error('anchor cycle failed; pending records stay queued', { err });
          schedule(o.firstIntervalMs);
        },
      ),
    );
    return current;
  };
  const poll = o.poll;
  const pollTimer =
    poll && o.pollEveryMs !== undefined
      ? setInterval(() => {
          if (stopped || pollQueued) return;
          pollQueued = true;
          current = current.then(() =>
            poll().then(
              () => {
                pollQueued = false;
              },
              (err: unknown) => {
                pollQueued = false;
                log.error('finality poll failed; anchors are looked at again next time', { err });
              },
            ),
          );
        }, o.pollEveryMs)
      : undefined;
  schedule(0);
  return {
    runNow: () => cycle(true),
    stop: async () => {
      stopped = true;
      clearTimeout(cycleTimer);
      if (pollTimer) clearInterval(pollTimer);
      await current;
    },
  };
}
