/**
 * Runs the publishing side of a bench (plain publishers or the device stub) in a worker thread. Devices are
 * other machines in production; in one event loop with the broker, their sealing and outbox writes would be
 * charged to the backend. Both the raw and the ingest bench put their clients here, so the comparison between
 * them stays like for like.
 *
 * Protocol: the worker prepares (connects, provisions, warms up) and posts `ready`; the parent posts `go` and
 * starts its clock; the worker posts `done` with its result.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { type FleetJob, type FleetJobResult, prepareFleet } from './fleet-job.js';
import { preparePublishers, type RawPublishJob, type RawPublishResult } from './raw-publishers.js';

export type ClientJob = RawPublishJob | FleetJob;
export type ClientResult = RawPublishResult | FleetJobResult;

/** Tagged, so that importing this module inside some other worker (a test pool) does not start a job. */
interface WorkerData {
  benchClientJob: ClientJob;
}

type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; result: ClientResult; cpuUs: number }
  | { type: 'error'; message: string };

/** What the timed part returned, and the CPU the clients' thread spent on it. */
export interface ClientRun {
  result: ClientResult;
  /** User + system CPU of the worker thread during the timed part, in microseconds. */
  cpuUs: number;
}

export interface ClientWorker {
  /** Resolves when the clients are prepared. */
  ready: Promise<void>;
  /** Starts the timed part; resolves with its result. */
  go(): Promise<ClientRun>;
  terminate(): Promise<void>;
}

/** tsx must also load inside the worker, including under vitest, whose processes were not started with it. */
function workerExecArgv(): string[] {
  return process.execArgv.some((a) => a.includes('tsx'))
    ? process.execArgv
    : [...process.execArgv, '--import', 'tsx'];
}

export function startClientWorker(job: ClientJob): ClientWorker {
  const data: WorkerData = { benchClientJob: job };
  const worker = new Worker(new URL(import.meta.url), { workerData: data, execArgv: workerExecArgv() });
  let onReady: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let onDone: { resolve: (r: ClientRun) => void; reject: (e: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = { resolve, reject };
  });
  const fail = (e: Error): void => {
    onReady?.reject(e);
    onDone?.reject(e);
  };
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'ready') onReady?.resolve();
    else if (m.type === 'done') onDone?.resolve({ result: m.result, cpuUs: m.cpuUs });
    else fail(new Error(`bench client worker: ${m.message}`));
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`bench client worker exited with code ${code}`)));
  // An unobserved rejection of `ready` would crash the parent when the worker fails after `go`.
  ready.catch(() => undefined);
  return {
    ready,
    go: () =>
      new Promise<ClientRun>((resolve, reject) => {
        onDone = { resolve, reject };
        worker.postMessage('go');
      }),
    terminate: async () => {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}

async function workerMain(job: ClientJob): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const post = (m: FromWorker): void => port.postMessage(m);
  try {
    const prepared = job.kind === 'raw' ? await preparePublishers(job) : await prepareFleet(job);
    port.once('message', () => {
      // This thread's own CPU: the simulated devices' share of the machine, which real devices would not take.
      const cpu0 = process.threadCpuUsage();
      prepared
        .go()
        .then(async (result) => {
          const cpu = process.threadCpuUsage(cpu0);
          await prepared.close();
          post({ type: 'done', result, cpuUs: cpu.user + cpu.system });
        })
        .catch((e: unknown) => post({ type: 'error', message: String(e) }));
    });
    post({ type: 'ready' });
  } catch (e) {
    post({ type: 'error', message: String(e) });
  }
}

const data = workerData as Partial<WorkerData> | null;
if (data?.benchClientJob) void workerMain(data.benchClientJob);
