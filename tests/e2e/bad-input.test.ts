/**
 * Bad input, each kind tried the way a broken or hostile device or caller would, over the real protocols.
 * Every one must be answered with a clear reason, kept as a dead letter an operator can list, and leave
 * nothing stored: no index entry, no object, nothing queued for anchoring.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet } from '../../device-stub/fleet.js';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import type { DeadLetter } from '../../lib/ports.js';
import { listObjectKeys } from '../support/object-db.js';
import { operatorFetch, startInProcess, tempDir, waitFor } from '../support/runtime.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
interface Ack {
  seq?: number;
  status: string;
  code?: string;
  reason?: string;
}

const MASTER = new Uint8Array(32).fill(7);

function seal(deviceId: string, seq: number, plaintext = 'reading', timestamp = Date.now()) {
  return sealRecord({
    recordKey: deriveRecordKey(MASTER, deviceId, timestamp, seq),
    deviceId,
    seq,
    timestamp,
    prevHash: ZERO_HASH,
    nonce: randomBytes(12),
    plaintext: new TextEncoder().encode(plaintext),
  });
}

describe('bad input is refused with a reason, kept, and stores nothing', () => {
  let rt: Runtime;
  let api: ReturnType<typeof operatorFetch>;
  const passwords = new Map<string, string>();
  const clients: MqttClient[] = [];

  async function provision(deviceId: string): Promise<string> {
    const r = await api<{ mqtt: { password: string } }>('/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ deviceId, masterKey: toBase64(MASTER) }),
    });
    expect(r.status).toBe(201);
    passwords.set(deviceId, r.body.mqtt.password);
    return r.body.mqtt.password;
  }

  /** A device connection that collects its acks and upload grants. */
  async function connect(deviceId: string, password = passwords.get(deviceId)) {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, {
      clientId: deviceId,
      username: deviceId,
      ...(password === undefined ? {} : { password }),
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    clients.push(client);
    const acks: Ack[] = [];
    const grants: unknown[] = [];
    client.on('message', (topic, payload) => {
      const msg = JSON.parse(payload.toString()) as { acks?: Ack[] };
      if (topic.endsWith('/acks')) acks.push(...(msg.acks ?? []));
      else grants.push(msg);
    });
    await client.subscribeAsync([`devices/${deviceId}/acks`, `devices/${deviceId}/uploads/grant`], {
      qos: 1,
    });
    const nextAck = async (n = acks.length + 1) =>
      waitFor('an ack', () => (acks.length >= n ? acks[n - 1] : undefined), 10_000);
    return { client, acks, grants, nextAck };
  }

  async function deadLetters(deviceId?: string): Promise<DeadLetter[]> {
    const q = deviceId ? `?deviceId=${deviceId}&limit=1000` : '?limit=1000';
    return (await api<{ items: DeadLetter[] }>(`/v1/dead-letters${q}`)).body.items;
  }

  /** Record hashes stored for a device, read straight from the object store's file. */
  function storedObjects(deviceId: string): string[] {
    const prefix = `records/${deviceId}/`;
    return listObjectKeys(join(rt.dataDir, 'objects.sqlite'), prefix).map((k) => k.slice(prefix.length));
  }

  beforeAll(async () => {
    rt = await startInProcess();
    api = operatorFetch(rt.baseUrl, rt.operatorToken);
    for (const id of [
      'good-1',
      'bad-json',
      'bad-schema',
      'big',
      'bad-hash',
      'replay',
      'spoofer',
      'victim',
      'garbage',
      'uploader',
    ]) {
      await provision(id);
    }
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await rt.cleanup();
  });

  it('accepts a good record (the baseline the others are measured against)', async () => {
    const d = await connect('good-1');
    const s = seal('good-1', 0);
    await d.client.publishAsync('devices/good-1/records', Buffer.from(s.envelope), { qos: 1 });
    expect(await d.nextAck()).toEqual({ seq: 0, status: 'stored', recordId: 'good-1.0' });
    expect(storedObjects('good-1')).toEqual([toHex(s.recordHash)]);
  });

  it.each([
    {
      name: 'malformed JSON',
      deviceId: 'bad-json',
      topic: 'devices/bad-json/manifests',
      payload: () => Buffer.from('{"v":1,"seq":'),
      code: 'malformed-json',
      reason: /not JSON/,
    },
    {
      name: 'a manifest of the wrong schema',
      deviceId: 'bad-schema',
      topic: 'devices/bad-schema/manifests',
      payload: () => Buffer.from(JSON.stringify({ v: 1, seq: 4, sha256: 'abc', extra: true })),
      code: 'schema-invalid',
      reason: /sha256|size|extra/,
    },
    {
      // Just over 128 KiB, inside the broker's frame limit (132096): ingest answers it. Larger frames are
      // closed at the broker (tests/e2e/broker-limits.test.ts).
      name: 'an oversize message (over 128 KiB)',
      deviceId: 'big',
      topic: 'devices/big/records',
      payload: () => Buffer.from(seal('big', 0, 'x'.repeat(131_000)).envelope),
      code: 'payload-too-large',
      reason: /exceeds 131072/,
    },
    {
      name: 'a ciphertext that does not match its hash',
      deviceId: 'bad-hash',
      topic: 'devices/bad-hash/records',
      payload: () => {
        const env = Buffer.from(seal('bad-hash', 0).envelope);
        env[env.length - 1] = (env[env.length - 1] as number) ^ 0xff;
        return env;
      },
      code: 'ciphertext-hash-mismatch',
      reason: /SHA-256/,
    },
    {
      name: 'bytes that are not an envelope',
      deviceId: 'garbage',
      topic: 'devices/garbage/records',
      payload: () => randomBytes(300),
      code: 'bad-magic',
      reason: /IOTN/,
    },
    {
      name: 'an envelope sealed for another device',
      deviceId: 'garbage',
      topic: 'devices/garbage/records',
      payload: () => Buffer.from(seal('victim', 0).envelope),
      code: 'device-mismatch',
      reason: /for device victim/,
    },
  ])('refuses $name', async ({ deviceId, topic, payload, code, reason }) => {
    const pendingBefore = await rt.index.countPending();
    const d = await connect(deviceId);
    const body = payload();
    await d.client.publishAsync(topic, body, { qos: 1 });
    const ack = await d.nextAck();
    expect(ack.status).toBe('rejected');
    expect(ack.code).toBe(code);
    expect(ack.reason).toMatch(reason);
    const dl = (await deadLetters(deviceId)).find((x) => x.code === code);
    expect(dl).toMatchObject({
      source: 'mqtt',
      topic,
      deviceId,
      payloadSize: body.length,
      payloadSha256: toHex(sha256(body)),
    });
    expect(storedObjects(deviceId)).toEqual([]);
    expect(await rt.index.maxSeq(deviceId)).toBeUndefined();
    expect(await rt.index.countPending()).toBe(pendingBefore);
  });

  it('refuses a replayed sequence number with different content, and keeps the first', async () => {
    const d = await connect('replay');
    const first = seal('replay', 0, 'first');
    await d.client.publishAsync('devices/replay/records', Buffer.from(first.envelope), { qos: 1 });
    expect(await d.nextAck(1)).toMatchObject({ status: 'stored' });
    // Same bytes again: an honest redelivery, acknowledged as a duplicate.
    await d.client.publishAsync('devices/replay/records', Buffer.from(first.envelope), { qos: 1 });
    expect(await d.nextAck(2)).toMatchObject({ status: 'duplicate', seq: 0 });
    // Same seq, other content: a replay.
    await d.client.publishAsync('devices/replay/records', Buffer.from(seal('replay', 0, 'forged').envelope), {
      qos: 1,
    });
    expect(await d.nextAck(3)).toMatchObject({ status: 'rejected', code: 'sequence-replayed', seq: 0 });
    expect(storedObjects('replay')).toEqual([toHex(first.recordHash)]);
    expect((await rt.index.getRecord('replay', 0))?.recordHash).toBe(toHex(first.recordHash));
    expect((await deadLetters('replay')).map((x) => x.code)).toEqual(['sequence-replayed']);
  });

  it("disconnects a device that publishes under another device's topic, and stores nothing for either", async () => {
    const d = await connect('spoofer');
    const closed = new Promise<void>((resolve) => d.client.once('close', () => resolve()));
    d.client.publish('devices/victim/records', Buffer.from(seal('victim', 0).envelope), { qos: 1 });
    await closed;
    const dl = await waitFor('a dead letter', async () =>
      (await deadLetters('spoofer')).find((x) => x.code === 'topic-not-allowed'),
    );
    expect(dl).toMatchObject({ source: 'broker', topic: 'devices/victim/records', clientId: 'spoofer' });
    expect(storedObjects('victim')).toEqual([]);
    expect(await rt.index.maxSeq('victim')).toBeUndefined();
  });

  it("refuses a subscription to another device's acks", async () => {
    const d = await connect('spoofer');
    // SUBACK 0x80; mqtt.js reports it as a failed subscribe. The connection stays up.
    await expect(d.client.subscribeAsync('devices/victim/acks', { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    expect(d.client.connected).toBe(true);
    expect((await deadLetters('spoofer')).map((x) => x.code)).toContain('subscribe-not-allowed');
  });

  it('refuses a wrong password at CONNECT, and an unknown device', async () => {
    await expect(connect('victim', 'not-the-password')).rejects.toMatchObject({ code: 4 });
    await expect(connect('nobody', 'whatever')).rejects.toMatchObject({ code: 4 });
    const codes = (await deadLetters()).filter((x) => x.source === 'broker').map((x) => x.code);
    expect(codes).toEqual(expect.arrayContaining(['bad-credentials', 'unknown-device']));
  });

  it('refuses operator calls without a token, or with a wrong one', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${rt.operatorToken}` },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${rt.baseUrl}/v1/records/good-1.0/verify`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.json()).toEqual({
        error: { code: 'unauthorized', message: expect.stringMatching(/bearer token/) },
      });
    }
    const prov = await fetch(`${rt.baseUrl}/v1/devices`, {
      method: 'POST',
      body: JSON.stringify({ deviceId: 'x', masterKey: toBase64(MASTER) }),
    });
    expect(prov.status).toBe(401);
    expect(await rt.index.getDevice('x')).toBeUndefined();
  });

  it('refuses an upload whose bytes differ from the signed checksum, and the manifest that follows', async () => {
    const d = await connect('uploader');
    const s = seal('uploader', 0, 'y'.repeat(200_000));
    const sha = toHex(sha256(s.envelope));
    await d.client.publishAsync(
      'devices/uploader/uploads/request',
      JSON.stringify({ v: 1, seq: 0, sha256: sha, size: s.envelope.length }),
      { qos: 1 },
    );
    const grant = (await waitFor('a grant', () => d.grants[0])) as {
      url: string;
      headers: Record<string, string>;
    };
    const corrupted = Buffer.from(s.envelope);
    corrupted[1000] = (corrupted[1000] as number) ^ 1;
    const put = await fetch(grant.url, { method: 'PUT', headers: grant.headers, body: corrupted });
    expect(put.status).toBe(400);
    expect(await put.json()).toEqual({
      error: { code: 'upload-checksum-mismatch', message: expect.any(String) },
    });
    await d.client.publishAsync(
      'devices/uploader/manifests',
      JSON.stringify({ v: 1, seq: 0, sha256: sha, size: s.envelope.length }),
      { qos: 1 },
    );
    expect(await d.nextAck()).toMatchObject({ status: 'rejected', code: 'upload-not-found', seq: 0 });
    expect((await deadLetters('uploader')).map((x) => x.code)).toEqual(
      expect.arrayContaining(['upload-checksum-mismatch', 'upload-not-found']),
    );
    expect(storedObjects('uploader')).toEqual([]);
  });
});

describe('how the device stub reacts to refusals', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await startInProcess();
  });
  afterAll(async () => {
    await rt.cleanup();
  });

  it('stops with publish-refused, keeping its records, when the broker refuses its topic', async () => {
    const stateDir = tempDir('iotn-stub-');
    const r = await startFleet({
      devices: 1,
      records: 3,
      ratePerSecond: 0,
      packetBytes: 100,
      seed: 1,
      prefix: 'liar',
      deviceIds: ['liar'],
      publishAsDeviceId: 'someone-else',
      mqttUrl: `mqtt://127.0.0.1:${rt.mqttPort}`,
      apiUrl: rt.baseUrl,
      operatorToken: rt.operatorToken,
      stateDir,
      maxInFlight: 10,
      ackTimeoutMs: 2000,
      timeoutMs: 30_000,
    }).result;
    expect(r.ok).toBe(false);
    expect(r.devices[0]?.error?.code).toBe('publish-refused');
    expect(r.devices[0]?.error?.message).toMatch(/topic policy.*3 records kept/);
    expect(r.outboxLeft).toBe(3);
  });
});
