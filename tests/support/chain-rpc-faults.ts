/**
 * Faulty JSON-RPC endpoints for the chain tests, on 127.0.0.1 and port 0:
 *
 * - startGarbageRpc: a tiny HTTP server that answers every request with what a broken node or a
 *   misconfigured proxy sends (not JSON, a wrong-shaped result, an HTML 502, a response to another id, a
 *   JSON-RPC error object sent with HTTP 503 by an overloaded node).
 * - startRpcProxy: a pass-through to a real node that can lose the answer to one method (the node did the
 *   work, the caller never heard: the case dedupKey exists for) or refuse connections, like a node going
 *   away behind a load balancer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type GarbageMode =
  | 'not-json'
  | 'wrong-shape'
  | 'no-result'
  | 'html-502'
  | 'wrong-id'
  | 'rpc-error-503';

export interface GarbageRpc {
  url: string;
  mode: GarbageMode;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function requestId(body: string): unknown {
  try {
    return (JSON.parse(body) as { id?: unknown }).id ?? null;
  } catch {
    return null;
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const a = server.address();
  if (!a || typeof a !== 'object') throw new Error('no address');
  return a.port;
}

function tracked(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

async function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function startGarbageRpc(mode: GarbageMode): Promise<GarbageRpc> {
  const state = { mode };
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const id = requestId(await readBody(req));
    const json = (v: unknown) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    switch (state.mode) {
      case 'not-json':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>It works!</body></html>');
        return;
      case 'wrong-shape':
        json({ jsonrpc: '2.0', id, result: { surprise: ['not', 'a', 'quantity'] } });
        return;
      case 'no-result':
        json({ jsonrpc: '2.0', id });
        return;
      case 'html-502':
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html>502 Bad Gateway</html>');
        return;
      case 'wrong-id':
        json({ jsonrpc: '2.0', id: 987_654, result: '0x1' });
        return;
      case 'rpc-error-503':
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32603, message: 'busy' } }));
        return;
    }
  });
  const sockets = tracked(server);
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: GarbageMode) {
      state.mode = m;
    },
    close: () => closeServer(server, sockets),
  };
}

export interface RpcProxy {
  url: string;
  /** Forward the next request for `method` to the node, then cut the connection before answering. */
  loseAnswerTo(method: string): void;
  /** Methods forwarded so far, in order. */
  seen: string[];
  close(): Promise<void>;
}

export async function startRpcProxy(upstream: string): Promise<RpcProxy> {
  const lose = new Set<string>();
  const seen: string[] = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    let method = '';
    try {
      method = String((JSON.parse(body) as { method?: unknown }).method ?? '');
    } catch {
      method = '';
    }
    seen.push(method);
    let upstreamRes: Response;
    try {
      upstreamRes = await fetch(upstream, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    } catch {
      res.socket?.destroy();
      return;
    }
    const text = await upstreamRes.text();
    if (lose.delete(method)) {
      // The node has processed it; the caller gets a reset connection instead of the answer.
      res.socket?.destroy();
      return;
    }
    res.writeHead(upstreamRes.status, { 'content-type': 'application/json' }).end(text);
  });
  const sockets = tracked(server);
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    loseAnswerTo: (m) => lose.add(m),
    seen,
    close: () => closeServer(server, sockets),
  };
}
