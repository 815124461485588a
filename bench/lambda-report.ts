/**
 * The BENCHMARKS.md section for `measureLambdaIngest` (bench/lambda-ingest.ts): ingest through the ingest
 * Lambda's entry point against the AWS emulators, beside the embedded adapters' figure from the same run.
 */
import type { IngestFigures } from './ingest.js';
import type { LambdaIngestFigures } from './lambda-ingest.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const dec = (n: number, digits = 1): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function lambdaSection(
  l: LambdaIngestFigures | undefined,
  ingest: readonly IngestFigures[] | undefined,
): string {
  if (!l) return '';
  const embedded = ingest?.find(
    (f) =>
      f.mode === 'presealed' &&
      f.durableWrites &&
      Math.abs(f.targetEnvelopeBytes - l.targetEnvelopeBytes) < 16,
  );
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const head = ['Path', 'Backend', 'Records', 'rec/s', 'Latency p50 / p99', 'rec/s per run'];
  const rows = [
    line([
      'ingest Lambda entry point (middy, IoT-rule events)',
      l.backend,
      int(l.records),
      int(l.recordsPerSec.median),
      `${dec(l.latencyMs.p50)} / ${dec(l.latencyMs.p99)} ms`,
      l.recordsPerSec.runs.map(int).join(' / '),
    ]),
  ];
  if (embedded) {
    rows.push(
      line([
        'embedded runtime (MQTT, router, same handler)',
        'SQLite index + object store, durable',
        int(embedded.records),
        int(embedded.recordsPerSec.median),
        '—',
        embedded.recordsPerSec.runs.map(int).join(' / '),
      ]),
    );
  }
  return `## AWS: ingest through the Lambda entry points (emulators)

\`functions/ingest/lambda.ts\` invoked directly with events shaped like the IoT topic rule's
(\`iotRuleSql()\`: base64 payload, topic, client id), ${l.concurrency} invocations in flight, ${l.devices} devices,
envelopes of ${int(l.meanEnvelopeBytes)} B sealed before timing. Behind it: the S3 adapter on s3rver, the
DynamoDB adapter on dynalite, and replies through the IoT Data publish stand-in. Every timed record was acked
\`stored\`: ${l.allStored ? 'yes' : '**no**'}. The embedded row is this run's pre-sealed durable ingest at the
same envelope size, through MQTT.

${[line(head), line(head.map(() => '---')), ...rows].join('\n')}

The emulators set this figure, not AWS: dynalite writes about 800 items/s sequentially on this machine
(FACTS.md) and each record is two conditional writes plus reads. It shows the Lambda path works under load
and what it costs locally; real DynamoDB and S3 scale by partition and are not measured here.
`;
}
