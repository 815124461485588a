/**
 * STAND-IN for two S3 checks that s3rver 3.7.1 lacks, both of which our upload grants rely on:
 *
 *  - x-amz-checksum-sha256: s3rver stores whatever body it gets (its source has no checksum code);
 *  - presigned-URL signatures: s3rver accepts any SigV4 signature ("Signature version 4 calculation is
 *    unimplemented", lib/middleware/authentication.js), so a body whose length differs from the signed
 *    content-length, or a request without the signed checksum header, would be accepted.
 *
 * tests/aws/s3-object-store.test.ts shows corrupted bytes landing on bare s3rver. This proxy sits in front
 * of it and does what the S3 documentation says S3 does ("Checking object integrity"; "Authenticating
 * requests: using query parameters"): a presigned request is verified with SigV4 against the canonical request
 * rebuilt from what arrived (403 SignatureDoesNotMatch, or AccessDenied once expired); a PUT whose
 * x-amz-checksum-sha256 differs from the body's SHA-256 gets 400 BadDigest and stores nothing. Everything
 * else is forwarded to s3rver unchanged. Written from the documentation; never compared with real S3.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChecksumGate {
  endpoint: string;
  /** Requests refused, by S3 error code. */
  refusals: Map<string, number>;
  close(): Promise<void>;
}

const rfc3986 = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** Verifies a SigV4 query-string (presigned) request; returns a refusal, or undefined if it verifies. */
function checkPresigned(
  req: IncomingMessage,
  url: URL,
  secretAccessKey: string,
  now: number,
): { code: string; message: string } | undefined {
  const q = url.searchParams;
  const date = q.get('X-Amz-Date') ?? '';
  const credential = q.get('X-Amz-Credential') ?? '';
  const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  const expires = Number(q.get('X-Amz-Expires'));
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  const scope = credential.split('/').slice(1).join('/');
  if (!m || !Number.isFinite(expires) || !scope) {
    return { code: 'AuthorizationQueryParametersError', message: 'malformed presigned query parameters' };
  }
  const signedAt = Date.UTC(
    +(m[1] ?? 0),
    +(m[2] ?? 1) - 1,
    +(m[3] ?? 1),
    +(m[4] ?? 0),
    +(m[5] ?? 0),
    +(m[6] ?? 0),
  );
  if (now > signedAt + expires * 1000) return { code: 'AccessDenied', message: 'Request has expired' };

  const canonicalQuery = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headerValue = (h: string): string | undefined => {
    const v = req.headers[h];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const missing = signedHeaders.find((h) => headerValue(h) === undefined);
  if (missing) return { code: 'SignatureDoesNotMatch', message: `signed header ${missing} is missing` };
  const canonicalHeaders = signedHeaders
    .map((h) => `${h}:${(headerValue(h) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    req.method,
    url.pathname,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(';'),
    q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    date,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const [day, region, service] = scope.split('/');
  const key = hmac(
    hmac(hmac(hmac(`AWS4${secretAccessKey}`, day ?? ''), region ?? ''), service ?? ''),
    'aws4_request',
  );
  const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
  return expected === q.get('X-Amz-Signature')
    ? undefined
    : { code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match.' };
}

export async function startChecksumGate(
  upstream: string,
  opts: { secretAccessKey?: string; clock?: () => number } = {},
): Promise<ChecksumGate> {
  const target = new URL(upstream);
  const secret = opts.secretAccessKey ?? 'S3RVER';
  const clock = opts.clock ?? Date.now;
  const refusals = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const refuse = (status: number, code: string, message: string) => {
        refusals.set(code, (refusals.get(code) ?? 0) + 1);
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
        );
      };
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'gate'}`);
      if (url.searchParams.has('X-Amz-Algorithm')) {
        const bad = checkPresigned(req, url, secret, clock());
        if (bad) return refuse(403, bad.code, bad.message);
      }
      const claimed = req.headers['x-amz-checksum-sha256'];
      if (
        req.method === 'PUT' &&
        typeof claimed === 'string' &&
        createHash('sha256').update(body).digest('base64') !== claimed
      ) {
        return refuse(400, 'BadDigest', 'The SHA256 you specified did not match the calculated checksum.');
      }
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => refuse(502, 'BadGateway', 'upstream s3rver failed'));
      up.end(body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refusals,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
