/**
 * The device side of the ingest bench: the real device stub (startFleet) in up to three rounds over the same
 * devices, which continue their sequences and hash chains from round to round:
 *
 *   1. warm-up: provisions the devices and warms the JIT on both sides (untimed);
 *   2. sealing (pre-sealed mode only): the devices seal every record of the timed round into their outboxes
 *      while the broker is unreachable, like a fleet that was offline (untimed);
 *   3. the timed round: in pre-sealed mode the devices only send their backlog, as fast as acks allow; in
 *      live mode they seal each record during the round as well.
 *
 * Pre-sealed is what measures the backend: sealing a 64 KiB packet of JSON readings costs the stub more CPU
 * than ingesting it costs the backend, and real devices pay that on their own CPUs.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FleetResult, startFleet } from '../device-stub/fleet.js';
import { Outbox } from '../device-stub/outbox.js';

export type FleetMode = 'presealed' | 'live';

export interface FleetJob {
  kind: 'fleet';
  mode: FleetMode;
  mqttUrl: string;
  apiUrl: string;
  operatorToken: string;
  /** The devices' outboxes; the device's own flash, not the backend's disk. */
  stateDir: string;
  devices: number;
  /** Records per device in the timed round. */
  recordsPerDevice: number;
  warmRecordsPerDevice: number;
  packetBytes: number;
  maxInFlight: number;
  /**
   * Records per MQTT message (device-stub/device.ts). Default 1: the ingest figures are of lone records, one
   * per publish, as they were before record packs existed, so they stay comparable with earlier runs.
   */
  packMaxRecords?: number;
  seed: number;
  timeoutMs: number;
  /** Signed devices (envelope v2, a head at the end of each round) or legacy unsigned ones (v1). */
  signed: boolean;
}

export interface FleetJobResult {
  kind: 'fleet';
  acked: number;
  stored: number;
  duplicate: number;
  rejected: number;
  /** Records a device published again before their ack came (see the report's method notes). */
  resent: number;
  ok: boolean;
  errors: string[];
}

export interface PreparedFleet {
  go(): Promise<FleetJobResult>;
  close(): Promise<void>;
}

function launch(job: FleetJob, over: { records: number; mqttUrl?: string; maxInFlight?: number }) {
  return startFleet({
    devices: job.devices,
    records: over.records,
    ratePerSecond: 0,
    packetBytes: job.packetBytes,
    seed: job.seed,
    prefix: 'bench',
    mqttUrl: over.mqttUrl ?? job.mqttUrl,
    apiUrl: job.apiUrl,
    operatorToken: job.operatorToken,
    stateDir: job.stateDir,
    maxInFlight: over.maxInFlight ?? job.maxInFlight,
    packMaxRecords: job.packMaxRecords ?? 1,
    // As long as the whole round: a slow durable run must not trigger resends, which would count work twice.
    ackTimeoutMs: job.timeoutMs,
    timeoutMs: job.timeoutMs,
    unsigned: !job.signed,
    // One head per device at the end of a round: no periodic heads inside a timed round.
    headIntervalMs: 0,
  });
}

function summarise(r: FleetResult): FleetJobResult {
  return {
    kind: 'fleet',
    acked: r.acked,
    stored: r.stored,
    duplicate: r.duplicate,
    rejected: r.rejected,
    resent: r.devices.reduce((a, d) => a + d.resent, 0),
    ok: r.ok,
    errors: r.devices.flatMap((d) => (d.error ? [`${d.deviceId}: ${d.error.code} ${d.error.message}`] : [])),
  };
}

/** A loopback port that refuses connections: bound once by us, then released. */
async function refusingUrl(): Promise<string> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `mqtt://127.0.0.1:${port}`;
}

async function sealBacklog(job: FleetJob): Promise<void> {
  const total = job.devices * job.recordsPerDevice;
  // The generator stays at most a window ahead of the wire; a window of the whole round lets it seal all.
  const fleet = launch(job, {
    records: job.recordsPerDevice,
    mqttUrl: await refusingUrl(),
    maxInFlight: job.recordsPerDevice,
  });
  const outbox = new Outbox(join(job.stateDir, 'outbox.sqlite'));
  const deadline = Date.now() + job.timeoutMs;
  try {
    while (outbox.countPending() < total) {
      if (Date.now() > deadline) throw new Error(`sealing ${total} records took over ${job.timeoutMs} ms`);
      await sleep(20);
    }
  } finally {
    outbox.close();
    fleet.stop();
  }
  // Stopping is how this round ends, so its "not everything was acked" result is expected.
  await fleet.result.catch(() => undefined);
}

export async function prepareFleet(job: FleetJob): Promise<PreparedFleet> {
  const warm = summarise(await launch(job, { records: job.warmRecordsPerDevice }).result);
  if (!warm.ok) throw new Error(`warm-up round failed: ${warm.errors.join('; ') || 'records left'}`);
  if (job.mode === 'presealed') await sealBacklog(job);
  return {
    go: async () =>
      summarise(await launch(job, { records: job.mode === 'presealed' ? 0 : job.recordsPerDevice }).result),
    close: async () => undefined,
  };
}
