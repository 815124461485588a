/**
 * The BENCHMARKS.md section for `measureAwsCost` (bench/aws-cost.ts): billable units per record, measured on
 * the emulators, priced in dollars per million records beside the estimate that came before and the goal.
 */
import {
  AWS_ASSUMPTIONS,
  AWS_PRICES,
  type AwsCostFigures,
  COST_GOAL,
  ESTIMATED_BEFORE,
  MEASURED_BASELINE,
} from './aws-cost-model.js';

const money = (n: number): string => `$${n.toFixed(2)}`;
const units = (n: number): string => (n >= 0.01 || n === 0 ? n.toFixed(2) : n.toExponential(2));
const line = (cells: string[]) => `| ${cells.join(' | ')} |`;

export function awsCostSection(c: AwsCostFigures | undefined): string {
  if (!c) return '';
  const rows = c.lines.map((l) =>
    line([
      l.kind,
      `${units(l.unitsPerRecord)} ${l.unit}`,
      money(l.dollarsPerMillion),
      l.measured ? 'measured' : 'assumed',
    ]),
  );
  const calls = Object.entries(c.callsPerRecord)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `\`${k}\` ${v.toFixed(2)}`)
    .join(', ');
  const dynamo = Object.entries(c.dynamoPerRecord)
    .filter(([, v]) => v >= 0.005)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `\`${k}\` ${v.toFixed(2)}`)
    .join(', ');
  const b = MEASURED_BASELINE;
  const sumOf = (prefix: string) =>
    c.lines.filter((l) => l.kind.startsWith(prefix)).reduce((a, l) => a + l.unitsPerRecord, 0);
  const iotMessages = sumOf('IoT: ');
  const wru = c.lines.find((l) => l.kind === 'DynamoDB write request units')?.unitsPerRecord ?? 0;
  const s3 = c.lines.find((l) => l.kind === 'S3 PUT/LIST requests')?.unitsPerRecord ?? 0;
  return `## AWS cost per million records

\`bench/aws-cost.ts\`: ${c.records.toLocaleString('en-US')} signed records (mean envelope ${c.envelopeBytes} B) from
${c.devices} devices through the ingest Lambda's entry point on the emulators, ${c.recordsPerPublish === 1 ? 'one record per publish' : `${c.recordsPerPublish} records per publish as one record pack (\`devices/<id>/packs\`, one ack and one S3 object per pack)`},
${c.basicIngest ? 'published by Basic Ingest (`$aws/rules/<rule>/devices/<id>/...`: no inbound IoT message)' : 'published through the broker (plain topics)'}; one signed head per device, then one
anchor tick through the anchor Lambda's entry point. A billing meter (\`tests/aws/support/billing-meter.ts\`) counts the
billable units of every SDK call the functions make (DynamoDB request units from the items written and read, by the
documented rules, index writes included; S3 requests by tier; KMS requests, symmetric and asymmetric; IoT Publish API
messages in 5 KB units, each delivered to the device and acknowledged by its PUBACK); the flow counts the device's
publish, the rule and its action (in 5 KB units) and the invocations, and measures the bytes the functions write
to stdout/stderr at log level ${c.logLevel} (Powertools log lines and EMF metrics: ${c.logBytesPerInvocation} B per
invocation). Prices: ${AWS_PRICES.region} list prices as docs/deploy.md gives them (read ${AWS_PRICES.readOn}).
Lambda duration (${AWS_ASSUMPTIONS.lambdaMemoryMb} MB × ${AWS_ASSUMPTIONS.ingestMs} ms per invocation, plus ${AWS_ASSUMPTIONS.ingestMsPerExtraRecord} ms for each further record of a pack) and the
platform's log lines (${AWS_ASSUMPTIONS.platformLogBytesPerInvocation} B per invocation) are assumed: no emulator can show them.

${line(['Billable item', 'Units per record', 'USD per million records', ''])}
${line(['---', '---', '---', '---'])}
${rows.join('\n')}
${line(['**Total**', '', `**${money(c.dollarsPerMillion)}**`, ''])}
${line([`Baseline, measured ${b.measuredOn} before these levers`, `${b.iotMessagesPerRecord.toFixed(2)} IoT messages, ${b.dynamoWriteUnitsPerRecord.toFixed(2)} WRU, ${b.s3PutsPerRecord.toFixed(2)} S3 PUT`, money(b.dollarsPerMillion), 'measured'])}
${line(['This run', `${iotMessages.toFixed(2)} IoT messages, ${wru.toFixed(2)} WRU, ${s3.toFixed(2)} S3 PUT`, money(c.dollarsPerMillion), 'measured'])}

Estimated before anything was measured: ${money(ESTIMATED_BEFORE)}. Goal: at most ${money(COST_GOAL)}: **${c.dollarsPerMillion <= COST_GOAL ? 'met' : 'not met'}**.

SDK calls per record: ${calls}.

DynamoDB request units per record, by table, operation and kind: ${dynamo}.
`;
}
