/**
 * The part of Kubo's RPC API (`/api/v0/*`) that our pinner and kubo-rpc-client's pin, cat and add use, served
 * over node:http in front of the embedded node. Request parameters, response JSON and error bodies follow
 * Kubo's documented shapes (docs.ipfs.tech/reference/kubo/rpc), so a client cannot tell it from a Kubo daemon
 * for these commands:
 *
 *   add, pin/add, pin/ls, pin/rm, cat, block/stat, version, id
 *
 * Like Kubo, only POST is accepted (405 otherwise), an unknown command is a 404, a failed command is a 500
 * with `{"Message","Code":0,"Type":"error"}`, a malformed request a 400 with Code 1. Add options that would
 * change the resulting CID in ways this node does not reproduce (trickle, rabin, inline, mode, mtime, …) are
 * refused rather than ignored: a silently different CID is worse than an error.
 *
 * It has no authentication, like Kubo's RPC: it must listen on loopback (the default) or a private network.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { arch, platform } from 'node:os';
import { CID } from 'multiformats/cid';
import type { Logger } from '../../logger.js';
import type { EmbeddedIpfsNode, PinTypeFilter } from './embedded-ipfs-node.js';
import { argumentRequired, KuboCommandError } from './kubo-command-error.js';
import { boundaryOf, MultipartError, parseMultipart } from './multipart.js';
import { ImportSettingsError, parseChunker } from './unixfs-import.js';

export const EMBEDDED_API_VERSION = '0.1.0';
export const AGENT_VERSION = `iot-notary-embedded-ipfs/${EMBEDDED_API_VERSION} (helia, offline)`;

type Reply =
  | { kind: 'json'; body: unknown }
  | { kind: 'ndjson'; lines: unknown[] }
  | { kind: 'bytes'; source: AsyncIterator<Uint8Array> };

interface Ctx {
  q: URLSearchParams;
  req: IncomingMessage;
  signal: AbortSignal;
}

// ---------------------------------------------------------------------------------------------- parameters

/** go-ipfs-cmds booleans: strconv.ParseBool, and a bare `?flag` means true. */
function boolOpt(q: URLSearchParams, name: string, dflt: boolean): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  if (v === '' || ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new KuboCommandError(
    `Could not convert value "${v}" to type "bool" (for option "-${name}")`,
    'client',
  );
}

function intOpt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^-?[0-9]{1,15}$/.test(v))
    throw new KuboCommandError(
      `Could not convert value "${v}" to type "int" (for option "-${name}")`,
      'client',
    );
  return Number(v);
}

function requiredArgs(q: URLSearchParams, name: string): string[] {
  const args = q.getAll('arg');
  if (args.length === 0) throw argumentRequired(name);
  return args;
}

/** `<cid>`, `/ipfs/<cid>` or either followed by `/sub/path`. */
export function parseIpfsPath(arg: string): { cid: CID; path?: string } {
  const trimmed = arg.startsWith('/ipfs/') ? arg.slice('/ipfs/'.length) : arg;
  const slash = trimmed.indexOf('/');
  const head = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const rest = slash < 0 ? '' : trimmed.slice(slash + 1).replace(/\/+$/, '');
  try {
    const cid = CID.parse(head);
    return rest ? { cid, path: rest } : { cid };
  } catch (e) {
    throw new KuboCommandError(`invalid path ${JSON.stringify(arg)}: ${messageOf(e)}`, 'normal', {
      cause: e,
    });
  }
}

function cidArg(arg: string): CID {
  const p = parseIpfsPath(arg);
  if (p.path) throw new KuboCommandError(`paths inside a DAG are not supported here: ${JSON.stringify(arg)}`);
  return p.cid;
}

// ---------------------------------------------------------------------------------------------- commands

type Command = (node: EmbeddedIpfsNode, ctx: Ctx) => Promise<Reply>;

/** Options of `add` this node refuses because it would not produce what Kubo produces with them. */
const UNSUPPORTED_ADD_FLAGS = [
  'trickle',
  'wrap-with-directory',
  'nocopy',
  'inline',
  'preserve-mode',
  'preserve-mtime',
];
const UNSUPPORTED_ADD_VALUES = ['mode', 'mtime', 'mtime-nsecs', 'to-files'];

const add: Command = async (node, { q, req, signal }) => {
  for (const f of UNSUPPORTED_ADD_FLAGS)
    if (boolOpt(q, f, false)) throw new KuboCommandError(`option ${f} is not supported by this node`);
  for (const f of UNSUPPORTED_ADD_VALUES)
    if (q.has(f)) throw new KuboCommandError(`option ${f} is not supported by this node`);
  const hash = q.get('hash');
  if (hash !== null && hash !== 'sha2-256')
    throw new KuboCommandError(`hash function ${JSON.stringify(hash)} is not supported by this node`);
  const cidVersion = intOpt(q, 'cid-version') ?? 0;
  if (cidVersion !== 0 && cidVersion !== 1) throw new KuboCommandError(`unknown CID version: ${cidVersion}`);
  const rawLeaves = boolOpt(q, 'raw-leaves', cidVersion === 1);
  let chunkSize: number;
  try {
    chunkSize = parseChunker(q.get('chunker') ?? undefined);
  } catch (e) {
    if (e instanceof ImportSettingsError) throw new KuboCommandError(e.message);
    throw e;
  }
  const pin = boolOpt(q, 'pin', true);
  const onlyHash = boolOpt(q, 'only-hash', false);
  const progress = boolOpt(q, 'progress', false);
  const pinName = q.get('pin-name') ?? undefined;
  if (pinName !== undefined && !pin) throw new KuboCommandError('pin-name option requires pin to be set');

  const boundary = boundaryOf(req.headers['content-type']);
  if (!boundary) throw new KuboCommandError("file argument 'path' is required", 'client');
  const lines: unknown[] = [];
  for await (const part of parseMultipart(req, boundary)) {
    if (part.contentType === 'application/x-directory' || part.field.startsWith('dir'))
      throw new KuboCommandError('directories are not supported by this node; add files one by one');
    if (part.contentType === 'application/symlink')
      throw new KuboCommandError('symlinks are not supported by this node');
    const file = await node.add(
      part.body,
      { cidVersion, rawLeaves, chunkSize, pin, onlyHash, ...(pinName ? { pinName } : {}) },
      { signal },
    );
    const hashText = file.cid.toString();
    const name = part.filename ? part.filename : hashText;
    if (progress) lines.push({ Name: name, Bytes: file.bytes });
    lines.push({ Name: name, Hash: hashText, Size: file.dagSize.toString() });
  }
  if (lines.length === 0) throw new KuboCommandError("file argument 'path' is required", 'client');
  return { kind: 'ndjson', lines };
};

const pinAdd: Command = async (node, { q }) => {
  const recursive = boolOpt(q, 'recursive', true);
  const name = q.get('name') ?? undefined;
  const pins: string[] = [];
  for (const arg of requiredArgs(q, 'ipfs-path')) {
    const cid = cidArg(arg);
    await node.pinAdd(cid, { recursive, ...(name ? { name } : {}) });
    pins.push(cid.toString());
  }
  return { kind: 'json', body: { Pins: pins } };
};

const PIN_TYPES: PinTypeFilter[] = ['all', 'recursive', 'direct', 'indirect'];

const pinLs: Command = async (node, { q }) => {
  const type = q.get('type') ?? 'all';
  if (!PIN_TYPES.includes(type as PinTypeFilter))
    throw new KuboCommandError(`invalid type '${type}', must be one of {direct, indirect, recursive, all}`);
  const stream = boolOpt(q, 'stream', false);
  const names = boolOpt(q, 'names', false);
  const nameFilter = q.get('name') ?? undefined;
  const cids = q.getAll('arg').map((arg) => ({ cid: cidArg(arg), arg }));
  let pins = await node.pinLs({ cids, type: type as PinTypeFilter });
  if (nameFilter !== undefined) pins = pins.filter((p) => p.name === nameFilter);
  const named = (p: { name?: string }) => (names && p.name ? { Name: p.name } : {});
  if (stream)
    return { kind: 'ndjson', lines: pins.map((p) => ({ Cid: p.cid.toString(), ...named(p), Type: p.type })) };
  const keys: Record<string, unknown> = {};
  for (const p of pins) keys[p.cid.toString()] = { ...named(p), Type: p.type };
  return { kind: 'json', body: { Keys: keys } };
};

const pinRm: Command = async (node, { q }) => {
  const recursive = boolOpt(q, 'recursive', true);
  const pins: string[] = [];
  for (const arg of requiredArgs(q, 'ipfs-path')) {
    const cid = cidArg(arg);
    await node.pinRm(cid, { recursive });
    pins.push(cid.toString());
  }
  return { kind: 'json', body: { Pins: pins } };
};

const cat: Command = async (node, { q, signal }) => {
  const [arg] = requiredArgs(q, 'ipfs-path');
  const { cid, path } = parseIpfsPath(arg as string);
  const offset = intOpt(q, 'offset');
  const length = intOpt(q, 'length');
  if (offset !== undefined && offset < 0) throw new KuboCommandError('cannot specify negative offset');
  if (length !== undefined && length < 0) throw new KuboCommandError('cannot specify negative length');
  const source = node.cat(cid, {
    signal,
    ...(path ? { path } : {}),
    ...(offset === undefined ? {} : { offset }),
    ...(length === undefined ? {} : { length }),
  });
  return { kind: 'bytes', source };
};

const blockStat: Command = async (node, { q }) => {
  const [arg] = requiredArgs(q, 'cid');
  const { cid, size } = await node.blockStat(cidArg(arg as string));
  return { kind: 'json', body: { Key: cid.toString(), Size: size } };
};

const version: Command = async () => ({
  kind: 'json',
  body: {
    Version: EMBEDDED_API_VERSION,
    Commit: 'embedded-helia',
    Repo: '1',
    System: `${arch()}/${platform()}`,
    // Kubo reports its Go toolchain here; this node runs on Node.js.
    Golang: `node${process.versions.node}`,
  },
});

const id: Command = async (node, { q }) => {
  const arg = q.get('arg');
  if (arg !== null && arg !== node.peer.id)
    throw new KuboCommandError('this node is offline: it cannot look up other peers');
  return {
    kind: 'json',
    body: {
      ID: node.peer.id,
      PublicKey: node.peer.publicKey,
      // No swarm: the node neither listens nor dials.
      Addresses: [],
      AgentVersion: AGENT_VERSION,
      Protocols: [],
    },
  };
};

const COMMANDS: Record<string, Command> = {
  add,
  'pin/add': pinAdd,
  'pin/ls': pinLs,
  'pin/rm': pinRm,
  cat,
  'block/stat': blockStat,
  version,
  id,
};

// ---------------------------------------------------------------------------------------------- HTTP

function sendError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify({ Message: message, Code: code, Type: 'error' })}\n`);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

async function sendReply(res: ServerResponse, reply: Reply): Promise<void> {
  if (reply.kind === 'json') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(`${JSON.stringify(reply.body)}\n`);
    return;
  }
  if (reply.kind === 'ndjson') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Chunked-Output': '1' });
    res.end(reply.lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    return;
  }
  // Bytes: pull the first chunk before the 200 goes out, so "not found" is still a proper error response.
  const first = await reply.source.next();
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Stream-Output': '1' });
  try {
    for (let r = first; !r.done; r = await reply.source.next()) {
      if (!res.write(r.value)) await new Promise<void>((resolve) => res.once('drain', resolve));
      if (res.destroyed) return;
    }
    res.end();
  } catch {
    // Kubo would put the error in an X-Stream-Error trailer, which fetch-based clients never read; they would
    // take a truncated file for a whole one. Cutting the connection makes the client fail instead.
    res.destroy();
  }
}

export interface KuboRpcServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  log?: Logger;
}

export interface KuboRpcServer {
  /** Base URL for kubo-rpc-client, e.g. http://127.0.0.1:5001 (the client appends /api/v0). */
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting requests and waits up to `graceMs` for those in flight, then cuts the rest (0: at once,
   * as a killed daemon would).
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

export async function startKuboRpcServer(
  node: EmbeddedIpfsNode,
  opts: KuboRpcServerOptions = {},
): Promise<KuboRpcServer> {
  const host = opts.host ?? '127.0.0.1';
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const prefix = '/api/v0/';
    const name = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length).replace(/\/$/, '') : '';
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) {
      req.resume();
      return sendText(res, 404, '404 page not found\n');
    }
    if (req.method !== 'POST') {
      req.resume();
      return sendText(res, 405, '405 - Method Not Allowed\n');
    }
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client went away'));
    });
    try {
      await sendReply(res, await command(node, { q: url.searchParams, req, signal: abort.signal }));
    } catch (e) {
      req.resume();
      if (e instanceof KuboCommandError) return sendError(res, e.httpStatus, e.kuboCode, e.message);
      if (e instanceof MultipartError) return sendError(res, 400, 1, e.message);
      opts.log?.error('kubo rpc command failed', { command: name, err: e });
      sendError(res, 500, 0, messageOf(e));
    }
  };
  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostInUrl}:${port}`,
    port,
    close: ({ graceMs = 2_000 } = {}) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        if (graceMs <= 0) server.closeAllConnections();
        else setTimeout(() => server.closeAllConnections(), graceMs).unref();
      }),
  };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
