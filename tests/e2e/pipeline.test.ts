/**
 * The whole pipeline as a user runs it: the runtime as its own process (lib/runtime/main.ts, what `npm start`
 * runs) on free ports, a fleet of simulated devices over real MQTT, anchoring on the embedded ledger, and
 * verification over HTTP. Then the three things the product exists for: a modified object reads
 * `tampered`, a deleted one reads `missing` and shows as a gap, and a backend killed mid-run loses nothing
 * it acknowledged and duplicates nothing.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import type { Gap } from '../../lib/core/gaps.js';
import { checkProofBundle, type ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { deleteObject, editObject, listObjectKeys } from '../support/object-db.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

interface VerifyReport {
  status: string;
  reasons: { code: string }[];
}
interface GapsReport {
  received: number;
  gaps: Gap[];
}

function fleetOptions(rt: SpawnedRuntime, stateDir: string, o: Partial<FleetOptions>): FleetOptions {
  return {
    devices: 4,
    records: 25,
    ratePerSecond: 0,
    packetBytes: 512,
    seed: 7,
    prefix: 'e2e',
    mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
    apiUrl: rt.info.baseUrl,
    operatorToken: rt.token,
    stateDir,
    maxInFlight: 100,
    ackTimeoutMs: 3000,
    timeoutMs: 60_000,
    ...o,
  };
}

describe('device → MQTT → ingest → store → anchor → verify, against the runtime process', () => {
  const dataDir = tempDir('iotn-e2e-');
  const stateDir = tempDir('iotn-stub-');
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  const ids = fleetDeviceIds({ devices: 4, seed: 7, prefix: 'e2e' });

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

  it('acknowledges every record, and every record verifies within an anchor interval', async () => {
    const result = await startFleet(fleetOptions(rt, stateDir, {})).result;
    expect(result).toMatchObject({ created: 100, stored: 100, rejected: 0, outboxLeft: 0, ok: true });

    for (const deviceId of ids) {
      for (let seq = 0; seq < 25; seq++) {
        const v = await waitFor(`${deviceId}.${seq} verified`, async () => {
          const r = await api<VerifyReport>(`/v1/records/${deviceId}.${seq}/verify`);
          return r.body.status === 'verified' ? r.body : undefined;
        });
        expect(v.reasons).toEqual([]);
      }
      const gaps = await api<GapsReport>(`/v1/devices/${deviceId}/gaps`);
      expect(gaps.body).toMatchObject({ received: 25, gaps: [] });
    }
  });

  it('serves a proof bundle that an offline verifier accepts, with the stored bytes', async () => {
    const id = `${ids[0]}.3`;
    const bundle = await api<ProofBundleV2>(`/v1/records/${id}/proof`);
    expect(bundle.status).toBe(200);
    const obj = await fetch(`${rt.info.baseUrl}/v1/records/${id}/object`, {
      headers: { authorization: `Bearer ${rt.token}` },
    });
    const envelope = new Uint8Array(await obj.arrayBuffer());
    const chains = await api<{ items: { publicKey: string }[] }>('/v1/chains');
    const check = checkProofBundle(bundle.body, {
      envelope,
      trustedLedgerKeys: chains.body.items.map((c) => c.publicKey),
    });
    expect(check.status).toBe('verified');
    expect(bundle.body.inclusion?.treeSize).toBeGreaterThanOrEqual(1);
    expect(bundle.body.anchors[0]?.evidence?.kind).toBe('embedded-ledger');
  });

  it('reads a modified stored object as tampered', async () => {
    const id = `${ids[1]}.5`;
    const rec = await api<{ objectKey: string; objectRange?: { offset: number; length: number } }>(
      `/v1/records/${id}`,
    );
    // The stub sends records in packs: the record is a range of its pack's object.
    expect(rec.body.objectRange).toBeDefined();
    // Altered on disk, behind the backend's back; the record's last byte is inside its GCM tag.
    editObject(join(dataDir, 'objects.sqlite'), rec.body.objectKey, (bytes) => {
      const out = bytes.slice();
      const r = rec.body.objectRange;
      const last = r ? r.offset + r.length - 1 : out.length - 1;
      out[last] = (out[last] as number) ^ 0x01;
      return out;
    });
    const v = await api<VerifyReport>(`/v1/records/${id}/verify`);
    expect(v.body.status).toBe('tampered');
    expect(v.body.reasons.map((r) => r.code)).toContain('ciphertext-hash-mismatch');
  });

  it('reads a deleted stored object as missing, and reports it as a gap of that device', async () => {
    const deviceId = ids[2] as string;
    const rec = await api<{ objectKey: string }>(`/v1/records/${deviceId}.11`);
    deleteObject(join(dataDir, 'objects.sqlite'), rec.body.objectKey);
    const v = await api<VerifyReport>(`/v1/records/${deviceId}.11/verify`);
    expect(v.body.status).toBe('missing');
    expect(v.body.reasons.map((r) => r.code)).toEqual(['object-missing']);
    // The object was the record's pack: every record in it is missing now, and only those.
    const all = await api<{ items: { seq: number; recordId: string; objectKey: string }[] }>(
      `/v1/devices/${deviceId}/records?limit=1000`,
    );
    const inPack = all.body.items.filter((r) => r.objectKey === rec.body.objectKey);
    expect(inPack.map((r) => r.seq)).toContain(11);
    const gaps = await api<GapsReport>(`/v1/devices/${deviceId}/gaps`);
    expect(gaps.body.gaps).toEqual(
      inPack
        .sort((a, b) => a.seq - b.seq)
        .map((r) => ({ kind: 'object-missing', seq: r.seq, recordId: r.recordId })),
    );
  });
});

describe('a backend killed mid-run', () => {
  it('loses nothing it acknowledged and stores nothing twice', async () => {
    const dataDir = tempDir('iotn-crash-');
    const stateDir = tempDir('iotn-crash-stub-');
    let rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '300' });
    const { mqttPort, httpPort } = rt.info;
    try {
      const opts = fleetOptions(rt, stateDir, {
        devices: 5,
        records: 120,
        ratePerSecond: 60,
        seed: 11,
        prefix: 'crash',
        ackTimeoutMs: 2000,
        // One object per record, counted below; the same crash with packs: tests/e2e/record-packs.test.ts.
        packMaxRecords: 1,
      });
      const fleet = startFleet(opts);
      const api1 = operatorFetch(rt.info.baseUrl, rt.token);
      // Kill once some records are in and anchoring has run, i.e. truly mid-run.
      await waitFor('some records ingested', async () => {
        const h = await api1<{ pendingRecords: number }>('/v1/health').catch(() => undefined);
        const recs = await api1<{ items: unknown[] }>(
          `/v1/devices/${fleetDeviceIds(opts)[0]}/records?limit=1000`,
        ).catch(() => undefined);
        return h && recs && recs.body.items.length >= 30 ? true : undefined;
      });
      rt.child.kill('SIGKILL');
      expect((await rt.exited).signal).toBe('SIGKILL');

      rt = await spawnRuntime(dataDir, {
        ANCHOR_INTERVAL_MS: '300',
        MQTT_PORT: String(mqttPort),
        HTTP_PORT: String(httpPort),
      });
      const result = await fleet.result;
      expect(result).toMatchObject({ created: 600, rejected: 0, outboxLeft: 0, ok: true });
      expect(result.stored + result.duplicate).toBe(600);

      const api2 = operatorFetch(rt.info.baseUrl, rt.token);
      for (const deviceId of fleetDeviceIds(opts)) {
        // Exactly one index entry per (device, seq): 0..119, no holes, no repeats, hash chain intact.
        const page = await api2<{ items: { seq: number }[] }>(`/v1/devices/${deviceId}/records?limit=1000`);
        expect(page.body.items.map((r) => r.seq).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 120 }, (_, i) => i),
        );
        const gaps = await api2<GapsReport>(`/v1/devices/${deviceId}/gaps`);
        expect(gaps.body).toMatchObject({ received: 120, gaps: [] });
      }
      // Every record ends up anchored exactly once and verifies.
      const deviceId = fleetDeviceIds(opts)[4] as string;
      for (let seq = 0; seq < 120; seq += 7) {
        await waitFor(`${deviceId}.${seq} verified after restart`, async () => {
          const r = await api2<VerifyReport>(`/v1/records/${deviceId}.${seq}/verify`);
          return r.body.status === 'verified' ? true : undefined;
        });
      }
      expect(listObjectKeys(join(dataDir, 'objects.sqlite'), `records/${deviceId}/`)).toHaveLength(120);
    } finally {
      rt.child.kill('SIGTERM');
      await rt.exited;
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('stops cleanly on SIGTERM and resumes pending anchoring after a restart', async () => {
    const dataDir = tempDir('iotn-term-');
    const stateDir = tempDir('iotn-term-stub-');
    let rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '600000' });
    try {
      const result = await startFleet(
        fleetOptions(rt, stateDir, { devices: 2, records: 10, seed: 3, prefix: 'term' }),
      ).result;
      expect(result.ok).toBe(true);
      const api1 = operatorFetch(rt.info.baseUrl, rt.token);
      const before = await api1<VerifyReport>('/v1/records/term-3-0001.4/verify');
      expect(before.body.status).toBe('pending');
      rt.child.kill('SIGTERM');
      expect((await rt.exited).code).toBe(0);

      rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '600000' });
      const api2 = operatorFetch(rt.info.baseUrl, rt.token);
      // The restart anchors what was queued at once, without waiting for an interval.
      await waitFor('anchored after restart', async () => {
        const r = await api2<VerifyReport>('/v1/records/term-3-0001.4/verify');
        return r.body.status === 'verified' ? true : undefined;
      });
      const health = await api2<{ pendingRecords: number }>('/v1/health');
      expect(health.body.pendingRecords).toBe(0);
    } finally {
      rt.child.kill('SIGTERM');
      await rt.exited;
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
