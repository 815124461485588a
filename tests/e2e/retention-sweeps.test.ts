/**
 * The runtime process's scheduled sweeps, with SWEEP_INTERVAL_MS shortened so a test can watch them:
 * staged uploads that no manifest claimed are deleted once past their maximum age (their URLs expired long
 * before), and a late manifest gets the documented refusal; dead letters past their retention, and the oldest
 * beyond the row cap, are deleted while the rest stay listed.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import type { DeadLetter, Page } from '../../lib/ports.js';
import { deadLetter } from '../adapters/index-fixtures.js';
import { listObjectKeys } from '../support/object-db.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

/** Starting the runtime process can take most of a minute on a loaded 2-core machine. */
const SPAWN_TIMEOUT_MS = 120_000;

const MASTER = new Uint8Array(32).fill(5);
const DAY = 24 * 3600 * 1000;

interface Ack {
  seq?: number;
  status: string;
  code?: string;
}
interface Grant {
  seq?: number;
  url?: string;
  headers?: Record<string, string>;
}

function seal(deviceId: string, seq: number, bytes: number) {
  const timestamp = Date.now();
  return sealRecord({
    recordKey: deriveRecordKey(MASTER, deviceId, timestamp, seq),
    deviceId,
    seq,
    timestamp,
    prevHash: ZERO_HASH,
    nonce: randomBytes(12),
    plaintext: randomBytes(bytes),
  });
}

describe('staged uploads nobody claimed are swept once past their maximum age', () => {
  const dataDir = tempDir('iotn-sweep-');
  let rt: SpawnedRuntime;
  let client: MqttClient;
  const acks: Ack[] = [];
  const grants: Grant[] = [];
  const staged = () => listObjectKeys(join(dataDir, 'objects.sqlite'), 'uploads/');

  beforeAll(async () => {
    rt = await spawnRuntime(dataDir, {
      UPLOAD_TTL_SECONDS: '1',
      STAGED_UPLOAD_MAX_AGE_SECONDS: '2',
      SWEEP_INTERVAL_MS: '250',
    });
    const api = operatorFetch(rt.info.baseUrl, rt.token);
    const r = await api<{ mqtt: { password: string } }>('/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ deviceId: 'stager', masterKey: toBase64(MASTER) }),
    });
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.info.mqttPort}`, {
      clientId: 'stager',
      username: 'stager',
      password: r.body.mqtt.password,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    client.on('message', (topic, payload) => {
      const msg = JSON.parse(payload.toString()) as { acks?: Ack[] } & Grant;
      if (topic.endsWith('/acks')) acks.push(...(msg.acks ?? []));
      else grants.push(msg);
    });
    await client.subscribeAsync(['devices/stager/acks', 'devices/stager/uploads/grant'], { qos: 1 });
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    client.end(true);
    // rt is unset when the runtime never started (spawnRuntime has killed it then).
    rt?.child.kill('SIGTERM');
    await rt?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function upload(seq: number) {
    const s = seal('stager', seq, 300_000);
    const sha = toHex(sha256(s.envelope));
    const manifest = JSON.stringify({ v: 1, seq, sha256: sha, size: s.envelope.length });
    await client.publishAsync('devices/stager/uploads/request', manifest, { qos: 1 });
    const grant = await waitFor('a grant', () => grants.find((g) => g.seq === seq));
    const put = await fetch(grant.url ?? '', {
      method: 'PUT',
      headers: grant.headers ?? {},
      body: s.envelope,
    });
    expect(put.status).toBe(201);
    return { key: `uploads/stager/${sha}`, manifest };
  }

  it('deletes uploads without a manifest, refuses their late manifests, and leaves a claimed upload ingested', async () => {
    const abandoned = [await upload(0), await upload(1), await upload(2)];
    expect(staged()).toEqual(abandoned.map((u) => u.key).sort());

    await waitFor('the sweep', () => (staged().length === 0 ? true : undefined), 30_000);

    // The device's manifest arrives after the sweep: the documented refusal, nothing stored.
    await client.publishAsync('devices/stager/manifests', abandoned[0]?.manifest ?? '', { qos: 1 });
    expect(await waitFor('the ack', () => acks[0])).toMatchObject({
      seq: 0,
      status: 'rejected',
      code: 'upload-not-found',
    });
    expect(listObjectKeys(join(dataDir, 'objects.sqlite'), 'records/stager/')).toEqual([]);

    // An upload whose manifest follows at once, as a device sends it, is ingested as usual.
    const fresh = await upload(3);
    await client.publishAsync('devices/stager/manifests', fresh.manifest, { qos: 1 });
    expect(await waitFor('the ack', () => acks[1])).toMatchObject({ seq: 3, status: 'stored' });
    expect(listObjectKeys(join(dataDir, 'objects.sqlite'), 'records/stager/')).toHaveLength(1);
  });
});

describe('dead letters past their retention or beyond the row cap are swept', () => {
  const dataDir = tempDir('iotn-dlsweep-');
  let rt: SpawnedRuntime;

  beforeAll(async () => {
    // An index as a long-running runtime leaves it: some dead letters 40 days old, more recent ones.
    const now = Date.now();
    const seed = new SqliteIndexStore(join(dataDir, 'index.sqlite'));
    for (let i = 0; i < 5; i++) await seed.putDeadLetter(deadLetter(`dl-old-${i}`, now - 40 * DAY + i));
    for (let i = 0; i < 30; i++)
      await seed.putDeadLetter(deadLetter(`dl-new-${String(i).padStart(2, '0')}`, now - 60_000 + i));
    await seed.close();
    rt = await spawnRuntime(dataDir, {
      DEAD_LETTER_RETENTION_DAYS: '30',
      DEAD_LETTER_MAX_ROWS: '20',
      SWEEP_INTERVAL_MS: '250',
    });
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    // rt is unset when the runtime never started (spawnRuntime has killed it then).
    rt?.child.kill('SIGTERM');
    await rt?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the newest rows up to the cap and drops everything older than the retention', async () => {
    const api = operatorFetch(rt.info.baseUrl, rt.token);
    const left = await waitFor('the sweep', async () => {
      const { items } = (await api<Page<DeadLetter>>('/v1/dead-letters?limit=1000')).body;
      return items.length <= 20 ? items : undefined;
    });
    expect(left.map((d) => d.id)).toEqual(
      Array.from({ length: 20 }, (_, i) => `dl-new-${String(29 - i).padStart(2, '0')}`),
    );
  });
});
