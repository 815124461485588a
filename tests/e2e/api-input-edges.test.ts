/**
 * The edges of the operator API's input, over real HTTP and MQTT against the embedded runtime: oversized
 * values, sequence numbers at 2^53 - 1, malformed query parameters and cursors, and the answers the docs
 * promise for an unknown path and a resent manifest.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { operatorFetch, startInProcess, waitFor } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
interface Ack {
  seq?: number;
  status: string;
  code?: string;
  recordId?: string;
}
interface ApiError {
  error: { code: string; message: string };
}

const TOP = Number.MAX_SAFE_INTEGER; // 2^53 - 1, the highest seq an envelope can carry

describe('API input edges', () => {
  let rt: Runtime;
  let api: ReturnType<typeof operatorFetch>;
  const clients: MqttClient[] = [];

  /** Provisions the device and connects it; acks and grants are collected as they arrive. */
  async function online(device: TestDevice) {
    const r = await api<{ mqtt: { password: string } }>('/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ deviceId: device.deviceId, masterKey: device.masterKeyBase64 }),
    });
    expect(r.status).toBe(201);
    const id = device.deviceId;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, {
      clientId: id,
      username: id,
      password: r.body.mqtt.password,
      reconnectPeriod: 0,
    });
    clients.push(client);
    const acks: Ack[] = [];
    const grants: { url: string; headers: Record<string, string> }[] = [];
    client.on('message', (topic, payload) => {
      const msg = JSON.parse(payload.toString()) as {
        acks?: Ack[];
        url: string;
        headers: Record<string, string>;
      };
      if (topic.endsWith('/acks')) acks.push(...(msg.acks ?? []));
      else grants.push(msg);
    });
    await client.subscribeAsync([`devices/${id}/acks`, `devices/${id}/uploads/grant`], { qos: 1 });
    const ack = (n: number) => waitFor(`ack ${n}`, () => acks[n - 1], 10_000);
    return { client, acks, grants, ack };
  }

  beforeAll(async () => {
    rt = await startInProcess();
    api = operatorFetch(rt.baseUrl, rt.operatorToken);
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await rt.cleanup();
  });

  it('answers a 5 MB masterKey with 400 bad-request, not 500', async () => {
    for (const masterKey of ['A'.repeat(5 * 1024 * 1024), `${'A'.repeat(5 * 1024 * 1024)}!`]) {
      const r = await api<ApiError>('/v1/devices', {
        method: 'POST',
        body: JSON.stringify({ deviceId: 'huge-key', masterKey }),
      });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({
        error: { code: 'bad-request', message: 'masterKey must be 32 bytes, base64' },
      });
    }
    expect((await api('/v1/devices/huge-key/credentials', { method: 'POST' })).status).toBe(404);
  });

  it('reports the gaps of a device that stored seq 2^53 - 1, without parameters', async () => {
    const dev = new TestDevice('seq-top');
    const d = await online(dev);
    const first = dev.seal({ timestamp: Date.now() });
    const last = dev.seal({ seq: TOP, timestamp: Date.now() });
    await d.client.publishAsync('devices/seq-top/records', Buffer.from(first.envelope), { qos: 1 });
    await d.client.publishAsync('devices/seq-top/records', Buffer.from(last.envelope), { qos: 1 });
    expect(await d.ack(2)).toMatchObject({ status: 'stored', recordId: `seq-top.${TOP}` });

    const r = await api('/v1/devices/seq-top/gaps');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      deviceId: 'seq-top',
      fromSeq: 0,
      toSeq: TOP,
      highestSeq: TOP,
      received: 2,
      gaps: [{ kind: 'not-received', fromSeq: 1, toSeq: TOP - 1 }],
    });
    const top = await api(`/v1/devices/seq-top/gaps?fromSeq=${TOP}&toSeq=${TOP}`);
    expect(top.body).toMatchObject({ received: 1, gaps: [] });
  });

  it('refuses malformed sequence and time parameters with 400 bad-request', async () => {
    const refused: [string, string][] = [
      ['/v1/devices/seq-top/gaps?fromSeq=', 'fromSeq'],
      ['/v1/devices/seq-top/gaps?toSeq=', 'toSeq'],
      ['/v1/devices/seq-top/gaps?fromSeq=%205', 'fromSeq'],
      ['/v1/devices/seq-top/gaps?fromSeq=1e3', 'fromSeq'],
      ['/v1/devices/seq-top/gaps?toSeq=9007199254740992', 'toSeq'],
      ['/v1/devices/seq-top/gaps?fromSeq=5&toSeq=4', 'fromSeq (5) is greater than toSeq (4)'],
      ['/v1/devices/seq-top/records?from=2000&to=1000', 'from is after to'],
      ['/v1/devices/seq-top/records?limit=', 'limit'],
      ['/v1/audit?limit=', 'limit'],
    ];
    for (const [path, mentions] of refused) {
      const r = await api<ApiError>(path);
      expect(r.status, path).toBe(400);
      expect(r.body.error.code, path).toBe('bad-request');
      expect(r.body.error.message, path).toContain(mentions);
    }
  });

  it('refuses a garbage cursor on every paged route with 400 invalid-cursor; a real one still pages', async () => {
    const json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const routes = ['/v1/devices/seq-top/records', '/v1/dead-letters', '/v1/audit'];
    const cursors = [
      'garbage!',
      'bm90IGpzb24',
      json({ a: 1 }),
      json(['x', 'y']),
      json([-1, 'x']),
      'A'.repeat(600),
    ];
    for (const route of routes) {
      for (const cursor of cursors) {
        const r = await api<ApiError>(`${route}?cursor=${encodeURIComponent(cursor)}`);
        expect(r.status, `${route} ${cursor}`).toBe(400);
        expect(r.body.error.code, `${route} ${cursor}`).toBe('invalid-cursor');
      }
    }
    const page1 = await api<{ items: { seq: number }[]; next?: string }>(
      '/v1/devices/seq-top/records?limit=1',
    );
    expect(page1.body.items.map((i) => i.seq)).toEqual([0]);
    const page2 = await api<{ items: { seq: number }[]; next?: string }>(
      `/v1/devices/seq-top/records?limit=1&cursor=${page1.body.next}`,
    );
    expect(page2.status).toBe(200);
    expect(page2.body.items.map((i) => i.seq)).toEqual([TOP]);
  });

  it('answers an unknown path with a valid token with the JSON not-found error', async () => {
    const res = await fetch(`${rt.baseUrl}/v1/no-such-route`, {
      headers: { authorization: `Bearer ${rt.operatorToken}` },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      error: { code: 'not-found', message: 'no route GET /v1/no-such-route' },
    });
    expect((await fetch(`${rt.baseUrl}/v1/no-such-route`)).status).toBe(401);
  });

  it('answers a manifest sent again after it was stored with duplicate, not upload-not-found', async () => {
    const dev = new TestDevice('resender');
    const d = await online(dev);
    const s = dev.seal({ plaintext: new Uint8Array(200_000).fill(1), timestamp: Date.now() });
    const manifest = JSON.stringify({
      v: 1,
      seq: 0,
      sha256: toHex(sha256(s.envelope)),
      size: s.envelope.length,
    });
    await d.client.publishAsync('devices/resender/uploads/request', manifest, { qos: 1 });
    const grant = await waitFor('a grant', () => d.grants[0]);
    const put = await fetch(grant.url, {
      method: 'PUT',
      headers: grant.headers,
      body: Buffer.from(s.envelope),
    });
    expect(put.status).toBe(201);
    await d.client.publishAsync('devices/resender/manifests', manifest, { qos: 1 });
    expect(await d.ack(1)).toEqual({ seq: 0, status: 'stored', recordId: 'resender.0' });
    await d.client.publishAsync('devices/resender/manifests', manifest, { qos: 1 });
    expect(await d.ack(2)).toEqual({ seq: 0, status: 'duplicate', recordId: 'resender.0' });
  });
});
