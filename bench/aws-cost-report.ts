/**
 * The BENCHMARKS.md section for `measureAwsCost` (bench/aws-cost.ts): billable units per record, measured on
 * the emulators, priced in dollars per million records beside the estimate that came before and the goal.
 */
import { AWS_ASSUMPTIONS, AWS_PRICES, type AwsCostFigures, COST_GOAL, ESTIMATED_BEFORE } from './aws-cost.js';

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
  return `## AWS cost per million records

\`bench/aws-cost.ts\`: ${c.records.toLocaleString('en-US')} signed records (mean envelope ${c.envelopeBytes} B) from
${c.devices} devices through the ingest Lambda's entry point on the emulators, one signed head per device, then one
anchor cycle. A billing meter (\`tests/aws/support/billing-meter.ts\`) counts the billable units of every SDK call
the functions make (DynamoDB request units from the items written and read, by the documented rules; S3 requests by
tier; KMS requests; IoT Publish API messages in 5 KB units, each delivered to the device and acknowledged by its
PUBACK); the flow counts the device's publish, the rule and the invocations. Prices: ${AWS_PRICES.region} list prices
as docs/deploy.md gives them (read ${AWS_PRICES.readOn}). Lambda duration (${AWS_ASSUMPTIONS.lambdaMemoryMb} MB ×
${AWS_ASSUMPTIONS.ingestMs} ms per invocation) and log bytes are assumed: no emulator can show them.

${line(['Billable item', 'Units per record', 'USD per million records', ''])}
${line(['---', '---', '---', '---'])}
${rows.join('\n')}
${line(['**Total**', '', `**${money(c.dollarsPerMillion)}**`, ''])}

Estimated before this was measured: ${money(ESTIMATED_BEFORE)}. Goal: at most ${money(COST_GOAL)}: **${c.dollarsPerMillion <= COST_GOAL ? 'met' : 'not met'}**.

SDK calls per record: ${calls}.

DynamoDB request units per record, by table, operation and kind: ${dynamo}.
`;
}
