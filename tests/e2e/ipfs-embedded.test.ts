/**
 * IPFS hot copies with the embedded default, as `IPFS_HOT=devices:hot* npm start` runs them: no IPFS_API_URL,
 * so the runtime starts its own Kubo RPC endpoint on $DATA_DIR/ipfs. Devices publish over real MQTT; the hot
 * ones get their ciphertext pinned, the CID lands in the index and the proof bundle, verify fetches it back,
 * and a client of the Kubo RPC API gets exactly the ciphertext. A restart on the same DATA_DIR keeps it all.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { fromBase64, toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { checkProofBundle, ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import type { RecordEntry } from '../../lib/ports.js';
import { operatorFetch, startInProcess, tempDir } from '../support/runtime.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
interface VerifyReport {
  status: string;
  reasons: { code: string }[];
  checks: { ipfs?: string };
  ipfs?: { cid: string; code: string };
}

const ENV = {
  IPFS_HOT: 'devices:hot*',
  IPFS_EMBEDDED_PORT: '0',
  IPFS_PIN_INTERVAL_MS: '200',
  DURABLE_WRITES: 'false',
};

describe('IPFS hot copies in the embedded runtime, with its own IPFS endpoint', () => {
  const dataDir = tempDir('iotn-ipfs-emb-');
  const stateDir = tempDir('iotn-ipfs-emb-stub-');
  let rt: Runtime;
  let api: ReturnType<typeof operatorFetch>;
  const fleet = (prefix: string, devices: number, records: number): FleetOptions => ({
    devices,
    records,
    ratePerSecond: 0,
    packetBytes: 300,
    seed: 5,
    prefix,
    mqttUrl: `mqtt://127.0.0.1:${rt.mqttPort}`,
    apiUrl: rt.baseUrl,
    operatorToken: rt.operatorToken,
    stateDir,
    maxInFlight: 20,
    ackTimeoutMs: 3000,
    timeoutMs: 20_000,
  });
  const hotIds = () => fleetDeviceIds({ devices: 2, seed: 5, prefix: 'hot' });
  const coldId = () => fleetDeviceIds({ devices: 1, seed: 5, prefix: 'cold' })[0] as string;

  beforeAll(async () => {
    rt = await startInProcess({ ...ENV, DATA_DIR: dataDir });
    api = operatorFetch(rt.baseUrl, rt.operatorToken);
  });
  afterAll(async () => {
    await rt?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('pins hot records only, records their CIDs, and verify fetches them back', async () => {
    for (const [prefix, devices] of [
      ['hot', 2],
      ['cold', 1],
    ] as const) {
      const r = await startFleet(fleet(prefix, devices, 3)).result;
      expect(r).toMatchObject({ stored: devices * 3, rejected: 0, ok: true });
    }
    // Every ack came after its pin job was queued; this waits for the pins themselves, then anchors.
    await rt.ipfs.drainNow();
    await rt.anchorNow();

    const info = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as { ipfsApiUrl?: string };
    expect(info.ipfsApiUrl).toBe(rt.ipfs.apiUrl);
    expect(rt.ipfs.embedded).toBe(true);
    expect(existsSync(join(dataDir, 'ipfs', 'blocks'))).toBe(true);
    expect(existsSync(join(dataDir, 'pin-queue.sqlite'))).toBe(true);

    for (const deviceId of hotIds()) {
      for (let seq = 0; seq < 3; seq++) {
        const id = `${deviceId}.${seq}`;
        const rec = (await api<RecordEntry>(`/v1/records/${id}`)).body;
        expect(rec.ipfs?.cid, id).toMatch(/^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);

        const v = (await api<VerifyReport>(`/v1/records/${id}/verify`)).body;
        expect(v).toMatchObject({ status: 'verified', reasons: [], checks: { ipfs: 'ok' } });
        expect(v.ipfs).toEqual({ cid: rec.ipfs?.cid, code: 'ok', message: expect.any(String) });

        // A v2 bundle names no CID (an offline verifier could not check one); the index entry does.
        const bundle = ProofBundleV2.parse((await api<unknown>(`/v1/records/${id}/proof`)).body);
        expect(bundle.record).not.toHaveProperty('ipfs');
        // The offline check fetches nothing, so reports no ipfs check.
        const offline = checkProofBundle(bundle);
        expect(offline.checks.ipfs).toBeUndefined();
        expect(offline.reasons.map((r) => r.code)).not.toContain('ipfs-content-mismatch');

        // Any Kubo RPC client gets the ciphertext: the envelope minus its header, sealed hash and all.
        const cat = await fetch(`${rt.ipfs.apiUrl}/api/v0/cat?arg=${rec.ipfs?.cid}`, { method: 'POST' });
        expect(cat.status).toBe(200);
        const bytes = new Uint8Array(await cat.arrayBuffer());
        const envelope = await fetch(`${rt.baseUrl}/v1/records/${id}/object`, {
          headers: { authorization: `Bearer ${rt.operatorToken}` },
        });
        const headerLength = fromBase64(rec.header)?.length ?? 0;
        expect(bytes).toEqual(new Uint8Array(await envelope.arrayBuffer()).subarray(headerLength));
        expect(toHex(sha256(bytes))).toBe(rec.ciphertextHash);
      }
    }

    const cold = `${coldId()}.1`;
    expect((await api<RecordEntry>(`/v1/records/${cold}`)).body.ipfs).toBeUndefined();
    const v = (await api<VerifyReport>(`/v1/records/${cold}/verify`)).body;
    expect(v).toMatchObject({ status: 'verified', checks: { ipfs: 'not-pinned' } });
    expect(v.ipfs).toBeUndefined();
    expect((await api<{ record: object }>(`/v1/records/${cold}/proof`)).body.record).not.toHaveProperty(
      'ipfs',
    );
  });

  it('keeps the pins across a restart on the same DATA_DIR, and pins what arrives after it', async () => {
    const before = (await api<RecordEntry>(`/v1/records/${hotIds()[0]}.2`)).body.ipfs;
    await rt.stop();
    rt = await startInProcess({ ...ENV, DATA_DIR: dataDir });
    api = operatorFetch(rt.baseUrl, rt.operatorToken);
    expect(await startFleet(fleet('hot', 2, 1)).result).toMatchObject({ stored: 2, ok: true });
    await rt.ipfs.drainNow();
    await rt.anchorNow();
    expect((await api<RecordEntry>(`/v1/records/${hotIds()[0]}.2`)).body.ipfs).toEqual(before);
    for (const id of [`${hotIds()[0]}.2`, `${hotIds()[1]}.3`]) {
      const v = (await api<VerifyReport>(`/v1/records/${id}/verify`)).body;
      expect(v, id).toMatchObject({ status: 'verified', checks: { ipfs: 'ok' } });
    }
  });
});

describe('with IPFS_HOT=none, the default', () => {
  it('starts no IPFS endpoint and no pin queue, and hooks nothing into ingest or verify', async () => {
    const plain = await startInProcess({});
    try {
      expect(plain.ipfs).toMatchObject({ embedded: false });
      expect(plain.ipfs.apiUrl).toBeUndefined();
      expect(plain.ipfs.onRecordStored).toBeUndefined();
      expect(plain.ipfs.verify).toBeUndefined();
      expect(existsSync(join(plain.dataDir, 'ipfs'))).toBe(false);
      expect(existsSync(join(plain.dataDir, 'pin-queue.sqlite'))).toBe(false);
      const info = JSON.parse(readFileSync(join(plain.dataDir, 'runtime.json'), 'utf8')) as object;
      expect(info).not.toHaveProperty('ipfsApiUrl');
    } finally {
      await plain.cleanup();
    }
  });
});
