/**
 * The device stub over mutual TLS, as it connects to AWS IoT Core: a client certificate per device, no
 * password, client id = device id. AWS IoT cannot run here, so the broker is a STAND-IN: aedes behind a TLS
 * server that requires a client certificate from our test CA and accepts a client only if the certificate's
 * CN is its client id (what an AWS IoT policy with iot:Connection.Thing.IsAttached enforces). Behind it run
 * the real router and ingest on the local adapters.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet } from '../../device-stub/fleet.js';
import { createDeviceMessageHandler } from '../../lib/ingest/ingest-handler.js';
import { silentLogger } from '../../lib/logger.js';
import { devicePublishTopics, deviceSubscribeTopics } from '../../lib/routing/routes.js';
import { type RunningRouter, startRouter } from '../../lib/runtime/mqtt-router.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { tempDir } from '../support/runtime.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'tls');
const pem = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

describe('device stub over mutual TLS (AWS IoT stand-in broker)', () => {
  let stack: LocalStack;
  let broker: Aedes;
  let server: Server;
  let router: RunningRouter;
  let url: string;

  beforeAll(async () => {
    stack = await openLocalStack();
    broker = await Aedes.createBroker({
      authenticate(client, _username, _password, done) {
        const conn = (client as unknown as { conn: TLSSocket }).conn;
        const cn = conn.getPeerCertificate?.().subject?.CN;
        if (cn === client.id) return done(null, true);
        done(
          Object.assign(new Error('certificate does not belong to this client id'), {
            returnCode: 5,
          }) as AuthenticateError,
          false,
        );
      },
      authorizePublish(client, packet, done) {
        if (!client || devicePublishTopics(client.id).includes(packet.topic)) return done(null);
        done(new Error('topic not allowed'));
      },
      authorizeSubscribe(client, sub, done) {
        done(null, deviceSubscribeTopics(client.id).includes(sub.topic) ? sub : null);
      },
    });
    server = createServer(
      {
        key: pem('broker.key.pem'),
        cert: pem('broker.pem'),
        ca: pem('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      broker.handle,
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `mqtts://localhost:${(server.address() as AddressInfo).port}`;
    // Devices as from before signing keys: this suite is about TLS, not origin (tests/e2e/key-lifecycle.test.ts, forgery.test.ts).
    await provisionLegacyDevices(stack.index, ['tls-1-0001', 'tls-1-0002']);
    const ingest = createDeviceMessageHandler({
      objects: stack.objects,
      index: stack.index,
      devices: stack.index,
      statements: stack.statements,
      origin: testOrigin(stack.index),
      clock: Date.now,
      log: silentLogger,
      limits: { maxClockSkewMs: 60_000, maxPacketBytes: 2 * 1024 * 1024, uploadTtlSeconds: 60 },
    });
    router = await startRouter({ broker, functions: { ingest }, log: silentLogger });
  });
  afterAll(async () => {
    await router.stop();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    server.close();
    await stack.close();
  });

  const fleet = (o: { ids: string[]; tlsDir: string }) =>
    startFleet({
      devices: o.ids.length,
      records: 6,
      ratePerSecond: 0,
      packetBytes: 300,
      seed: 1,
      prefix: 'tls',
      deviceIds: o.ids,
      mqttUrl: url,
      apiUrl: 'http://127.0.0.1:9', // not used: provision is off, as on AWS once keys are registered
      operatorToken: '',
      stateDir: tempDir('iotn-tls-stub-'),
      maxInFlight: 100,
      ackTimeoutMs: 2000,
      timeoutMs: 20_000,
      provision: false,
      unsigned: true,
      tls: { dir: o.tlsDir, ca: pem('ca.pem') },
    }).result;

  it('connects each device with its own certificate and no password, and every record is stored', async () => {
    const r = await fleet({ ids: ['tls-1-0001', 'tls-1-0002'], tlsDir: FIXTURES });
    expect(r).toMatchObject({ created: 12, stored: 12, rejected: 0, outboxLeft: 0, ok: true });
    expect(await stack.index.maxSeq('tls-1-0002')).toBe(5);
  });

  it('is refused when its certificate belongs to another device, and keeps its records', async () => {
    // A directory where tls-1-0001's files hold tls-1-0002's certificate and key.
    const dir = tempDir('iotn-wrong-cert-');
    const { copyFileSync } = await import('node:fs');
    copyFileSync(join(FIXTURES, 'tls-1-0002.cert.pem'), join(dir, 'tls-1-0001.cert.pem'));
    copyFileSync(join(FIXTURES, 'tls-1-0002.key.pem'), join(dir, 'tls-1-0001.key.pem'));
    const r = await fleet({ ids: ['tls-1-0001'], tlsDir: dir });
    expect(r.ok).toBe(false);
    expect(r.devices[0]?.error?.code).toBe('connection-refused');
    expect(r.outboxLeft).toBe(6);
  });
});
