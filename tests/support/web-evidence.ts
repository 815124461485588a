/**
 * Real evidence for the browser verifier's test and screenshots, made by the real runtime (a child process,
 * tests/support/runtime.ts) from records a simulated device sent over MQTT (device-stub), anchored on the
 * embedded ledger:
 *
 * - a proof bundle and its stored envelope, and the same bundle with one character changed;
 * - the released keys of the device's records (POST /v1/devices/{id}/key-release);
 * - an export archive with a gap: the operator deletes one record from the index behind the server's back (as
 *   tests/e2e/truncation.test.ts does), then the archive is downloaded from GET /v1/devices/{id}/export
 *   (docs/export.md) with the envelopes.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { readingsPacket } from '../../device-stub/readings.js';
import { SigningKeyStore } from '../../device-stub/signing-key-store.js';
import { toHex } from '../../lib/core/bytes.js';
import { CompletenessDocument, checkCompleteness } from '../../lib/core/completeness.js';
import type { ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from './runtime.js';

export interface WebEvidence {
  dir: string;
  deviceId: string;
  records: number;
  gapSeq: number;
  ledgerKey: string;
  /** `<deviceId>=<keyId>` of the device's registered signing key. */
  devicePin: string;
  bundle: string;
  envelope: string;
  tamperedBundle: string;
  /** What was changed in the tampered bundle, for messages. */
  tamperedField: string;
  keys: string;
  archive: string;
  /** The plaintext the device sealed, by seq (the stub's readings are deterministic). */
  readings: Map<number, string>;
  runtime: SpawnedRuntime;
  stop(): Promise<void>;
}

const SEED = 11;
const RECORDS = 8;
const PACKET_BYTES = 160;

/** Makes the evidence in a fresh directory; `stop()` ends the runtime and removes everything. */
export async function makeWebEvidence(): Promise<WebEvidence> {
  const dataDir = tempDir('iotn-web-rt-');
  const stateDir = tempDir('iotn-web-stub-');
  const dir = tempDir('iotn-web-evidence-');
  const rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '300' });
  const stop = async () => {
    rt.child.kill('SIGTERM');
    await rt.exited;
    for (const d of [dataDir, stateDir, dir]) rmSync(d, { recursive: true, force: true });
  };
  try {
    return await make(rt, dataDir, stateDir, dir, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

async function make(
  rt: SpawnedRuntime,
  dataDir: string,
  stateDir: string,
  dir: string,
  stop: () => Promise<void>,
): Promise<WebEvidence> {
  const api = operatorFetch(rt.info.baseUrl, rt.token);
  const get = async (path: string) => {
    const res = await fetch(`${rt.info.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${rt.token}` },
    });
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const [deviceId] = fleetDeviceIds({ devices: 1, seed: SEED, prefix: 'web' }) as [string];
  const fleet = await startFleet({
    devices: 1,
    records: RECORDS,
    ratePerSecond: 0,
    packetBytes: PACKET_BYTES,
    seed: SEED,
    prefix: 'web',
    mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
    apiUrl: rt.info.baseUrl,
    operatorToken: rt.token,
    stateDir,
    maxInFlight: 100,
    ackTimeoutMs: 3000,
    timeoutMs: 60_000,
  }).result;
  if (!fleet.ok || fleet.stored !== RECORDS || fleet.heads !== 1)
    throw new Error(`the device stub did not deliver: ${JSON.stringify(fleet)}`);

  const ledgerKey = (await api<{ items: { publicKey: string }[] }>('/v1/chains')).body.items[0]?.publicKey;
  if (!ledgerKey) throw new Error('the runtime lists no embedded ledger');
  const keyId = new SigningKeyStore(stateDir).load(deviceId)?.key.keyId;
  if (!keyId) throw new Error(`the stub kept no signing key for ${deviceId}`);
  const devicePin = `${deviceId}=${toHex(keyId)}`;
  // Every record and the head anchored: the document reads complete.
  await waitFor(
    `${deviceId} complete`,
    async () => {
      const doc = CompletenessDocument.parse(
        JSON.parse(new TextDecoder().decode(await get(`/v1/devices/${deviceId}/completeness`))),
      );
      return checkCompleteness(doc, { trustedLedgerKeys: [ledgerKey] }).outcome === 'complete' || undefined;
    },
    60_000,
  );

  const shown = 3;
  const bundleText = new TextDecoder().decode(await get(`/v1/records/${deviceId}.${shown}/proof`));
  const bundle = join(dir, `${deviceId}.${shown}.proof.json`);
  const envelope = join(dir, `${deviceId}.${shown}.bin`);
  writeFileSync(bundle, bundleText);
  writeFileSync(envelope, await get(`/v1/records/${deviceId}.${shown}/object`));

  // One character changed: the first sibling hash of the inclusion path, or the sealed ciphertext hash.
  const parsed = JSON.parse(bundleText) as ProofBundleV2;
  const tamperedField = parsed.inclusion?.path[0] ? 'inclusion.path[0]' : 'record.ciphertextSha256';
  // Found by its field name: the same hash can occur earlier (a sibling may be the previous record's hash).
  const field = parsed.inclusion?.path[0] ? '"path":["' : '"ciphertextSha256":"';
  const at = bundleText.indexOf(field) + field.length;
  const swapped = bundleText[at] === '0' ? '1' : '0';
  const tamperedBundle = join(dir, `${deviceId}.${shown}.tampered.proof.json`);
  writeFileSync(tamperedBundle, bundleText.slice(0, at) + swapped + bundleText.slice(at + 1));

  const released = await api(`/v1/devices/${deviceId}/key-release`, {
    method: 'POST',
    body: JSON.stringify({ fromSeq: 0, toSeq: RECORDS - 1, reason: 'browser verifier test' }),
  });
  if (released.status !== 200)
    throw new Error(`key release: ${released.status} ${JSON.stringify(released.body)}`);
  const keys = join(dir, `${deviceId}.keys.json`);
  writeFileSync(keys, JSON.stringify(released.body));

  const readings = new Map<number, string>();
  for (let seq = 0; seq < RECORDS; seq++) {
    const rec = await api<{ timestamp: number }>(`/v1/records/${deviceId}.${seq}`);
    readings.set(
      seq,
      new TextDecoder().decode(readingsPacket(SEED, deviceId, seq, rec.body.timestamp, PACKET_BYTES)),
    );
  }

  // The operator drops a record from the index behind the server's back.
  const gapSeq = 5;
  const db = new DatabaseSync(join(dataDir, 'index.sqlite'));
  try {
    db.exec('PRAGMA busy_timeout = 10000');
    db.prepare('DELETE FROM records WHERE device_id = ? AND seq = ?').run(deviceId, gapSeq);
  } finally {
    db.close();
  }

  // The export as an auditor downloads it, now with the gap (docs/export.md).
  const archive = join(dir, `${deviceId}.export.tar`);
  writeFileSync(
    archive,
    await get(`/v1/devices/${deviceId}/export?fromSeq=0&toSeq=${RECORDS - 1}&envelopes=true`),
  );

  return {
    dir,
    deviceId,
    records: RECORDS,
    gapSeq,
    ledgerKey,
    devicePin,
    bundle,
    envelope,
    tamperedBundle,
    tamperedField,
    keys,
    archive,
    readings,
    runtime: rt,
    stop,
  };
}
