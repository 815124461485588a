/**
 * IPFS hot copies in the embedded runtime: the part of the composition root that builds the embedded Kubo
 * RPC endpoint (unless IPFS_API_URL names another), the pinner, the durable pin queue and the drain loop,
 * and hands lib/runtime/embedded.ts the two things it wires in: a hook for the ingest edge and a reader for
 * verify.
 *
 * Start order: endpoint, pinner, queue, handler, drain loop. Stop order: the drain loop (its pass in flight is
 * aborted and hands its jobs back), the queue, the endpoint. With IPFS_HOT=none nothing is started and
 * nothing is hooked in, so `npm start` behaves exactly as without this module; verify can still fetch by CID
 * when IPFS_API_URL is set.
 *
 * The local trigger is the queue: the ingest edge calls `onRecordStored` once the index holds the record and
 * before the device's ack goes out, and the job is durable before the hook returns. A crash before that means
 * no ack, so the device resends and the hook runs again on the duplicate.
 */
import { join } from 'node:path';
import { type EmbeddedKuboApi, startEmbeddedKuboApi } from '../adapters/ipfs/embedded-kubo-api.js';
import { KuboPinner } from '../adapters/ipfs/kubo-pinner.js';
import { kuboCidLike } from '../adapters/ipfs/unixfs-import.js';
import { SqlitePinQueue } from '../adapters/local/sqlite-pin-queue.js';
import type { StoredRecordRef } from '../ingest/ingest-handler.js';
import { hotPolicy } from '../ipfs/hot-policy.js';
import { createIpfsPinHandler, type IpfsPinHandler } from '../ipfs/pin-handler.js';
import type { PinQueueReport } from '../ipfs/pin-record.js';
import type { VerifyCidDeps } from '../ipfs/verify-cid.js';
import type { Logger } from '../logger.js';
import type { ObjectStore, RecordIndex } from '../ports.js';
import { StorageError } from '../storage-error.js';
import type { IpfsRuntimeConfig } from './ipfs-config.js';

export interface EmbeddedIpfsDeps {
  /** Absent: IPFS off, as with IPFS_HOT=none and no IPFS_API_URL. */
  config?: IpfsRuntimeConfig;
  /** Address the embedded endpoint binds to (the runtime's HOST): its RPC API has no authentication. */
  host: string;
  dataDir: string;
  /** fsync the pin queue before an enqueue returns (DURABLE_WRITES). */
  durable: boolean;
  objects: ObjectStore;
  index: RecordIndex;
  clock: () => number;
  log: Logger;
}

export interface EmbeddedIpfs {
  /** The Kubo RPC endpoint pins go to and verify fetches from; undefined when none is configured. */
  readonly apiUrl?: string;
  /** Whether that endpoint is the one this runtime started on its repo. */
  readonly embedded: boolean;
  /** For the ingest edge; undefined when nothing is hot. */
  readonly onRecordStored?: (r: StoredRecordRef) => Promise<void>;
  /** For verify by CID; undefined when there is no endpoint to fetch from. */
  readonly verify?: VerifyCidDeps;
  /** Runs drain passes now until nothing more is due; resolves with the last pass (undefined when off). */
  drainNow(): Promise<PinQueueReport | undefined>;
  stop(): Promise<void>;
}

export async function startEmbeddedIpfs(deps: EmbeddedIpfsDeps): Promise<EmbeddedIpfs> {
  const { config, log } = deps;
  if (!config || config.hot.mode === 'none') {
    // Nothing is pinned, but CIDs recorded earlier can still be checked against a configured endpoint.
    const apiUrl = config?.apiUrl;
    return {
      embedded: false,
      ...(config && apiUrl
        ? {
            apiUrl,
            verify: {
              pinner: new KuboPinner({ url: apiUrl, timeoutMs: config.timeoutMs }),
              cidOf: kuboCidLike,
            },
          }
        : {}),
      drainNow: async () => undefined,
      stop: async () => undefined,
    };
  }

  let api: EmbeddedKuboApi | undefined;
  if (!config.apiUrl) {
    api = await startEmbeddedKuboApi({
      repoDir: config.repoDir,
      host: deps.host,
      port: config.embeddedPort,
      log: log.child({ component: 'ipfs-api' }),
    });
  }
  const apiUrl = config.apiUrl ?? (api as EmbeddedKuboApi).url;
  const pinner = new KuboPinner({ url: apiUrl, timeoutMs: config.timeoutMs });
  let queue: SqlitePinQueue;
  try {
    queue = new SqlitePinQueue(join(deps.dataDir, 'pin-queue.sqlite'), { durable: deps.durable });
  } catch (e) {
    await api?.stop();
    throw e;
  }
  const policy = hotPolicy(config.hot);
  const handler = createIpfsPinHandler({
    queue,
    objects: deps.objects,
    index: deps.index,
    pinner,
    clock: deps.clock,
    policy,
    backoff: config.backoff,
    drain: config.drain,
    log: log.child({ fn: 'ipfs-pin' }),
  });
  const loop = startDrainLoop(handler, {
    intervalMs: config.pinIntervalMs,
    batch: config.drain.batch,
    log: log.child({ component: 'pin-scheduler' }),
  });
  // Resume what a previous run left queued (jobs backing off stay put until they are due).
  loop.kick();
  log.info('ipfs hot copies on', {
    endpoint: pinner.endpoint,
    embedded: api !== undefined,
    hot: config.hot.mode === 'all' ? 'all' : { devices: config.hot.devices, routes: config.hot.routes },
    pendingPins: await queue.countPending(),
  });

  let stopping: Promise<void> | undefined;
  return {
    apiUrl,
    embedded: api !== undefined,
    onRecordStored: async (r) => {
      // The policy first: a cold record costs no read and no write.
      if (!policy.isHot({ deviceId: r.deviceId, route: r.route })) return;
      const entry = await deps.index.getRecord(r.deviceId, r.seq);
      if (!entry)
        throw new StorageError(
          'storage-malformed',
          `record ${r.recordId} was reported stored but is not in the index`,
        );
      if ((await handler.recordStored(entry)) === 'queued') loop.kick();
    },
    verify: { pinner, cidOf: kuboCidLike },
    drainNow: () => loop.runNow(),
    stop: () => {
      stopping ??= (async () => {
        await loop.stop();
        await queue.close();
        await api?.stop({ graceMs: 500 });
      })();
      return stopping;
    },
  };
}

interface DrainLoop {
  /** Asks for a pass soon; passes never overlap, and a kick during one makes another follow it. */
  kick(): void;
  runNow(): Promise<PinQueueReport | undefined>;
  /** Ends the loop: the pass in flight is aborted (its jobs are handed back) and awaited. */
  stop(): Promise<void>;
}

/**
 * Drains on an interval and on demand. After a pass that claimed a full batch with no failure, another
 * follows at once, so a backlog drains at the endpoint's speed rather than one batch per interval; after an
 * outage, jobs come back when their backoff says, whatever the interval.
 */
function startDrainLoop(
  handler: IpfsPinHandler,
  opts: { intervalMs: number; batch: number; log: Logger },
): DrainLoop {
  const abort = new AbortController();
  let running: Promise<PinQueueReport | undefined> | undefined;
  let again = false;
  let stopped = false;
  const run = (): Promise<PinQueueReport | undefined> => {
    if (stopped) return Promise.resolve(undefined);
    if (running) {
      again = true;
      return running;
    }
    const pass = (async () => {
      let last: PinQueueReport | undefined;
      try {
        do {
          again = false;
          last = await handler.drain(abort.signal);
          const full = last.claimed >= opts.batch && last.retried.length + last.released.length === 0;
          if (full) again = true;
        } while (again && !stopped);
      } catch (err) {
        opts.log.error('pin pass failed; its jobs stay queued', { err });
      } finally {
        running = undefined;
      }
      return last;
    })();
    running = pass;
    return pass;
  };
  const timer = setInterval(() => void run(), opts.intervalMs);
  return {
    kick: () => {
      void run();
    },
    runNow: async () => {
      // A pass in flight may have claimed before the caller's job was queued: wait for it, then run one more.
      await running;
      return run();
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      abort.abort();
      await running;
    },
  };
}
