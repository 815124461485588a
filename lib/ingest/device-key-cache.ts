/**
 * The device registry entries ingest checks signatures against, kept in memory so that a record does not
 * cost a registry read (docs/device-keys.md, "Key state at ingest").
 *
 * Rules, which make a cached entry safe to use:
 *  - An entry is used for at most `maxAgeMs` after it was read (Infinity: until invalidated; 0: never cached).
 *  - Every change of a device's keys made through `watch(registry)` invalidates the device's entry when the
 *    write returns, so in the embedded runtime, where every key change goes through this process, a revocation
 *    takes effect at the next record. A read that started before an invalidation never fills the cache with
 *    what it read (each device has a generation, bumped by every invalidation).
 *  - Callers confirm every refusal with a fresh read (`get(id, { fresh: true })`): a cached entry can only make
 *    ingest accept a key that was active when it was read, never refuse a key registered or rotated to since.
 *    On Lambda, where another instance may have changed the keys, this is what lets a rotated device's first
 *    record through at once; a revocation reaches a warm instance within `maxAgeMs` (DEVICE_KEY_CACHE_MS).
 */
import type { DeviceEntry, DeviceKeyRegistry, DeviceRegistry } from '../ports.js';

export interface DeviceKeyCacheOptions {
  /** How long a read entry may be used (ms). 0: always read; Infinity: until invalidated. */
  maxAgeMs: number;
  clock: () => number;
  /** Most devices kept (default 100,000); the least recently read go first. */
  maxEntries?: number;
}

interface Entry {
  device: DeviceEntry | undefined;
  readAt: number;
}

export class DeviceKeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly generations = new Map<string, number>();
  private readonly maxEntries: number;

  constructor(
    private readonly registry: Pick<DeviceRegistry, 'getDevice'>,
    private readonly opts: DeviceKeyCacheOptions,
  ) {
    // Programming errors (settings reach here validated by lib/runtime/config.ts or chain-config.ts): RangeErrors.
    if (!(opts.maxAgeMs >= 0)) throw new RangeError('maxAgeMs must be >= 0');
    this.maxEntries = opts.maxEntries ?? 100_000;
  }

  /** Bumped by every invalidation of the device: a caller can tell whether its read may be outdated. */
  generation(deviceId: string): number {
    return this.generations.get(deviceId) ?? 0;
  }

  /** The device's registry entry: from the cache while fresh enough, else (or with `fresh`) read now. */
  async get(deviceId: string, opts: { fresh?: boolean } = {}): Promise<DeviceEntry | undefined> {
    const now = this.opts.clock();
    if (!opts.fresh && this.opts.maxAgeMs > 0) {
      const e = this.entries.get(deviceId);
      if (e && now - e.readAt < this.opts.maxAgeMs) {
        // Most recently used last: eviction takes the first.
        this.entries.delete(deviceId);
        this.entries.set(deviceId, e);
        return e.device;
      }
    }
    const generation = this.generation(deviceId);
    const device = await this.registry.getDevice(deviceId);
    if (this.opts.maxAgeMs > 0 && generation === this.generation(deviceId)) {
      this.entries.delete(deviceId);
      this.entries.set(deviceId, { device, readAt: now });
      if (this.entries.size > this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (!oldest.done) this.entries.delete(oldest.value);
      }
    }
    return device;
  }

  invalidate(deviceId: string): void {
    this.generations.set(deviceId, this.generation(deviceId) + 1);
    this.entries.delete(deviceId);
  }

  /**
   * The same registry, except that every updateDeviceKeys through it invalidates the device's entry once the
   * write has returned (or failed: then nobody knows what was written). Hand this to everything in the process
   * that changes keys: the operator API and ingest's own rotations.
   */
  watch<T extends DeviceKeyRegistry>(registry: T): T {
    const invalidate = (deviceId: string) => this.invalidate(deviceId);
    return new Proxy(registry, {
      get(target, prop) {
        if (prop === 'updateDeviceKeys') {
          const update: DeviceKeyRegistry['updateDeviceKeys'] = async (deviceId, next, ifRevision) => {
            try {
              return await target.updateDeviceKeys(deviceId, next, ifRevision);
            } finally {
              invalidate(deviceId);
            }
          };
          return update;
        }
        const value: unknown = Reflect.get(target, prop, target);
        // Methods run on the store itself: its private state is not reachable through the proxy.
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}
