/**
 * TLS on the embedded runtime's listeners, against the runtime as its own process, with the test CA and
 * certificates in tests/fixtures/tls: MQTT over TLS and HTTPS (the device stub trusting only that CA, as a
 * user runs it), then mutual TLS where a device's certificate is its credential, as on AWS IoT.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet } from '../../device-stub/fleet.js';
import { sendHttp } from '../../device-stub/http.js';
import type { DeadLetter } from '../../lib/ports.js';
import { REPO, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'tls');
const CA_FILE = join(FIXTURES, 'ca.pem');
const CA = readFileSync(CA_FILE, 'utf8');
const TLS_ENV = {
  TLS_CERT_FILE: join(FIXTURES, 'broker.pem'),
  TLS_KEY_FILE: join(FIXTURES, 'broker.key.pem'),
  MQTTS_PORT: '0',
  DURABLE_WRITES: 'false',
};

/** An operator call over HTTPS that trusts only the test CA. */
async function api<T>(
  rt: SpawnedRuntime,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: T }> {
  const res = await sendHttp(`${rt.info.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${rt.token}` },
    ca: CA,
  });
  return { status: res.status, body: JSON.parse(res.body.toString('utf8')) as T };
}

function runStub(dataDir: string, args: string[]) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '--import', 'tsx', 'device-stub/cli.ts', ...args],
      { cwd: REPO, env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8', timeout: 90_000 },
      (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

async function stop(rt: SpawnedRuntime, dataDir: string) {
  rt.child.kill('SIGTERM');
  await rt.exited;
  rmSync(dataDir, { recursive: true, force: true });
}

describe('MQTT over TLS and HTTPS, with plain MQTT off', () => {
  let rt: SpawnedRuntime;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir('iotn-tls-');
    // No plain listener at all: whatever reaches the runtime came over TLS.
    rt = await spawnRuntime(dataDir, { ...TLS_ENV, MQTT_PORT: 'off' });
  });
  afterAll(() => stop(rt, dataDir));

  it('serves the API over HTTPS only, under the configured certificate', async () => {
    expect(rt.info.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(rt.info.mqttsPort).toBeGreaterThan(0);
    expect(rt.info.mqttPort).toBeUndefined();
    const health = await sendHttp(`${rt.info.baseUrl}/v1/health`, { method: 'GET', ca: CA });
    expect(health.status).toBe(200);
    // Plain HTTP to the same port gets no answer, and a client that does not trust the CA none either.
    await expect(
      sendHttp(`${rt.info.baseUrl.replace('https:', 'http:')}/v1/health`, { method: 'GET', timeoutMs: 5000 }),
    ).rejects.toThrow();
    await expect(sendHttp(`${rt.info.baseUrl}/v1/health`, { method: 'GET' })).rejects.toThrow(
      /self[- ]signed|unable to (get|verify)/i,
    );
  });

  it('the device stub, given only the CA, provisions over HTTPS, publishes over MQTT/TLS and uploads over HTTPS', async () => {
    // It finds mqtts://…:mqttsPort and the https base URL in runtime.json.
    const small = await runStub(dataDir, [
      '--ca',
      CA_FILE,
      '--devices',
      '2',
      '--records',
      '5',
      '--seed',
      '7',
    ]);
    expect(small.stderr).toBe('');
    expect(small.stdout).toMatch(/2 devices, 10\/10 records acknowledged \(10 stored/);
    // 200 kB packets take the upload path: a grant over MQTT/TLS, a PUT to the HTTPS upload URL.
    const large = await runStub(dataDir, [
      '--ca',
      CA_FILE,
      '--devices',
      '1',
      '--records',
      '2',
      '--packet-size',
      '200000',
      '--prefix',
      'big',
    ]);
    expect(large.stdout).toMatch(/1 devices, 2\/2 records acknowledged \(2 stored/);
    const rec = await api<{ via: string; envelopeSize: number }>(rt, '/v1/records/big-1-0001.1');
    expect(rec.body).toMatchObject({ via: 'upload' });
    expect(rec.body.envelopeSize).toBeGreaterThan(200_000);
  });

  it('is refused by an MQTT client that does not trust the CA', async () => {
    await expect(
      mqtt.connectAsync(`mqtts://127.0.0.1:${rt.info.mqttsPort}`, {
        clientId: 'x',
        reconnectPeriod: 0,
        connectTimeout: 5000,
      }),
    ).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });
});

describe('mutual TLS: the device certificate is the credential', () => {
  let rt: SpawnedRuntime;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir('iotn-mtls-');
    rt = await spawnRuntime(dataDir, { ...TLS_ENV, TLS_CLIENT_CA_FILE: CA_FILE });
  });
  afterAll(() => stop(rt, dataDir));

  const fleet = (tlsDir: string, ids: string[]) =>
    startFleet({
      devices: ids.length,
      deviceIds: ids,
      records: 4,
      ratePerSecond: 0,
      packetBytes: 300,
      seed: 1,
      prefix: 'tls',
      mqttUrl: `mqtts://localhost:${rt.info.mqttsPort}`,
      apiUrl: rt.info.baseUrl,
      operatorToken: rt.token,
      stateDir: tempDir('iotn-mtls-stub-'),
      maxInFlight: 100,
      ackTimeoutMs: 3000,
      timeoutMs: 30_000,
      // Master keys are registered through the HTTPS API; the password it returns goes unused.
      provision: true,
      tls: { dir: tlsDir, ca: CA },
    }).result;

  it('connects each device with its own certificate and no password, and stores every record', async () => {
    const r = await fleet(FIXTURES, ['tls-1-0001', 'tls-1-0002']);
    expect(r).toMatchObject({ created: 8, stored: 8, rejected: 0, outboxLeft: 0, ok: true });
  });

  it("refuses a certificate whose CN is another device's, with CONNACK 5 and a dead letter", async () => {
    const dir = tempDir('iotn-wrong-cert-');
    copyFileSync(join(FIXTURES, 'tls-1-0002.cert.pem'), join(dir, 'tls-1-0001.cert.pem'));
    copyFileSync(join(FIXTURES, 'tls-1-0002.key.pem'), join(dir, 'tls-1-0001.key.pem'));
    const r = await fleet(dir, ['tls-1-0001']);
    expect(r.ok).toBe(false);
    expect(r.devices[0]?.error).toMatchObject({ code: 'connection-refused' });
    const dl = await waitFor('the dead letter', async () =>
      (await api<{ items: DeadLetter[] }>(rt, '/v1/dead-letters?limit=100')).body.items.find(
        (d) => d.code === 'certificate-mismatch',
      ),
    );
    expect(dl).toMatchObject({ source: 'broker', clientId: 'tls-1-0001' });
    expect(dl.reason).toMatch(/tls-1-0002/);
  });

  it('refuses a client without a certificate at the TLS handshake', async () => {
    await expect(
      mqtt.connectAsync(`mqtts://localhost:${rt.info.mqttsPort}`, {
        clientId: 'tls-1-0001',
        ca: CA,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      }),
    ).rejects.toMatchObject({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
  });
});
