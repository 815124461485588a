/**
 * The broker against a hostile network, each case over real sockets against the runtime running as its own
 * process: frames larger than any route allows (before and after authentication), sockets that never finish
 * their CONNECT, more unauthenticated sockets than the broker admits, retained publishes, and a device whose
 * password is rotated while it is connected. Memory is read from the child's /proc/<pid>/status.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import type { DeadLetter } from '../../lib/ports.js';
import { floodOversizedConnect, openSocket, openStalledConnect } from '../support/hostile-mqtt.js';
import { MiB, peakRssBytes, resetPeakRss, rssBytes } from '../support/process-memory.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

const MASTER = new Uint8Array(32).fill(9);
const CONNECT_TIMEOUT_MS = 4000;
const MAX_PENDING = 8;

function seal(deviceId: string, seq: number, plaintext: Uint8Array = new TextEncoder().encode('reading')) {
  const timestamp = Date.now();
  return sealRecord({
    recordKey: deriveRecordKey(MASTER, deviceId, timestamp, seq),
    deviceId,
    seq,
    timestamp,
    prevHash: ZERO_HASH,
    nonce: randomBytes(12),
    plaintext,
  });
}

describe('broker limits against a hostile network', () => {
  let rt: SpawnedRuntime;
  let dataDir: string;
  let api: ReturnType<typeof operatorFetch>;
  const clients: MqttClient[] = [];

  const mqttUrl = () => `mqtt://127.0.0.1:${rt.info.mqttPort}`;

  async function provision(deviceId: string): Promise<string> {
    const r = await api<{ mqtt: { password: string } }>('/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ deviceId, masterKey: toBase64(MASTER) }),
    });
    expect(r.status).toBe(201);
    return r.body.mqtt.password;
  }

  async function connect(deviceId: string, password: string) {
    const client = await mqtt.connectAsync(mqttUrl(), {
      clientId: deviceId,
      username: deviceId,
      password,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    clients.push(client);
    const acks: { seq?: number; status: string; code?: string }[] = [];
    client.on('message', (_topic, payload) => {
      acks.push(...((JSON.parse(payload.toString()) as { acks?: typeof acks }).acks ?? []));
    });
    await client.subscribeAsync(`devices/${deviceId}/acks`, { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    return { client, acks, closed };
  }

  async function deadLetters(deviceId: string): Promise<DeadLetter[]> {
    return (await api<{ items: DeadLetter[] }>(`/v1/dead-letters?deviceId=${deviceId}&limit=100`)).body.items;
  }

  async function storedSeqs(deviceId: string): Promise<number[]> {
    const r = await api<{ items: { seq: number }[] }>(`/v1/devices/${deviceId}/records?limit=100`);
    return r.body.items.map((x) => x.seq);
  }

  beforeAll(async () => {
    dataDir = tempDir('iotn-broker-limits-');
    rt = await spawnRuntime(dataDir, {
      MQTT_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      MQTT_MAX_PENDING_CONNECTIONS: String(MAX_PENDING),
      DURABLE_WRITES: 'false',
    });
    api = operatorFetch(rt.info.baseUrl, rt.token);
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    rt.child.kill('SIGTERM');
    await rt.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('closes connections whose CONNECT declares 268 MB, without buffering what follows', async () => {
    const pid = rt.info.pid;
    const before = rssBytes(pid);
    const peakReset = resetPeakRss(pid);
    // Six sockets at once, as in the report that found this; each streams 32 MiB behind the header.
    const floods = await Promise.all(
      Array.from({ length: 6 }, () =>
        floodOversizedConnect(rt.info.mqttPort, { bytes: 32 * MiB, waitCloseMs: 10_000 }),
      ),
    );
    const peak = peakReset ? peakRssBytes(pid) : rssBytes(pid);
    // Unbounded, the broker holds every byte sent (6 × 32 MiB); bounded, it reads one chunk per socket.
    expect((peak - before) / MiB).toBeLessThan(48);
    expect(floods.map((f) => f.closedByServer)).toEqual([true, true, true, true, true, true]);
    // The runtime still serves devices.
    const d = await connect('after-flood', await provision('after-flood'));
    await d.client.publishAsync('devices/after-flood/records', Buffer.from(seal('after-flood', 0).envelope), {
      qos: 1,
    });
    await waitFor('the ack', () => d.acks.find((a) => a.seq === 0 && a.status === 'stored'));
  });

  it('closes a socket that does not finish its CONNECT within MQTT_CONNECT_TIMEOUT_MS', async () => {
    const s = await openStalledConnect(rt.info.mqttPort);
    // aedes's own default is 30 s; the setting must win.
    await waitFor('the server to close the stalled socket', () => s.isClosed(), CONNECT_TIMEOUT_MS * 3);
  });

  it('admits at most MQTT_MAX_PENDING_CONNECTIONS unauthenticated sockets; the next is closed at once', async () => {
    const idle = await Promise.all(Array.from({ length: MAX_PENDING }, () => openSocket(rt.info.mqttPort)));
    const extra = await openSocket(rt.info.mqttPort);
    await waitFor(
      'the server to close the socket over the limit',
      () => extra.isClosed(),
      CONNECT_TIMEOUT_MS,
    );
    expect(idle.filter((s) => s.isClosed())).toHaveLength(0);
    // Once they are gone, a device gets in again: the count follows sockets closing.
    for (const s of idle) s.socket.destroy();
    await Promise.all(idle.map((s) => s.closed));
    const password = await provision('after-pending');
    const d = await waitFor('a device to connect', () =>
      connect('after-pending', password).catch(() => undefined),
    );
    expect(d.client.connected).toBe(true);
  });

  it('closes a device connection whose PUBLISH exceeds the frame limit, and keeps a dead letter', async () => {
    const d = await connect('huge', await provision('huge'));
    const envelope = Buffer.from(seal('huge', 0, randomBytes(300 * 1024)).envelope);
    d.client.publish('devices/huge/records', envelope, { qos: 1 });
    await d.closed;
    const dl = await waitFor('a dead letter', async () =>
      (await deadLetters('huge')).find((x) => x.code === 'frame-too-large'),
    );
    expect(dl).toMatchObject({ source: 'broker', deviceId: 'huge', clientId: 'huge' });
    expect(dl.reason).toMatch(/exceeds the broker's 132096-byte frame limit/);
    expect(await storedSeqs('huge')).toEqual([]);
  });

  it('refuses a retained publish on a device topic: connection closed, dead letter, nothing stored', async () => {
    const d = await connect('retainer', await provision('retainer'));
    d.client.publish('devices/retainer/records', Buffer.from(seal('retainer', 0).envelope), {
      qos: 1,
      retain: true,
    });
    await d.closed;
    const dl = await waitFor('a dead letter', async () =>
      (await deadLetters('retainer')).find((x) => x.code === 'retain-not-allowed'),
    );
    expect(dl).toMatchObject({ source: 'broker', topic: 'devices/retainer/records', deviceId: 'retainer' });
    expect(d.acks).toEqual([]);
    expect(await storedSeqs('retainer')).toEqual([]);
  });

  it("rotating a device's password closes its live session; the old password is refused, the new one works", async () => {
    const old = await provision('rotated');
    const d = await connect('rotated', old);
    await d.client.publishAsync('devices/rotated/records', Buffer.from(seal('rotated', 0).envelope), {
      qos: 1,
    });
    await waitFor('the first ack', () => d.acks.find((a) => a.seq === 0));

    const r = await api<{ mqtt: { password: string } }>('/v1/devices/rotated/credentials', {
      method: 'POST',
    });
    expect(r.status).toBe(200);
    // The session opened with the old password ends without the client doing anything.
    await waitFor('the old session to be closed', () => (d.client.connected ? undefined : true), 10_000);
    await d.closed;
    await expect(connect('rotated', old)).rejects.toMatchObject({ code: 4 });

    const fresh = await connect('rotated', r.body.mqtt.password);
    await fresh.client.publishAsync('devices/rotated/records', Buffer.from(seal('rotated', 1).envelope), {
      qos: 1,
    });
    await waitFor('the ack on the new session', () => fresh.acks.find((a) => a.seq === 1));
    expect(await storedSeqs('rotated')).toEqual([0, 1]);
  });
});
