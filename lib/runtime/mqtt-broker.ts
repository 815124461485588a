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
 *
 * Before aedes sees a byte, every connection passes admission (a cap on unauthenticated sockets and a
 * deadline to authenticate: mqtt-admission.ts) and a frame-size guard (mqtt-frame-guard.ts). Listeners:
 * plain MQTT and/or MQTT over TLS, optionally mutual TLS where the client certificate is the credential.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { authenticateDevice, authenticateDeviceByCertificate } from '../devices/authenticate-device.js';
import type { recordDeadLetter } from '../ingest/dead-letter.js';
import type { FailureLimiter } from '../ingest/failure-limiter.js';
import type { Logger } from '../logger.js';
import type { DeadLetterStore, DeviceRegistry } from '../ports.js';
import { deviceSubscribeTopics, mayPublishTo } from '../routing/routes.js';
import type { LiveDeviceSessions } from './live-device-sessions.js';
import { type AdmissionLimits, MqttAdmission } from './mqtt-admission.js';
import {
  DEFAULT_FRAME_LIMITS,
  type FrameLimits,
  type FrameRefusal,
  GuardedConnection,
} from './mqtt-frame-guard.js';

export interface BrokerDeps {
  devices: DeviceRegistry & DeadLetterStore;
  /** Connections by device id, so credential rotation can close them (DeviceSessions). */
  sessions: LiveDeviceSessions;
  clock: () => number;
  log: Logger;
  /** Decides which refusals are written singly and which are summarised, and turns flooding sources away. */
  limiter: FailureLimiter;
}

export interface BrokerTls {
  port: number;
  /** Server certificate chain and key, PEM. */
  cert: string | Buffer;
  key: string | Buffer;
  /** With it, a client certificate issued by this CA is required and is the device's credential. */
  clientCa?: string | Buffer;
}

export interface BrokerOptions extends AdmissionLimits {
  host: string;
  /** Plain MQTT; absent for none. */
  port?: number;
  tls?: BrokerTls;
  frameLimits?: FrameLimits;
}

export interface RunningBroker {
  broker: Aedes;
  /** Plain MQTT port, when that listener runs. */
  port?: number;
  /** MQTT over TLS port, when that listener runs. */
  tlsPort?: number;
  admission: MqttAdmission;
  close(): Promise<void>;
}

function authError(message: string, returnCode: 3 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** The subject CN of a verified client certificate, on a mutual-TLS connection. */
function certificateCn(socket: Socket): string | undefined {
  const cn = (socket as TLSSocket).getPeerCertificate?.().subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

export async function startBroker(deps: BrokerDeps, opts: BrokerOptions): Promise<RunningBroker> {
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

  const admission = new MqttAdmission(opts, deps.log);

  const broker = await Aedes.createBroker({
    // Bounds how many device messages are being ingested at once; beyond it, reads from sockets pause.
    concurrency: 256,
    // Admission closes sockets that do not authenticate in time; aedes's own timer (for the CONNECT packet
    // alone) is set to the same value instead of its 30 s default.
    connectTimeout: opts.connectTimeoutMs,
    authenticate(client: Client, username, password, done) {
      const conn = client.conn as GuardedConnection;
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
      // From here until it closes, a rotation of this id's credential closes this connection too.
      deps.sessions.track(client.id, conn);
      const checked =
        conn.credential === 'certificate'
          ? authenticateDeviceByCertificate(deps.devices, {
              clientId: client.id,
              username,
              certificateCn: certificateCn(conn.socket),
            })
          : authenticateDevice(deps.devices, { clientId: client.id, username, password });
      checked
        .then((r) => {
          if (r.ok) {
            conn.deviceId = r.deviceId;
            admission.authenticated(conn.socket);
            return done(null, true);
          }
          return refuse({
            source: 'broker',
            code: r.code,
            reason: r.reason,
            clientId: client.id,
            ...from,
            ...(username ? { deviceId: username } : {}),
          }).then(() =>
            done(
              authError(
                r.reason,
                r.code === 'client-id-mismatch' || r.code === 'certificate-mismatch' ? 5 : 4,
              ),
              false,
            ),
          );
        })
        .catch((err: unknown) => {
          deps.log.error('authentication failed with an error', { err });
          done(authError('authentication unavailable', 5), false);
        });
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null); // the backend's own publishes (acks, grants)
      const allowed = mayPublishTo(client.id, packet.topic);
      // Retained messages would be kept in broker memory without bound; AWS IoT refuses them too, since the
      // device policy grants no iot:RetainPublish.
      if (allowed && !packet.retain) return done(null);
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      refuse({
        source: 'broker',
        code: allowed ? 'retain-not-allowed' : 'topic-not-allowed',
        reason: allowed
          ? `device ${client.id} may not publish retained messages (to ${packet.topic})`
          : `device ${client.id} may not publish to ${packet.topic}`,
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

  const frameLimits = opts.frameLimits ?? DEFAULT_FRAME_LIMITS;
  const onRefusedFrame = (refusal: FrameRefusal, conn: GuardedConnection) => {
    // Before authentication nobody is accountable: counted and summarised, not kept per socket.
    if (conn.deviceId === undefined) return admission.refused(refusal.code);
    void refuse({
      source: 'broker',
      code: refusal.code,
      reason: refusal.reason,
      clientId: conn.deviceId,
      deviceId: conn.deviceId,
      ...(conn.socket.remoteAddress ? { remoteAddress: conn.socket.remoteAddress } : {}),
      authenticated: true,
    });
  };
  // The socket aedes gets: admitted sockets only, behind the frame guard.
  const handle = (credential: GuardedConnection['credential']) => (socket: Socket) => {
    broker.handle(new GuardedConnection(socket, credential, frameLimits, onRefusedFrame));
  };

  const servers: Server[] = [];
  let port: number | undefined;
  let tlsPort: number | undefined;
  try {
    if (opts.port !== undefined) {
      // Without noDelay, Nagle holds small replies (acks) back until the peer's delayed ACK: ~40 ms a round trip.
      const server = createServer({ noDelay: true }, (socket) => {
        if (admission.admit(socket)) handle('password')(socket);
      });
      servers.push(server);
      port = await listen(server, opts.port, opts.host);
    }
    if (opts.tls) {
      const server = createTlsServer(
        {
          cert: opts.tls.cert,
          key: opts.tls.key,
          noDelay: true,
          // The handshake counts against admission's deadline; this only stops Node's own 120 s default.
          handshakeTimeout: opts.connectTimeoutMs,
          ...(opts.tls.clientCa
            ? { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: true }
            : { requestCert: false }),
        },
        handle(opts.tls.clientCa ? 'certificate' : 'password'),
      );
      // Admission at TCP accept, before the handshake: handshakes cost CPU and count as unauthenticated.
      server.on('connection', (socket: Socket) => admission.admit(socket));
      // A failed handshake (no certificate, one from another CA, not TLS at all) closes the socket.
      server.on('tlsClientError', (err: Error) => deps.log.debug('TLS handshake refused', { err }));
      servers.push(server);
      tlsPort = await listen(server, opts.tls.port, opts.host);
    }
  } catch (err) {
    for (const s of servers) s.close();
    admission.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }

  return {
    broker,
    ...(port === undefined ? {} : { port }),
    ...(tlsPort === undefined ? {} : { tlsPort }),
    admission,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of servers) s.close(() => undefined);
        admission.close();
        broker.close(() => resolve());
      }),
  };
}

/** The peer address of a client's socket (TCP or TLS), as a spread-able field; absent when unknown. */
function remoteAddressOf(client: Client): { remoteAddress?: string } {
  // aedes's conn is the frame guard, whose socket holds the peer address.
  const conn: unknown = client.conn;
  const address = conn instanceof GuardedConnection ? conn.socket.remoteAddress : undefined;
  return typeof address === 'string' ? { remoteAddress: address } : {};
}
