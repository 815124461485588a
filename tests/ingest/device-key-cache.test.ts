/** The key-state cache's freshness rules (lib/ingest/device-key-cache.ts) over a real SQLite registry. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceKeyCache } from '../../lib/ingest/device-key-cache.js';
import type { DeviceEntry, DeviceRegistry } from '../../lib/ports.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices } from '../support/origin.js';
import { testClock } from '../support/test-device.js';

describe('DeviceKeyCache', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let reads: number;
  /** The real registry, counting its reads. */
  let registry: Pick<DeviceRegistry, 'getDevice'>;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack();
    await provisionLegacyDevices(stack.index, ['d1', 'd2', 'd3']);
    reads = 0;
    registry = {
      getDevice: (id) => {
        reads++;
        return stack.index.getDevice(id);
      },
    };
  });
  afterEach(async () => {
    await stack.close();
  });

  const flipUnsigned = async (id: string, through = stack.index) => {
    const d = (await stack.index.getDevice(id)) as DeviceEntry;
    expect(
      await through.updateDeviceKeys(id, { keys: d.keys, allowUnsigned: !d.allowUnsigned }, d.keysRevision),
    ).toBe('updated');
  };

  it('maxAgeMs 0 reads the registry every time', async () => {
    const c = new DeviceKeyCache(registry, { maxAgeMs: 0, clock: clock.now });
    await c.get('d1');
    await c.get('d1');
    expect(reads).toBe(2);
  });

  it('uses an entry for maxAgeMs, then reads again; `fresh` always reads', async () => {
    const c = new DeviceKeyCache(registry, { maxAgeMs: 1000, clock: clock.now });
    expect((await c.get('d1'))?.allowUnsigned).toBe(true);
    await flipUnsigned('d1'); // behind the cache's back, as another Lambda instance would
    clock.advance(999);
    expect((await c.get('d1'))?.allowUnsigned).toBe(true);
    expect(reads).toBe(1);
    expect((await c.get('d1', { fresh: true }))?.allowUnsigned).toBe(false);
    await flipUnsigned('d1');
    clock.advance(1000);
    expect((await c.get('d1'))?.allowUnsigned).toBe(true);
    expect(reads).toBe(3);
  });

  it('a key change through watch() is seen at once, however long entries live', async () => {
    const c = new DeviceKeyCache(registry, { maxAgeMs: Number.POSITIVE_INFINITY, clock: clock.now });
    const watched = c.watch(stack.index);
    expect((await c.get('d1'))?.allowUnsigned).toBe(true);
    const g = c.generation('d1');
    await flipUnsigned('d1', watched);
    expect(c.generation('d1')).toBe(g + 1);
    expect((await c.get('d1'))?.allowUnsigned).toBe(false);
    // Everything else of the store still works through the proxy.
    expect((await watched.getDevice('d2'))?.deviceId).toBe('d2');
  });

  it('a read that started before an invalidation does not fill the cache with what it read', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow: Pick<DeviceRegistry, 'getDevice'> = {
      getDevice: async (id) => {
        const d = await stack.index.getDevice(id);
        await gate;
        return d;
      },
    };
    const c = new DeviceKeyCache(slow, { maxAgeMs: Number.POSITIVE_INFINITY, clock: clock.now });
    const pending = c.get('d1');
    await new Promise((r) => setTimeout(r, 20));
    await flipUnsigned('d1');
    c.invalidate('d1');
    release();
    expect((await pending)?.allowUnsigned).toBe(true); // what that read saw
    expect((await c.get('d1'))?.allowUnsigned).toBe(false); // not kept: read again
  });

  it('keeps at most maxEntries devices, dropping the least recently used', async () => {
    const c = new DeviceKeyCache(registry, {
      maxAgeMs: Number.POSITIVE_INFINITY,
      clock: clock.now,
      maxEntries: 2,
    });
    await c.get('d1');
    await c.get('d2');
    await c.get('d1');
    await c.get('d3'); // evicts d2
    expect(reads).toBe(3);
    await c.get('d1');
    expect(reads).toBe(3);
    await c.get('d2');
    expect(reads).toBe(4);
  });
});
