/**
 * A real local EVM node for the chain tests: ganache 7.9.2 on 127.0.0.1 and an OS-chosen port, in a process
 * of its own (ganache-node-process.ts), with its chain kept in a temporary directory so that stop() and
 * start() are a node going down and coming back with its blocks, the way a restarted geth would.
 *
 * Why a process and not in-process: stopping ganache while a request runs makes ganache reject a promise
 * nobody awaits (`WriteError: Database is not open`). In the test worker that is an unhandled rejection, and
 * vitest fails the whole run for it although every test passed (seen on CI under load). In a process of its
 * own, that failure stays with the node that is going down, as it would with a real node.
 *
 * Ganache is archived upstream but is a real EVM (ethereumjs VM, real signatures, real nonces, real
 * mempool rules); see FACTS.md. Hardhat's node is not installed here.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hex } from 'viem';
import type { NodeProcessMessage, NodeProcessOptions } from './ganache-node-process.js';

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
  /** The node goes down: its process closes the chain and exits; connections are refused until start(). */
  stop(): Promise<void>;
  /** The node comes back on the same port with the same chain. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** What the node's process wrote to stdout and stderr, for a failing test's message. */
  output(): string;
}

const ENTRY = join(import.meta.dirname, 'ganache-node-process.ts');
/** A node that has not closed by then is killed; its chain may then lose the last block, as a crash would. */
const STOP_GRACE_MS = 15_000;

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

export async function startGanache(opts: GanacheOptions): Promise<GanacheNode> {
  const chainId = opts.chainId ?? 31337;
  const dbPath = mkdtempSync(join(tmpdir(), 'iotn-ganache-'));
  let out = '';

  const spawnNode = async (port: number): Promise<{ running: Running; port: number }> => {
    const options: NodeProcessOptions = {
      port,
      chainId,
      dbPath,
      instamine: opts.instamine ?? 'eager',
      accounts: opts.accounts.map((a) => ({ secretKey: a.secretKey, balance: a.balance.toString() })),
    };
    const child = fork(ENTRY, [JSON.stringify(options)], {
      execArgv: ['--disable-warning=ExperimentalWarning', '--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const listening = await new Promise<number>((resolve, reject) => {
      child.on('message', (m: NodeProcessMessage) => {
        if (m.type === 'listening') resolve(m.port);
      });
      child.once('exit', (code, signal) =>
        reject(new Error(`ganache node exited before listening (${code ?? signal}):\n${out}`)),
      );
    });
    return { running: { child, exited }, port: listening };
  };

  const stopNode = async (r: Running, how: 'graceful' | 'kill'): Promise<void> => {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return;
    if (how === 'kill') r.child.kill('SIGKILL');
    else r.child.send({ type: 'stop' } satisfies NodeProcessMessage);
    const timer = setTimeout(() => r.child.kill('SIGKILL'), STOP_GRACE_MS);
    await r.exited;
    clearTimeout(timer);
  };

  const first = await spawnNode(0);
  let running: Running | undefined = first.running;
  const port = first.port;
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
    output: () => out,
    mine: async (blocks = 1) => {
      for (let i = 0; i < blocks; i++) await rpc('evm_mine');
    },
    stop: async () => {
      if (!running) return;
      const r = running;
      running = undefined;
      await stopNode(r, 'graceful');
    },
    start: async () => {
      if (running) return;
      running = (await spawnNode(port)).running;
    },
    // The chain is thrown away: no need to let it close in order.
    close: async () => {
      const r = running;
      running = undefined;
      if (r) await stopNode(r, 'kill');
      rmSync(dbPath, { recursive: true, force: true });
    },
  };
}
