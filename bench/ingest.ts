/**
 * Ingest end to end through the real embedded runtime (startEmbedded: aedes with device authentication, the
 * router, ingest, the file object store and the SQLite index), driven by the real device stub in a worker
 * thread. A record counts when its device has the backend's ack, which is sent only once the envelope and the
 * index entry are stored (durably, when durableWrites is on).
 */
import { performance } from 'node:perf_hooks';
import { fleetDeviceIds } from '../device-stub/fleet.js';
import { HEADER_FIXED_BYTES_V1, HEADER_FIXED_BYTES_V2, TAG_BYTES } from '../lib/core/envelope.js';
import { createLogger } from '../lib/logger.js';
import { configFromEnv } from '../lib/runtime/config.js';
import { startEmbedded } from '../lib/runtime/embedded.js';
import { type ClientResult, startClientWorker } from './client-worker.js';
import type { FleetJobResult, FleetMode } from './fleet-job.js';
import { type RunningProfile, startProfile } from './profiler.js';
import { mbPerSec, perSec, type Series, series } from './stats.js';
import { diskTempDir, ramTempDir, removeTempDir } from './temp-dirs.js';

export const DEVICE_PREFIX = 'bench';

/** Envelope header bytes for a device id of `idLength` characters (docs/envelope.md): v1, or v2 if signed. */
export function headerBytes(idLength: number, signed = false): number {
  return (signed ? HEADER_FIXED_BYTES_V2 : HEADER_FIXED_BYTES_V1) + idLength;
}

/** The plaintext size whose envelope is `envelopeBytes` long for this device id. */
export function packetBytesFor(envelopeBytes: number, deviceId: string, signed = false): number {
  return envelopeBytes - headerBytes(deviceId.length, signed) - TAG_BYTES;
}

export interface IngestOptions {
  devices: number;
  /** Total timed records over all devices, per repetition. */
  records: number;
  /** Target envelope size; the plaintext is sized to match it. */
  envelopeBytes: number;
  durableWrites: boolean;
  mode: FleetMode;
  /** Devices sign their records (v2, checked at ingest) or send legacy unsigned ones (v1). */
  signed: boolean;
  maxInFlight: number;
  /**
   * Records per publish: 1 sends each record alone, as the bench did before record packs; above 1 the devices
   * pack records as the stub does by default (docs/envelope.md §9).
   */
  packMaxRecords?: number;
  warmRecordsPerDevice: number;
  reps: number;
  timeoutMs?: number;
  /** Write a CPU profile of the backend's thread for each timed round into this directory. */
  cpuProfileDir?: string;
  onProgress?: (msg: string) => void;
}

export interface IngestFigures {
  devices: number;
  records: number;
  durableWrites: boolean;
  mode: FleetMode;
  signed: boolean;
  targetEnvelopeBytes: number;
  /** Records per publish the devices packed (1: each record alone). */
  packMaxRecords?: number;
  /** Measured: mean size of the envelopes actually stored in the timed rounds. */
  meanEnvelopeBytes: number;
  recordsPerSec: Series;
  mbPerSec: Series;
  /** Records the devices had to send again (none expected: the ack timeout is the run timeout). */
  resent: number;
  /** Where the CPU went during the timed rounds, per record stored. */
  cpu: IngestCpu;
}

/**
 * CPU per record of the timed rounds, in microseconds, split by thread: what decides how far ingest can go on
 * a machine whose cores are all busy. All of it runs in this one process.
 */
export interface IngestCpu {
  /** The simulated devices' worker thread (real devices spend this on their own CPUs). */
  clientUs: Series;
  /** The main thread: broker, router, ingest, envelope checks, hashing, acks. */
  mainUs: Series;
  /** Every other thread of the process: the signature pool, the storage writer threads, libuv, GC. */
  otherUs: Series;
  /** Cores kept busy by the backend (main + other threads), on average over the round. */
  backendCores: Series;
}

function assertComplete(r: FleetJobResult, expected: number): void {
  if (!r.ok || r.stored !== expected || r.rejected > 0) {
    throw new Error(
      `ingest run incomplete: ${r.stored}/${expected} stored, ${r.duplicate} duplicate, ${r.rejected} rejected; ${r.errors.slice(0, 3).join('; ')}`,
    );
  }
}

export async function measureIngest(o: IngestOptions): Promise<IngestFigures> {
  const dataDir = diskTempDir('data');
  const log = createLogger({ level: 'warn', write: (line) => process.stderr.write(`${line}\n`) });
  const config = configFromEnv({
    DATA_DIR: dataDir,
    MQTT_PORT: '0',
    HTTP_PORT: '0',
    HOST: '127.0.0.1',
    // An hour: no anchor cycle runs during a measurement (setInterval caps delays at 2^31-1 ms).
    ANCHOR_INTERVAL_MS: String(3_600_000),
    DURABLE_WRITES: o.durableWrites ? 'true' : 'false',
    LOG_LEVEL: 'warn',
    // The runtime's default pool unless the caller sets it (SIGNATURE_VERIFY_THREADS=0: on the event loop).
    ...(process.env.SIGNATURE_VERIFY_THREADS === undefined
      ? {}
      : { SIGNATURE_VERIFY_THREADS: process.env.SIGNATURE_VERIFY_THREADS }),
  });
  const rt = await startEmbedded(config, log);
  const perDevice = Math.max(1, Math.round(o.records / o.devices));
  const expected = perDevice * o.devices;
  const rates: number[] = [];
  const mbs: number[] = [];
  let bytesStored = 0;
  let recordsStored = 0;
  let resent = 0;
  const cpu = {
    clientUs: [] as number[],
    mainUs: [] as number[],
    otherUs: [] as number[],
    backendCores: [] as number[],
  };
  try {
    for (let r = 0; r < o.reps; r++) {
      // New devices each repetition: every timed round starts from the same state of its fleet.
      const seed = 1000 + r;
      const ids = fleetDeviceIds({ devices: o.devices, seed, prefix: DEVICE_PREFIX });
      const stateDir = ramTempDir('outbox');
      const worker = startClientWorker({
        kind: 'fleet',
        mode: o.mode,
        mqttUrl: `mqtt://127.0.0.1:${rt.mqttPort}`,
        apiUrl: rt.baseUrl,
        operatorToken: rt.operatorToken,
        stateDir,
        devices: o.devices,
        recordsPerDevice: perDevice,
        warmRecordsPerDevice: o.warmRecordsPerDevice,
        packetBytes: packetBytesFor(o.envelopeBytes, ids[0] as string, o.signed),
        maxInFlight: o.maxInFlight,
        seed,
        timeoutMs: o.timeoutMs ?? 120_000,
        signed: o.signed,
        ...(o.packMaxRecords === undefined ? {} : { packMaxRecords: o.packMaxRecords }),
      });
      try {
        await worker.ready;
        const label = `ingest-${o.envelopeBytes}-${o.mode}-durable-${o.durableWrites}-${o.signed ? 'signed' : 'unsigned'}-packs-${o.packMaxRecords ?? 1}-run-${r + 1}`;
        const profile: RunningProfile | undefined = o.cpuProfileDir
          ? await startProfile(o.cpuProfileDir, label)
          : undefined;
        let result: ClientResult;
        let ms: number;
        let clientCpuUs: number;
        let processCpuUs: number;
        let mainCpuUs: number;
        try {
          const t0 = performance.now();
          const process0 = process.cpuUsage();
          const main0 = process.threadCpuUsage();
          ({ result, cpuUs: clientCpuUs } = await worker.go());
          const main = process.threadCpuUsage(main0);
          const all = process.cpuUsage(process0);
          ms = performance.now() - t0;
          mainCpuUs = main.user + main.system;
          processCpuUs = all.user + all.system;
        } finally {
          if (profile) {
            const path = await profile.stop();
            o.onProgress?.(`cpu profile: ${path}`);
          }
        }
        if (result.kind !== 'fleet') throw new Error('fleet worker returned a raw result');
        assertComplete(result, expected);
        resent += result.resent;
        let bytes = 0;
        for (const id of ids) {
          const recs = await rt.index.listBySeq(id, {
            fromSeq: o.warmRecordsPerDevice,
            toSeq: Number.MAX_SAFE_INTEGER,
            limit: perDevice + 1,
          });
          for (const rec of recs) bytes += rec.envelopeSize;
        }
        bytesStored += bytes;
        recordsStored += expected;
        rates.push(perSec(expected, ms));
        mbs.push(mbPerSec(bytes, ms));
        const otherCpuUs = Math.max(0, processCpuUs - mainCpuUs - clientCpuUs);
        cpu.clientUs.push(clientCpuUs / expected);
        cpu.mainUs.push(mainCpuUs / expected);
        cpu.otherUs.push(otherCpuUs / expected);
        cpu.backendCores.push((mainCpuUs + otherCpuUs) / 1000 / ms);
        o.onProgress?.(
          `ingest ${o.envelopeBytes} B ${o.mode} durable=${o.durableWrites} ${o.signed ? 'signed' : 'unsigned'} run ${r + 1}/${o.reps}: ${Math.round(rates.at(-1) ?? 0)} rec/s`,
        );
      } finally {
        await worker.terminate();
        removeTempDir(stateDir);
      }
    }
  } finally {
    await rt.stop();
    removeTempDir(dataDir);
  }
  return {
    devices: o.devices,
    records: expected,
    durableWrites: o.durableWrites,
    mode: o.mode,
    signed: o.signed,
    packMaxRecords: o.packMaxRecords ?? 1,
    targetEnvelopeBytes: o.envelopeBytes,
    meanEnvelopeBytes: recordsStored ? bytesStored / recordsStored : 0,
    recordsPerSec: series(rates),
    mbPerSec: series(mbs),
    resent,
    cpu: {
      clientUs: series(cpu.clientUs),
      mainUs: series(cpu.mainUs),
      otherUs: series(cpu.otherUs),
      backendCores: series(cpu.backendCores),
    },
  };
}

/**
 * The same ingest, signed and unsigned, one repetition of each in turn: on a shared machine, load that comes
 * and goes then falls on both alike, and the ratio between them is what is compared.
 */
export async function measureSignedBesideUnsigned(
  o: Omit<IngestOptions, 'signed'>,
): Promise<{ signed: IngestFigures; unsigned: IngestFigures }> {
  const runs: Record<'signed' | 'unsigned', IngestFigures[]> = { signed: [], unsigned: [] };
  for (let r = 0; r < o.reps; r++) {
    for (const signed of [true, false]) {
      runs[signed ? 'signed' : 'unsigned'].push(
        await measureIngest({
          ...o,
          signed,
          reps: 1,
          onProgress: (m) => o.onProgress?.(`${m} (pair ${r + 1}/${o.reps})`),
        }),
      );
    }
  }
  return { signed: mergeRuns(runs.signed), unsigned: mergeRuns(runs.unsigned) };
}

/** One figure from single-repetition figures of the same configuration. */
function mergeRuns(figs: IngestFigures[]): IngestFigures {
  const first = figs[0];
  if (!first) throw new RangeError('no runs to merge');
  const records = figs.reduce((a, f) => a + f.records, 0);
  return {
    ...first,
    records: first.records,
    meanEnvelopeBytes: figs.reduce((a, f) => a + f.meanEnvelopeBytes * f.records, 0) / records,
    recordsPerSec: series(figs.flatMap((f) => f.recordsPerSec.runs)),
    mbPerSec: series(figs.flatMap((f) => f.mbPerSec.runs)),
    resent: figs.reduce((a, f) => a + f.resent, 0),
    cpu: {
      clientUs: series(figs.flatMap((f) => f.cpu.clientUs.runs)),
      mainUs: series(figs.flatMap((f) => f.cpu.mainUs.runs)),
      otherUs: series(figs.flatMap((f) => f.cpu.otherUs.runs)),
      backendCores: series(figs.flatMap((f) => f.cpu.backendCores.runs)),
    },
  };
}
