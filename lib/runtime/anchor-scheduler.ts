import type { Logger } from '../logger.js';

export interface AnchorScheduler {
  /** Runs a cycle now (after any running one) and resolves with it. */
  runNow(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs the anchor function every `intervalMs`, never two cycles at once; a failed cycle is retried next tick. */
export function startAnchorScheduler(
  run: () => Promise<unknown>,
  intervalMs: number,
  log: Logger,
): AnchorScheduler {
  let current: Promise<void> = Promise.resolve();
  let stopped = false;
  const cycle = (): Promise<void> => {
    current = current.then(() =>
      run().then(
        () => undefined,
        (err: unknown) => log.error('anchor cycle failed; pending records stay queued', { err }),
      ),
    );
    return current;
  };
  const timer = setInterval(() => {
    if (!stopped) void cycle();
  }, intervalMs);
  return {
    runNow: cycle,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
