/**
 * Record packs end to end (docs/envelope.md "Record pack", docs/topics.md): the runtime as its own process,
 * the device stub packing its outbox over real MQTT, and raw MQTT clients sending hand-made packs. Each
 * packed record must verify on its own (proof bundle, export) with exactly the bytes the device sealed, one
 * ack message must answer each pack, and a runtime killed with SIGKILL mid-flood must lose nothing it acked.
 */
import { rmSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { AckMessage } from '../../lib/core/device-messages.js';
import { generateSigningKey, signerOf } from '../../lib/core/device-signature.js';
import { parseHeader } from '../../lib/core/envelope.js';
import { checkExportArchive } from '../../lib/core/export-check.js';
import { checkProofBundle, type ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { encodeRecordPack, parseRecordPack } from '../../lib/core/record-pack.js';
import { readTar } from '../../lib/core/tar.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

interface VerifyReport {
  status: string;
  reasons: { code: string }[];
}

function fleetOptions(rt: SpawnedRuntime, stateDir: string, o: Partial<FleetOptions>): FleetOptions {
  return {
    devices: 1,
    records: 200,
    ratePerSecond: 0,
    packetBytes: 512,
    seed: 5,
    prefix: 'pk',
    mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
    apiUrl: rt.info.baseUrl,
    operatorToken: rt.token,
    stateDir,
    maxInFlight: 100,
    packMaxRecords: 64,
    ackTimeoutMs: 5000,
    timeoutMs: 90_000,
    ...o,
  };
}

/** Every envelope a device published, by seq, from its packs and lone records. */
function sentEnvelopes(): {
  onPublish: NonNullable<FleetOptions['onPublish']>;
  byKey: Map<string, Uint8Array>;
} {
  const byKey = new Map<string, Uint8Array>();
  const add = (env: Uint8Array) => {
    const h = parseHeader(env);
    if (h.ok) byKey.set(`${h.header.deviceId}.${h.header.seq}`, env.slice());
  };
  return {
    byKey,
    onPublish: (_deviceId, topic, payload) => {
      if (typeof payload === 'string') return;
      const bytes = new Uint8Array(payload);
      if (topic.endsWith('/packs')) {
        const p = parseRecordPack(bytes);
        if (p.ok) for (const e of p.entries) add(e.bytes);
      } else if (topic.endsWith('/records')) add(bytes);
    },
  };
}

describe('record packs against the runtime process', () => {
  const dataDir = tempDir('iotn-packs-');
  const stateDir = tempDir('iotn-packs-stub-');
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;

  beforeAll(async () => {
    rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '500' });
    api = operatorFetch(rt.info.baseUrl, rt.token);
  });
  afterAll(async () => {
    rt.child.kill('SIGTERM');
    await rt.exited;
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('the stub sends 200 records in packs: all stored, one ack message per pack, each verifies with its sealed bytes', async () => {
    const sent = sentEnvelopes();
    const result = await startFleet(fleetOptions(rt, stateDir, { onPublish: sent.onPublish })).result;
    expect(result).toMatchObject({ created: 200, stored: 200, rejected: 0, outboxLeft: 0, ok: true });
    const [dev] = result.devices;
    // Packs, not 200 messages; and no more ack messages than packs (the embedded router may even answer two
    // packs that arrive together in one).
    expect(dev?.packs).toBeGreaterThanOrEqual(4);
    expect(dev?.packs).toBeLessThanOrEqual(20);
    expect(dev?.ackMessages).toBeGreaterThanOrEqual(1);
    expect(dev?.ackMessages).toBeLessThanOrEqual(dev?.packs ?? 0);
    expect(sent.byKey.size).toBe(200);

    const [deviceId] = fleetDeviceIds({ devices: 1, seed: 5, prefix: 'pk' }) as [string];
    const chains = await api<{ items: { publicKey: string }[] }>('/v1/chains');
    const trustedLedgerKeys = chains.body.items.map((c) => c.publicKey);
    for (let seq = 0; seq < 200; seq += 13) {
      const id = `${deviceId}.${seq}`;
      await waitFor(`${id} verified`, async () => {
        const r = await api<VerifyReport>(`/v1/records/${id}/verify`);
        return r.body.status === 'verified' ? true : undefined;
      });
      const rec = await api<{ objectKey: string }>(`/v1/records/${id}`);
      expect(rec.body.objectKey).toMatch(new RegExp(`^records/${deviceId}/packs/[0-9a-f]{64}$`));
      const obj = await fetch(`${rt.info.baseUrl}/v1/records/${id}/object`, {
        headers: { authorization: `Bearer ${rt.token}` },
      });
      const envelope = new Uint8Array(await obj.arrayBuffer());
      expect(toHex(envelope)).toBe(toHex(sent.byKey.get(id) as Uint8Array));
      const bundle = await api<ProofBundleV2>(`/v1/records/${id}/proof`);
      const check = checkProofBundle(bundle.body, { envelope, trustedLedgerKeys });
      expect(check.status, JSON.stringify(check.reasons)).toBe('verified');
    }

    // The export of a range, envelopes included, checked as the verifiers check it.
    const res = await fetch(
      `${rt.info.baseUrl}/v1/devices/${deviceId}/export?fromSeq=0&toSeq=199&envelopes=true`,
      {
        headers: { authorization: `Bearer ${rt.token}` },
      },
    );
    expect(res.status).toBe(200);
    const entries = [...readTar(new Uint8Array(await res.arrayBuffer()))];
    const envs = entries.filter((e) => e.name.startsWith('iot-notary-export/envelopes/'));
    expect(envs).toHaveLength(200);
    for (const e of envs.slice(0, 20)) {
      const id = e.name.replace('iot-notary-export/envelopes/', '').replace(/\.bin$/, '');
      expect(toHex(e.data)).toBe(toHex(sent.byKey.get(id) as Uint8Array));
    }
    const report = await checkExportArchive(entries, { trustedLedgerKeys });
    expect(report.archive).toEqual({ status: 'intact', problems: [] });
    expect(report.records).toMatchObject({
      checked: 200,
      byStatus: { verified: 200, tampered: 0 },
      envelopes: { checked: 200, missing: 0 },
    });
  });

  it('a stub stopped mid-run resends its unacked records on the next run, maybe in other packs: none lost', async () => {
    const dir = tempDir('iotn-packs-restart-');
    try {
      const opts = fleetOptions(rt, dir, { records: 400, ratePerSecond: 400, seed: 17, prefix: 'pkr' });
      const [deviceId] = fleetDeviceIds(opts) as [string];
      const first = startFleet(opts);
      await waitFor('some records stored', async () => {
        const page = await api<{ items: unknown[] }>(`/v1/devices/${deviceId}/records?limit=1000`);
        return page.body.items.length >= 20 ? true : undefined;
      });
      first.stop();
      const r1 = await first.result;
      expect(r1.ok).toBe(false);
      expect(r1.created).toBeGreaterThan(0);
      // The second run seals nothing new: it only sends what the outbox kept.
      const r2 = await startFleet({ ...opts, records: 0 }).result;
      expect(r2).toMatchObject({ rejected: 0, outboxLeft: 0, ok: true });
      expect(r1.stored + r1.duplicate + r2.stored + r2.duplicate).toBeGreaterThanOrEqual(r1.created);
      const page = await api<{ items: { seq: number }[] }>(`/v1/devices/${deviceId}/records?limit=1000`);
      expect(page.body.items.map((x) => x.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: r1.created }, (_, i) => i),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('hand-made packs from a raw MQTT client', () => {
    const key = generateSigningKey('ed25519');
    const dev = new TestDevice('pk-raw', undefined, signerOf(key));
    let client: MqttClient;
    const acks: AckMessage[] = [];
    let closes = 0;

    beforeAll(async () => {
      const p = await api<{ mqtt: { password: string } }>('/v1/devices', {
        method: 'POST',
        body: JSON.stringify({
          deviceId: dev.deviceId,
          masterKey: dev.masterKeyBase64,
          signingKey: { alg: 'ed25519', publicKey: toBase64(key.publicKey) },
        }),
      });
      expect(p.status).toBe(201);
      client = mqtt.connect(`mqtt://127.0.0.1:${rt.info.mqttPort}`, {
        clientId: dev.deviceId,
        username: dev.deviceId,
        password: p.body.mqtt.password,
        reconnectPeriod: 200,
        protocolVersion: 4,
      });
      client.on('close', () => closes++);
      client.on('message', (_t, payload) => acks.push(AckMessage.parse(JSON.parse(payload.toString()))));
      await new Promise<void>((resolve, reject) =>
        client.once('connect', () =>
          client.subscribe(`devices/${dev.deviceId}/acks`, { qos: 1 }, (e) => (e ? reject(e) : resolve())),
        ),
      );
    });
    afterAll(async () => {
      // Forced: the publish the broker refused is still unacknowledged and would hold a graceful end.
      await client?.endAsync(true);
    });

    const sendPack = async (pack: Uint8Array, topic = `devices/${dev.deviceId}/packs`) => {
      const before = acks.length;
      await client.publishAsync(topic, Buffer.from(pack), { qos: 1 });
      return waitFor('the ack message', async () => (acks.length > before ? acks.slice(before) : undefined));
    };

    it('one bad signature: the others stored, that one refused signature-invalid; a replay gives duplicates', async () => {
      const other = generateSigningKey('ed25519');
      const r = [dev.seal(), dev.seal(), dev.seal({ signer: signerOf(other) }), dev.seal()];
      const forged = r[2]?.envelope.slice() as Uint8Array;
      // Name the device's key in the header signed by another: the signature no longer verifies under it.
      forged.set(key.keyId, 7 + dev.deviceId.length + 16 + 32 + 1);
      const pack = encodeRecordPack(
        [r[0], r[1], { envelope: forged }, r[3]].map((x) => x?.envelope as Uint8Array),
      );
      expect(await sendPack(pack)).toEqual([
        {
          v: 1,
          acks: [
            { seq: 0, toSeq: 1, status: 'stored' },
            { seq: 2, status: 'rejected', code: 'signature-invalid' },
            { seq: 3, toSeq: 3, status: 'stored' },
          ],
        },
      ]);
      const dl = await api<{ items: { code: string; seq?: number }[] }>(
        `/v1/dead-letters?deviceId=${dev.deviceId}&limit=10`,
      );
      expect(dl.body.items.map((d) => [d.code, d.seq])).toEqual([['signature-invalid', 2]]);
      expect((await api(`/v1/records/${dev.deviceId}.2`)).status).toBe(404);
      expect((await api(`/v1/records/${dev.deviceId}.3`)).status).toBe(200);

      expect(await sendPack(pack)).toEqual([
        {
          v: 1,
          acks: [
            { seq: 0, toSeq: 1, status: 'duplicate' },
            { seq: 2, status: 'rejected', code: 'signature-invalid' },
            { seq: 3, toSeq: 3, status: 'duplicate' },
          ],
        },
      ]);
    });

    it('a pack of another device\u2019s envelopes on its own topic is refused whole; on another device\u2019s topic the broker refuses it', async () => {
      const stranger = new TestDevice('pk-stranger', undefined, signerOf(key));
      const pack = encodeRecordPack([stranger.seal().envelope]);
      const [answer] = await sendPack(pack);
      expect(answer?.acks).toEqual([
        expect.objectContaining({ kind: 'pack', status: 'rejected', code: 'pack-device-mismatch' }),
      ]);
      const closed = closes;
      client.publish(`devices/pk-stranger/packs`, Buffer.from(pack), { qos: 1 });
      await waitFor('the broker closes the connection', async () => (closes > closed ? true : undefined));
      const dl = await api<{ items: { code: string; topic?: string }[] }>(
        `/v1/dead-letters?deviceId=${dev.deviceId}&limit=10`,
      );
      expect(dl.body.items.map((d) => d.code)).toContain('topic-not-allowed');
      expect((await api('/v1/records/pk-stranger.0')).status).toBe(404);
    });
  });
});

describe('a backend killed (SIGKILL) while packs are in flight', () => {
  it('loses nothing it acknowledged and stores nothing twice', async () => {
    const dataDir = tempDir('iotn-packcrash-');
    const stateDir = tempDir('iotn-packcrash-stub-');
    let rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '300' });
    const { mqttPort, httpPort } = rt.info;
    try {
      const opts = fleetOptions(rt, stateDir, {
        devices: 3,
        records: 300,
        ratePerSecond: 150,
        seed: 13,
        prefix: 'pkc',
        ackTimeoutMs: 2000,
      });
      const fleet = startFleet(opts);
      const api1 = operatorFetch(rt.info.baseUrl, rt.token);
      await waitFor('some records ingested', async () => {
        const recs = await api1<{ items: unknown[] }>(
          `/v1/devices/${fleetDeviceIds(opts)[0]}/records?limit=1000`,
        ).catch(() => undefined);
        return recs && recs.body.items.length >= 60 ? true : undefined;
      });
      rt.child.kill('SIGKILL');
      expect((await rt.exited).signal).toBe('SIGKILL');

      rt = await spawnRuntime(dataDir, {
        ANCHOR_INTERVAL_MS: '300',
        MQTT_PORT: String(mqttPort),
        HTTP_PORT: String(httpPort),
      });
      const result = await fleet.result;
      expect(result).toMatchObject({ created: 900, rejected: 0, outboxLeft: 0, ok: true });
      expect(result.stored + result.duplicate).toBe(900);
      expect(result.devices.every((d) => d.packs > 0)).toBe(true);

      const api2 = operatorFetch(rt.info.baseUrl, rt.token);
      for (const deviceId of fleetDeviceIds(opts)) {
        const page = await api2<{ items: { seq: number }[] }>(`/v1/devices/${deviceId}/records?limit=1000`);
        expect(page.body.items.map((r) => r.seq).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 300 }, (_, i) => i),
        );
        const gaps = await api2<{ received: number; gaps: unknown[] }>(`/v1/devices/${deviceId}/gaps`);
        expect(gaps.body).toMatchObject({ received: 300, gaps: [] });
      }
      const deviceId = fleetDeviceIds(opts)[2] as string;
      for (let seq = 0; seq < 300; seq += 17) {
        await waitFor(`${deviceId}.${seq} verified after restart`, async () => {
          const r = await api2<VerifyReport>(`/v1/records/${deviceId}.${seq}/verify`);
          return r.body.status === 'verified' ? true : undefined;
        });
      }
    } finally {
      rt.child.kill('SIGTERM');
      await rt.exited;
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
