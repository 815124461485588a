/**
 * The stage's alarms and its CloudWatch dashboard, as data: sst.config.ts turns each alarm into an
 * `aws.cloudwatch.MetricAlarm` and the dashboard into an `aws.cloudwatch.Dashboard`, tests/aws/infra.test.ts
 * checks them, and docs/operations.md says what each alarm means for an operator. The application metrics
 * come from lib/metrics.ts (names, units, the function that reports them), written by the Lambda edge as EMF
 * with the dimensions service and stage (functions/edge/powertools.ts); an alarm on them must name exactly
 * those dimensions, or it watches a metric nobody writes.
 *
 * Generic in `N`, a resource name: a Pulumi output in sst.config.ts, a plain string in the dashboard and tests.
 */

import { METRIC_NAMESPACE, METRICS, type MetricName } from '../lib/metrics.js';
import { chainConfigFromEnv } from '../lib/runtime/chain-config.js';

export type Comparison = 'GreaterThanOrEqualToThreshold' | 'GreaterThanThreshold';
export type Statistic = 'Sum' | 'Maximum' | 'Average';

export interface AlarmSpec<N> {
  /** Pulumi component name. */
  component: string;
  /** CloudWatch alarm name, unique in the account and region. */
  name: string;
  description: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, N | string>;
  statistic: Statistic;
  periodSeconds: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  threshold: number;
  comparison: Comparison;
  /** What a period without data counts as: `breaching` where silence itself is the fault. */
  treatMissingData: 'notBreaching' | 'breaching';
}

export interface ObservedStage<N> {
  stage: string;
  /** Deployed functions by component name (Ingest, Anchor, ...), each with its function name. */
  functions: Record<string, N>;
  /** The dead-letter queue's name (SQS metrics are by queue name). */
  deadLetterQueue: N;
  /** Backlog age that raises the alarm (seconds); backlogAgeAlarmSeconds() derives it. */
  backlogAgeSeconds: number;
}

/** An application metric's dimensions, exactly as the Lambda edge writes them. */
export function appDimensions(name: MetricName, stage: string): Record<string, string> {
  return { service: METRICS[name].service, stage };
}

/**
 * Twice the anchoring target (ANCHOR_TARGET_MS, by default the schedule's period plus the slowest chain's
 * inclusion time), and never under 10 minutes: records older than that are waiting on something the
 * schedule, the budget or a chain is not doing. `chainEnv` is what infra/chains.ts hands the functions.
 */
export function backlogAgeAlarmSeconds(chainEnv: Record<string, string>): number {
  const tickMs = Number(chainEnv.ANCHOR_INTERVAL_MS);
  const checked = chainConfigFromEnv(chainEnv, {
    dataDir: '.',
    anchorIntervalMs: tickMs,
    keys: 'kms-wrapped',
  });
  if (!checked.ok) throw new Error(`chain configuration: ${checked.message}`);
  return Math.max(600, Math.ceil((2 * checked.config.policy.targetMaxTimeToAnchorMs) / 1000));
}

export function alarmSpecs<N>(o: ObservedStage<N>): AlarmSpec<N>[] {
  const prefix = `iot-notary-${o.stage}`;
  const functionErrors = Object.entries(o.functions).map(
    ([component, fnName]): AlarmSpec<N> => ({
      component: `${component}ErrorsAlarm`,
      name: `${prefix}-${component.toLowerCase()}-errors`,
      description: `${component} invocations failed (thrown, timed out or out of memory); see its log group`,
      namespace: 'AWS/Lambda',
      metricName: 'Errors',
      dimensions: { FunctionName: fnName },
      statistic: 'Sum',
      periodSeconds: 300,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      threshold: 1,
      comparison: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
    }),
  );
  return [
    ...functionErrors,
    {
      component: 'DeadLetterQueueAlarm',
      name: `${prefix}-dead-letter-queue`,
      description:
        'messages in the dead-letter queue: IoT rule failures, or ingest/ipfs-pin events that failed every retry',
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: o.deadLetterQueue },
      statistic: 'Maximum',
      periodSeconds: 300,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      threshold: 1,
      comparison: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
    },
    {
      component: 'BacklogAgeAlarm',
      name: `${prefix}-backlog-age`,
      description: `the oldest record waiting for a batch is older than ${o.backlogAgeSeconds} s, or anchor reports nothing`,
      namespace: METRIC_NAMESPACE,
      metricName: 'BacklogAge',
      dimensions: appDimensions('BacklogAge', o.stage),
      statistic: 'Maximum',
      periodSeconds: 300,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      threshold: o.backlogAgeSeconds,
      comparison: 'GreaterThanThreshold',
      // Every anchor tick reports it: ten minutes of silence means anchoring is not running at all.
      treatMissingData: 'breaching',
    },
    {
      component: 'AnchorFailuresAlarm',
      name: `${prefix}-anchor-failures`,
      description:
        'chain submissions keep failing (3 or more in 15 minutes); records stay queued and are retried with backoff',
      namespace: METRIC_NAMESPACE,
      metricName: 'AnchorFailures',
      dimensions: appDimensions('AnchorFailures', o.stage),
      statistic: 'Sum',
      periodSeconds: 900,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      // One failure is retried by the next tick; three in a quarter hour is a chain that stays down.
      threshold: 3,
      comparison: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
    },
  ];
}

type MetricRow = (string | { stat: string; label?: string })[];

const app = (name: MetricName, stage: string, stat: string, label: string = name): MetricRow => [
  METRIC_NAMESPACE,
  name,
  'service',
  METRICS[name].service,
  'stage',
  stage,
  { stat, label },
];

/**
 * The dashboard's body (CloudWatch's dashboard body structure): records in, anchoring, the functions' errors
 * and the dead-letter queue, and the alarms' states. Resolved names only: it is JSON that CloudWatch stores.
 */
export function dashboardBody(o: ObservedStage<string> & { region: string; alarmArns: string[] }): {
  widgets: Record<string, unknown>[];
} {
  const metric = (title: string, metrics: MetricRow[], x: number, y: number, stat = 'Sum') => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region: o.region, view: 'timeSeries', stacked: false, period: 300, stat, metrics },
  });
  const s = o.stage;
  return {
    widgets: [
      {
        type: 'alarm',
        x: 0,
        y: 0,
        width: 24,
        height: 3,
        properties: { title: 'Alarms', alarms: o.alarmArns },
      },
      metric(
        'Records (per 5 minutes)',
        [app('RecordsStored', s, 'Sum'), app('RecordsDuplicate', s, 'Sum'), app('RecordsRefused', s, 'Sum')],
        0,
        3,
      ),
      metric(
        'Anchoring: backlog and batches',
        [
          app('Backlog', s, 'Maximum'),
          app('BatchSize', s, 'Maximum'),
          app('BatchSize', s, 'Average', 'BatchSize avg'),
        ],
        12,
        3,
        'Maximum',
      ),
      metric(
        'Anchoring: seconds',
        [
          app('BacklogAge', s, 'Maximum'),
          app('TimeToAnchor', s, 'Maximum'),
          app('TimeToAnchor', s, 'p50', 'TimeToAnchor p50'),
        ],
        0,
        9,
        'Maximum',
      ),
      metric('Anchor failures', [app('AnchorFailures', s, 'Sum')], 12, 9),
      metric(
        'Function errors',
        Object.values(o.functions).map((fn) => ['AWS/Lambda', 'Errors', 'FunctionName', fn, { stat: 'Sum' }]),
        0,
        15,
      ),
      metric(
        'Dead-letter queue',
        [
          [
            'AWS/SQS',
            'ApproximateNumberOfMessagesVisible',
            'QueueName',
            o.deadLetterQueue,
            { stat: 'Maximum' },
          ],
        ],
        12,
        15,
        'Maximum',
      ),
    ],
  };
}
