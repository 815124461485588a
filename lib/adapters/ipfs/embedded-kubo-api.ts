/**
 * The embedded IPFS endpoint: the offline Helia node on its repo directory, behind the Kubo RPC subset. The
 * embedded runtime starts one when no external Kubo endpoint is configured, and the pinner talks to it over
 * HTTP exactly as it would to Kubo or IPFS Cluster's proxy; there is no in-process shortcut to drift from.
 */
import type { Logger } from '../../logger.js';
import { EmbeddedIpfsNode } from './embedded-ipfs-node.js';
import { type KuboRpcServer, startKuboRpcServer } from './kubo-rpc-server.js';

export interface EmbeddedKuboApiOptions {
  /** Blocks, pins, identity and lock live here; reopening the same directory brings the pins back. */
  repoDir: string;
  /** Default 127.0.0.1: the RPC API has no authentication, like Kubo's. */
  host?: string;
  /** Default 0 (any free port); Kubo's conventional port is 5001. */
  port?: number;
  log?: Logger;
}

export interface EmbeddedKuboApi {
  /** What a Kubo RPC client is pointed at, e.g. http://127.0.0.1:5001. */
  readonly url: string;
  readonly port: number;
  readonly node: EmbeddedIpfsNode;
  /** Closes the HTTP server (see KuboRpcServer.close for `graceMs`), then the node and its repo lock. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

export async function startEmbeddedKuboApi(opts: EmbeddedKuboApiOptions): Promise<EmbeddedKuboApi> {
  const node = await EmbeddedIpfsNode.open(opts.repoDir);
  let server: KuboRpcServer;
  try {
    server = await startKuboRpcServer(node, {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      ...(opts.log ? { log: opts.log } : {}),
    });
  } catch (e) {
    await node.close();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    port: server.port,
    node,
    stop: (stopOpts) => {
      stopping ??= (async () => {
        await server.close(stopOpts);
        await node.close();
      })();
      return stopping;
    },
  };
}
