/**
 * BENCHMARKS.md from the figures of one run. Rendering is separate from measuring so the smoke test can
 * check the document's shape from toy figures.
 */

import type { AwsCostFigures } from './aws-cost-model.js';
import { awsCostSection } from './aws-cost-report.js';
import { type ChainBenchFigures, chainsSection } from './chains.js';
import type { ComponentFigures } from './components.js';
import type { IngestFigures } from './ingest.js';
import type { IpfsPinReport } from './ipfs-pin.js';
import { ipfsSection } from './ipfs-report.js';
import type { LambdaIngestFigures } from './lambda-ingest.js';
import { lambdaSection } from './lambda-report.js';
import type { MachineInfo } from './machine.js';
import type { BuildFigures, VerifyFigures } from './merkle.js';
import type { ProfileSummary } from './profile-summary.js';
import type { BundleFigures } from './proof-bundle.js';
import type { RawBrokerFigures } from './raw-broker.js';
import type { SignatureRow } from './signatures.js';
import { type StartupCheckFigures, startupCheckSection } from './startup-check.js';
import type { Series } from './stats.js';

export const INGEST_GOAL_RATIO = 0.5;
/** Issue 9: ingest of signed (v2) records at no less than this share of unsigned (v1) ones, same run. */
export const SIGNED_GOAL_RATIO = 0.85;
export const MERKLE_GOAL_MS = 2000;
export const MERKLE_GOAL_LEAVES = 1_000_000;

export interface BenchFigures {
  startedAt: Date;
  finishedAt: Date;
  command: string;
  machine: MachineInfo;
  publishers: number;
  raw?: RawBrokerFigures[];
  ingest?: IngestFigures[];
  merkle?: { build: BuildFigures; sha256Calls: Series };
  verify?: { inclusion: VerifyFigures; bundle: BundleFigures; sha256Calls?: Series };
  sha256?: { largeBufferBytes: number; large: Series; chunk64KiB: Series };
  components?: ComponentFigures[];
  ipfs?: IpfsPinReport;
  chains?: ChainBenchFigures;
  startup?: StartupCheckFigures;
  lambda?: LambdaIngestFigures;
  awsCost?: AwsCostFigures;
  /** One profiled ingest round (1 KiB, unsigned), not counted in `ingest`: where the backend thread's time goes. */
  ingestProfile?: { figures: IngestFigures; summary: ProfileSummary };
  /** Device signature checks per second, and the pool size the runtime uses by default here. */
  signatures?: { rows: SignatureRow[]; runtimeThreads: number };
}

// ------------------------------------------------------------------------------------------ formatting

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const dec = (n: number, digits = 1): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (r: number): string => `${dec(r * 100, r < 0.01 ? 2 : r < 0.1 ? 1 : 0)}%`;
const ms = (n: number): string => `${int(n)} ms`;
const runsOf = (s: Series, f: (n: number) => string = int): string => s.runs.map(f).join(' / ');
const sizeLabel = (bytes: number): string =>
  bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0
    ? `${bytes / 1024 ** 2} MiB`
    : bytes >= 1024 && bytes % 1024 === 0
      ? `${bytes / 1024} KiB`
      : `${int(bytes)} B`;

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const yesNo = (ok: boolean): string => (ok ? '**yes**' : '**no**');

// ------------------------------------------------------------------------------------------ lookups

function rawAt(f: BenchFigures, payloadBytes: number): RawBrokerFigures | undefined {
  return f.raw?.find((r) => r.payloadBytes === payloadBytes);
}

function headlineIngest(f: BenchFigures): IngestFigures[] {
  // One record per publish, as the raw bench sends one payload per publish; packed lines are shown beside.
  return (f.ingest ?? []).filter(
    (i) => i.durableWrites && i.mode === 'presealed' && (i.packMaxRecords ?? 1) === 1,
  );
}

export function ingestRatio(f: BenchFigures, i: IngestFigures): number | undefined {
  const raw = rawAt(f, i.targetEnvelopeBytes);
  return raw ? i.recordsPerSec.median / raw.msgsPerSec.median : undefined;
}

/** Signed ingest beside unsigned ingest of the same configuration in the same run: the pairs the goal judges. */
export function signedPairs(
  f: BenchFigures,
): { signed: IngestFigures; unsigned: IngestFigures; ratio: number }[] {
  const all = f.ingest ?? [];
  return all.flatMap((s) => {
    if (!s.signed) return [];
    const u = all.find(
      (x) =>
        !x.signed &&
        x.mode === s.mode &&
        x.durableWrites === s.durableWrites &&
        (x.packMaxRecords ?? 1) === (s.packMaxRecords ?? 1) &&
        x.targetEnvelopeBytes === s.targetEnvelopeBytes,
    );
    return u ? [{ signed: s, unsigned: u, ratio: s.recordsPerSec.median / u.recordsPerSec.median }] : [];
  });
}

const signedLabel = (i: IngestFigures): string => (i.signed ? 'signed (v2)' : 'unsigned (v1)');

// ------------------------------------------------------------------------------------------ sections

function header(f: BenchFigures): string {
  const m = f.machine;
  const seconds = (f.finishedAt.getTime() - f.startedAt.getTime()) / 1000;
  return `# Benchmarks

Generated by \`${f.command}\` on ${f.startedAt.toISOString()} (took ${dec(seconds, 0)} s). Regenerate with the
same command; \`bench/run.ts\` writes this whole file.

${table(
  ['Machine', ''],
  [
    ['CPU', m.cpuModel],
    ['Cores', String(m.cores)],
    ['RAM', `${dec(m.ramGiB)} GiB`],
    ['Node', m.node],
    ['OS', m.os],
    ['Load average (1 min) at start', dec(m.loadAvg, 2)],
    ['Backend data directory', m.dataDirFs],
    ['UV_THREADPOOL_SIZE', m.uvThreadpool],
  ],
)}

## How to read this

- **Ratios, not absolutes.** On a noisy shared machine every absolute figure moves from run to run, often by
  2× between repetitions; each row shows every repetition next to the median so the spread is visible. What
  carries over to another machine is the ratio to a raw limit measured in the same run: ingest against the
  raw broker at the same message size, Merkle work against SHA-256 calls per second, ingest MB/s against
  SHA-256 MB/s.
- Each figure is the median of the repetitions listed beside it.
- MB is 10^6 bytes; KiB is 1024 bytes.
- Clients (raw publishers, simulated devices) run in a worker thread, the broker and backend on the main
  thread: the two sides of each comparison share the machine the same way.
`;
}

function summary(f: BenchFigures): string {
  const rows: string[][] = [];
  for (const i of headlineIngest(f)) {
    const ratio = ingestRatio(f, i);
    rows.push([
      `Ingest, durable, ${sizeLabel(i.targetEnvelopeBytes)} envelopes, ${signedLabel(i)}, vs raw broker`,
      `≥ ${pct(INGEST_GOAL_RATIO)}`,
      ratio === undefined ? 'no raw figure' : `${pct(ratio)} (${int(i.recordsPerSec.median)} rec/s)`,
      ratio === undefined ? '–' : yesNo(ratio >= INGEST_GOAL_RATIO),
    ]);
  }
  for (const p of signedPairs(f).filter((x) => x.signed.durableWrites && x.signed.mode === 'presealed')) {
    rows.push([
      `Ingest, durable, ${sizeLabel(p.signed.targetEnvelopeBytes)} envelopes, signed vs unsigned (same run)`,
      `≥ ${pct(SIGNED_GOAL_RATIO)}`,
      `${pct(p.ratio)} (${int(p.signed.recordsPerSec.median)} vs ${int(p.unsigned.recordsPerSec.median)} rec/s)`,
      yesNo(p.ratio >= SIGNED_GOAL_RATIO),
    ]);
  }
  if (f.merkle) {
    const b = f.merkle.build;
    const full = b.leaves === MERKLE_GOAL_LEAVES;
    rows.push([
      `Merkle build + every inclusion proof, ${int(b.leaves)} leaves`,
      `< ${ms(MERKLE_GOAL_MS)}${full ? '' : ` (goal is for ${int(MERKLE_GOAL_LEAVES)})`}`,
      ms(b.totalMs.median),
      full ? yesNo(b.totalMs.median < MERKLE_GOAL_MS) : '–',
    ]);
  }
  if (rows.length === 0) return '';
  return `## Goals\n\n${table(['Goal', 'Target', 'Measured (median)', 'Met'], rows)}\n`;
}

function rawSection(f: BenchFigures): string {
  if (!f.raw?.length) return '';
  const rows = f.raw.map((r) => [
    sizeLabel(r.payloadBytes),
    String(r.publishers),
    int(r.messages),
    int(r.msgsPerSec.median),
    dec(r.mbPerSec.median),
    runsOf(r.msgsPerSec),
  ]);
  return `## 1. Raw broker: publish → subscribe

aedes (as configured in lib/runtime/mqtt-broker.ts, without authentication or topic policy) on a loopback
TCP port; ${f.publishers} mqtt.js publishers → 1 mqtt.js subscriber, QoS 1 both ways, at most 100 unacknowledged
publishes per publisher. A run ends when the subscriber has every message.

${table(['Payload', 'Publishers', 'Messages', 'msg/s', 'MB/s', 'msg/s per run'], rows)}
`;
}

function ingestSection(f: BenchFigures): string {
  if (!f.ingest?.length) return '';
  const modeLabel = (i: IngestFigures): string =>
    `${i.mode === 'presealed' ? 'pre-sealed' : 'live sealing'}, durable=${i.durableWrites}${(i.packMaxRecords ?? 1) > 1 ? `, packs of ${i.packMaxRecords}` : ''}`;
  const rows = f.ingest.map((i) => {
    const raw = rawAt(f, i.targetEnvelopeBytes);
    const ratio = ingestRatio(f, i);
    return [
      `${sizeLabel(i.targetEnvelopeBytes)} (mean ${int(i.meanEnvelopeBytes)} B)`,
      modeLabel(i),
      signedLabel(i),
      String(i.devices),
      int(i.records),
      int(i.recordsPerSec.median),
      dec(i.mbPerSec.median),
      raw ? int(raw.msgsPerSec.median) : '–',
      ratio === undefined ? '–' : pct(ratio),
      runsOf(i.recordsPerSec),
      int(i.resent),
    ];
  });
  return `## 2. Ingest end to end

The embedded runtime (\`startEmbedded\`: aedes with device authentication, the router, ingest, the SQLite
object store and index, each writing through its own writer thread) with its data directory on the machine's disk, driven by the device stub
(\`startFleet\`, rate 0, 100 records in flight per device) with as many devices as the raw bench has
publishers. A record counts once its device holds the backend's ack, which ingest sends only after the
envelope and its index entry are stored. The anchor interval is an hour, so no anchoring runs meanwhile.
Plaintext sizes are chosen so that envelopes match the raw bench's payload size.

- **pre-sealed** (the headline): the devices sealed the records into their outboxes beforehand, as a fleet
  back from being offline would have, and the timed round only sends them. This measures the backend.
- **live sealing**: the devices also build, encrypt and store each record during the timed round, in one
  worker thread; at 64 KiB that costs the simulator more CPU than ingest costs the backend, so this line
  measures the stub as much as the backend.
- **durable=true** is the runtime's default: objects and the index are committed with fsync before the ack,
  in group commits on writer threads, so the event loop never waits for the disk.
- *resent*: publishes repeated by the stub (see the method notes); they are extra work not counted as records.
- **packs of 64**: the devices send up to 64 records per publish, as the stub does by default
  (docs/envelope.md §9); every other line sends one record per publish, as the raw bench sends one payload.
  Its ratio is still records per second against 1 KiB messages per second: what a fleet gets per reading.
- **signed (v2)**: each device has an Ed25519 key registered through the operator API, seals envelope v2,
  and ingest checks every signature against the device's registered key (in the runtime's worker pool, see
  below) before it stores anything; each device also publishes one signed head when its round ends, which is
  ingested and counted in the round's time but not as a record. **unsigned (v1)**: legacy devices without a
  key (\`allowUnsigned\`). Where a line has both, they ran in alternating repetitions (signed, unsigned,
  signed, ...) on the same runtime, so load that comes and goes falls on both alike.
- Each record is a QoS 1 message in and a share of an ack message out (acks of one device in one event-loop
  turn travel together), plus envelope checks, two SHA-256s and two durable writes; the raw bench only
  forwards the message.

${table(
  [
    'Envelope',
    'Mode',
    'Signing',
    'Devices',
    'Records',
    'rec/s',
    'MB/s',
    'Raw msg/s',
    'Ingest / raw',
    'rec/s per run',
    'Resent',
  ],
  rows,
)}
`;
}

function ingestProfileSection(f: BenchFigures): string {
  const p = f.ingestProfile;
  if (!p) return '';
  const records = p.figures.records;
  const raw = rawAt(f, p.figures.targetEnvelopeBytes);
  const rows = (list: [string, number][]) =>
    list.map(([what, msTotal]) => [
      what,
      ms(msTotal),
      dec((msTotal * 1000) / records),
      pct(msTotal / p.summary.totalMs),
    ]);
  const cpu = p.figures.cpu;
  return `### Where ingest's time goes

One more round of 1 KiB unsigned records (pre-sealed, durable), with a V8 CPU profile of the backend's thread:
the broker, the router, ingest and the storage adapters' calls. It is not counted in the table above, since
profiling slows it.

- ${int(records)} records, ${int(p.figures.recordsPerSec.median)} rec/s, ${ms(p.summary.totalMs)} profiled.
- CPU per record: ${dec(cpu.mainUs.median)} µs on the main thread; ${dec(cpu.otherUs.median)} µs on the process's
  other threads (the storage writer threads, V8's garbage-collection helpers, libuv); ${dec(cpu.clientUs.median)} µs on the devices' thread.${
    raw
      ? `
- The raw broker moved 1 KiB at ${int(raw.msgsPerSec.median)} msg/s in this run. Half of that, the goal, leaves
  ${dec(1e6 / (raw.msgsPerSec.median / 2))} µs of wall time per record for all of it, on ${f.machine.cores} cores shared with the devices.`
      : ''
  }
- \`(idle)\` is the thread waiting: for the network, the writer threads or the devices.
- The profile itself: \`npm run bench -- --only ingest --cpu-prof DIR\` (the file \`profiled-*\`), then
  \`node --import tsx bench/profile-summary.ts FILE\`.

${table(['Self time, by file or package', 'ms', 'µs per record', 'Share'], rows(p.summary.byFile))}

${table(['Self time, by function', 'ms', 'µs per record', 'Share'], rows(p.summary.self.slice(0, 10)))}
`;
}

function signaturesSection(f: BenchFigures): string {
  const sg = f.signatures;
  const pairs = signedPairs(f);
  if (!sg?.rows.length && pairs.length === 0) return '';
  const verifierLabel = (r: SignatureRow): string =>
    r.verifier === 'core'
      ? '`coreVerifier`: lib/core, @noble/curves (offline verifiers)'
      : r.verifier === 'inline'
        ? '`createInlineVerifier`: node:crypto on the calling thread (Lambda)'
        : `\`createVerifierPool\`: node:crypto in ${r.threads} worker thread${r.threads === 1 ? '' : 's'}${r.threads === sg?.runtimeThreads ? ' (the runtime default here)' : ''}`;
  const checkRows = (sg?.rows ?? []).map((r) => [
    r.alg === 'ed25519' ? 'Ed25519' : 'ECDSA P-256',
    verifierLabel(r),
    int(r.checks),
    int(r.perSec.median),
    runsOf(r.perSec),
  ]);
  const pairRows = pairs.map((p) => [
    `${sizeLabel(p.signed.targetEnvelopeBytes)}, ${p.signed.mode === 'presealed' ? 'pre-sealed' : 'live sealing'}, durable=${p.signed.durableWrites}`,
    `${int(p.signed.recordsPerSec.median)} (${runsOf(p.signed.recordsPerSec)})`,
    `${int(p.unsigned.recordsPerSec.median)} (${runsOf(p.unsigned.recordsPerSec)})`,
    `**${pct(p.ratio)}**`,
    yesNo(p.ratio >= SIGNED_GOAL_RATIO),
  ]);
  return `## Device signatures: checks per second, signed beside unsigned ingest

${
  checkRows.length
    ? `Checks of device signatures over 32-byte digests (lib/ingest/signature-verifier.ts), all of a repetition asked
for at once as a busy broker turn does, each with its own digest and signature over 8 device keys; every
check must pass. P-256 signatures are low-S, as devices must send them.

${table(['Algorithm', 'Verifier', 'Checks per run', 'checks/s', 'checks/s per run'], checkRows)}
`
    : ''
}${
  pairRows.length
    ? `
Ingest of signed (v2) records against unsigned (v1) ones of the same size and mode, from section 2 (alternating
repetitions on the same runtime). Goal: signed at no less than ${pct(SIGNED_GOAL_RATIO)} of unsigned.

${table(['Envelopes', 'Signed rec/s (per run)', 'Unsigned rec/s (per run)', 'Signed / unsigned', 'Met'], pairRows)}

Where the CPU went in those rounds, per record (medians; \`process.threadCpuUsage\` of the main thread and of the
devices' worker thread, \`process.cpuUsage\` for the whole process; "other" is the rest: the signature pool,
the storage writer threads, libuv and GC). When every core is busy, a rate can be no higher than the cores
divided by the CPU each record needs, so the ratio of CPU per record bounds the signed / unsigned ratio
whatever is done with threads: "ceiling here" counts the devices' thread, which shares this machine's cores;
"ceiling, backend alone" leaves it out, as on a server whose devices are elsewhere.

${table(
  [
    'Envelopes',
    'Signing',
    'Devices µs/rec',
    'Main thread µs/rec',
    'Other threads µs/rec',
    'Backend cores busy',
    'Signed / unsigned ceiling here',
    'Ceiling, backend alone',
  ],
  cpuRows(pairs),
)}
`
    : ''
}`;
}

function cpuRows(pairs: ReturnType<typeof signedPairs>): string[][] {
  const total = (i: IngestFigures, withClient: boolean): number =>
    i.cpu.mainUs.median + i.cpu.otherUs.median + (withClient ? i.cpu.clientUs.median : 0);
  return pairs.flatMap((p) =>
    [p.signed, p.unsigned].map((i) => [
      `${sizeLabel(i.targetEnvelopeBytes)}, ${i.mode === 'presealed' ? 'pre-sealed' : 'live sealing'}, durable=${i.durableWrites}`,
      signedLabel(i),
      dec(i.cpu.clientUs.median, 0),
      dec(i.cpu.mainUs.median, 0),
      dec(i.cpu.otherUs.median, 0),
      dec(i.cpu.backendCores.median, 2),
      i.signed ? pct(total(p.unsigned, true) / total(p.signed, true)) : '',
      i.signed ? pct(total(p.unsigned, false) / total(p.signed, false)) : '',
    ]),
  );
}

function componentsSection(f: BenchFigures): string {
  if (!f.components?.length) return '';
  const rows = f.components.map((c) => [c.label, int(c.perSec.median), runsOf(c.perSec)]);
  return `### Ingest's storage steps alone

The two writes each record needs, through the runtime's own adapters on the same disk, with 256 calls in
flight (the broker's \`concurrency\`). On a quiet machine ingest cannot beat the slower of the two at the same
size; a step whose rate is close to ingest's is the one that sets its pace. (On a busy machine these runs
happen minutes apart from the ingest runs, under different load.)

${table(['Step', 'calls/s', 'calls/s per run'], rows)}
`;
}

function merkleSection(f: BenchFigures): string {
  const m = f.merkle;
  if (!m) return '';
  const b = m.build;
  const rate = m.sha256Calls.median;
  const nodeBoundMs = (b.nodeHashes / rate) * 1000;
  const twoMBoundMs = ((2 * b.leaves) / rate) * 1000;
  const rows = [
    ['`buildTree` over random leaf hashes', ms(b.buildMs.median), runsOf(b.buildMs, ms)],
    ['`inclusionProof` for every leaf', ms(b.proofsMs.median), runsOf(b.proofsMs, ms)],
    ['**Build + all proofs**', `**${ms(b.totalMs.median)}**`, runsOf(b.totalMs, ms)],
  ];
  const limits = [
    ['SHA-256 calls/s, 65-byte input (`node:crypto` `hash`)', int(rate), runsOf(m.sha256Calls)],
    [
      `Lower bound for the ${int(b.nodeHashes)} node hashes a ${int(b.leaves)}-leaf tree needs`,
      ms(nodeBoundMs),
      `build alone is ${dec(b.buildMs.median / nodeBoundMs, 2)}× it; build + proofs ${dec(b.totalMs.median / nodeBoundMs, 2)}×`,
    ],
    [
      `Lower bound for ${int(2 * b.leaves)} hashes (leaf + node hash per record, as anchoring real records costs)`,
      ms(twoMBoundMs),
      `build + proofs is ${dec(b.totalMs.median / twoMBoundMs, 2)}× it`,
    ],
  ];
  return `## 3. Merkle tree: build and every inclusion proof

${int(b.leaves)} random 32-byte leaf hashes; \`buildTree\` then \`inclusionProof\` for every index (lib/core/merkle.ts).

${table(['Step', 'Median', 'Per run'], rows)}

Raw limit measured in the same run:

${table(['Limit', 'Value', 'Per run, or ratio'], limits)}
`;
}

function verifySection(f: BenchFigures): string {
  const v = f.verify;
  if (!v) return '';
  const rate = v.sha256Calls?.median ?? f.merkle?.sha256Calls.median;
  const bound = rate ? rate / v.inclusion.meanPathLength : undefined;
  const rows = [
    [
      `\`verifyInclusion\`, ${int(v.inclusion.treeSize)}-leaf tree (mean path ${dec(v.inclusion.meanPathLength)} hashes)`,
      int(v.inclusion.perSec.median),
      runsOf(v.inclusion.perSec),
      bound
        ? `${pct(v.inclusion.perSec.median / bound)} of ${int(bound)}/s (SHA-256 calls/s ÷ path length)`
        : '–',
    ],
    [
      `\`checkProofBundle\`, full: header, ${int(v.bundle.envelopeBytes)}-byte envelope, ${v.bundle.pathLength}-hash path, anchor payload, Ed25519 ledger signature`,
      int(v.bundle.perSec.median),
      runsOf(v.bundle.perSec),
      '–',
    ],
  ];
  return `## 4. Proof verification

${table(['Check', 'per second', 'Per run', 'vs raw limit'], rows)}
`;
}

function shaSection(f: BenchFigures): string {
  const s = f.sha256;
  if (!s) return '';
  const rows = [
    [
      `SHA-256, one ${sizeLabel(s.largeBufferBytes)} buffer per call`,
      dec(s.large.median, 0),
      runsOf(s.large, (n) => dec(n, 0)),
    ],
    [
      'SHA-256, 64 KiB buffers (an ingest-size envelope per call)',
      dec(s.chunk64KiB.median, 0),
      runsOf(s.chunk64KiB, (n) => dec(n, 0)),
    ],
  ];
  const ingestRows = headlineIngest(f).map((i) => [
    `Ingest, durable, pre-sealed, ${sizeLabel(i.targetEnvelopeBytes)}`,
    dec(i.mbPerSec.median),
    pct(i.mbPerSec.median / s.large.median),
  ]);
  return `## 5. SHA-256 throughput vs ingest throughput

${table(['Limit', 'MB/s', 'Per run'], rows)}
${
  ingestRows.length
    ? `\n${table(['Ingest', 'MB/s', 'Share of SHA-256 MB/s'], ingestRows)}\n\nIngest hashes every envelope at least twice (its ciphertext hash, and the whole envelope for the object\nstore), so 50% of the SHA-256 rate would be its hashing ceiling.\n`
    : ''
}`;
}

function methodNotes(): string {
  return `## Method notes

- The device stub's outboxes live in /dev/shm when the machine has it: they stand for each device's own
  flash, and on the backend's disk their fsyncs would compete with the writes being measured.
- Each ingest repetition uses new devices on the same runtime: an untimed round provisions them and warms the
  JIT, then the timed round runs. The timed round includes the devices' MQTT connect and subscribe (a few ms).
- *Resent* counts the stub's repeated publishes (after a reconnect or an ack timeout); none are expected.
- To see where the backend's time goes: \`npm run bench -- --only ingest --cpu-prof prof/\` writes a CPU
  profile of the main thread for each timed ingest round; \`node --import tsx bench/profile-summary.ts FILE\`
  lists where its time went (or open it in Chrome DevTools or speedscope).
`;
}

export function renderReport(f: BenchFigures): string {
  return `${[
    header(f),
    summary(f),
    rawSection(f),
    ingestSection(f),
    ingestProfileSection(f),
    componentsSection(f),
    signaturesSection(f),
    merkleSection(f),
    verifySection(f),
    shaSection(f),
    ipfsSection(f.ipfs),
    chainsSection(f.chains),
    lambdaSection(f.lambda, f.ingest),
    awsCostSection(f.awsCost),
    startupCheckSection(f.startup),
    methodNotes(),
  ]
    .filter((s) => s.length > 0)
    .join('\n')
    .trimEnd()}\n`;
}
