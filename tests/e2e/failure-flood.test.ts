/**
 * Floods of unauthenticated failures against the runtime process, over real sockets: thousands of refused
 * MQTT CONNECTs and bad `PUT /v1/uploads`, each flood from its own local address (127.x.y.z all reach the
 * runtime on 127.0.0.1). Each must leave a bounded number of dead-letter rows and log lines, keep the exact
 * count of what was refused, and leave real devices on other sources unaffected: a connected device keeps
 * publishing and is acknowledged throughout, and devices still connect and upload.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import type { DeadLetter, Page } from '../../lib/ports.js';
import { connectOnce, histogram, httpFrom, inWaves } from '../support/flood.js';
import {
  operatorFetch,
  REPO,
  type SpawnedRuntime,
  spawnRuntime,
  tempDir,
  waitFor,
} from '../support/runtime.js';

/** Starting the runtime process can take most of a minute on a loaded 2-core machine. */
const SPAWN_TIMEOUT_MS = 120_000;

const MASTER = new Uint8Array(32).fill(9);
/** The runtime's settings for this suite; the bounds below are derived from them. */
const BURST = 10;
const SUMMARY_MS = 1000;

interface Ack {
  seq?: number;
  status: string;
  code?: string;
}
interface Grant {
  seq?: number;
  url?: string;
  headers?: Record<string, string>;
}

function seal(deviceId: string, seq: number, plaintext: string) {
  const timestamp = Date.now();
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

/** Every refusal one dead letter stands for: an aggregate carries its count, a single refusal none. */
const refusals = (items: readonly DeadLetter[]) => items.reduce((n, d) => n + (d.count ?? 1), 0);

describe('floods of unauthenticated failures are rate-limited per source and per device id', () => {
  const dataDir = tempDir('iotn-flood-');
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  const passwords = new Map<string, string>();
  const clients: MqttClient[] = [];

  async function provision(deviceId: string): Promise<void> {
    const r = await api<{ mqtt: { password: string } }>('/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ deviceId, masterKey: toBase64(MASTER) }),
    });
    expect(r.status).toBe(201);
    passwords.set(deviceId, r.body.mqtt.password);
  }

  /** A real device over mqtt.js from 127.0.0.1, collecting its acks and grants. */
  async function device(deviceId: string) {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.info.mqttPort}`, {
      clientId: deviceId,
      username: deviceId,
      password: passwords.get(deviceId) ?? '',
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    clients.push(client);
    const acks: Ack[] = [];
    const grants: Grant[] = [];
    client.on('message', (topic, payload) => {
      const msg = JSON.parse(payload.toString()) as { acks?: Ack[] } & Grant;
      if (topic.endsWith('/acks')) acks.push(...(msg.acks ?? []));
      else grants.push(msg);
    });
    await client.subscribeAsync([`devices/${deviceId}/acks`, `devices/${deviceId}/uploads/grant`], {
      qos: 1,
    });
    return { client, acks, grants };
  }

  async function allDeadLetters(): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    let cursor: string | undefined;
    do {
      const q = `?limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await api<Page<DeadLetter>>(`/v1/dead-letters${q}`)).body;
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return out;
  }

  /** Log lines the runtime wrote about refusals so far: one per refusal kept singly, one per summary. */
  const refusalLogLines = () =>
    rt
      .output()
      .split('\n')
      .filter((l) => /"msg":"(broker refused a client|upload refused|refusals summarised)"/.test(l));

  beforeAll(async () => {
    rt = await spawnRuntime(dataDir, {
      FAILURE_BURST: String(BURST),
      FAILURE_RATE_PER_MINUTE: '6',
      FAILURE_SUMMARY_MS: String(SUMMARY_MS),
    });
    api = operatorFetch(rt.info.baseUrl, rt.token);
    for (const id of ['steady', 'late', 'victim', 'uploader']) await provision(id);
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    for (const c of clients) c.end(true);
    // rt is unset when the runtime never started (spawnRuntime has killed it then).
    rt?.child.kill('SIGTERM');
    await rt?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('2,000 failed connects from one source: bounded rows and log lines, the count kept, real devices unaffected', async () => {
    const steady = await device('steady');
    const logBefore = refusalLogLines().length;

    // The real device publishes throughout the flood, one record after another.
    let publishing = true;
    let sent = 0;
    const publisher = (async () => {
      while (publishing) {
        const s = seal('steady', sent, `reading ${sent}`);
        await steady.client.publishAsync('devices/steady/records', Buffer.from(s.envelope), { qos: 1 });
        sent++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const started = Date.now();
    // The flood claims the real device's id with a wrong password, from another address.
    const answers = await inWaves(2000, 50, () =>
      connectOnce({
        host: '127.0.0.1',
        port: rt.info.mqttPort,
        localAddress: '127.0.0.2',
        clientId: 'steady',
        password: 'guess',
      }),
    );
    // A device that connects during the flood, from its own address, gets in.
    const late = await device('late');
    expect(late.client.connected).toBe(true);
    publishing = false;
    await publisher;
    const elapsed = Date.now() - started;

    // Every attempt was answered with a refusal: CONNACK 4 while within budget, 3 once rate-limited.
    const h = histogram(answers);
    expect([...h.keys()].sort()).toEqual([3, 4]);
    expect(h.get(3)).toBeGreaterThan(1500);

    // Every record the real device sent during the flood was stored and acknowledged.
    expect(sent).toBeGreaterThan(0);
    await waitFor('every ack', () => (steady.acks.length >= sent ? true : undefined));
    expect(steady.acks.map((a) => a.status)).toEqual(Array(sent).fill('stored'));

    // Once the last window is summarised, the dead letters count all 2,000 refusals...
    const fromFlood = await waitFor('the flood summarised', async () => {
      const items = (await allDeadLetters()).filter((d) => d.remoteAddress === '127.0.0.2');
      return refusals(items) === 2000 ? items : undefined;
    });
    // ...in a few rows: the burst kept singly, then one aggregate per code and window.
    const windows = Math.ceil(elapsed / SUMMARY_MS) + 2;
    expect(fromFlood.length).toBeLessThanOrEqual(BURST + 2 + 2 * windows);
    const single = fromFlood.filter((d) => d.count === undefined);
    expect(single.length).toBeLessThanOrEqual(BURST + 2);
    expect(single.every((d) => d.code === 'bad-credentials' && d.deviceId === 'steady')).toBe(true);
    // Mostly refusals without a check; a CONNECT whose check was under way when the budget ran out is
    // counted under its own code.
    const aggregates = fromFlood.filter((d) => d.count !== undefined);
    expect(aggregates.map((d) => d.code)).toContain('rate-limited');
    expect(aggregates.every((d) => ['rate-limited', 'bad-credentials'].includes(d.code))).toBe(true);
    for (const a of aggregates) {
      expect(a).toMatchObject({ source: 'broker', remoteAddress: '127.0.0.2' });
      expect(a.firstAt).toBeLessThanOrEqual(a.lastAt ?? 0);
      expect(a.at).toBe(a.lastAt);
    }
    // The log grew by a few lines, not 2,000.
    expect(refusalLogLines().length - logBefore).toBeLessThanOrEqual(BURST + 2 + windows);
  });

  it('failures claiming one device id from many sources are summarised per device id, and the device still connects', async () => {
    // Ten attempts from each of 100 addresses: every source stays within its own budget.
    const sources = Array.from({ length: 100 }, (_, i) => `127.0.1.${i + 1}`);
    const started = Date.now();
    const answers = await inWaves(1000, 50, (i) =>
      connectOnce({
        host: '127.0.0.1',
        port: rt.info.mqttPort,
        localAddress: sources[i % sources.length] as string,
        clientId: 'victim',
        password: 'guess',
      }),
    );
    const elapsed = Date.now() - started;
    // Each source stayed within its own budget, so each attempt had its credentials checked.
    expect(histogram(answers)).toEqual(new Map([[4, 1000]]));
    // The device id's budget is what bounded the rows.
    const aboutVictim = await waitFor('the flood summarised', async () => {
      const items = (await allDeadLetters()).filter((d) => d.deviceId === 'victim');
      return refusals(items) === 1000 ? items : undefined;
    });
    const windows = Math.ceil(elapsed / SUMMARY_MS) + 2;
    expect(aboutVictim.length).toBeLessThanOrEqual(BURST + 2 + windows);
    // A failure budget never locks a device out: with its own password it connects at once.
    const answer = await connectOnce({
      host: '127.0.0.1',
      port: rt.info.mqttPort,
      clientId: 'victim',
      password: passwords.get('victim') ?? '',
    });
    expect(answer).toBe(0);
  });

  it('2,000 bad uploads from one source: 429 with Retry-After once over budget, bounded rows, a real upload still lands', async () => {
    const flood = httpFrom('127.0.0.3');
    const bogus = `${rt.info.baseUrl}/v1/uploads?key=uploads%2Fuploader%2F${'a'.repeat(64)}&sha256=${'a'.repeat(64)}&size=3&exp=${Date.now() + 600_000}&sig=forged`;
    const logBefore = refusalLogLines().length;
    const started = Date.now();
    const answers = await inWaves(2000, 32, () => flood.send(bogus, 'PUT', new Uint8Array([1, 2, 3])));
    const elapsed = Date.now() - started;
    flood.close();

    const statuses = histogram(answers.map((a) => a.status));
    expect([...statuses.keys()].sort()).toEqual([403, 429]);
    expect(statuses.get(429)).toBeGreaterThan(1500);
    const limited = answers.find((a) => a.status === 429);
    expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(limited?.body ?? '{}')).toEqual({
      error: { code: 'rate-limited', message: expect.stringMatching(/too many failed requests/) },
    });

    // A real device on another address uploads and ingests a large record meanwhile.
    const d = await device('uploader');
    const s = seal('uploader', 0, 'z'.repeat(150_000));
    const sha = toHex(sha256(s.envelope));
    await d.client.publishAsync(
      'devices/uploader/uploads/request',
      JSON.stringify({ v: 1, seq: 0, sha256: sha, size: s.envelope.length }),
      { qos: 1 },
    );
    const grant = await waitFor('a grant', () => d.grants[0]);
    const put = await fetch(grant.url ?? '', {
      method: 'PUT',
      headers: grant.headers ?? {},
      body: s.envelope,
    });
    expect(put.status).toBe(201);
    await d.client.publishAsync(
      'devices/uploader/manifests',
      JSON.stringify({ v: 1, seq: 0, sha256: sha, size: s.envelope.length }),
      { qos: 1 },
    );
    expect(await waitFor('the ack', () => d.acks[0])).toMatchObject({ seq: 0, status: 'stored' });

    const fromFlood = await waitFor('the flood summarised', async () => {
      const items = (await allDeadLetters()).filter((x) => x.remoteAddress === '127.0.0.3');
      return refusals(items) === 2000 ? items : undefined;
    });
    const windows = Math.ceil(elapsed / SUMMARY_MS) + 2;
    expect(fromFlood.length).toBeLessThanOrEqual(BURST + 2 + 2 * windows);
    expect(fromFlood.every((x) => x.source === 'upload')).toBe(true);
    expect(refusalLogLines().length - logBefore).toBeLessThanOrEqual(BURST + 2 + windows);
  });
  it('the device stub, turned away with CONNACK 3, waits for its address to refill and then delivers', async () => {
    // The stub connects from 127.0.0.1: use up that address's budget first.
    const answers = await inWaves(BURST + 5, 5, () =>
      connectOnce({ host: '127.0.0.1', port: rt.info.mqttPort, clientId: 'steady', password: 'guess' }),
    );
    expect(histogram(answers).get(3)).toBeGreaterThan(0);
    // mqtt.js gives up for good after a refused CONNACK unless told to retry: the stub then waited forever.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          '--disable-warning=ExperimentalWarning',
          '--import',
          'tsx',
          'device-stub/cli.ts',
          '--devices',
          '2',
          '--records',
          '3',
          '--prefix',
          'refill',
        ],
        { cwd: REPO, env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8', timeout: 90_000 },
        (err, stdout, stderr) =>
          resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/ 6\/6 records acknowledged \(6 stored, 0 duplicate, 0 rejected\)/);
    expect(r.status).toBe(0);
  }, 120_000);
});
