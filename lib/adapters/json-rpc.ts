/**
 * JSON-RPC 2.0 over HTTP, the one transport of both chain adapters: EVM nodes (positional parameters) and
 * BigBang Core (named parameters, default port 9902). Thin: one POST per call, an id per request checked
 * against the answer, a timeout, optional basic auth, and strict checks on the envelope. No retries: the
 * anchorer retries whole cycles with backoff, and a hidden retry of a send would blur which attempt the node
 * saw. What the result means is the adapter's business; failures come out as RpcFailure so each adapter
 * names them in its own typed errors (evm-errors.ts, bigbang-errors.ts).
 */

export type RpcFailure =
  /** The node answered with a JSON-RPC error object, with this HTTP status (200 from most nodes). */
  | { kind: 'rpc'; rpcCode: number; message: string; status: number }
  /** No usable answer: refused, reset, timed out, HTTP 5xx. */
  | { kind: 'unavailable'; message: string }
  /** An answer that is not a JSON-RPC 2.0 response to this request, with its HTTP status. */
  | { kind: 'malformed'; message: string; status: number }
  /** HTTP 4xx without a JSON-RPC error (wrong credentials, wrong path). */
  | { kind: 'http'; status: number; message: string };

/**
 * Not a CodedError, on purpose for now: the chain adapters map its `failure.kind` to their own
 * ChainAdapterError codes. Giving it a `code` of its own (rpc-unavailable, …) made the BigBang
 * end-to-end suite fail (tests/e2e/chains-bigbang.test.ts, the outage and malformed-answer cases); why is
 * not yet understood, so it stays as it was (docs/architecture.md, "Error model", lists it as left over).
 */
export class RpcCallError extends Error {
  override readonly name = 'RpcCallError';
  constructor(
    readonly method: string,
    readonly failure: RpcFailure,
    options?: { cause?: unknown },
  ) {
    super(`${method}: ${failure.message}`, options);
  }
}

export interface JsonRpcClientOptions {
  url: string;
  timeoutMs: number;
  auth?: { user: string; password: string };
}

export class JsonRpcClient {
  private id = 0;
  constructor(private readonly opts: JsonRpcClientOptions) {}

  async call(method: string, params: Record<string, unknown> | readonly unknown[]): Promise<unknown> {
    const id = ++this.id;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.auth) {
      const { user, password } = this.opts.auth;
      headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.opts.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ id, method, jsonrpc: '2.0', params }),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      text = await res.text();
    } catch (e) {
      const message =
        e instanceof Error && e.name === 'TimeoutError'
          ? `no answer within ${this.opts.timeoutMs} ms`
          : `request failed: ${describeCause(e)}`;
      throw new RpcCallError(method, { kind: 'unavailable', message }, { cause: e });
    }

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      // A proxy's HTML error page in front of a dead node is an outage, not a lying node.
      if (res.status >= 500)
        throw new RpcCallError(method, { kind: 'unavailable', message: `HTTP ${res.status}` });
      if (res.status >= 400)
        throw new RpcCallError(method, { kind: 'http', status: res.status, message: `HTTP ${res.status}` });
      throw new RpcCallError(
        method,
        { kind: 'malformed', message: `response is not JSON: ${clip(text)}`, status: res.status },
        { cause: e },
      );
    }
    if (!isObject(body) || (body.id !== id && body.id !== null)) {
      throw new RpcCallError(method, {
        kind: 'malformed',
        message: `not a response to request ${id}: ${clip(text)}`,
        status: res.status,
      });
    }
    if (body.error !== undefined && body.error !== null) {
      const err = body.error;
      if (!isObject(err) || typeof err.code !== 'number' || typeof err.message !== 'string') {
        throw new RpcCallError(method, {
          kind: 'malformed',
          message: `malformed error object: ${clip(text)}`,
          status: res.status,
        });
      }
      throw new RpcCallError(method, {
        kind: 'rpc',
        rpcCode: err.code,
        message: err.message,
        status: res.status,
      });
    }
    if (res.status >= 500)
      throw new RpcCallError(method, { kind: 'unavailable', message: `HTTP ${res.status}` });
    if (!('result' in body)) {
      throw new RpcCallError(method, {
        kind: 'malformed',
        message: `response has neither result nor error: ${clip(text)}`,
        status: res.status,
      });
    }
    return body.result;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

function describeCause(e: unknown): string {
  const cause =
    e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  return e instanceof Error ? e.message : String(e);
}
