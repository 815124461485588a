/**
 * Operational metrics, named once here: what each figure means, its unit, and which function reports it.
 * The functions' edges report through `Metrics`; in AWS the Lambda edge writes each invocation's figures as
 * one CloudWatch embedded metric format (EMF) line (functions/edge/powertools.ts), infra/observability.ts alarms on
 * the same names, and docs/deploy.md lists them. The embedded runtime passes nothing, so its behaviour and
 * output are unchanged. Nothing here knows CloudWatch or Powertools.
 */

/** The CloudWatch namespace; every metric also carries the dimensions `service` (below) and `stage`. */
export const METRIC_NAMESPACE = 'iot-notary';

/** The subset of CloudWatch's units these metrics use. */
export type MetricUnit = 'Count' | 'Seconds';

export interface MetricDefinition {
  unit: MetricUnit;
  /** The function that reports it, which is also the value of its `service` dimension. */
  service: 'ingest' | 'anchor';
  meaning: string;
}

export const METRICS = {
  RecordsStored: {
    unit: 'Count',
    service: 'ingest',
    meaning:
      'records stored for the first time (acknowledged `stored`); heads and key rotations are not counted',
  },
  RecordsDuplicate: {
    unit: 'Count',
    service: 'ingest',
    meaning: 'records received again after they were stored (acknowledged `duplicate`); a device resending',
  },
  RecordsRefused: {
    unit: 'Count',
    service: 'ingest',
    meaning:
      'device messages refused, records, heads and key rotations alike (acknowledged `rejected`, or dead-lettered when no device can be told), with the reason in the log and the dead-letter table',
  },
  BatchSize: {
    unit: 'Count',
    service: 'anchor',
    meaning: 'records in each Merkle batch built',
  },
  Backlog: {
    unit: 'Count',
    service: 'anchor',
    meaning: 'records waiting for a batch at the start of each anchor tick',
  },
  BacklogAge: {
    unit: 'Seconds',
    service: 'anchor',
    meaning: 'age of the oldest record still waiting for a batch at the end of each anchor tick (0: none)',
  },
  TimeToAnchor: {
    unit: 'Seconds',
    service: 'anchor',
    meaning:
      'from the arrival of the oldest record of a batch to its root being submitted on every chain, for batches anchored in the tick that built them',
  },
  AnchorFailures: {
    unit: 'Count',
    service: 'anchor',
    meaning: 'chain submissions that failed in a tick (each is retried with backoff; records stay queued)',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;

/** Where an edge reports a figure; one call per observation (counts are summed, the rest aggregated). */
export interface Metrics {
  add(name: MetricName, value: number): void;
}

export const noMetrics: Metrics = { add: () => {} };
