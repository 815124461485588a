/**
 * The process that runs one ganache node for tests/support/ganache-node.ts; never imported, only forked.
 *
 * Ganache closes its database when its server closes but does not wait for requests still running: an
 * eth_estimateGas or eth_call in flight then reverts its trie checkpoint into a closed database and rejects
 * with `WriteError: Database is not open` where nobody awaits it. In the vitest worker that rejection failed
 * whole CI runs whose tests had all passed. Here it lands in a process that is about to exit anyway.
 *
 * Clients reach the node through a TCP front door on the public port, in front of ganache's own server on an
 * internal port. Stopping shuts the front door first and drops every connection through it, so a request in
 * flight fails as it would against a node that went down (connection closed), instead of getting ganache's
 * half-closed answers such as a JSON-RPC error "Database is not open", which a client would read as a
 * refusal of its transaction. Only then does ganache close its chain, in order, so start() finds it intact.
 *
 * Protocol (IPC): argv[2] is the JSON of NodeProcessOptions; the process answers
 * `{type: 'listening', port}` once it serves, and on `{type: 'stop'}` closes the node and exits 0.
 */
import { connect, createServer, type Socket } from 'node:net';
import ganache from 'ganache';

export interface NodeProcessOptions {
  port: number;
  chainId: number;
  dbPath: string;
  instamine: 'eager' | 'strict';
  accounts: { secretKey: string; balance: string }[];
}

export type NodeProcessMessage = { type: 'listening'; port: number } | { type: 'stop' };

const send = (m: NodeProcessMessage): void => {
  process.send?.(m);
};

const opts = JSON.parse(process.argv[2] ?? '{}') as NodeProcessOptions;
const server = ganache.server({
  logging: { quiet: true },
  chain: { chainId: opts.chainId },
  wallet: { accounts: opts.accounts.map((a) => ({ secretKey: a.secretKey, balance: BigInt(a.balance) })) },
  miner: { instamine: opts.instamine },
  database: { dbPath: opts.dbPath },
  server: { ws: false },
});

const open = new Set<Socket>();
const front = createServer((client) => {
  const node = connect(inner, '127.0.0.1');
  open.add(client);
  open.add(node);
  const drop = () => {
    client.destroy();
    node.destroy();
    open.delete(client);
    open.delete(node);
  };
  for (const s of [client, node]) {
    s.on('error', drop);
    s.on('close', drop);
  }
  client.pipe(node).pipe(client);
});

let stopping = false;
async function stop(): Promise<never> {
  if (!stopping) {
    stopping = true;
    front.close();
    for (const s of open) s.destroy();
    // From here on a request still running inside ganache may fail on the closed database (see above). Each
    // such failure is written to stderr, which the parent keeps, and the process exits as planned.
    process.on('unhandledRejection', (e) => {
      process.stderr.write(`while stopping: ${e instanceof Error ? e.message : String(e)}\n`);
    });
    try {
      await server.close();
    } catch (e) {
      process.stderr.write(`close failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  process.exit(0);
}

process.on('message', (m: NodeProcessMessage) => {
  if (m.type === 'stop') void stop();
});
// The test process went away without stopping us: do not outlive it.
process.on('disconnect', () => void stop());

await server.listen(0, '127.0.0.1');
const inner = server.address().port;
await new Promise<void>((resolve, reject) => {
  front.once('error', reject);
  front.listen(opts.port, '127.0.0.1', () => resolve());
});
const address = front.address();
send({ type: 'listening', port: typeof address === 'object' && address ? address.port : opts.port });
