/**
 * STAND-IN for the AWS IoT Data Plane Publish API, which has no emulator: an HTTP server that accepts what the
 * API reference documents for Publish (REST-JSON: POST /topics/{topic}?qos=N, the message as the raw body,
 * SigV4-signed for service "iotdata") and records each message instead of delivering it to an MQTT client.
 * It refuses what the real service refuses that matters here: an unsigned request, qos other than 0 or 1,
 * and a payload over 128 KiB. It has never been compared with the real service.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PublishedMessage {
  topic: string;
  qos: number;
  payload: Buffer;
}

export interface IotDataStandIn {
  endpoint: string;
  published: PublishedMessage[];
  /** Makes the next `n` publishes fail with 503, as the service does when throttled or unavailable. */
  failNext(n: number): void;
  close(): Promise<void>;
}

export async function startIotDataStandIn(): Promise<IotDataStandIn> {
  const published: PublishedMessage[] = [];
  let failures = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: Record<string, unknown>, type?: string) => {
        res.writeHead(status, {
          'content-type': 'application/json',
          ...(type ? { 'x-amzn-errortype': type } : {}),
        });
        res.end(JSON.stringify(body));
      };
      const url = new URL(req.url ?? '/', 'http://iot');
      const m = /^\/topics\/(.+)$/.exec(url.pathname);
      const auth = String(req.headers.authorization ?? '');
      if (req.method !== 'POST' || !m?.[1])
        return send(404, { message: 'Not Found' }, 'ResourceNotFoundException');
      if (!/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/iotdata\/aws4_request, /.test(auth)) {
        return send(403, { message: 'Missing Authentication Token' }, 'UnauthorizedException');
      }
      const qos = Number(url.searchParams.get('qos') ?? '0');
      const payload = Buffer.concat(chunks);
      if (qos !== 0 && qos !== 1)
        return send(400, { message: 'qos must be 0 or 1' }, 'InvalidRequestException');
      if (payload.length > 128 * 1024)
        return send(413, { message: 'Payload too large' }, 'RequestEntityTooLargeException');
      if (failures > 0) {
        failures--;
        return send(503, { message: 'Service Unavailable' }, 'ServiceUnavailableException');
      }
      published.push({ topic: decodeURIComponent(m[1]), qos, payload });
      send(200, {});
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    published,
    failNext: (n) => {
      failures = n;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
