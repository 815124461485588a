/**
 * The device stub's HTTP(S) client, for provisioning and upload PUTs. Node's fetch cannot be given a CA per
 * request, and a device trusts exactly the CA it was given (the embedded runtime's own, or Amazon's), so
 * requests go through node:https with that CA instead.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpResponse {
  status: number;
  body: Buffer;
}

export interface HttpRequest {
  method: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Trust anchor for https URLs (PEM); without it, the system's CAs. */
  ca?: string;
  timeoutMs?: number;
}

export function sendHttp(url: string, r: HttpRequest): Promise<HttpResponse> {
  const target = new URL(url);
  const body = r.body === undefined ? undefined : Buffer.from(r.body);
  const headers = { ...r.headers, ...(body ? { 'content-length': String(body.length) } : {}) };
  return new Promise<HttpResponse>((resolve, reject) => {
    const options = { method: r.method, headers, timeout: r.timeoutMs ?? 30_000 };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    const req =
      target.protocol === 'https:'
        ? httpsRequest(target, { ...options, ...(r.ca ? { ca: r.ca } : {}) }, onResponse)
        : httpRequest(target, options, onResponse);
    req.on('timeout', () =>
      req.destroy(new Error(`no answer from ${target.origin} within ${options.timeout} ms`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}
