/**
 * IPFS hot copies against the runtime as its own process (`npm start`), pinning to an external Kubo RPC
 * endpoint (IPFS_API_URL) that this test owns: the embedded endpoint on its own repo, which the test stops and
 * restarts on the same port, as an operator's Kubo node would go down and come back.
 *
 *  - the endpoint goes down mid-run: devices keep publishing and every record is still acknowledged; verify
 *    says `cid unavailable` (not tampered); when the endpoint is back, every queued pin lands, none is lost;
 *  - the endpoint is down and the runtime restarts: the pin jobs survive in the queue and land afterwards;
 *  - a CID in the index swapped for the CID of other content reads `tampered`; with the endpoint down the
 *    same record reads `cid unavailable`, because nothing can be said about content that cannot be fetched.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { type EmbeddedKuboApi, startEmbeddedKuboApi } from '../../lib/adapters/ipfs/embedded-kubo-api.js';
import { KuboPinner } from '../../lib/adapters/ipfs/kubo-pinner.js';
import { kuboCid } from '../../lib/adapters/ipfs/unixfs-import.js';
import type { RecordEntry } from '../../lib/ports.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

interface VerifyReport {
  status: string;
  reasons: { code: string }[];
  checks: { ipfs?: string };
  ipfs?: { cid: string; code: string };
}

describe('IPFS endpoint outages and tampering, against the runtime process', () => {
  const dataDir = tempDir('iotn-ipfs-out-');
  const stateDir = tempDir('iotn-ipfs-out-stub-');
  const repoDir = tempDir('iotn-ipfs-out-repo-');
  let ipfs: EmbeddedKuboApi | undefined;
  let ipfsPort = 0;
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  const devices = fleetDeviceIds({ devices: 3, seed: 9, prefix: 'out' });

  const startIpfs = async () => {
    ipfs = await startEmbeddedKuboApi({ repoDir, port: ipfsPort });
    ipfsPort = ipfs.port;
  };
  const stopIpfs = async () => {
    await ipfs?.stop({ graceMs: 0 });
    ipfs = undefined;
  };
  const spawn = async () => {
    rt = await spawnRuntime(dataDir, {
      IPFS_HOT: 'all',
      IPFS_API_URL: `http://127.0.0.1:${ipfsPort}`,
      IPFS_PIN_INTERVAL_MS: '100',
      IPFS_BACKOFF_BASE_MS: '100',
      IPFS_BACKOFF_MAX_MS: '300',
      IPFS_TIMEOUT_MS: '3000',
      ANCHOR_INTERVAL_MS: '200',
      DURABLE_WRITES: 'false',
    });
    api = operatorFetch(rt.info.baseUrl, rt.token);
  };
  const stopRuntime = async () => {
    rt.child.kill('SIGTERM');
    return rt.exited;
  };
  const publish = async (records: number) => {
    const o: FleetOptions = {
      devices: 3,
      records,
      ratePerSecond: 0,
      packetBytes: 400,
      seed: 9,
      prefix: 'out',
      mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
      apiUrl: rt.info.baseUrl,
      operatorToken: rt.token,
      stateDir,
      maxInFlight: 20,
      ackTimeoutMs: 3000,
      timeoutMs: 20_000,
    };
    const r = await startFleet(o).result;
    expect(r).toMatchObject({ stored: 3 * records, rejected: 0, outboxLeft: 0, ok: true });
  };
  const record = async (id: string) => (await api<RecordEntry>(`/v1/records/${id}`)).body;
  const verify = async (id: string) => (await api<VerifyReport>(`/v1/records/${id}/verify`)).body;
  /** Waits until records seq 0..upTo-1 of every device carry a CID, and returns them. */
  const allPinned = (upTo: number) =>
    waitFor(`records 0..${upTo - 1} pinned`, async () => {
      const cids = new Map<string, string>();
      for (const d of devices)
        for (let seq = 0; seq < upTo; seq++) {
          const cid = (await record(`${d}.${seq}`)).ipfs?.cid;
          if (!cid) return undefined;
          cids.set(`${d}.${seq}`, cid);
        }
      return cids;
    });

  beforeAll(async () => {
    await startIpfs();
    await spawn();
  });
  afterAll(async () => {
    await stopRuntime();
    await stopIpfs();
    for (const d of [dataDir, stateDir, repoDir]) rmSync(d, { recursive: true, force: true });
  });

  it('pins while the endpoint is up', async () => {
    await publish(3);
    const cids = await allPinned(3);
    const id = `${devices[0]}.1`;
    const v = await waitFor('anchored and verified', async () => {
      const r = await verify(id);
      return r.status === 'verified' ? r : undefined;
    });
    expect(v.checks.ipfs).toBe('ok');
    const rec = await record(id);
    // The CID is Kubo's for the ciphertext: anyone can recompute it from the bytes the device sealed.
    const obj = await fetch(`${rt.info.baseUrl}/v1/records/${id}/object`, {
      headers: { authorization: `Bearer ${rt.token}` },
    });
    const envelope = new Uint8Array(await obj.arrayBuffer());
    const headerLength = Buffer.from(rec.header, 'base64').length;
    expect(cids.get(id)).toBe(await kuboCid(envelope.subarray(headerLength)));
  });

  it('goes on acknowledging while the endpoint is down, reads cid unavailable, and loses no pin when it is back', async () => {
    await stopIpfs();
    await publish(3);
    // Ingest never waits for IPFS: all acknowledged; the new ones wait in the queue.
    expect((await record(`${devices[2]}.5`)).ipfs).toBeUndefined();
    const id = `${devices[0]}.1`;
    const down = await verify(id);
    expect(down).toMatchObject({ status: 'verified', reasons: [], checks: { ipfs: 'cid unavailable' } });
    expect(down.ipfs?.code).toBe('ipfs-unavailable');

    await startIpfs();
    const cids = await allPinned(6);
    const pinner = new KuboPinner({ url: `http://127.0.0.1:${ipfsPort}` });
    for (const [rid, cid] of cids) expect(await pinner.isPinned(cid), rid).toBe(true);
    expect((await verify(`${devices[2]}.5`)).checks.ipfs).toBe('ok');
  });

  it('keeps pin jobs across a runtime restart while the endpoint is down', async () => {
    await stopIpfs();
    await publish(2);
    expect((await record(`${devices[1]}.7`)).ipfs).toBeUndefined();
    expect(await stopRuntime()).toMatchObject({ code: 0 });
    await startIpfs();
    await spawn();
    const cids = await allPinned(8);
    expect(cids.size).toBe(24);
  });

  it('tells content swapped under the record (tampered) from content that cannot be fetched', async () => {
    const id = `${devices[1]}.2`;
    const other = `${devices[2]}.2`;
    const otherCid = (await record(other)).ipfs?.cid as string;
    // Behind the backend's back: the index now names another record's hot copy, intact under its own CID.
    const db = new DatabaseSync(join(dataDir, 'index.sqlite'));
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      const [d, seq] = [devices[1] as string, 2];
      db.prepare('UPDATE records SET ipfs_cid = ? WHERE device_id = ? AND seq = ?').run(otherCid, d, seq);
    } finally {
      db.close();
    }
    const tampered = await verify(id);
    expect(tampered).toMatchObject({ status: 'tampered', checks: { ipfs: 'tampered' } });
    expect(tampered.reasons.map((r) => r.code)).toEqual(['ipfs-content-mismatch']);
    expect(tampered.ipfs).toMatchObject({ cid: otherCid, code: 'ciphertext-hash-mismatch' });
    // The untouched record next to it is fine.
    expect((await verify(other)).checks.ipfs).toBe('ok');

    await stopIpfs();
    const unavailable = await verify(id);
    expect(unavailable).toMatchObject({
      status: 'verified',
      reasons: [],
      checks: { ipfs: 'cid unavailable' },
    });
    await startIpfs();
  });
});
