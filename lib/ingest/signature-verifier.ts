/**
 * Checking device signatures at ingest without holding up the broker.
 *
 * An Ed25519 verification costs about 75 µs of OpenSSL (about 13,000 per second per core here), and the
 * embedded runtime ingests over 10,000 records per second on one event loop, which also runs the MQTT broker:
 * verified there, signatures alone would take most of that loop. So the runtime hands them to a small pool of
 * worker threads. Every request of one event-loop turn travels to a worker as one transferred buffer and the
 * answers come back as one, so the loop pays one message per turn instead of one per record.
 *
 * Three verifiers behind one interface:
 *  - `createVerifierPool({ threads })`: node:crypto in worker threads (the embedded runtime);
 *  - `createInlineVerifier()`: the same node:crypto code on the caller's thread (Lambda, which handles one
 *    message per invocation and has no loop to protect; and SIGNATURE_VERIFY_THREADS=0);
 *  - `coreVerifier`: lib/core's pure @noble/curves verifier, the reference the others are tested against.
 *
 * Every public key handed in must be in the registry's normalised form (lib/core/device-signature.ts).
 */
import * as nodeCrypto from 'node:crypto';
import { runInThisContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import {
  DIGEST_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  type SigAlg,
  sigAlgCode,
  verifyDigest,
} from '../core/device-signature.js';
import { CodedError } from '../core/errors.js';
import { NODE_VERIFY_SOURCE } from './node-signature-source.js';

export interface SignatureVerifier {
  /** Which implementation: 'core' (noble), 'inline' (node:crypto here), 'pool' (node:crypto in workers). */
  readonly kind: 'core' | 'inline' | 'pool';
  /** True iff `sig` is a valid signature of the 32-byte `digest` under `publicKey`. Never rejects on bad input. */
  verify(alg: SigAlg, publicKey: Uint8Array, digest: Uint8Array, sig: Uint8Array): Promise<boolean>;
  close(): Promise<void>;
}

type NodeVerify = (code: number, publicKey: Uint8Array, digest: Uint8Array, sig: Uint8Array) => boolean;

const shapeOk = (alg: SigAlg, publicKey: Uint8Array, digest: Uint8Array, sig: Uint8Array): boolean =>
  publicKey.length === PUBLIC_KEY_BYTES[alg] &&
  digest.length === DIGEST_BYTES &&
  sig.length === SIGNATURE_BYTES;

export const coreVerifier: SignatureVerifier = {
  kind: 'core',
  verify: async (alg, publicKey, digest, sig) => verifyDigest(alg, publicKey, digest, sig),
  close: async () => undefined,
};

/** node:crypto on the caller's thread. */
export function createInlineVerifier(): SignatureVerifier {
  const create = runInThisContext(NODE_VERIFY_SOURCE, { filename: 'node-signature-source.js' }) as (
    c: typeof nodeCrypto,
  ) => NodeVerify;
  const verify = create(nodeCrypto);
  return {
    kind: 'inline',
    verify: async (alg, publicKey, digest, sig) =>
      shapeOk(alg, publicKey, digest, sig) && verify(sigAlgCode(alg), publicKey, digest, sig),
    close: async () => undefined,
  };
}

const MAX_FAILURES = 3;

/** One request as packed for a worker: alg code, public key (padded to 33 bytes), digest, signature. */
const ITEM_BYTES = 1 + 33 + DIGEST_BYTES + SIGNATURE_BYTES;

// getBuiltinModule, not require: the worker inherits the process's execArgv, and with --input-type=module
// an eval'd worker is an ES module, where require does not exist.
const WORKER_SOURCE = `
const { parentPort } = process.getBuiltinModule('node:worker_threads');
const verify = ${NODE_VERIFY_SOURCE}(process.getBuiltinModule('node:crypto'));
parentPort.on('message', (m) => {
  const b = new Uint8Array(m.buf);
  const out = new Uint8Array(m.n);
  for (let i = 0; i < m.n; i++) {
    const o = i * ${ITEM_BYTES};
    const code = b[o];
    const pk = b.subarray(o + 1, o + 1 + (code === 1 ? 32 : 33));
    out[i] = verify(code, pk, b.subarray(o + 34, o + 66), b.subarray(o + 66, o + ${ITEM_BYTES})) ? 1 : 0;
  }
  parentPort.postMessage({ id: m.id, out }, [out.buffer]);
});
`;

/** The verifier pool cannot check signatures: a thread failed, the pool gave up after repeated failures, or it is closed. */
export type SignatureVerifierErrorCode =
  | 'verifier-thread-failed'
  | 'verifier-pool-stopped'
  | 'verifier-closed';

export class SignatureVerifierError extends CodedError<SignatureVerifierErrorCode> {
  override readonly name = 'SignatureVerifierError';
}

interface Request {
  alg: SigAlg;
  publicKey: Uint8Array;
  digest: Uint8Array;
  sig: Uint8Array;
  resolve: (ok: boolean) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  /** Requests sent and not yet answered, by batch id. */
  batches: Map<number, Request[]>;
  outstanding: number;
}

export interface VerifierPoolOptions {
  /** Worker threads, at least 1. */
  threads: number;
  /** Most requests in one message to a worker (default 512). */
  maxBatch?: number;
}

/** node:crypto in `threads` worker threads. A worker that dies fails its requests (ingest then sends no ack). */
export function createVerifierPool(opts: VerifierPoolOptions): SignatureVerifier {
  // Programming errors (settings reach here validated by lib/runtime/config.ts or chain-config.ts): RangeErrors.
  if (!Number.isInteger(opts.threads) || opts.threads < 1)
    throw new RangeError('a verifier pool needs at least one thread');
  const maxBatch = opts.maxBatch ?? 512;
  const workers: PoolWorker[] = [];
  let queue: Request[] = [];
  let scheduled = false;
  let nextId = 1;
  let closed = false;
  /** Threads that failed since one last answered; past MAX_FAILURES the pool gives up instead of respawning. */
  let failuresInARow = 0;
  let broken: Error | undefined;

  const failAll = (w: PoolWorker, e: Error) => {
    for (const reqs of w.batches.values()) for (const r of reqs) r.reject(e);
    w.batches.clear();
    w.outstanding = 0;
  };

  const spawn = (): PoolWorker => {
    const w: PoolWorker = {
      worker: new Worker(WORKER_SOURCE, { eval: true }),
      batches: new Map(),
      outstanding: 0,
    };
    w.worker.on('message', (m: { id: number; out: Uint8Array }) => {
      const reqs = w.batches.get(m.id);
      if (!reqs) return;
      w.batches.delete(m.id);
      w.outstanding -= reqs.length;
      failuresInARow = 0;
      if (w.batches.size === 0) w.worker.unref();
      reqs.forEach((r, i) => {
        r.resolve(m.out[i] === 1);
      });
    });
    const replace = (e: Error) => {
      failAll(w, e);
      const at = workers.indexOf(w);
      if (at < 0 || closed) return;
      if (++failuresInARow >= MAX_FAILURES) {
        // A thread that cannot even start would otherwise be respawned forever.
        broken = new SignatureVerifierError(
          'verifier-pool-stopped',
          `the verifier pool stopped after ${failuresInARow} failures: ${e.message}`,
        );
        for (const other of workers) {
          failAll(other, broken);
          void other.worker.terminate();
        }
        workers.length = 0;
        for (const r of queue) r.reject(broken);
        queue = [];
        return;
      }
      workers[at] = spawn();
    };
    w.worker.on('error', (e) =>
      replace(new SignatureVerifierError('verifier-thread-failed', `verifier thread failed: ${e.message}`)),
    );
    w.worker.on('exit', (code) => {
      if (!closed)
        replace(
          new SignatureVerifierError('verifier-thread-failed', `verifier thread exited with code ${code}`),
        );
    });
    // An idle pool does not keep a process alive on its own (close() is the orderly way out); a busy one
    // does, until its answers are in.
    w.worker.unref();
    return w;
  };
  for (let i = 0; i < opts.threads; i++) workers.push(spawn());

  const send = () => {
    scheduled = false;
    const all = queue;
    queue = [];
    if (broken) {
      for (const r of all) r.reject(broken);
      return;
    }
    const size = chunkSize(all.length, workers.length, maxBatch);
    for (let start = 0; start < all.length; start += size) {
      const reqs = all.slice(start, start + size);
      // The least busy worker takes the batch.
      const w = workers.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
      const buf = new ArrayBuffer(reqs.length * ITEM_BYTES);
      const b = new Uint8Array(buf);
      reqs.forEach((r, i) => {
        const o = i * ITEM_BYTES;
        b[o] = sigAlgCode(r.alg);
        b.set(r.publicKey, o + 1);
        b.set(r.digest, o + 34);
        b.set(r.sig, o + 66);
      });
      const id = nextId++;
      if (w.batches.size === 0) w.worker.ref();
      w.batches.set(id, reqs);
      w.outstanding += reqs.length;
      w.worker.postMessage({ id, n: reqs.length, buf }, [buf]);
    }
  };

  return {
    kind: 'pool',
    verify: (alg, publicKey, digest, sig) => {
      if (closed)
        return Promise.reject(new SignatureVerifierError('verifier-closed', 'the verifier pool is closed'));
      if (broken) return Promise.reject(broken);
      if (!shapeOk(alg, publicKey, digest, sig)) return Promise.resolve(false);
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ alg, publicKey, digest, sig, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(send);
        }
      });
    },
    close: async () => {
      if (closed) return;
      // What is queued still goes out; the answers are awaited before the threads stop.
      send();
      closed = true;
      const pending = workers.flatMap((w) =>
        [...w.batches.values()].flat().map(
          (r) =>
            new Promise<void>((done) => {
              const { resolve, reject } = r;
              r.resolve = (v) => {
                resolve(v);
                done();
              };
              r.reject = (e) => {
                reject(e);
                done();
              };
            }),
        ),
      );
      await Promise.all(pending);
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}

/**
 * How many requests of one turn go in one message to a worker. A busy broker turn asks for hundreds of checks at
 * once (every device's whole in-flight window arrives together). Sent as one message, all of them wait for the
 * last one, and storage sits idle meanwhile; then verification sits idle while they are stored. Split into a few
 * messages per thread, the first answers come back while the rest are checked, so their records are being written
 * while the worker goes on: the two stages overlap instead of taking turns. Chunks stay large enough (at least
 * MIN_CHUNK) that the message itself costs well under a microsecond per request.
 */
export function chunkSize(requests: number, threads: number, maxBatch: number): number {
  return Math.max(
    1,
    Math.min(maxBatch, Math.max(MIN_CHUNK, Math.ceil(requests / (threads * CHUNKS_PER_THREAD)))),
  );
}
const MIN_CHUNK = 16;
const CHUNKS_PER_THREAD = 4;

/** Threads for the pool when SIGNATURE_VERIFY_THREADS is not set: one per core but the event loop's, 1-4. */
export function defaultVerifyThreads(cores: number): number {
  return Math.max(1, Math.min(4, cores - 1));
}
