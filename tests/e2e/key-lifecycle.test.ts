/**
 * Rotation and revocation end to end, against the runtime process and the device stub: a device signs with
 * its first key, rotates to a P-256 key (`rotate-key`), signs with it, and then the operator revokes that key
 * (it was stolen, say). The device's next record, signed with the revoked key, is refused at ingest
 * (`key-revoked`, dead-lettered, kept aside in the device's outbox), and so is its closing head. The thief who
 * holds the revoked key and DATA_DIR then stores and anchors that record behind ingest's back: its proof fails
 * offline, while every record signed before the revocation keeps a proven origin.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { SigningKeyStore } from '../../device-stub/signing-key-store.js';
import { toHex } from '../../lib/core/bytes.js';
import type { DeviceKeyPin } from '../../lib/core/key-chain.js';
import { AnyProofBundle, checkProofBundle, type ProofCheck } from '../../lib/core/proof-bundle.js';
import type { DeadLetter } from '../../lib/ports.js';
import { getText, openOperatorStores, waitAnchored } from '../support/dishonest-operator.js';
import { probePython, pythonDisagreements } from '../support/python-verifier.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir } from '../support/runtime.js';

describe('key rotation and revocation, end to end', () => {
  const dataDir = tempDir('iotn-keys-');
  const stateDir = tempDir('iotn-keys-stub-');
  const [deviceId] = fleetDeviceIds({ devices: 1, seed: 4, prefix: 'life' }) as [string];
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  let ledgerKeys: string[];
  let firstKey: string;
  let secondKey: string;
  let refusedRun: Awaited<ReturnType<typeof startFleet>['result']>;
  const bundles = new Map<string, string>();

  const start = async () => {
    rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '300' });
    api = operatorFetch(rt.info.baseUrl, rt.token);
  };
  const stop = async () => {
    rt.child.kill('SIGTERM');
    await rt.exited;
  };
  const fleet = (o: Partial<FleetOptions>) =>
    startFleet({
      devices: 1,
      records: 3,
      ratePerSecond: 0,
      packetBytes: 200,
      seed: 4,
      prefix: 'life',
      mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
      apiUrl: rt.info.baseUrl,
      operatorToken: rt.token,
      stateDir,
      maxInFlight: 100,
      ackTimeoutMs: 3000,
      timeoutMs: 60_000,
      ...o,
    }).result;
  const keyIdNow = () => toHex(new SigningKeyStore(stateDir).load(deviceId)?.key.keyId ?? new Uint8Array(0));

  beforeAll(async () => {
    await start();
    // Records 0-2 with the first key; then the rotation, and records 3-4 with the second key.
    expect(await fleet({})).toMatchObject({ stored: 3, ok: true });
    firstKey = keyIdNow();
    expect(await fleet({ records: 2, rotateKey: true, sigAlg: 'p256' })).toMatchObject({
      stored: 2,
      rotated: 1,
      ok: true,
    });
    secondKey = keyIdNow();
    await waitAnchored(api, `${deviceId}.4`);

    // The operator revokes the second key.
    const revoked = await api(`/v1/devices/${deviceId}/keys/${secondKey}/revoke`, {
      method: 'POST',
      body: JSON.stringify({ reason: 'the device was stolen', code: 'compromised' }),
    });
    expect(revoked.status).toBe(200);
    // The device, not knowing, seals record 5 with the revoked key.
    refusedRun = await fleet({ records: 1 });

    // The thief stores and anchors record 5 behind ingest's back, and the server then hands out its proof.
    await stop();
    const outbox = new DatabaseSync(join(stateDir, 'outbox.sqlite'));
    const row = outbox
      .prepare('SELECT envelope FROM rejected WHERE device_id = ? AND seq = 5')
      .get(deviceId) as { envelope: Uint8Array } | undefined;
    outbox.close();
    const ops = openOperatorStores(dataDir);
    try {
      await ops.storeBehindIngest(new Uint8Array(row?.envelope ?? new Uint8Array(0)));
      await ops.anchor();
    } finally {
      await ops.close();
    }
    await start();
    ledgerKeys = (await api<{ items: { publicKey: string }[] }>('/v1/chains')).body.items.map(
      (c) => c.publicKey,
    );
    for (let seq = 0; seq <= 5; seq++) {
      const b = await getText(rt.info.baseUrl, rt.token, `/v1/records/${deviceId}.${seq}/proof`);
      expect(b.status, `proof of ${seq}`).toBe(200);
      bundles.set(String(seq), b.text);
    }
  }, 300_000);

  afterAll(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  const pin = (): DeviceKeyPin[] => [{ deviceId, keyId: firstKey }];
  const judge = (seq: number): ProofCheck =>
    checkProofBundle(AnyProofBundle.parse(JSON.parse(bundles.get(String(seq)) ?? '')), {
      trustedLedgerKeys: ledgerKeys,
      trustedDeviceKeys: pin(),
    });

  it('the key log holds the registration, the rotation and the revocation; the keys their states', async () => {
    const keys = await api<{
      keys: { keyId: string; alg: string; status: string }[];
      keyEvents: { type: string; keyId: string }[];
    }>(`/v1/devices/${deviceId}/keys`);
    expect(keys.body.keys.map((k) => [k.keyId, k.alg, k.status])).toEqual([
      [firstKey, 'ed25519', 'revoked'],
      [secondKey, 'p256', 'revoked'],
    ]);
    expect(keys.body.keyEvents.map((e) => [e.type, e.keyId])).toEqual([
      ['register', firstKey],
      ['rotate', secondKey],
      ['revoke', secondKey],
    ]);
  });

  it('a record signed with the revoked key after its revocation is refused at ingest: key-revoked', async () => {
    expect(refusedRun).toMatchObject({ ok: false, created: 1, stored: 0, rejected: 1 });
    expect(refusedRun.devices[0]?.rejected).toEqual([
      { deviceId, seq: 5, code: 'key-revoked', reason: expect.stringMatching(/revoked/) },
    ]);
    // So was the head the device signed on its way out.
    expect(refusedRun.devices[0]?.refusedStatements).toEqual([
      { kind: 'head', code: 'key-revoked', reason: expect.any(String) },
    ]);
    const dl = await api<{ items: DeadLetter[] }>(`/v1/dead-letters?deviceId=${deviceId}`);
    expect(dl.body.items.map((d) => d.code).sort()).toEqual(['key-revoked', 'key-revoked']);
    expect(dl.body.items.find((d) => d.seq === 5)?.topic).toBe(`devices/${deviceId}/records`);
  });

  it('records signed before the rotation and before the revocation keep a proven origin', () => {
    for (const seq of [0, 1, 2, 3, 4]) {
      const c = judge(seq);
      expect(c.status, `record ${seq}`).toBe('verified');
      expect(c.proven.origin, `record ${seq}`).toMatchObject({
        verdict: 'proven',
        keyId: seq < 3 ? firstKey : secondKey,
      });
    }
  });

  it('the same record, stored and anchored behind ingest, fails offline: signed by a key revoked before it', () => {
    const c = judge(5);
    expect(c.status).toBe('tampered');
    expect(c.proven.origin.verdict).toBe('invalid');
    expect(c.proven.origin.reasons.map((r) => r.code)).toContain('key-revoked');
  });

  const python = probePython();
  it('verify_bundle.py reaches the same verdicts on every bundle', () => {
    if (!python.ok) throw new Error(`verify_bundle.py cannot run here: ${python.reason}`);
    expect(pythonDisagreements(bundles, { trustedLedgerKeys: ledgerKeys, trustedDeviceKeys: pin() })).toEqual(
      [],
    );
    expect(pythonDisagreements(bundles, { trustedDeviceKeys: [] })).toEqual([]);
  });
});
