/**
 * `npm run bench`: measures the raw limits and the system against them in one run and writes BENCHMARKS.md
 * at the repository root. Progress goes to stderr. See the "How to read this" section of the output.
 *
 *   --publishers N   publishers in the raw bench and devices in the ingest bench (default 4)
 *   --only LIST      comma-separated subset: raw,ingest,signatures,components,merkle,
 *                    verify,sha256,ipfs,chains,lambda,aws-cost,startup
 *   --quick          toy sizes, to check the script itself in seconds
 *   --out FILE       where to write; "-" for stdout. Default BENCHMARKS.md, or stdout with --only/--quick,
 *                    so a partial run never overwrites the full report
 *   --cpu-prof DIR   CPU profile of the backend thread for each timed ingest round
 *   --basic-ingest on|off       aws-cost: devices publish by Basic Ingest (default on) or through the broker
 *   --records-per-publish N     aws-cost: records in one publish, as a record pack when more than 1 (default 64,
 *                               the device stub's PACK_MAX_RECORDS)
 *
 * SIGNATURE_VERIFY_THREADS in the environment sets the ingest runtime's verifier pool (default: the runtime's).
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_PACK_MAX_RECORDS } from '../device-stub/device.js';
import { configFromEnv } from '../lib/runtime/config.js';
import { AWS_COST_DEFAULTS, type AwsCostOptions } from './aws-cost-model.js';
import type { ChainBenchOptions } from './chains.js';
import { type ComponentFigures, measureIndexPuts, measureObjectPuts } from './components.js';
import { existingExportSection, spliceExportSection } from './export.js';
import type { FleetMode } from './fleet-job.js';
import { type IngestFigures, measureIngest, measureSignedBesideUnsigned } from './ingest.js';
import type { IpfsPinBenchOptions } from './ipfs-pin.js';
import type { LambdaIngestOptions } from './lambda-ingest.js';
import { machineInfo } from './machine.js';
import { measureBuildAndProofs, measureVerifyInclusion } from './merkle.js';
import { type CpuProfile, summarise } from './profile-summary.js';
import { measureProofBundleChecks } from './proof-bundle.js';
import { measureRawBroker, type RawBrokerFigures } from './raw-broker.js';
import { type BenchFigures, ingestRatio, renderReport } from './report.js';
import { sha256MBPerSec, sha256SmallCallsPerSec } from './sha256.js';
import { measureSignatureChecks, type SignatureBenchOptions } from './signatures.js';
import { existingSoakSection, spliceSoakSection } from './soak.js';
import { measureStartupChecks } from './startup-check.js';
import { MiB, progress } from './stats.js';
import { diskTempDir, removeAllTempDirs, removeTempDir } from './temp-dirs.js';

const SECTIONS = [
  'raw',
  'ingest',
  'signatures',
  'components',
  'merkle',
  'verify',
  'sha256',
  'ipfs',
  'chains',
  'lambda',
  'aws-cost',
  'startup',
] as const;
type Section = (typeof SECTIONS)[number];

const KiB = 1024;
const SIZES = [1 * KiB, 64 * KiB];
const MAX_IN_FLIGHT = 100;

/** Sizes chosen so that the full run stays under about three minutes on a busy 2-core machine. */
interface Plan {
  rawMessages: Record<number, number>;
  rawWarmPerPublisher: Record<number, number>;
  rawReps: number;
  /**
   * Ingest lines. `signed: 'both'` measures signed and unsigned devices in alternating repetitions of the same
   * configuration, for the signed/unsigned ratio.
   */
  ingest: {
    mode: FleetMode;
    durable: boolean;
    signed: boolean | 'both';
    /** Sizes absent here are not run on this line. */
    records: Record<number, number>;
    reps: number;
    /** Records per publish, as the stub packs them (docs/envelope.md §9); 1 if absent. */
    packs?: number;
  }[];
  ingestWarmPerDevice: number;
  /** Records of the one profiled ingest round (1 KiB, unsigned), not counted in the figures above. */
  ingestProfileRecords: number;
  objectPuts: Record<number, number>;
  indexPuts: number;
  componentReps: number;
  merkleLeaves: number;
  merkleReps: number;
  sha256Calls: number;
  verifyTreeSize: number;
  verifyCount: number;
  bundleCount: number;
  verifyReps: number;
  shaLargeBytes: number;
  shaTotalBytes: number;
  shaReps: number;
  /** measureIpfsPin's sizes and volumes (its defaults when empty). */
  ipfs: Omit<IpfsPinBenchOptions, 'onProgress'>;
  /** Records arriving, and for how long, while anchoring to three chains (bench/chains.ts). */
  chains: Omit<ChainBenchOptions, 'onProgress'>;
  /** Ingest through the Lambda entry point on the emulators (bench/lambda-ingest.ts). */
  lambda: Omit<LambdaIngestOptions, 'onProgress'>;
  /** Billable AWS units per record on the emulators, priced (bench/aws-cost.ts). */
  awsCost: Omit<AwsCostOptions, 'onProgress'>;
  /** Signature checks per second (bench/signatures.ts); the runtime's default pool size is always added. */
  signatures: Omit<SignatureBenchOptions, 'onProgress'>;
  /** Stores of this many anchored batches for the startup checks (bench/startup-check.ts). */
  startup: { batchCounts: number[]; reps: number };
}

const FULL: Plan = {
  rawMessages: { [KiB]: 60_000, [64 * KiB]: 6_000 },
  rawWarmPerPublisher: { [KiB]: 250, [64 * KiB]: 50 },
  rawReps: 3,
  ingest: [
    {
      mode: 'presealed',
      durable: true,
      signed: 'both',
      records: { [KiB]: 10_000, [64 * KiB]: 2_400 },
      reps: 3,
    },
    {
      mode: 'presealed',
      durable: false,
      signed: true,
      records: { [KiB]: 10_000, [64 * KiB]: 2_400 },
      reps: 2,
    },
    { mode: 'live', durable: true, signed: true, records: { [KiB]: 6_000, [64 * KiB]: 1_600 }, reps: 1 },
    // What a fleet gets from the stub's defaults: 1 KiB records in packs of 64. At 64 KiB a pack holds one.
    { mode: 'presealed', durable: true, signed: true, records: { [KiB]: 20_000 }, reps: 3, packs: 64 },
  ],
  signatures: { coreChecks: 400, nodeChecks: 20_000, poolThreads: [], reps: 3 },
  ingestWarmPerDevice: 50,
  ingestProfileRecords: 10_000,
  objectPuts: { [KiB]: 3_000, [64 * KiB]: 1_000 },
  indexPuts: 20_000,
  componentReps: 2,
  merkleLeaves: 1_000_000,
  merkleReps: 3,
  sha256Calls: 1_000_000,
  verifyTreeSize: 1_000_000,
  verifyCount: 50_000,
  bundleCount: 3_000,
  verifyReps: 3,
  shaLargeBytes: 64 * MiB,
  shaTotalBytes: 256 * MiB,
  shaReps: 3,
  ipfs: {},
  chains: { durationMs: 20_000, recordsPerSecond: 300, targetMs: 3_000 },
  lambda: { devices: 4, records: 2_000, envelopeBytes: KiB, concurrency: 32, reps: 3 },
  awsCost: { ...AWS_COST_DEFAULTS, devices: 4, records: 1_024, basicIngest: true },
  startup: { batchCounts: [1_000, 10_000], reps: 3 },
};

const QUICK: Plan = {
  rawMessages: { [KiB]: 2_000, [64 * KiB]: 200 },
  rawWarmPerPublisher: { [KiB]: 20, [64 * KiB]: 5 },
  rawReps: 1,
  ingest: [
    { mode: 'presealed', durable: true, signed: 'both', records: { [KiB]: 400, [64 * KiB]: 100 }, reps: 1 },
    { mode: 'live', durable: true, signed: true, records: { [KiB]: 400, [64 * KiB]: 100 }, reps: 1 },
  ],
  signatures: { coreChecks: 20, nodeChecks: 500, poolThreads: [], reps: 1 },
  ingestWarmPerDevice: 5,
  ingestProfileRecords: 200,
  objectPuts: { [KiB]: 200, [64 * KiB]: 50 },
  indexPuts: 1_000,
  componentReps: 1,
  merkleLeaves: 10_000,
  merkleReps: 1,
  sha256Calls: 20_000,
  verifyTreeSize: 10_000,
  verifyCount: 1_000,
  bundleCount: 100,
  verifyReps: 1,
  shaLargeBytes: 4 * MiB,
  shaTotalBytes: 8 * MiB,
  shaReps: 1,
  ipfs: { sizes: [4 * KiB, 128 * KiB], bytesPerRun: MiB, maxPinsPerRun: 40, reps: 1 },
  chains: { durationMs: 4_000, recordsPerSecond: 100, targetMs: 3_000 },
  lambda: { devices: 2, records: 100, envelopeBytes: KiB, concurrency: 8, reps: 1 },
  awsCost: { ...AWS_COST_DEFAULTS, devices: 2, records: 50, basicIngest: true },
  startup: { batchCounts: [200], reps: 1 },
};

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      publishers: { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'basic-ingest': { type: 'string' },
      'records-per-publish': { type: 'string' },
    },
    strict: true,
  });
  const basicIngest = values['basic-ingest'] ?? 'on';
  if (basicIngest !== 'on' && basicIngest !== 'off') fail('--basic-ingest is on or off');
  const recordsPerPublish = Number(values['records-per-publish'] ?? DEFAULT_PACK_MAX_RECORDS);
  if (!Number.isInteger(recordsPerPublish) || recordsPerPublish < 1)
    fail('--records-per-publish must be a positive integer');
  const publishers = values.publishers === undefined ? 4 : Number(values.publishers);
  if (!Number.isInteger(publishers) || publishers < 1) fail('--publishers must be a positive integer');
  const only = values.only?.split(',').map((s) => s.trim());
  for (const s of only ?? []) {
    if (!(SECTIONS as readonly string[]).includes(s))
      fail(`unknown section ${s}; one of ${SECTIONS.join(',')}`);
  }
  const partial = Boolean(values.quick) || only !== undefined;
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const plan = values.quick ? QUICK : FULL;
  return {
    publishers,
    sections: new Set<Section>((only as Section[] | undefined) ?? SECTIONS),
    plan: { ...plan, awsCost: { ...plan.awsCost, basicIngest: basicIngest === 'on', recordsPerPublish } },
    out: values.out ?? (partial ? '-' : `${repoRoot}BENCHMARKS.md`),
    cpuProfileDir: values['cpu-prof'],
  };
}

function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node --disable-warning=ExperimentalWarning --import tsx bench/run.ts${args ? ` ${args}` : ''}`;
}

async function main(): Promise<void> {
  const o = parseOptions();
  const { plan } = o;
  const has = (s: Section) => o.sections.has(s);
  const startedAt = new Date();
  const figures: BenchFigures = {
    startedAt,
    finishedAt: startedAt,
    command: commandLine(),
    machine: machineInfo(tmpdir()),
    publishers: o.publishers,
  };
  progress(
    `machine: ${figures.machine.cpuModel}, ${figures.machine.cores} cores, load ${figures.machine.loadAvg}`,
  );

  if (has('raw') || has('ingest')) {
    // The ratio needs the raw rate at each size, so ingest alone still measures it.
    const raw: RawBrokerFigures[] = [];
    for (const size of SIZES) {
      progress(`raw broker, ${size} B payloads`);
      raw.push(
        await measureRawBroker({
          publishers: o.publishers,
          messages: plan.rawMessages[size] as number,
          payloadBytes: size,
          maxInFlight: MAX_IN_FLIGHT,
          warmMessages: plan.rawWarmPerPublisher[size] as number,
          reps: plan.rawReps,
          onProgress: progress,
        }),
      );
    }
    figures.raw = raw;
  }

  if (has('ingest')) {
    const ingest: IngestFigures[] = [];
    for (const line of plan.ingest) {
      for (const size of SIZES) {
        if (line.records[size] === undefined) continue;
        progress(
          `ingest, ${size} B envelopes, ${line.mode}, durable=${line.durable}, signed=${line.signed}, packs of ${line.packs ?? 1}`,
        );
        const common = {
          devices: o.publishers,
          records: line.records[size] as number,
          envelopeBytes: size,
          durableWrites: line.durable,
          mode: line.mode,
          maxInFlight: MAX_IN_FLIGHT,
          warmRecordsPerDevice: plan.ingestWarmPerDevice,
          reps: line.reps,
          ...(line.packs === undefined ? {} : { packMaxRecords: line.packs }),
          ...(o.cpuProfileDir ? { cpuProfileDir: o.cpuProfileDir } : {}),
          onProgress: progress,
        };
        const figs =
          line.signed === 'both'
            ? Object.values(await measureSignedBesideUnsigned(common))
            : [await measureIngest({ ...common, signed: line.signed })];
        for (const fig of figs) {
          ingest.push(fig);
          const ratio = ingestRatio({ ...figures, ingest }, fig);
          if (ratio !== undefined)
            progress(
              `  → ${fig.signed ? 'signed' : 'unsigned'}: ${(ratio * 100).toFixed(1)}% of the raw broker rate`,
            );
        }
      }
    }
    figures.ingest = ingest;

    // One more round, profiled and not counted: where the backend thread's time goes (issue 12, part 8).
    progress('ingest profile: 1 KiB, unsigned, pre-sealed, durable, one profiled round');
    const dir = diskTempDir('profile');
    try {
      const fig = await measureIngest({
        devices: o.publishers,
        records: plan.ingestProfileRecords,
        envelopeBytes: KiB,
        durableWrites: true,
        mode: 'presealed',
        signed: false,
        maxInFlight: MAX_IN_FLIGHT,
        warmRecordsPerDevice: plan.ingestWarmPerDevice,
        reps: 1,
        cpuProfileDir: dir,
        onProgress: progress,
      });
      const file = readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no CPU profile written to ${dir}`);
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
      figures.ingestProfile = { figures: fig, summary: summarise(profile, 14) };
      if (o.cpuProfileDir) copyFileSync(join(dir, file), join(o.cpuProfileDir, `profiled-${file}`));
    } finally {
      removeTempDir(dir);
    }
  }

  if (has('signatures')) {
    const threads = configFromEnv({}).signatureVerifyThreads;
    const poolThreads = [...new Set([...plan.signatures.poolThreads, threads].filter((t) => t > 0))];
    progress(`signature checks per second (pool of ${poolThreads.join(', ')} thread(s))`);
    figures.signatures = {
      rows: await measureSignatureChecks({ ...plan.signatures, poolThreads, onProgress: progress }),
      runtimeThreads: threads,
    };
  }

  if (has('components')) {
    const components: ComponentFigures[] = [];
    for (const durable of [true, false]) {
      for (const size of SIZES) {
        progress(`SqliteObjectStore.put, ${size} B, durable=${durable}`);
        components.push(
          await measureObjectPuts({
            bodyBytes: size,
            count: plan.objectPuts[size] as number,
            devices: o.publishers,
            durable,
            reps: plan.componentReps,
          }),
        );
      }
    }
    progress('SqliteIndexStore.putRecord');
    components.push(
      await measureIndexPuts({ count: plan.indexPuts, devices: o.publishers, reps: plan.componentReps }),
    );
    figures.components = components;
  }

  if (has('merkle') || has('verify')) {
    progress(`SHA-256 calls/s on 65-byte inputs`);
    const sha256Calls = await sha256SmallCallsPerSec(plan.sha256Calls, plan.merkleReps);
    if (has('merkle')) {
      progress(`Merkle build + all proofs, ${plan.merkleLeaves} leaves`);
      figures.merkle = { build: measureBuildAndProofs(plan.merkleLeaves, plan.merkleReps), sha256Calls };
    }
    if (has('verify')) {
      progress(`verifyInclusion, ${plan.verifyTreeSize}-leaf tree`);
      const inclusion = measureVerifyInclusion(plan.verifyTreeSize, plan.verifyCount, plan.verifyReps);
      progress('checkProofBundle');
      const bundle = measureProofBundleChecks(plan.verifyTreeSize, 1024, plan.bundleCount, plan.verifyReps);
      figures.verify = { inclusion, bundle, sha256Calls };
    }
  }

  if (has('sha256')) {
    progress('SHA-256 MB/s');
    figures.sha256 = {
      largeBufferBytes: plan.shaLargeBytes,
      large: await sha256MBPerSec(plan.shaLargeBytes, plan.shaTotalBytes, plan.shaReps),
      chunk64KiB: await sha256MBPerSec(64 * KiB, plan.shaTotalBytes, plan.shaReps),
    };
  }

  if (has('ipfs')) {
    progress('IPFS pins through KuboPinner to the embedded endpoint');
    const { measureIpfsPin } = await import('./ipfs-pin.js');
    figures.ipfs = await measureIpfsPin({ ...plan.ipfs, onProgress: progress });
  }

  if (has('chains')) {
    progress('anchoring to three chains under a budget');
    const { measureChains } = await import('./chains.js');
    figures.chains = await measureChains({ ...plan.chains, onProgress: progress });
  }

  if (has('lambda')) {
    progress('ingest through the Lambda entry point against dynalite and s3rver');
    const { measureLambdaIngest } = await import('./lambda-ingest.js');
    figures.lambda = await measureLambdaIngest({ ...plan.lambda, onProgress: progress });
  }

  if (has('aws-cost')) {
    progress('billable AWS units per record on the emulators');
    const { measureAwsCost } = await import('./aws-cost.js');
    figures.awsCost = await measureAwsCost({ ...plan.awsCost, onProgress: progress });
    progress(`  → $${figures.awsCost.dollarsPerMillion.toFixed(2)} per million records`);
  }

  if (has('startup')) {
    progress('startup checks of the embedded store');
    figures.startup = await measureStartupChecks({ ...plan.startup, onProgress: progress });
  }

  figures.finishedAt = new Date();
  const md = renderReport(figures);
  if (o.out === '-') process.stdout.write(md);
  else {
    // `npm run soak` owns its section; a bench run keeps it as it was.
    const previous = existsSync(o.out) ? readFileSync(o.out, 'utf8') : '';
    const soak = existingSoakSection(previous);
    const exported = existingExportSection(previous);
    const withSoak = soak ? spliceSoakSection(md, soak) : md;
    writeFileSync(o.out, exported ? spliceExportSection(withSoak, exported) : withSoak);
    progress(`wrote ${o.out}`);
  }
  progress(`done in ${((figures.finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s`);
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    removeAllTempDirs();
    process.exit(code);
  });
}

main().then(
  // Explicit exit: a client library's leftover timer must not keep a finished bench alive.
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
