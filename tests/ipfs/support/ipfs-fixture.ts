/**
 * What the IPFS tests share: temp repos, the embedded API on a port that survives a restart, and stand-in
 * HTTP endpoints for the failures a real Kubo cannot be made to show on demand (an endpoint that stalls, a
 * gateway error, an endpoint that returns the wrong bytes). The stand-ins are real HTTP servers, named as
 * such; nothing is mocked below the HTTP boundary.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedKuboApi, startEmbeddedKuboApi } from '../../../lib/adapters/ipfs/embedded-kubo-api.js';

export function tempDir(label: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `iotn-ipfs-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The embedded API on `repoDir`; pass the port of a previous run to come back where clients expect it. */
export function startApi(repoDir: string, port = 0): Promise<EmbeddedKuboApi> {
  return startEmbeddedKuboApi({ repoDir, host: '127.0.0.1', port });
}

export function randomData(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

export interface StandIn {
  url: string;
  port: number;
  /** Requests seen, as `METHOD /path?query`. */
  seen: string[];
  close(): Promise<void>;
}

/** A stand-in HTTP endpoint answering every request with `respond`; it closes its open connections on close. */
export async function standInEndpoint(
  respond: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<StandIn> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    respond(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port on which nothing listens (taken, then released). */
export async function closedPort(): Promise<number> {
  const s = await standInEndpoint((_req, res) => res.end());
  await s.close();
  return s.port;
}

/** Drains a request body, then sends `body` as JSON with `status`. */
export function replyJson(res: ServerResponse, req: IncomingMessage, status: number, body: unknown): void {
  req.resume();
  req.on('end', () => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(`${JSON.stringify(body)}\n`);
  });
}
