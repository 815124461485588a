/**
 * Rate limits for refusals of unauthenticated (or not yet authenticated) traffic: MQTT CONNECTs the broker
 * refuses and bad `PUT /v1/uploads`. Without it every refusal costs a dead-letter row and a log line, so a
 * flood of failures writes to disk as fast as it arrives (about 700 rows/s for CONNECTs and 2,300 rows/s for
 * uploads, measured on a 2-core machine).
 *
 * Each failure takes a token from two buckets: its source address's and the device id it claimed. While both
 * have tokens the refusal is kept as usual, one dead letter and one log line. Past either budget it is only
 * counted: each summary window writes one dead letter per (surface, code, address or device id) carrying the
 * count and the first and last time, and one log line for the whole window. A source whose bucket is empty
 * is refused before anything is checked (`admit`): CONNACK 3 or HTTP 429 with Retry-After.
 *
 * A device id's budget never gates authentication, only how its refusals are written: otherwise anyone could
 * lock a device out by failing in its name. Memory is bounded: at most MAX_KEYS buckets (least recently used
 * dropped first), MAX_AGGREGATES aggregates a window (the rest folded into one per surface and code), and
 * MAX_SINGLE_PER_WINDOW single dead letters a window across all sources, so even a flood from many addresses
 * writes a bounded number of rows.
 */
import { isIPv6 } from 'node:net';
import { newId } from '../core/ids.js';
import type { Logger } from '../logger.js';
import type { DeadLetter, DeadLetterSource, DeadLetterStore } from '../ports.js';
import { recordDeadLetter } from './dead-letter.js';

/** Token bucket of one key: `burst` failures at once, refilled at `perMinute`. */
export interface FailureBudget {
  burst: number;
  perMinute: number;
}

export interface FailureLimiterSettings {
  /** Applies to each source address and to each claimed device id (FAILURE_BURST, FAILURE_RATE_PER_MINUTE). */
  budget: FailureBudget;
  /** Length of a summary window (FAILURE_SUMMARY_MS). */
  summaryMs: number;
}

export const MAX_KEYS = 10_000;
export const MAX_AGGREGATES = 1_000;
export const MAX_SINGLE_PER_WINDOW = 100;
/** Distinct addresses an aggregate by device id remembers, to say how many there were. */
const MAX_ADDRESSES_PER_AGGREGATE = 100;

/** The code of a refusal answered without any check because its source was over budget. */
export const RATE_LIMITED = 'rate-limited';

export interface Refusal {
  /** The surface that refused: 'broker' (MQTT CONNECT and topic policy) or 'upload'. */
  source: DeadLetterSource;
  code: string;
  reason: string;
  remoteAddress?: string;
  deviceId?: string;
  clientId?: string;
  topic?: string;
  payload?: Uint8Array;
  /**
   * The client proved it is `deviceId` (a topic-policy refusal after CONNECT): budgeted by device id only, so
   * a misbehaving device never gets its address, which other devices may share, turned away.
   */
  authenticated?: boolean;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * The key a source address is budgeted under: an IPv4 address (IPv4-mapped IPv6 included) as it is, an IPv6
 * address by its /64, since one host commonly holds a whole /64 and could otherwise mint fresh budgets.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

interface Bucket {
  tokens: number;
  at: number;
}

interface Aggregate {
  source: DeadLetterSource;
  code: string;
  remoteAddress?: string;
  deviceId?: string;
  lastReason: string;
  count: number;
  firstAt: number;
  lastAt: number;
  addresses: Set<string>;
}

export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private aggregates = new Map<string, Aggregate>();
  private singles = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: { store: DeadLetterStore; clock: () => number; log: Logger },
    private readonly settings: FailureLimiterSettings,
  ) {
    const { burst, perMinute } = settings.budget;
    // Programming errors (settings reach here validated by lib/runtime/config.ts or chain-config.ts): RangeErrors.
    if (!(burst >= 1 && perMinute > 0 && settings.summaryMs > 0)) {
      throw new RangeError('a failure budget needs burst >= 1, perMinute > 0 and summaryMs > 0');
    }
  }

  /** Starts writing a summary every window. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.settings.summaryMs);
    this.timer.unref();
  }

  /** Stops the window timer and writes what the current window counted. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Whether a source may be served at all; a source past its budget is refused before any check. */
  admit(source: DeadLetterSource, remoteAddress: string | undefined): Admission {
    if (remoteAddress === undefined) return { ok: true };
    const b = this.peek(`${source}|a|${addressKey(remoteAddress)}`, this.deps.clock());
    if (b.tokens >= 1) return { ok: true };
    const perMs = this.settings.budget.perMinute / 60_000;
    return { ok: false, retryAfterMs: Math.ceil((1 - b.tokens) / perMs) };
  }

  /** Counts a refusal `admit` turned away: never a row of its own. */
  limited(r: Omit<Refusal, 'code'>): void {
    this.count({ ...r, code: RATE_LIMITED }, 'address', this.deps.clock());
  }

  /**
   * A refusal after the checks ran. 'kept': within both budgets, written as one dead letter (the caller
   * logs it); 'counted': added to this window's summary. A dead letter that cannot be written is logged as an
   * error here, so the caller can still answer the client.
   */
  async refused(r: Refusal): Promise<'kept' | 'counted'> {
    const now = this.deps.clock();
    const byAddress =
      r.remoteAddress === undefined ||
      r.authenticated === true ||
      this.take(`${r.source}|a|${addressKey(r.remoteAddress)}`, now);
    const byDevice = r.deviceId === undefined || this.take(`${r.source}|d|${r.deviceId}`, now);
    if (byAddress && byDevice && this.singles < MAX_SINGLE_PER_WINDOW) {
      this.singles++;
      const { authenticated: _, ...info } = r;
      try {
        await recordDeadLetter(this.deps.store, now, info);
      } catch (err) {
        this.deps.log.error('dead letter not stored', { err, code: r.code });
      }
      return 'kept';
    }
    this.count(r, !byAddress ? 'address' : !byDevice ? 'device' : 'surface', now);
    return 'counted';
  }

  /** Writes this window's aggregates, one dead letter each, and one log line; resets the window. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeWindow());
    return this.flushing;
  }

  private async writeWindow(): Promise<void> {
    const window = this.aggregates;
    this.aggregates = new Map();
    this.singles = 0;
    if (window.size === 0) return;
    let refusals = 0;
    const letters = [...window.values()].map((a) => {
      refusals += a.count;
      return toDeadLetter(a);
    });
    const results = await Promise.allSettled(letters.map((d) => this.deps.store.putDeadLetter(d)));
    const failed = results.filter((r) => r.status === 'rejected');
    const top = [...window.values()]
      .sort((a, b) => b.count - a.count)
      .slice(0, 5)
      .map((a) => ({
        source: a.source,
        code: a.code,
        count: a.count,
        ...(a.remoteAddress === undefined ? {} : { remoteAddress: a.remoteAddress }),
        ...(a.deviceId === undefined ? {} : { deviceId: a.deviceId }),
      }));
    this.deps.log.warn('refusals summarised', { refusals, deadLetters: letters.length, top });
    if (failed[0]?.status === 'rejected') {
      this.deps.log.error('dead letter not stored', { err: failed[0].reason, lost: failed.length });
    }
  }

  /**
   * Adds a refusal to this window's aggregate for the budget it exceeded: its address's, its claimed device
   * id's, or (neither: the window's single dead letters ran out) the surface's as a whole.
   */
  private count(r: Refusal, by: 'address' | 'device' | 'surface', now: number): void {
    // By the budget's key: an IPv6 source rotating through its /64 makes one aggregate, not thousands.
    let remoteAddress =
      by === 'address' && r.remoteAddress !== undefined ? addressKey(r.remoteAddress) : undefined;
    let deviceId = by === 'device' ? r.deviceId : undefined;
    let key = `${r.source}|${r.code}|${remoteAddress ?? ''}|${deviceId ?? ''}`;
    if (!this.aggregates.has(key) && this.aggregates.size >= MAX_AGGREGATES) {
      remoteAddress = undefined;
      deviceId = undefined;
      key = `${r.source}|${r.code}||`;
    }
    let a = this.aggregates.get(key);
    if (!a) {
      a = {
        source: r.source,
        code: r.code,
        ...(remoteAddress === undefined ? {} : { remoteAddress }),
        ...(deviceId === undefined ? {} : { deviceId }),
        lastReason: r.reason,
        count: 0,
        firstAt: now,
        lastAt: now,
        addresses: new Set(),
      };
      this.aggregates.set(key, a);
    }
    a.count++;
    a.lastAt = now;
    a.lastReason = r.reason;
    if (r.remoteAddress !== undefined && a.addresses.size < MAX_ADDRESSES_PER_AGGREGATE) {
      a.addresses.add(r.remoteAddress);
    }
  }

  /** The bucket of `key`, refilled to `now`, moved to the most recently used end. */
  private peek(key: string, now: number): Bucket {
    const { burst, perMinute } = this.settings.budget;
    const found = this.buckets.get(key);
    const b: Bucket = found
      ? { tokens: Math.min(burst, found.tokens + ((now - found.at) * perMinute) / 60_000), at: now }
      : { tokens: burst, at: now };
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > MAX_KEYS) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
    return b;
  }

  /** Takes one token if there is one. */
  private take(key: string, now: number): boolean {
    const b = this.peek(key, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

function toDeadLetter(a: Aggregate): DeadLetter {
  const from =
    a.remoteAddress !== undefined
      ? `from ${a.remoteAddress}`
      : `from ${a.addresses.size >= MAX_ADDRESSES_PER_AGGREGATE ? `${MAX_ADDRESSES_PER_AGGREGATE}+` : a.addresses.size} address(es)`;
  const over =
    a.remoteAddress !== undefined
      ? 'over the per-source budget'
      : a.deviceId !== undefined
        ? `claiming device ${a.deviceId}, over the per-device budget`
        : 'over the limit of single dead letters per window';
  const d: DeadLetter = {
    id: newId(a.lastAt, 'dl-'),
    at: a.lastAt,
    source: a.source,
    code: a.code,
    reason: `${a.count} refusals ${from} ${over}; the last: ${a.lastReason}`,
    payloadSize: 0,
    // SHA-256 of no bytes: an aggregate keeps no payload.
    payloadSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    payload: '',
    truncated: false,
    count: a.count,
    firstAt: a.firstAt,
    lastAt: a.lastAt,
  };
  if (a.remoteAddress !== undefined) d.remoteAddress = a.remoteAddress;
  if (a.deviceId !== undefined) d.deviceId = a.deviceId;
  return d;
}
