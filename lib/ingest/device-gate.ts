/**
 * Keeps a device's key rotation and its records from overlapping in one process, so that their acceptance
 * times (receivedAt, which orders leaves in the log: docs/device-keys.md §5) agree with the key state each was
 * checked against.
 *
 * Without it, a record signed by the old key and checked while a rotation is being applied (its signatures are
 * verified between taking its time and changing the keys) is accepted with a time after the rotation's, and its
 * proof then reads "signed by a key rotated away before it". With it:
 *
 *  - records and heads hold the device's gate *shared* from reading the key state until they are stored, and
 *    take their time through `stamp()`, never earlier than the last rotation of the device;
 *  - a rotation holds it *exclusively*: it waits for the records in flight, new ones wait for it, and its time
 *    is later than every record accepted before it (a millisecond tie would order the key event first).
 *
 * A rotation waiting stops new records from entering, so a stream of records cannot starve it. The gate is per
 * process: across Lambda instances a device must follow the protocol (drain its outbox before rotating,
 * docs/topics.md), which is what makes the race impossible there.
 */

interface DeviceState {
  shared: number;
  exclusive: boolean;
  /** Exclusive holders waiting, first in line first; shared waiters wait behind them. */
  waiting: (() => void)[];
  waitingExclusive: number;
  lastSharedAt: number;
  lastExclusiveAt: number;
  touchedAt: number;
}

/** Devices idle for this long are forgotten: their times can no longer tie with a new acceptance's. */
const FORGET_AFTER_MS = 10_000;
const PRUNE_ABOVE = 10_000;

export class DeviceGate {
  private readonly devices = new Map<string, DeviceState>();

  constructor(private readonly clock: () => number) {}

  /** Runs `fn` with the device's gate shared; `stamp()` gives its acceptance time. */
  shared<T>(deviceId: string, fn: (stamp: () => number) => Promise<T>): Promise<T> {
    return this.run(deviceId, false, fn);
  }

  /** Runs `fn` alone for this device; `stamp()` gives its acceptance time. */
  exclusive<T>(deviceId: string, fn: (stamp: () => number) => Promise<T>): Promise<T> {
    return this.run(deviceId, true, fn);
  }

  private state(deviceId: string): DeviceState {
    let s = this.devices.get(deviceId);
    if (!s) {
      if (this.devices.size >= PRUNE_ABOVE) this.prune();
      s = {
        shared: 0,
        exclusive: false,
        waiting: [],
        waitingExclusive: 0,
        lastSharedAt: 0,
        lastExclusiveAt: 0,
        touchedAt: 0,
      };
      this.devices.set(deviceId, s);
    }
    s.touchedAt = this.clock();
    return s;
  }

  private prune(): void {
    const before = this.clock() - FORGET_AFTER_MS;
    for (const [id, s] of this.devices)
      if (s.shared === 0 && !s.exclusive && s.waiting.length === 0 && s.touchedAt < before)
        this.devices.delete(id);
  }

  private async run<T>(
    deviceId: string,
    exclusive: boolean,
    fn: (stamp: () => number) => Promise<T>,
  ): Promise<T> {
    const s = this.state(deviceId);
    if (exclusive) {
      s.waitingExclusive++;
      while (s.exclusive || s.shared > 0) await new Promise<void>((r) => s.waiting.push(r));
      s.waitingExclusive--;
      s.exclusive = true;
    } else {
      while (s.exclusive || s.waitingExclusive > 0) await new Promise<void>((r) => s.waiting.push(r));
      s.shared++;
    }
    const stamp = exclusive
      ? () => {
          const t = Math.max(this.clock(), s.lastSharedAt + 1, s.lastExclusiveAt);
          s.lastExclusiveAt = t;
          return t;
        }
      : () => {
          const t = Math.max(this.clock(), s.lastExclusiveAt);
          s.lastSharedAt = Math.max(s.lastSharedAt, t);
          return t;
        };
    try {
      return await fn(stamp);
    } finally {
      if (exclusive) s.exclusive = false;
      else s.shared--;
      s.touchedAt = this.clock();
      // Everyone waiting re-checks; the loops above decide who goes.
      const waiting = s.waiting;
      s.waiting = [];
      for (const wake of waiting) wake();
    }
  }
}
