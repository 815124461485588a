/**
 * The forgery test of issue 9, against the runtime as users run it (its own process) and the device stub.
 *
 * A dishonest operator holds DATA_DIR: the index, the objects, the master keys (through the KEK) and the
 * ledger key. It fabricates records for a real device and gets them stored, indexed and anchored through the
 * project's own code, then issues their proof bundles from its own server. The two forgeries open to it:
 *
 *   (i)  records with no device signature, or a bad one, stored and anchored behind ingest's back;
 *   (ii) a key of its own, registered for the device through the operator API (audited), and a record signed
 *        with it, published as the device over MQTT after issuing the device a new password. Ingest cannot
 *        refuse that one: the key is registered.
 *
 * An auditor who pinned the device's real key (obtained from the device, out of band) and the ledger key sees
 * the real records' origin proven and every forgery's origin not proven or invalid. Without a pinned device key,
 * forgery (ii) reads `unpinned`: the first key's registration is then only the operator's word
 * (docs/device-keys.md §6). docs/examples/verify_bundle.py must reach the same verdicts on every bundle.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { SigningKeyStore } from '../../device-stub/signing-key-store.js';
import { fromHex, toBase64, toHex } from '../../lib/core/bytes.js';
import { generateSigningKey, signerOf } from '../../lib/core/device-signature.js';
import { sealRecord } from '../../lib/core/envelope.js';
import type { DeviceKeyPin } from '../../lib/core/key-chain.js';
import { AnyProofBundle, checkProofBundle, type ProofCheck } from '../../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { getText, openOperatorStores, publishAsDevice, waitAnchored } from '../support/dishonest-operator.js';
import { probePython, pythonDisagreements } from '../support/python-verifier.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir } from '../support/runtime.js';

const ENV = { ANCHOR_INTERVAL_MS: '300' };

describe('the forgery test: a dishonest operator fabricates records for a real device', () => {
  const dataDir = tempDir('iotn-forgery-');
  const stateDir = tempDir('iotn-forgery-stub-');
  const [deviceId] = fleetDeviceIds({ devices: 1, seed: 9, prefix: 'honest' }) as [string];
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  /** What the auditor obtained out of band: the device's real key, and the ledger's key. */
  let devicePin: DeviceKeyPin;
  let ledgerKeys: string[];
  /** The bundles the operator's server hands out, exactly as sent. */
  const bundles = new Map<string, string>();

  const start = async () => {
    rt = await spawnRuntime(dataDir, ENV);
    api = operatorFetch(rt.info.baseUrl, rt.token);
  };
  const stop = async () => {
    rt.child.kill('SIGTERM');
    await rt.exited;
  };

  beforeAll(async () => {
    await start();
    // The real device: three signed records, and its closing head.
    const fleet = await startFleet({
      devices: 1,
      records: 3,
      ratePerSecond: 0,
      packetBytes: 200,
      seed: 9,
      prefix: 'honest',
      mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
      apiUrl: rt.info.baseUrl,
      operatorToken: rt.token,
      stateDir,
      maxInFlight: 100,
      ackTimeoutMs: 3000,
      timeoutMs: 60_000,
    }).result;
    expect(fleet).toMatchObject({ stored: 3, heads: 1, ok: true });
    const real = new SigningKeyStore(stateDir).load(deviceId);
    devicePin = { deviceId, keyId: toHex(real?.key.keyId ?? new Uint8Array(0)) };
    await waitAnchored(api, `${deviceId}.2`);
    ledgerKeys = (await api<{ items: { publicKey: string }[] }>('/v1/chains')).body.items.map(
      (c) => c.publicKey,
    );

    // Forgery (i): the runtime is stopped and the operator works on DATA_DIR with the project's code.
    await stop();
    const ops = openOperatorStores(dataDir);
    let master: Uint8Array;
    try {
      master = await ops.masterKey(deviceId);
      let prevHash =
        fromHex((await ops.index.getRecord(deviceId, 2))?.recordHash ?? '') ?? new Uint8Array(32);
      const forge = (seq: number, signer?: ReturnType<typeof signerOf>) => {
        const timestamp = Date.now() - 1000;
        const s = sealRecord({
          recordKey: deriveRecordKey(master, deviceId, timestamp, seq),
          deviceId,
          seq,
          timestamp,
          prevHash,
          nonce: new Uint8Array(randomBytes(12)),
          plaintext: new TextEncoder().encode('{"temp":99}'),
          ...(signer ? { signer } : {}),
        });
        prevHash = s.recordHash;
        return s.envelope;
      };
      // (i-a) no device signature at all; (i-b) the device's key id, and a signature by some other key.
      await ops.storeBehindIngest(forge(3));
      const impostor = signerOf(generateSigningKey('ed25519'));
      await ops.storeBehindIngest(
        forge(4, { ...impostor, keyId: fromHex(devicePin.keyId) ?? new Uint8Array(32) }),
      );
      await ops.anchor();
    } finally {
      await ops.close();
    }

    // Forgery (ii): the server runs again; the operator registers a key of its own for the device, issues the
    // device a new MQTT password, and publishes a record signed with its key, as the device.
    await start();
    const own = generateSigningKey('ed25519');
    const registered = await api(`/v1/devices/${deviceId}/keys`, {
      method: 'POST',
      body: JSON.stringify({ alg: 'ed25519', publicKey: toBase64(own.publicKey), reason: 'device replaced' }),
    });
    expect(registered.status).toBe(201);
    const creds = await api<{ mqtt: { password: string } }>(`/v1/devices/${deviceId}/credentials`, {
      method: 'POST',
    });
    const last = await api<{ recordHash: string }>(`/v1/records/${deviceId}.4`);
    const timestamp = Date.now() - 1000;
    const sealed = sealRecord({
      recordKey: deriveRecordKey(master, deviceId, timestamp, 5),
      deviceId,
      seq: 5,
      timestamp,
      prevHash: fromHex(last.body.recordHash) ?? new Uint8Array(32),
      nonce: new Uint8Array(randomBytes(12)),
      plaintext: new TextEncoder().encode('{"temp":98}'),
      signer: signerOf(own),
    });
    const ack = await publishAsDevice({
      mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
      deviceId,
      password: creds.body.mqtt.password,
      topic: `devices/${deviceId}/records`,
      payload: sealed.envelope,
      answers: (a) => a.seq === 5,
    });
    expect(ack).toMatchObject({ status: 'stored' });
    await waitAnchored(api, `${deviceId}.5`);

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

  const judge = (seq: number, trustedDeviceKeys: DeviceKeyPin[]): ProofCheck =>
    checkProofBundle(AnyProofBundle.parse(JSON.parse(bundles.get(String(seq)) ?? '')), {
      trustedLedgerKeys: ledgerKeys,
      trustedDeviceKeys,
    });

  it("the device's real records: origin proven with its key pinned", () => {
    for (const seq of [0, 1, 2]) {
      const c = judge(seq, [devicePin]);
      expect(c.status, `record ${seq}`).toBe('verified');
      expect(c.proven.origin, `record ${seq}`).toMatchObject({ verdict: 'proven', keyId: devicePin.keyId });
      expect(c.proven.integrity).toBe('proven');
    }
  });

  it('(i) a record stored with no device signature: origin not proven', () => {
    const c = judge(3, [devicePin]);
    expect(c.proven.origin).toMatchObject({ verdict: 'not-proven', reasons: [{ code: 'unsigned-record' }] });
    // Integrity and existence are real: the operator did store and anchor exactly these bytes.
    expect(c.proven.integrity).toBe('proven');
  });

  it("(i) a record naming the device's key with a signature it did not make: origin invalid", () => {
    const c = judge(4, [devicePin]);
    expect(c.proven.origin.verdict).toBe('invalid');
    expect(c.proven.origin.reasons.map((r) => r.code)).toContain('signature-invalid');
    expect(c.status).not.toBe('verified');
  });

  it('(ii) a record signed by a key the operator registered: not proven against the pinned device key', () => {
    const c = judge(5, [devicePin]);
    expect(c.proven.origin.verdict).toBe('not-proven');
    expect(c.proven.origin.keyId).not.toBe(devicePin.keyId);
    // Without a pinned device key, the key chain is sound but rests on the operator's word: unpinned.
    const unpinned = judge(5, []);
    expect(unpinned.proven.origin.verdict).toBe('unpinned');
    // ... exactly as the real records do then: nothing tells the two apart without the pin.
    expect(judge(0, []).proven.origin.verdict).toBe('unpinned');
  });

  const python = probePython();
  it('verify_bundle.py reaches the same verdicts on every bundle, with and without the device pin', () => {
    if (!python.ok) throw new Error(`verify_bundle.py cannot run here: ${python.reason}`);
    for (const pins of [
      { trustedLedgerKeys: ledgerKeys, trustedDeviceKeys: [devicePin] },
      { trustedLedgerKeys: ledgerKeys, trustedDeviceKeys: [] },
      { trustedDeviceKeys: [] },
    ])
      expect(pythonDisagreements(bundles, pins)).toEqual([]);
  });
});
