/**
 * Hostile traffic at full speed over real sockets: MQTT CONNECTs written byte by byte (mqtt.js is far too slow
 * to open thousands of connections) and bad `PUT /v1/uploads` requests, each from a chosen local address.
 * On Linux every 127.x.y.z address reaches a listener on 127.0.0.1, so one test can play several sources.
 */
import { Agent as HttpAgent, request } from 'node:http';
import { connect } from 'node:net';

/** MQTT 3.1.1 remaining length: 7 bits a byte, high bit = more. */
function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

const field = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};

/** A CONNECT packet (protocol level 4, clean session, username and password). */
export function connectPacket(c: { clientId: string; username: string; password: string }): Buffer {
  const variable = Buffer.concat([field('MQTT'), Buffer.from([4, 0xc2, 0, 60])]);
  const payload = Buffer.concat([field(c.clientId), field(c.username), field(c.password)]);
  const body = Buffer.concat([variable, payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** What one CONNECT got: the CONNACK return code, or 'closed' when the socket closed without one. */
export type ConnectAnswer = number | 'closed';

export function connectOnce(o: {
  host: string;
  port: number;
  localAddress?: string;
  clientId: string;
  username?: string;
  password: string;
}): Promise<ConnectAnswer> {
  return new Promise((resolve) => {
    const socket = connect({
      host: o.host,
      port: o.port,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    let got: Buffer = Buffer.alloc(0);
    let settled = false;
    const settle = (a: ConnectAnswer) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(a);
    };
    socket.on('connect', () =>
      socket.write(
        connectPacket({ clientId: o.clientId, username: o.username ?? o.clientId, password: o.password }),
      ),
    );
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 4 && got[0] === 0x20) settle(got[3] as number);
    });
    socket.on('error', () => settle('closed'));
    socket.on('close', () => settle('closed'));
  });
}

/** Runs `n` jobs with at most `width` at once; returns their results in order. */
export async function inWaves<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  return out;
}

export function histogram<T extends string | number>(values: readonly T[]): Map<T, number> {
  const h = new Map<T, number>();
  for (const v of values) h.set(v, (h.get(v) ?? 0) + 1);
  return h;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP client bound to one local address, with keep-alive so a flood does not run out of ports. */
export function httpFrom(localAddress: string) {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 32, localAddress });
  const send = (url: string, method: string, body?: Uint8Array): Promise<HttpAnswer> =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent,
          headers: { 'content-type': 'application/octet-stream', 'content-length': body?.length ?? 0 },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body ? Buffer.from(body) : undefined);
    });
  return { send, close: () => agent.destroy() };
}
