/**
 * The anchor function: run one cycle (finality, budget plan, batch) and log what it did. The embedded
 * scheduler calls it on the plan's interval, with the finality poller in between; in AWS an SST CronV2
 * schedule does (functions/anchor/lambda.ts), each tick waiting for the plan's interval since the last batch
 * (`gate`). Both composition roots build it, so it lives in lib/ (lib never imports functions/).
 *
 * Logging lives here, not in the cycle (anchor-cycle.ts returns a report): every chain failure is one error
 * line with its stable code, every reorganisation, drop and resubmission one warning, and backpressure is
 * logged when it starts and ends. So do metrics (anchor-metrics.ts): the Lambda runtime hands in `metrics`,
 * the embedded scheduler does not.
 */

import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { AnchorCycle, CycleReport } from './anchor-cycle.js';
import type { SingleFlight } from './anchor-lease.js';
import { anchorMetrics } from './anchor-metrics.js';
import type { AnchorEvent } from './finality-poller.js';

const WARN_EVENTS = new Set<AnchorEvent['event']>([
  'reorg',
  'dropped',
  'back-to-pool',
  'mismatch',
  'stuck',
  'resubmitted',
  'resubmit-failed',
  'fee-bumped',
  'bump-failed',
  'earlier-tx-mined',
  'lookup-failed',
  'alert',
  'chain-not-configured',
]);

function logEvents(log: Logger, events: readonly AnchorEvent[]): void {
  for (const e of events) {
    const fields = {
      batchId: e.batchId,
      chainId: e.chainId,
      txId: e.txId,
      anchor: e.kind,
      ...(e.code ? { code: e.code } : {}),
      ...(e.detail ? { detail: e.detail } : {}),
    };
    if (e.event === 'mismatch' || e.event === 'alert') log.error(`anchor ${e.event}`, fields);
    else if (WARN_EVENTS.has(e.event)) log.warn(`anchor ${e.event}`, fields);
    else log.debug(`anchor ${e.event}`, fields);
  }
}

export function createAnchorHandler(deps: {
  cycle: AnchorCycle;
  log: Logger;
  gate?: boolean;
  /** With `gate`: how early a tick may build (half a fixed-rate trigger's period). */
  slackMs?: number;
  metrics?: Metrics;
  clock?: () => number;
}) {
  const clock = deps.clock ?? Date.now;
  let backpressure = false;
  return async (opts: { force?: boolean } = {}): Promise<CycleReport> => {
    const report = await deps.cycle.run({
      force: opts.force ?? false,
      gate: deps.gate ?? true,
      ...(deps.slackMs === undefined ? {} : { slackMs: deps.slackMs }),
    });
    if (deps.metrics)
      for (const [name, value] of anchorMetrics(report, clock())) deps.metrics.add(name, value);
    for (const f of report.failures) {
      deps.log.error('anchor submission failed; it is retried with backoff, records stay queued', {
        batchId: f.batchId,
        chainId: f.chainId,
        anchor: f.kind ?? 'root',
        code: f.code ?? 'internal',
        retryable: f.retryable ?? true,
        err: f.message,
      });
    }
    logEvents(deps.log, [...report.poll.events, ...(report.events ?? [])]);
    const bp = report.plan.backpressure;
    if (bp.active !== backpressure) {
      backpressure = bp.active;
      const fields = {
        reason: bp.reason,
        pending: report.plan.pending,
        arrivalPerSecond: Math.round(report.plan.arrivalPerSecond),
        intervalMs: Math.round(report.plan.intervalMs),
        retryAfterMs: bp.retryAfterMs,
        drainMs: bp.drainMs,
      };
      if (bp.active) deps.log.warn('anchoring budget cannot keep up: backpressure on; records wait', fields);
      else deps.log.info('anchoring back within budget: backpressure off', fields);
    }
    if (report.batch || report.resumed.length > 0 || report.held) {
      deps.log.info('anchor cycle', {
        batchId: report.batch?.batchId,
        records: report.batch?.size ?? 0,
        root: report.batch?.root,
        inlineParts: report.batch?.inlineParts,
        resumed: report.resumed,
        anchors: report.anchors.map((a) => `${a.chainId}:${a.kind ?? 'root'}:${a.txId.slice(0, 18)}`),
        failures: report.failures.length,
        held: report.held,
        intervalMs: Math.round(report.plan.intervalMs),
        limitedBy: report.plan.limitedBy,
      });
    }
    return report;
  };
}

/** The finality poller between cycles: looks at due anchors and logs what changed. */
export function createFinalityPoller(deps: { cycle: AnchorCycle; log: Logger }) {
  return async () => {
    const report = await deps.cycle.poll();
    logEvents(deps.log, report.events);
    for (const c of report.changed) deps.log.debug('batch state', c);
    return report;
  };
}

/** What one tick did: a cycle, nothing (another run holds the anchor lease), or a cycle cut short. */
export type AnchorRun =
  | ({ status: 'done' } & CycleReport)
  | { status: 'busy'; heldBy: string; until: number }
  | { status: 'lease-lost'; reason: string };

/**
 * Runs `work` (a cycle, or a finality poll) only while holding the anchor lease (lib/anchor/anchor-lease.ts):
 * a tick that finds it held does nothing, and a run whose lease was taken over stops before its next write.
 * Neither is an error: the holder does the work, and every step resumes from the store.
 */
export function singleFlight<A extends unknown[], T>(
  work: (...args: A) => Promise<T>,
  flight: SingleFlight,
  log: Logger,
): (...args: A) => Promise<{ status: 'done'; result: T } | Exclude<AnchorRun, { status: 'done' }>> {
  return async (...args: A) => {
    const r = await flight.run(() => work(...args));
    if (r.status === 'ran') return { status: 'done', result: r.result };
    if (r.status === 'busy') {
      log.info('anchor lease held by another run: this tick does nothing', {
        heldBy: r.heldBy,
        until: r.until,
      });
      return { status: 'busy', heldBy: r.heldBy, until: r.until };
    }
    log.warn('anchor lease taken over mid-run: stopped before the next write; the new holder resumes', {
      code: 'lease-lost',
      token: r.token,
      reason: r.message,
    });
    return { status: 'lease-lost', reason: r.message };
  };
}

/** The anchor handler under the lease, with the cycle's report as the result. */
export function singleFlightAnchor(
  anchor: (opts?: { force?: boolean }) => Promise<CycleReport>,
  flight: SingleFlight,
  log: Logger,
): (opts?: { force?: boolean }) => Promise<AnchorRun> {
  const run = singleFlight(anchor, flight, log);
  return async (opts) => {
    const r = await run(opts);
    return r.status === 'done' ? { status: 'done', ...r.result } : r;
  };
}
