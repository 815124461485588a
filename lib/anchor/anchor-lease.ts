/**
 * Single-flight anchoring without reserved concurrency: a cycle runs only while holding the `anchor` lease
 * (LeaseStore), so a second Lambda started by the next tick, or a second process on the same DATA_DIR, finds
 * it held and does nothing.
 *
 * Holding the lease at the start is not enough: a holder can stall (a frozen Lambda, a long GC, a slow
 * chain) past the lease's end while another takes over. So every write the cycle makes goes through a fence
 * first (`fencedIndex`, `fencedObjects`, `fencedChain`): a conditional renewal of the lease on its token,
 * which fails once anyone else has acquired it. A stale holder then stops with LeaseLostError before its
 * next write; what it already wrote is safe to leave (every step of a cycle is idempotent and resumable).
 * What remains is a holder that passes a fence and then stalls for longer than the whole lease before its
 * write lands: with the default lease of two minutes and writes that take milliseconds, docs/deploy.md
 * ("Single-flight anchoring") explains why that is accepted and what it would cost.
 */
import { randomUUID } from 'node:crypto';
import type {
  BatchStore,
  Chain,
  Lease,
  LeaseStore,
  ObjectStore,
  RecordIndex,
  StatementStore,
} from '../ports.js';
import { AnchorError } from './anchor-error.js';

export const ANCHOR_LEASE = 'anchor';

/** The lease was taken over (or never held): the holder must stop writing. */
export class LeaseLostError extends AnchorError {
  override readonly name = 'LeaseLostError';
  declare readonly code: 'lease-lost';
  constructor(message: string) {
    super('lease-lost', message);
  }
}

export type SingleFlightResult<T> =
  | { status: 'ran'; result: T; token: number }
  /** Someone else holds the lease: nothing was done. */
  | { status: 'busy'; heldBy: string; until: number }
  /** The lease was taken over while working: the work stopped at its next write. */
  | { status: 'lease-lost'; token: number; message: string };

export interface SingleFlight {
  run<T>(work: () => Promise<T>): Promise<SingleFlightResult<T>>;
  /** Resolves if this process still holds the lease (renewing it), else throws LeaseLostError. */
  fence(): Promise<void>;
}

export function createSingleFlight(deps: {
  leases: LeaseStore;
  clock: () => number;
  ttlMs: number;
  name?: string;
  /** Prefix of the holder id, e.g. the function name; a random suffix makes each run distinct. */
  holder?: string;
}): SingleFlight {
  const name = deps.name ?? ANCHOR_LEASE;
  let current: Lease | undefined;

  const fence = async (): Promise<void> => {
    const lease = current;
    if (!lease) throw new LeaseLostError(`the ${name} lease is not held by this process`);
    const renewed = await deps.leases.renew(lease, { now: deps.clock(), ttlMs: deps.ttlMs });
    if (!renewed) {
      if (current === lease) current = undefined;
      throw new LeaseLostError(
        `the ${name} lease (token ${lease.token}) was taken over; stopping before a write`,
      );
    }
    if (current === lease) current = renewed;
  };

  const run = async <T>(work: () => Promise<T>): Promise<SingleFlightResult<T>> => {
    if (current)
      throw new AnchorError('run-in-progress', `a ${name} run is already in progress in this process`);
    const holder = `${deps.holder ?? name}:${randomUUID()}`;
    const got = await deps.leases.acquire(name, holder, { now: deps.clock(), ttlMs: deps.ttlMs });
    if (!got.acquired) return { status: 'busy', heldBy: got.heldBy, until: got.expiresAt };
    const lease = got.lease;
    current = lease;
    try {
      return { status: 'ran', result: await work(), token: lease.token };
    } catch (e) {
      if (e instanceof LeaseLostError)
        return { status: 'lease-lost', token: lease.token, message: e.message };
      throw e;
    } finally {
      const held = current;
      current = undefined;
      // Released only if still ours (the store checks the token): a lost lease stays with its new holder.
      if (held) await deps.leases.release(held);
    }
  };

  return { run, fence };
}

/** Methods of the anchor's index that write: each passes the fence first. Reads go straight through. */
const INDEX_WRITES = new Set<string | symbol>([
  'putRecord',
  'assignToBatch',
  'setIpfsCid',
  'putBatch',
  'compareAndSetAnchors',
]);

export function fencedIndex<T extends RecordIndex & BatchStore>(index: T, fence: () => Promise<void>): T {
  return fenceMethods(index, INDEX_WRITES, fence);
}

export function fencedObjects(objects: ObjectStore, fence: () => Promise<void>): ObjectStore {
  return fenceMethods(objects, new Set(['put', 'delete', 'createUploadUrl']), fence);
}

export function fencedStatements(statements: StatementStore, fence: () => Promise<void>): StatementStore {
  return fenceMethods(statements, new Set(['putStatement', 'assignToBatch']), fence);
}

/** Submissions cost money on a public chain: a stale holder must not pay for one. */
export function fencedChain(chain: Chain, fence: () => Promise<void>): Chain {
  return fenceMethods(chain, new Set(['submit', 'replace']), fence);
}

function fenceMethods<T extends object>(
  target: T,
  writes: ReadonlySet<string | symbol>,
  fence: () => Promise<void>,
): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value: unknown = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (!writes.has(prop)) return fn.bind(t);
      return async (...args: unknown[]) => {
        await fence();
        return fn.apply(t, args);
      };
    },
  });
}
