/**
 * The figures one anchor tick reports (lib/metrics.ts defines them), from its report alone: pure, so the
 * edge that emits them and the tests that check them agree on what each one means.
 */
import type { MetricName } from '../metrics.js';
import type { CycleReport } from './anchor-cycle.js';

export function anchorMetrics(report: CycleReport, now: number): [MetricName, number][] {
  const out: [MetricName, number][] = [
    ['Backlog', report.plan.pending],
    [
      'BacklogAge',
      report.oldestPendingAt === undefined ? 0 : Math.max(0, (now - report.oldestPendingAt) / 1000),
    ],
  ];
  const batch = report.batch;
  if (batch) {
    out.push(['BatchSize', batch.size]);
    if (batch.anchoredAt !== undefined) {
      out.push(['TimeToAnchor', Math.max(0, (batch.anchoredAt - batch.oldestReceivedAt) / 1000)]);
    }
  }
  // Always reported, 0 included: a tick with no failure is a data point the alarm can clear on.
  out.push(['AnchorFailures', report.failures.length]);
  return out;
}
