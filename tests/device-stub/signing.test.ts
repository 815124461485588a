/**
 * The device stub's signing key against the real runtime (in-process, real MQTT and HTTP): made on the device,
 * kept next to the outbox (0600), only its public half registered, reused after a restart; v2 records and
 * signed heads; a rotation that drains the outbox first and switches keys only once acknowledged; legacy
 * unsigned devices.
 */
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FleetOptions, startFleet } from '../../device-stub/fleet.js';
import { Outbox } from '../../device-stub/outbox.js';
import { SigningKeyStore } from '../../device-stub/signing-key-store.js';
import { fromBase64, toHex } from '../../lib/core/bytes.js';
import { parseHead } from '../../lib/core/device-head.js';
import { parseHeader } from '../../lib/core/envelope.js';
import { revokeKey } from '../../lib/devices/device-keys.js';
import type { StatementEntry } from '../../lib/ports.js';
import { containsBytes } from '../support/bytes.js';
import { startInProcess, tempDir } from '../support/runtime.js';

describe('device stub signing keys', () => {
  let rt: Awaited<ReturnType<typeof startInProcess>>;
  const dirs: string[] = [];
  beforeAll(async () => {
    rt = await startInProcess();
  });
  afterAll(async () => {
    await rt.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const stateDir = () => {
    const d = tempDir('iotn-sig-stub-');
    dirs.push(d);
    return d;
  };
  const opts = (dir: string, prefix: string, o: Partial<FleetOptions> = {}): FleetOptions => ({
    devices: 1,
    records: 4,
    ratePerSecond: 0,
    packetBytes: 100,
    seed: 3,
    prefix,
    mqttUrl: `mqtt://127.0.0.1:${rt.mqttPort}`,
    apiUrl: rt.baseUrl,
    operatorToken: rt.operatorToken,
    stateDir: dir,
    maxInFlight: 100,
    ackTimeoutMs: 2000,
    timeoutMs: 30_000,
    ...o,
  });
  const signerOfRecord = async (deviceId: string, seq: number) => {
    const rec = await rt.index.getRecord(deviceId, seq);
    const h = parseHeader(fromBase64(rec?.header ?? '') ?? new Uint8Array(0));
    if (!h.ok) throw new Error(`record ${deviceId}.${seq} not stored`);
    return h.header.signature ? toHex(h.header.signature.keyId) : 'unsigned';
  };
  const heads = async (deviceId: string): Promise<StatementEntry[]> =>
    (await rt.statements.listHeads(deviceId, { by: 'count', order: 'asc', limit: 100 })).items;
  const keyEvents = async (deviceId: string) =>
    (await rt.statements.listKeyEvents(deviceId, { limit: 100 })).items.map((e) => e.keyEvent);

  it('makes a key on first run, registers only its public half, signs records and a closing head', async () => {
    const dir = stateDir();
    const r = await startFleet(opts(dir, 'sig')).result;
    expect(r).toMatchObject({ created: 4, stored: 4, rejected: 0, heads: 1, ok: true });
    const id = 'sig-3-0001';

    const path = join(dir, 'keys', `${id}.json`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    const stored = new SigningKeyStore(dir).load(id);
    expect(stored).toMatchObject({ registered: true, key: { alg: 'ed25519' } });
    const keyId = toHex(stored?.key.keyId ?? new Uint8Array(0));

    const device = await rt.index.getDevice(id);
    expect(device).toMatchObject({
      allowUnsigned: false,
      keys: [{ keyId, status: 'active', alg: 'ed25519' }],
    });
    expect(await keyEvents(id)).toEqual([{ type: 'register', keyId }]);
    // The private key is nowhere on the backend's side.
    const secret = stored?.key.privateKey ?? new Uint8Array(32);
    for (const f of ['index.sqlite', 'statements.sqlite', 'objects.sqlite'])
      expect(containsBytes(readFileSync(join(rt.dataDir, f)), secret), f).toBe(false);

    for (let seq = 0; seq < 4; seq++) expect(await signerOfRecord(id, seq)).toBe(keyId);
    const [head] = await heads(id);
    const parsed = parseHead(fromBase64(head?.leaf ?? '') ?? new Uint8Array(0));
    expect(parsed.ok && parsed.head).toMatchObject({ count: 4 });
    expect(parsed.ok && toHex(parsed.head.lastHash)).toBe((await rt.index.getRecord(id, 3))?.recordHash);
    expect(new Outbox(join(dir, 'outbox.sqlite')).getDevice(id)?.headCount).toBe(4);
  });

  it('signs with the same key after a restart, and sends no head when nothing new was sealed', async () => {
    const dir = stateDir();
    await startFleet(opts(dir, 'again')).result;
    const keyId = toHex(new SigningKeyStore(dir).load('again-3-0001')?.key.keyId ?? new Uint8Array(0));
    const second = await startFleet(opts(dir, 'again', { records: 2 })).result;
    expect(second).toMatchObject({ stored: 2, heads: 1, ok: true });
    expect(await signerOfRecord('again-3-0001', 5)).toBe(keyId);
    expect((await rt.index.getDevice('again-3-0001'))?.keys).toHaveLength(1);
    const third = await startFleet(opts(dir, 'again', { records: 0 })).result;
    expect(third).toMatchObject({ created: 0, heads: 0, ok: true });
    expect((await heads('again-3-0001')).map((h) => h.head?.count)).toEqual([4, 6]);
  });

  it('--sig-alg p256 makes a P-256 key', async () => {
    const dir = stateDir();
    expect(await startFleet(opts(dir, 'pee', { sigAlg: 'p256' })).result).toMatchObject({
      stored: 4,
      ok: true,
    });
    expect((await rt.index.getDevice('pee-3-0001'))?.keys[0]?.alg).toBe('p256');
  });

  it('publishes a head every head interval while it seals', async () => {
    const dir = stateDir();
    const r = await startFleet(opts(dir, 'beat', { records: 12, ratePerSecond: 10, headIntervalMs: 300 }))
      .result;
    expect(r).toMatchObject({ stored: 12, ok: true });
    const counts = (await heads('beat-3-0001')).map((h) => h.head?.count ?? -1);
    // Some heads on the way (each counting what was sealed by then), and the closing one of all 12.
    expect(counts.length).toBeGreaterThanOrEqual(3);
    expect(counts.at(-1)).toBe(12);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
  });

  it('rotate-key sends the outbox first, then rotates, then signs with the new key', async () => {
    const dir = stateDir();
    const id = 'rot-3-0001';
    await startFleet(opts(dir, 'rot', { records: 1 })).result;
    const oldKeyId = toHex(new SigningKeyStore(dir).load(id)?.key.keyId ?? new Uint8Array(0));
    // Five records sealed while the backend was unreachable: they wait in the outbox, signed by the old key.
    const offline = startFleet(
      opts(dir, 'rot', { records: 5, mqttUrl: 'mqtt://127.0.0.1:9', timeoutMs: 60_000 }),
    );
    const outbox = new Outbox(join(dir, 'outbox.sqlite'));
    while (outbox.pending(id).length < 5) await new Promise((r) => setTimeout(r, 20));
    outbox.close();
    offline.stop();
    await offline.result.catch(() => undefined);

    const r = await startFleet(opts(dir, 'rot', { records: 3, rotateKey: true, sigAlg: 'p256' })).result;
    expect(r).toMatchObject({ stored: 8, rotated: 1, rejected: 0, ok: true });
    const newKey = new SigningKeyStore(dir).load(id);
    const newKeyId = toHex(newKey?.key.keyId ?? new Uint8Array(0));
    expect(newKey).toMatchObject({ registered: true, key: { alg: 'p256' } });
    expect(newKey?.pending).toBeUndefined();
    expect(r.devices[0]?.rotated).toEqual({ from: oldKeyId, to: newKeyId });

    // Records 1-5 (the outbox) under the old key, accepted before the rotation; 6-8 under the new one.
    const signers = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7, 8].map((s) => signerOfRecord(id, s)));
    expect(signers).toEqual([...Array(6).fill(oldKeyId), ...Array(3).fill(newKeyId)]);
    const rotation = (await rt.statements.listKeyEvents(id, { limit: 10 })).items.find(
      (e) => e.keyEvent?.type === 'rotate',
    );
    expect(rotation?.keyEvent?.keyId).toBe(newKeyId);
    expect((await rt.index.getRecord(id, 5))?.receivedAt).toBeLessThanOrEqual(rotation?.receivedAt ?? 0);
    expect((await rt.index.getRecord(id, 6))?.receivedAt).toBeGreaterThanOrEqual(rotation?.receivedAt ?? 0);
    const keys = (await rt.index.getDevice(id))?.keys ?? [];
    expect(keys.map((k) => [k.keyId, k.status])).toEqual([
      [oldKeyId, 'revoked'],
      [newKeyId, 'active'],
    ]);
    // The closing head is signed by the new key.
    const last = (await heads(id)).at(-1);
    const h = parseHead(fromBase64(last?.leaf ?? '') ?? new Uint8Array(0));
    expect(h.ok && [h.head.count, toHex(h.head.keyId)]).toEqual([9, newKeyId]);
  });

  it('finishes a rotation an earlier run stored but never got an answer for, before sealing anything', async () => {
    const dir = stateDir();
    const id = 'half-3-0001';
    await startFleet(opts(dir, 'half', { records: 1 })).result;
    // The earlier run crashed right after storing the rotation: it may or may not have been published.
    const keys = new SigningKeyStore(dir);
    const pending = keys.beginRotation(id, 'ed25519', Date.now() - 1000).pending;
    const r = await startFleet(opts(dir, 'half', { records: 2 })).result;
    expect(r).toMatchObject({ stored: 2, rotated: 1, ok: true });
    expect(toHex(keys.load(id)?.key.keyId ?? new Uint8Array(0))).toBe(toHex(pending.key.keyId));
    expect(await signerOfRecord(id, 1)).toBe(toHex(pending.key.keyId));
  });

  it('keeps its key when the backend refuses the rotation, and says why', async () => {
    const dir = stateDir();
    const id = 'refused-3-0001';
    await startFleet(opts(dir, 'refused', { records: 1 })).result;
    const before = new SigningKeyStore(dir).load(id);
    await revokeKey(
      { devices: rt.index, statements: rt.statements, clock: Date.now },
      {
        deviceId: id,
        keyId: toHex(before?.key.keyId ?? new Uint8Array(0)),
        code: 'compromised',
        reason: 'test',
        actor: 'op',
      },
    );
    const r = await startFleet(opts(dir, 'refused', { records: 2, rotateKey: true })).result;
    expect(r).toMatchObject({ ok: false, created: 0, rotated: 0 });
    expect(r.devices[0]?.error).toMatchObject({
      code: 'rotation-refused',
      message: expect.stringMatching(/key-revoked/),
    });
    expect(r.devices[0]?.refusedStatements).toEqual([
      { kind: 'key', code: 'key-revoked', reason: expect.any(String) },
    ]);
    const after = new SigningKeyStore(dir).load(id);
    expect(after?.pending).toBeUndefined();
    expect(toHex(after?.key.keyId ?? new Uint8Array(0))).toBe(toHex(before?.key.keyId ?? new Uint8Array(0)));
  });

  it('--unsigned runs a legacy device: no key, v1 records, no heads', async () => {
    const dir = stateDir();
    const r = await startFleet(opts(dir, 'legacy', { unsigned: true })).result;
    expect(r).toMatchObject({ stored: 4, heads: 0, ok: true });
    expect(new SigningKeyStore(dir).load('legacy-3-0001')).toBeUndefined();
    expect(await rt.index.getDevice('legacy-3-0001')).toMatchObject({ allowUnsigned: true, keys: [] });
    expect(await signerOfRecord('legacy-3-0001', 3)).toBe('unsigned');
  });

  it('a legacy device run without --unsigned makes a key and registers it, then signs', async () => {
    const dir = stateDir();
    await startFleet(opts(dir, 'upgrade', { unsigned: true, records: 1 })).result;
    const r = await startFleet(opts(dir, 'upgrade', { records: 1 })).result;
    expect(r).toMatchObject({ stored: 1, heads: 1, ok: true });
    const keyId = toHex(new SigningKeyStore(dir).load('upgrade-3-0001')?.key.keyId ?? new Uint8Array(0));
    expect((await rt.index.getDevice('upgrade-3-0001'))?.keys.map((k) => k.keyId)).toEqual([keyId]);
    expect(await signerOfRecord('upgrade-3-0001', 0)).toBe('unsigned');
    expect(await signerOfRecord('upgrade-3-0001', 1)).toBe(keyId);
  });
});
