/**
 * The device stub's settings for real devices on AWS IoT Core (issue 11 part 7), against real brokers:
 *  - ALPN `x-amzn-mqtt-ca` on port 443. AWS IoT cannot run here: the broker is a STAND-IN, aedes behind a
 *    TLS server that, like IoT on 443, closes every connection that did not negotiate that protocol;
 *  - persistent sessions: acks the backend publishes while the device is disconnected reach it after it
 *    reconnects (the embedded aedes broker, with a test backend that acks every record);
 *  - publishes paced under a rate per connection, checked by counting publishes per 1000 ms window.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type PublishPacket } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AWS_IOT_MQTT_ALPN,
  alpnFor,
  basicIngestRulePrefixFrom,
  DEFAULT_MAX_PUBLISHES_PER_SECOND,
  defaultPublishRateFor,
  PublishPacer,
  wireTopic,
} from '../../device-stub/connection-settings.js';
import { SimulatedDevice } from '../../device-stub/device.js';
import { startFleet } from '../../device-stub/fleet.js';
import { Outbox } from '../../device-stub/outbox.js';
import { simulatedMasterKey } from '../../device-stub/readings.js';
import { parseHeader, ZERO_HASH } from '../../lib/core/envelope.js';
import { deviceReplyTopics } from '../../lib/routing/routes.js';
import { tempDir } from '../support/runtime.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'tls');
const pem = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

describe('ALPN for AWS IoT on port 443', () => {
  it('offers x-amzn-mqtt-ca for MQTT over TLS on 443, and nothing elsewhere', () => {
    expect(alpnFor('mqtts://abc-ats.iot.eu-west-1.amazonaws.com:443')).toEqual(['x-amzn-mqtt-ca']);
    expect(alpnFor('tls://abc-ats.iot.eu-west-1.amazonaws.com:443')).toEqual(['x-amzn-mqtt-ca']);
    expect(alpnFor('mqtts://abc-ats.iot.eu-west-1.amazonaws.com:8883')).toBeUndefined();
    expect(alpnFor('mqtts://abc-ats.iot.eu-west-1.amazonaws.com')).toBeUndefined();
    expect(alpnFor('mqtt://127.0.0.1:443')).toBeUndefined();
  });
});

/** A broker on a free port, with a backend that acks each record it receives (the test decides when). */
interface TestBroker {
  broker: Aedes;
  url: string;
  /** Record publishes received, as seq per device. */
  received: number[];
  ack(deviceId: string, seqs: number[], status: 'stored' | 'duplicate'): Promise<void>;
  close(): Promise<void>;
}

async function startTestBroker(
  o: {
    authenticate?: (clientId: string) => AuthenticateError | null;
    tls?: (socket: TLSSocket) => boolean;
  } = {},
): Promise<TestBroker> {
  const broker = await Aedes.createBroker({
    authenticate(client, _u, _p, done) {
      const err = o.authenticate?.(client.id) ?? null;
      done(err, err === null);
    },
  });
  let server: TcpServer;
  if (o.tls) {
    const accept = o.tls;
    server = createTlsServer(
      {
        key: pem('broker.key.pem'),
        cert: pem('broker.pem'),
        ca: pem('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: [AWS_IOT_MQTT_ALPN],
      },
      (socket) => {
        if (accept(socket)) broker.handle(socket);
        else socket.destroy();
      },
    );
  } else {
    server = createTcpServer(broker.handle);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const received: number[] = [];
  const publish = (packet: PublishPacket) =>
    new Promise<void>((resolve, reject) => broker.publish(packet, (err) => (err ? reject(err) : resolve())));
  return {
    broker,
    url: o.tls ? `mqtts://localhost:${port}` : `mqtt://127.0.0.1:${port}`,
    received,
    ack: (deviceId, seqs, status) =>
      publish({
        cmd: 'publish',
        topic: deviceReplyTopics.acks(deviceId),
        payload: Buffer.from(JSON.stringify({ v: 1, acks: seqs.map((seq) => ({ seq, status })) })),
        qos: 1,
        retain: false,
        dup: false,
      }),
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The seq of a record envelope published on devices/{id}/records. */
function seqOf(packet: PublishPacket): number {
  const h = parseHeader(new Uint8Array(packet.payload as Buffer));
  if (!h.ok) throw new Error(`not a record envelope: ${h.message}`);
  return h.header.seq;
}

describe('the device stub against real brokers', () => {
  const open: TestBroker[] = [];
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
  });

  it('offers ALPN x-amzn-mqtt-ca, and a broker that requires it (as AWS IoT on 443) stores every record', async () => {
    const negotiated: (string | false | null)[] = [];
    const tb = await startTestBroker({
      tls: (socket) => {
        negotiated.push(socket.alpnProtocol);
        return socket.alpnProtocol === AWS_IOT_MQTT_ALPN;
      },
    });
    open.push(tb);
    tb.broker.on('publish', (packet, client) => {
      if (client && packet.topic === `devices/${client.id}/records`)
        void tb.ack(client.id, [seqOf(packet)], 'stored');
    });
    const run = (alpn?: string[]) =>
      startFleet({
        devices: 1,
        records: 4,
        ratePerSecond: 0,
        packetBytes: 64,
        // This stand-in backend answers lone records only: one envelope per publish, as before packs.
        packMaxRecords: 1,
        seed: 1,
        prefix: 'tls',
        deviceIds: ['tls-1-0001'],
        mqttUrl: tb.url,
        apiUrl: 'http://127.0.0.1:9',
        operatorToken: '',
        stateDir: tempDir('iotn-alpn-'),
        maxInFlight: 100,
        ackTimeoutMs: 2000,
        timeoutMs: 10_000,
        provision: false,
        // Transport only: this broker acks records, not the key events and heads a signing device sends.
        unsigned: true,
        tls: { dir: FIXTURES, ca: pem('ca.pem'), ...(alpn ? { alpn } : {}) },
      }).result;
    // The URL's port is not 443 here (a free port), so the test names the protocol the 443 default offers.
    const r = await run(alpnFor('mqtts://iot.example:443'));
    expect(r).toMatchObject({ created: 4, stored: 4, outboxLeft: 0, ok: true });
    expect(negotiated[0]).toBe('x-amzn-mqtt-ca');
    // Without ALPN the same broker closes the connection: the device never gets to publish.
    negotiated.length = 0;
    const without = await startFleet({
      devices: 1,
      records: 1,
      ratePerSecond: 0,
      packetBytes: 64,
      // This stand-in backend answers lone records only: one envelope per publish, as before packs.
      packMaxRecords: 1,
      seed: 1,
      prefix: 'tls',
      deviceIds: ['tls-1-0002'],
      mqttUrl: tb.url,
      apiUrl: 'http://127.0.0.1:9',
      operatorToken: '',
      stateDir: tempDir('iotn-alpn-'),
      maxInFlight: 100,
      ackTimeoutMs: 1000,
      timeoutMs: 1500,
      provision: false,
      // Transport only: this broker acks records, not the key events and heads a signing device sends.
      unsigned: true,
      tls: { dir: FIXTURES, ca: pem('ca.pem') },
    }).result;
    expect(without.ok).toBe(false);
    expect(without.stored).toBe(0);
    expect(negotiated.length).toBeGreaterThan(0);
    expect(negotiated.every((p) => p === false)).toBe(true);
  });

  /**
   * The backend acks nothing until it has every record; then it drops the device's connection, refuses it
   * back (CONNACK 3) while it publishes the acks, and lets it in again.
   */
  async function ackWhileDisconnected(cleanSession: boolean) {
    const deviceId = `sess-${cleanSession ? 'clean' : 'kept'}`;
    const records = 5;
    let blocked = false;
    const tb = await startTestBroker({
      authenticate: () =>
        blocked
          ? (Object.assign(new Error('server unavailable'), { returnCode: 3 }) as AuthenticateError)
          : null,
    });
    open.push(tb);
    const seen = new Set<number>();
    let resends = 0;
    tb.broker.on('publish', (packet, client) => {
      if (!client || packet.topic !== `devices/${deviceId}/records`) return;
      const seq = seqOf(packet);
      if (seen.has(seq)) {
        // A record sent again: stored already, so a real backend answers duplicate.
        resends++;
        void tb.ack(deviceId, [seq], 'duplicate');
        return;
      }
      seen.add(seq);
      if (seen.size < records) return;
      blocked = true;
      tb.broker.once('clientDisconnect', () => {
        void tb.ack(deviceId, [...seen], 'stored').then(() => {
          blocked = false;
        });
      });
      client.close();
    });
    const r = await startFleet({
      devices: 1,
      records,
      ratePerSecond: 0,
      packetBytes: 64,
      // This stand-in backend answers lone records only: one envelope per publish, as before packs.
      packMaxRecords: 1,
      seed: 1,
      prefix: 'sess',
      deviceIds: [deviceId],
      mqttUrl: tb.url,
      apiUrl: 'http://127.0.0.1:9',
      operatorToken: '',
      stateDir: tempDir('iotn-session-'),
      maxInFlight: 100,
      // Longer than the test: a record goes again only because the device chose to, never by timeout.
      ackTimeoutMs: 60_000,
      timeoutMs: 15_000,
      provision: false,
      // Transport only: this broker acks records, not the key events and heads a signing device sends.
      unsigned: true,
      // Only the old behaviour is asked for: the persistent session is what a device gets by default.
      ...(cleanSession ? { cleanSession: true } : {}),
    }).result;
    return { r, resends };
  }

  it('with a persistent session (the default) the acks sent while it was disconnected arrive after it reconnects', async () => {
    const { r, resends } = await ackWhileDisconnected(false);
    expect(r).toMatchObject({ created: 5, stored: 5, duplicate: 0, outboxLeft: 0, ok: true });
    expect(r.devices[0]?.reconnects).toBeGreaterThanOrEqual(1);
    expect(r.devices[0]?.resent).toBe(0);
    expect(resends).toBe(0);
  });

  it('with clean sessions those acks are lost: every record is sent again and acked duplicate', async () => {
    const { r, resends } = await ackWhileDisconnected(true);
    expect(r).toMatchObject({ created: 5, stored: 0, duplicate: 5, outboxLeft: 0, ok: true });
    expect(r.devices[0]?.resent).toBe(5);
    expect(resends).toBe(5);
  });

  it('paces publishes: never more than maxPublishesPerSecond in any 1000 ms, however fast records come', async () => {
    const tb = await startTestBroker();
    open.push(tb);
    tb.broker.on('publish', (packet, client) => {
      if (client && packet.topic === `devices/${client.id}/records`)
        void tb.ack(client.id, [seqOf(packet)], 'stored');
    });
    const deviceId = 'paced-1';
    const outbox = new Outbox(join(tempDir('iotn-pacing-'), 'outbox.sqlite'));
    outbox.createDevice({
      deviceId,
      masterKey: simulatedMasterKey(1, deviceId),
      password: null,
      nextSeq: 0,
      prevHash: ZERO_HASH,
    });
    const at: number[] = [];
    const limit = 10;
    const r = await new SimulatedDevice({
      deviceId,
      outbox,
      mqttUrl: tb.url,
      records: 25,
      ratePerSecond: 0,
      packetBytes: 64,
      // This stand-in backend answers lone records only: one envelope per publish, as before packs.
      packMaxRecords: 1,
      seed: 1,
      maxInFlight: 100,
      ackTimeoutMs: 60_000,
      maxPublishesPerSecond: limit,
      onPublish: (_topic, t) => at.push(t),
    }).run();
    outbox.close();
    expect(r).toMatchObject({ created: 25, stored: 25 });
    expect(at).toHaveLength(25);
    // Counting: of any limit + 1 consecutive publishes, the last is at least 1000 ms after the first.
    const crowded = at.slice(limit).filter((t, i) => t - (at[i] as number) < 1000);
    expect(crowded).toEqual([]);
  });

  it('with a Basic Ingest rule prefix every record goes out on its rule topic, and the acks come back as before', async () => {
    const tb = await startTestBroker();
    open.push(tb);
    const topics: string[] = [];
    tb.broker.on('publish', (packet, client) => {
      if (!client) return;
      topics.push(packet.topic);
      // The stand-in's "rule": what AWS IoT hands the device_records rule, acked as ingest would.
      if (packet.topic === `$aws/rules/iot_notary_test_device_records/devices/${client.id}/records`)
        void tb.ack(client.id, [seqOf(packet)], 'stored');
    });
    const deviceId = 'basic-ingest-1';
    const outbox = new Outbox(join(tempDir('iotn-basic-ingest-'), 'outbox.sqlite'));
    outbox.createDevice({
      deviceId,
      masterKey: simulatedMasterKey(1, deviceId),
      password: null,
      nextSeq: 0,
      prevHash: ZERO_HASH,
    });
    const r = await new SimulatedDevice({
      deviceId,
      outbox,
      mqttUrl: tb.url,
      records: 5,
      ratePerSecond: 0,
      packetBytes: 64,
      seed: 1,
      maxInFlight: 100,
      ackTimeoutMs: 60_000,
      // One envelope per publish: this stand-in acks lone records only (packs are acked in tests/e2e).
      packMaxRecords: 1,
      basicIngestRulePrefix: 'iot_notary_test_',
    }).run();
    outbox.close();
    expect(r).toMatchObject({ created: 5, stored: 5 });
    expect(topics).toEqual(
      Array.from(
        { length: 5 },
        () => `$aws/rules/iot_notary_test_device_records/devices/${deviceId}/records`,
      ),
    );
  });
});

describe('Basic Ingest topics', () => {
  it('maps each device route to its rule, leaves other topics and the unset setting alone, refuses a bad prefix', () => {
    const prefix = basicIngestRulePrefixFrom('iot_notary_prod_');
    expect(prefix).toBe('iot_notary_prod_');
    expect(wireTopic('devices/d1/records', prefix)).toBe(
      '$aws/rules/iot_notary_prod_device_records/devices/d1/records',
    );
    expect(wireTopic('devices/d1/uploads/request', prefix)).toBe(
      '$aws/rules/iot_notary_prod_device_upload_requests/devices/d1/uploads/request',
    );
    expect(wireTopic('devices/d1/heads', prefix)).toBe(
      '$aws/rules/iot_notary_prod_device_heads/devices/d1/heads',
    );
    expect(wireTopic('devices/d1/records', undefined)).toBe('devices/d1/records');
    expect(wireTopic('devices/d1/acks', prefix)).toBe('devices/d1/acks');
    expect(basicIngestRulePrefixFrom(undefined)).toBeUndefined();
    expect(basicIngestRulePrefixFrom('')).toBeUndefined();
    expect(() => basicIngestRulePrefixFrom('iot-notary/prod')).toThrow(/BASIC_INGEST_RULE_PREFIX/);
  });
});

describe('PublishPacer', () => {
  it('lets perSecond publishes go in any 1000 ms and says how long the next must wait', () => {
    const pacer = new PublishPacer(DEFAULT_MAX_PUBLISHES_PER_SECOND);
    expect(DEFAULT_MAX_PUBLISHES_PER_SECOND).toBeLessThan(100);
    let went = 0;
    for (let i = 0; i < 250; i++) if (pacer.wait(0) === 0) went++;
    expect(went).toBe(90);
    expect(pacer.wait(400)).toBe(600);
    expect(pacer.wait(999)).toBe(1);
    // At 1000 ms the first second's publishes leave the window.
    went = 0;
    for (let i = 0; i < 250; i++) if (pacer.wait(1000) === 0) went++;
    expect(went).toBe(90);
    expect(() => new PublishPacer(0)).toThrow(RangeError);
  });
});

describe('defaultPublishRateFor', () => {
  it('paces against AWS IoT endpoints only: other brokers, the embedded one included, are not paced', () => {
    expect(defaultPublishRateFor('mqtts://a1b2c3-ats.iot.eu-west-1.amazonaws.com:8883')).toBe(90);
    expect(defaultPublishRateFor('mqtts://a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn:443')).toBe(90);
    expect(defaultPublishRateFor('mqtt://127.0.0.1:1883')).toBeUndefined();
    expect(defaultPublishRateFor('mqtts://broker.example.com:8883')).toBeUndefined();
    expect(defaultPublishRateFor('mqtts://iot.eu-west-1.amazonaws.com.evil.example:8883')).toBeUndefined();
  });
});
