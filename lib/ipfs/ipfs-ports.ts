/**
 * The two ports the IPFS work needs, proposed for lib/ports.ts (docs/ipfs.md has the proposal). They live
 * here until the round that wires IPFS into the runtime moves them, unchanged, next to the other ports.
 *
 * Pinner is shaped for the weakest endpoint it must fit, IPFS Cluster's Kubo-compatible proxy: add-with-pin,
 * cat and pin/rm are all it may assume. PinQueue is shaped like the record index: one item per record, every
 * write a conditional put or an update of that one item, and "due jobs" a range on one sort key.
 */

// ---------------------------------------------------------------------------------------------- pinner

export interface Pinner {
  /** Where the pins go, for logs and reports, e.g. `kubo-rpc:http://127.0.0.1:5001`. Never a secret. */
  readonly endpoint: string;
  /**
   * Adds `bytes` as one UnixFS file with Kubo's legacy import settings (CIDv0, no raw leaves, 256 KiB chunks,
   * 174 links per node) and pins it recursively. The same bytes always give the same CID, so a retry after a
   * lost answer pins nothing twice. Throws IpfsError.
   */
  pin(bytes: Uint8Array, opts?: { signal?: AbortSignal }): Promise<{ cid: string; size: number }>;
  /**
   * The content behind `cid`, or undefined when the endpoint answers that it cannot find it. Reads at most
   * `maxBytes` (IpfsError 'content-too-large' beyond). Throws IpfsError for every other failure, so "not
   * there" and "could not ask" stay distinct.
   */
  fetch(cid: string, opts: { maxBytes: number; signal?: AbortSignal }): Promise<Uint8Array | undefined>;
  /** Removes the recursive pin. Unpinning something not pinned is not an error. */
  unpin?(cid: string, opts?: { signal?: AbortSignal }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------- pin queue

/** What a pin job needs to find and check the bytes: the record index entry's identifying fields. */
export interface PinTarget {
  recordId: string;
  deviceId: string;
  seq: number;
  objectKey: string;
  /** Hex Merkle leaf hash of the header: the stored envelope is checked against it before anything is pinned. */
  recordHash: string;
}

/**
 * pending: waiting for its next attempt (or leased by a worker until `nextAttemptAt`);
 * pinned: done, `cid` is set; failed: will never succeed as is (the object is gone or does not match the
 * record), kept with its error for an operator.
 */
export type PinJobState = 'pending' | 'pinned' | 'failed';

export interface PinJobError {
  code: string;
  message: string;
}

export interface PinJob extends PinTarget {
  state: PinJobState;
  /** Failed attempts so far; the backoff grows with it. A lease that expired (a crashed worker) is not one. */
  attempts: number;
  /** ms since the Unix epoch. Pending jobs become due at this time; while leased it is the lease's end. */
  nextAttemptAt: number;
  enqueuedAt: number;
  lastError?: PinJobError;
  cid?: string;
  pinnedAt?: number;
}

export interface PinQueue {
  /** Conditional on recordId: a second enqueue of the same record changes nothing and answers 'exists'. */
  enqueue(target: PinTarget, now: number): Promise<'queued' | 'exists'>;
  /**
   * Pending jobs with nextAttemptAt <= now, oldest due first, each leased to the caller until now + leaseMs:
   * a concurrent worker does not see them, and a worker that dies mid-job hands them back when the lease
   * ends.
   */
  claimDue(q: { now: number; limit: number; leaseMs: number }): Promise<PinJob[]>;
  markPinned(recordId: string, r: { cid: string; at: number }): Promise<void>;
  /** Counts a failed attempt and makes the job due again at `nextAttemptAt`. */
  markRetry(recordId: string, r: PinJobError & { nextAttemptAt: number }): Promise<void>;
  /** Hands a claimed job back untried (the endpoint is down, so trying it would only wait): no attempt counted. */
  release(recordId: string, nextAttemptAt: number): Promise<void>;
  markFailed(recordId: string, r: PinJobError & { at: number }): Promise<void>;
  getJob(recordId: string): Promise<PinJob | undefined>;
  countPending(): Promise<number>;
  close(): Promise<void>;
}
