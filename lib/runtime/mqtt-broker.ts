/**
 * The embedded MQTT broker (aedes) with the security AWS IoT Core gives in the cloud: every client
 * authenticates as a provisioned device, and may publish and subscribe only on that device's topics, as
 * the routing table defines them. Refusals are kept as dead letters (source "broker") for operators, through
 * the failure limiter (lib/ingest/failure-limiter.ts): past a source's or a device id's budget they are
 * summarised per window instead of written one by one, and a source past its budget is refused at CONNECT
 * with return code 3 before its credentials are looked at.
 *
 * A refused publish closes the connection (aedes has no per-message refusal in MQTT 3.1.1); the device
 * stub notices that its publishes never settle and stops with an error instead of looping (see
 * device-stub/device.ts).
 */
import { createServer, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { authenticateDevice } from '../devices/authenticate-device.js';
import type { recordDeadLetter } from '../ingest/dead-letter.js';
import type { FailureLimiter } from '../ingest/failure-limiter.js';
import type { Logger } from '../logger.js';
import type { DeadLetterStore, DeviceRegistry } from '../ports.js';
import { devicePublishTopics, deviceSubscribeTopics } from '../routing/routes.js';

export interface BrokerDeps {
  devices: DeviceRegistry & DeadLetterStore;
  clock: () => number;
  log: Logger;
  /** Decides which refusals are written singly and which are summarised, and turns flooding sources away. */
  limiter: FailureLimiter;
}

export interface RunningBroker {
  broker: Aedes;
  server: Server;
  port: number;
  close(): Promise<void>;
}

function authError(message: string, returnCode: 3 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export async function startBroker(
  deps: BrokerDeps,
  opts: { host: string; port: number },
): Promise<RunningBroker> {
  const refuse = async (info: Parameters<typeof recordDeadLetter>[2] & { authenticated?: boolean }) => {
    // The refusal is answered only once it is kept (or counted), so an operator can always find what a
    // device was told.
    const verdict = await deps.limiter.refused(info);
    if (verdict === 'kept') {
      deps.log.warn('broker refused a client', {
        code: info.code,
        clientId: info.clientId,
        topic: info.topic,
        remoteAddress: info.remoteAddress,
      });
    }
  };

  const broker = await Aedes.createBroker({
    // Bounds how many device messages are being ingested at once; beyond it, reads from sockets pause.
    concurrency: 256,
    authenticate(client: Client, username, password, done) {
      const from = remoteAddressOf(client);
      const admitted = deps.limiter.admit('broker', from.remoteAddress);
      if (!admitted.ok) {
        deps.limiter.limited({
          source: 'broker',
          reason: `more failures from ${from.remoteAddress} than its budget allows; credentials not checked`,
          clientId: client.id,
          ...from,
          ...(username ? { deviceId: username } : {}),
        });
        // 3, "server unavailable": MQTT 3.1.1's way to say "not now"; the source's budget refills with time.
        return done(authError('too many failed attempts from this address', 3), false);
      }
      authenticateDevice(deps.devices, { clientId: client.id, username, password })
        .then((r) => {
          if (r.ok) return done(null, true);
          return refuse({
            source: 'broker',
            code: r.code,
            reason: r.reason,
            clientId: client.id,
            ...from,
            ...(username ? { deviceId: username } : {}),
          }).then(() => done(authError(r.reason, r.code === 'client-id-mismatch' ? 5 : 4), false));
        })
        .catch((err: unknown) => {
          deps.log.error('authentication failed with an error', { err });
          done(authError('authentication unavailable', 5), false);
        });
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null); // the backend's own publishes (acks, grants)
      if (devicePublishTopics(client.id).includes(packet.topic)) return done(null);
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      refuse({
        source: 'broker',
        code: 'topic-not-allowed',
        reason: `device ${client.id} may not publish to ${packet.topic}`,
        clientId: client.id,
        deviceId: client.id,
        topic: packet.topic,
        payload,
        ...remoteAddressOf(client),
        authenticated: true,
      }).then(() => done(new Error(`publish to ${packet.topic} not allowed for ${client.id}`)));
    },
    authorizeSubscribe(client, sub, done) {
      if (deviceSubscribeTopics(client.id).includes(sub.topic)) return done(null, sub);
      refuse({
        source: 'broker',
        code: 'subscribe-not-allowed',
        reason: `device ${client.id} may not subscribe to ${sub.topic}`,
        clientId: client.id,
        deviceId: client.id,
        topic: sub.topic,
        ...remoteAddressOf(client),
        authenticated: true,
      }).then(() => done(null, null)); // SUBACK 0x80: refused, connection kept
    },
  });

  // Without noDelay, Nagle holds small replies (acks) back until the peer's delayed ACK: ~40 ms a round trip.
  const server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;

  return {
    broker,
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => undefined);
        broker.close(() => resolve());
      }),
  };
}

/** The peer address of a client's socket (TCP or TLS), as a spread-able field; absent when unknown. */
function remoteAddressOf(client: Client): { remoteAddress?: string } {
  const address = (client.conn as { remoteAddress?: unknown } | undefined)?.remoteAddress;
  return typeof address === 'string' ? { remoteAddress: address } : {};
}
