/**
 * A fleet of simulated devices sharing one outbox file. Device ids are `<prefix>-<seed>-<n>` so the same seed
 * gives the same devices, keys and readings, and a second run continues their sequences.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SigAlg } from '../lib/core/device-signature.js';
import { ZERO_HASH } from '../lib/core/envelope.js';
import { type DeviceResult, type DeviceTls, SimulatedDevice } from './device.js';
import { Outbox } from './outbox.js';
import { provision, registerSigningKey } from './provisioning.js';
import { simulatedMasterKey } from './readings.js';
import { SigningKeyStore } from './signing-key-store.js';

export interface FleetOptions {
  devices: number;
  records: number;
  ratePerSecond: number;
  packetBytes: number;
  seed: number;
  prefix: string;
  mqttUrl: string;
  apiUrl: string;
  operatorToken: string;
  stateDir: string;
  maxInFlight: number;
  /** Called with every publish of every device (tests read what the devices sent). */
  onPublish?: (deviceId: string, topic: string, payload: Buffer | string) => void;
  /** Record packs (device-stub/device.ts DeviceOptions): absent, the device's defaults. */
  packMaxRecords?: number;
  packMaxBytes?: number;
  packLingerMs?: number;
  ackTimeoutMs: number;
  timeoutMs: number;
  publishAsDeviceId?: string;
  /**
   * TLS. `ca` (PEM) is the CA the devices trust for the broker, the API and upload URLs. With `dir`, mutual
   * TLS (AWS IoT, or the embedded runtime with TLS_CLIENT_CA_FILE): `dir` holds `<deviceId>.cert.pem` and
   * `<deviceId>.key.pem` per device, and devices connect without a password.
   */
  tls?: { dir?: string; ca?: string; alpn?: string[] };
  /** Most publishes per second per device connection (default 90, under AWS IoT's 100). */
  maxPublishesPerSecond?: number;
  /** MQTT clean sessions instead of persistent ones (default false: persistent, as on AWS IoT). */
  cleanSession?: boolean;
  /** Publish by Basic Ingest to the stage's rules, named with this prefix (default: plain topics). */
  basicIngestRulePrefix?: string;
  /** Register master keys through the operator API first (default true). */
  provision?: boolean;
  /** Use these ids instead of prefix-seed-n (tests). */
  deviceIds?: string[];
  /** Legacy v1 devices: no signing key, unsigned envelopes, no heads (default false). */
  unsigned?: boolean;
  /** Algorithm of a signing key made now (first run, or a rotation); an existing key keeps its own. */
  sigAlg?: SigAlg;
  /** Milliseconds between heads while records are sealed (default 60 s); 0: only before a clean exit. */
  headIntervalMs?: number;
  /** Rotate every device's signing key (to `sigAlg`) after draining its outbox, before sealing new records. */
  rotateKey?: boolean;
}

export interface FleetResult {
  devices: DeviceResult[];
  created: number;
  stored: number;
  duplicate: number;
  rejected: number;
  acked: number;
  /** Heads acknowledged, over all devices. */
  heads: number;
  /** Devices whose key rotation was acknowledged. */
  rotated: number;
  outboxLeft: number;
  elapsedMs: number;
  ok: boolean;
}

export function fleetDeviceIds(o: Pick<FleetOptions, 'devices' | 'seed' | 'prefix'>): string[] {
  return Array.from(
    { length: o.devices },
    (_, i) => `${o.prefix}-${o.seed}-${String(i + 1).padStart(4, '0')}`,
  );
}

/** Certificate and key from the TLS directory, or the password from provisioning; and the CA to trust. */
function deviceCredentials(
  o: FleetOptions,
  deviceId: string,
  password: string | undefined,
): { tls?: DeviceTls; password?: string } {
  const ca = { ...(o.tls?.ca ? { ca: o.tls.ca } : {}), ...(o.tls?.alpn ? { alpn: o.tls.alpn } : {}) };
  const dir = o.tls?.dir;
  if (dir) {
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    return { tls: { cert: read(`${deviceId}.cert.pem`), key: read(`${deviceId}.key.pem`), ...ca } };
  }
  return {
    ...(Object.keys(ca).length > 0 ? { tls: ca } : {}),
    ...(password === undefined ? {} : { password }),
  };
}

export interface RunningFleet {
  result: Promise<FleetResult>;
  stop(): void;
}

export const DEFAULT_HEAD_INTERVAL_MS = 60_000;

export function startFleet(o: FleetOptions): RunningFleet {
  const outbox = new Outbox(join(o.stateDir, 'outbox.sqlite'));
  const keys = o.unsigned ? undefined : new SigningKeyStore(o.stateDir);
  const devices: SimulatedDevice[] = [];
  let stopped = false;
  const started = Date.now();

  const result = (async (): Promise<FleetResult> => {
    const ids = o.deviceIds ?? fleetDeviceIds(o);
    const passwords = new Map<string, string>();
    // Provision a few at a time: it is an HTTP call plus a key wrap each.
    for (let i = 0; i < ids.length; i += 16) {
      await Promise.all(
        ids.slice(i, i + 16).map(async (deviceId) => {
          let state = outbox.getDevice(deviceId);
          if (!state) {
            outbox.createDevice({
              deviceId,
              masterKey: simulatedMasterKey(o.seed, deviceId),
              password: null,
              nextSeq: 0,
              prevHash: ZERO_HASH,
            });
            state = outbox.getDevice(deviceId);
          }
          if (!state) throw new Error(`cannot create state for ${deviceId}`);
          // Made before provisioning, so that only its public half is ever sent; reused on every later run.
          let key = keys?.loadOrCreate(deviceId, o.sigAlg ?? 'ed25519');
          const publicKey = key ? { alg: key.key.alg, publicKey: key.key.publicKey } : undefined;
          if (!state.password && o.provision !== false) {
            const p = await provision(o.apiUrl, o.operatorToken, deviceId, state.masterKey, {
              signingKey: publicKey,
              ca: o.tls?.ca,
            });
            outbox.setPassword(deviceId, p.password);
            state.password = p.password;
            if (p.keyRegistered && keys) key = keys.markRegistered(deviceId);
          }
          // A device provisioned before it had a key (or whose registration was cut short) registers it now.
          if (key && publicKey && !key.registered && o.provision !== false) {
            await registerSigningKey(o.apiUrl, o.operatorToken, deviceId, publicKey, o.tls?.ca);
            key = keys?.markRegistered(deviceId);
          }
          if (state.password) passwords.set(deviceId, state.password);
        }),
      );
    }
    if (stopped) throw new Error('stopped during provisioning');
    for (const deviceId of ids) {
      devices.push(
        new SimulatedDevice({
          deviceId,
          ...deviceCredentials(o, deviceId, passwords.get(deviceId)),
          outbox,
          mqttUrl: o.mqttUrl,
          records: o.records,
          ratePerSecond: o.ratePerSecond,
          packetBytes: o.packetBytes,
          seed: o.seed,
          maxInFlight: o.maxInFlight,
          ...(o.packMaxRecords === undefined ? {} : { packMaxRecords: o.packMaxRecords }),
          ...(o.onPublish
            ? {
                onPublish: (topic: string, _at: number, payload: Buffer | string) =>
                  o.onPublish?.(deviceId, topic, payload),
              }
            : {}),
          ...(o.packMaxBytes === undefined ? {} : { packMaxBytes: o.packMaxBytes }),
          ...(o.packLingerMs === undefined ? {} : { packLingerMs: o.packLingerMs }),
          ackTimeoutMs: o.ackTimeoutMs,
          ...(o.publishAsDeviceId === undefined ? {} : { publishAsDeviceId: o.publishAsDeviceId }),
          ...(o.maxPublishesPerSecond === undefined
            ? {}
            : { maxPublishesPerSecond: o.maxPublishesPerSecond }),
          ...(o.cleanSession === undefined ? {} : { cleanSession: o.cleanSession }),
          ...(o.basicIngestRulePrefix === undefined
            ? {}
            : { basicIngestRulePrefix: o.basicIngestRulePrefix }),
          ...(keys
            ? {
                keys,
                headIntervalMs: o.headIntervalMs ?? DEFAULT_HEAD_INTERVAL_MS,
                ...(o.rotateKey ? { rotateTo: o.sigAlg ?? 'ed25519' } : {}),
              }
            : {}),
        }),
      );
    }
    const timer = setTimeout(() => {
      for (const d of devices)
        d.stop('timeout', `not every record was acknowledged within ${o.timeoutMs} ms`);
    }, o.timeoutMs);
    const results = await Promise.all(devices.map((d) => d.run()));
    clearTimeout(timer);
    const sum = (f: (r: DeviceResult) => number) => results.reduce((a, r) => a + f(r), 0);
    const outboxLeft = outbox.countPending();
    outbox.close();
    const rejected = sum((r) => r.rejected.length);
    return {
      devices: results,
      created: sum((r) => r.created),
      stored: sum((r) => r.stored),
      duplicate: sum((r) => r.duplicate),
      rejected,
      acked: sum((r) => r.stored + r.duplicate),
      heads: sum((r) => r.heads),
      rotated: results.filter((r) => r.rotated).length,
      outboxLeft,
      elapsedMs: Date.now() - started,
      ok:
        outboxLeft === 0 &&
        rejected === 0 &&
        results.every((r) => !r.error && r.refusedStatements.length === 0),
    };
  })();

  return {
    result,
    stop: () => {
      stopped = true;
      for (const d of devices) d.stop();
    },
  };
}
