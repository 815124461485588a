/**
 * A real local EVM node for the chain tests: ganache 7.9.2 in process, on 127.0.0.1 and an OS-chosen port,
 * with its chain kept in a temporary directory so that stop() and start() are a node going down and
 * coming back with its blocks, the way a restarted geth would.
 *
 * Ganache is archived upstream but is a real EVM (ethereumjs VM, real signatures, real nonces, real
 * mempool rules); see FACTS.md. Hardhat's node is not installed here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hex } from 'viem';

export interface GanacheAccount {
  secretKey: Hex;
  /** Wei. */
  balance: bigint;
}

export interface GanacheOptions {
  accounts: GanacheAccount[];
  chainId?: number;
  /** 'eager' (default) mines each transaction as it arrives; 'strict' mines it in the next block call. */
  instamine?: 'eager' | 'strict';
}

export interface GanacheNode {
  url: string;
  port: number;
  chainId: number;
  /** Raw JSON-RPC, for test controls (evm_mine, miner_stop, evm_snapshot...). */
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  mine(blocks?: number): Promise<void>;
  /** The node goes down: connections are refused until start(). */
  stop(): Promise<void>;
  /** The node comes back on the same port with the same chain. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Ganache's optional native websocket binary (absent for this Node version) prints a warning when the server
 * code first loads; nothing here uses websockets, so that one load runs with console output muted.
 */
async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const { log, error, warn } = console;
  console.log = () => {};
  console.error = () => {};
  console.warn = () => {};
  try {
    return await f();
  } finally {
    console.log = log;
    console.error = error;
    console.warn = warn;
  }
}

export async function startGanache(opts: GanacheOptions): Promise<GanacheNode> {
  const g = (await quietly(() => import('ganache'))).default;
  const chainId = opts.chainId ?? 31337;
  const dbPath = mkdtempSync(join(tmpdir(), 'iotn-ganache-'));
  const make = () =>
    g.server({
      logging: { quiet: true },
      chain: { chainId },
      wallet: { accounts: opts.accounts.map((a) => ({ secretKey: a.secretKey, balance: a.balance })) },
      miner: { instamine: opts.instamine ?? 'eager' },
      database: { dbPath },
      server: { ws: false },
    });
  let server: ReturnType<typeof make> | undefined = make();
  const first = server;
  await quietly(() => first.listen(0, '127.0.0.1'));
  const port = server.address().port;
  const url = `http://127.0.0.1:${port}`;
  let id = 0;

  const rpc = async (method: string, params: unknown[] = []): Promise<unknown> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };

  return {
    url,
    port,
    chainId,
    rpc,
    mine: async (blocks = 1) => {
      for (let i = 0; i < blocks; i++) await rpc('evm_mine');
    },
    stop: async () => {
      await server?.close();
      server = undefined;
    },
    start: async () => {
      if (server) return;
      server = make();
      await server.listen(port, '127.0.0.1');
    },
    close: async () => {
      await server?.close();
      server = undefined;
      rmSync(dbPath, { recursive: true, force: true });
    },
  };
}
